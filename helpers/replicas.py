"""The batches of several devices: each replica's rows of every global batch.

Used by ``helpers.training`` when a ``tf.distribute`` strategy has more than one replica
(``helpers.distributed`` sets such a strategy up).
"""

from __future__ import annotations

from pathlib import Path

from helpers.backend import tf
from helpers.batches import batch_dataset
from helpers.config import TrainConfig
from helpers.paths import relative


def replica_batches(strategy, train_ids, config: TrainConfig, start: int):
    """Each replica's rows of the global batch of every step, as a distributed dataset.

    Every input pipeline (one per worker process) builds the same global batch of step s, a
    pure function of (seed, s), and keeps only its own replicas' rows: together the replicas
    of all workers see exactly the batch a single process would, so their losses are
    comparable and a run can change its number of workers between sessions. Written out here
    rather than left to ``experimental_distribute_dataset``, whose AUTO sharding policy
    decides per dataset whether to shard by file, by element or not at all.
    """
    replicas = strategy.num_replicas_in_sync

    def dataset_fn(context):
        per_replica = context.get_per_replica_batch_size(config.batch_size)
        local = replicas // context.num_input_pipelines  # this worker's replicas
        first = context.input_pipeline_id * local

        def this_workers_rows(inputs, targets):
            return tuple(tf.reshape(t, [replicas, per_replica, -1])[first:first + local]
                         for t in (inputs, targets))

        batches = batch_dataset(train_ids, config.batch_size, config.len_per_section,
                                config.skip, seed=config.seed, start_step=start)
        # One element per local replica: the strategy deals them out to its local replicas
        # in turn, so each replica gets its own per_replica rows of every global batch.
        return batches.map(this_workers_rows).unbatch()

    return strategy.distribute_datasets_from_function(dataset_fn)


def check_replicas_agree_on_step(strategy, step, run_dir: Path) -> None:
    """Fail loudly if a worker restored another step than the chief (run_dir not shared)."""
    @tf.function  # collective ops run eagerly are slow, and TensorFlow warns about it
    def every_replicas_step():
        return strategy.gather(strategy.run(lambda: tf.reshape(tf.identity(step), [1])), axis=0)

    steps = sorted(set(every_replicas_step().numpy().tolist()))
    if len(steps) > 1:
        raise ValueError(f"the workers restored different steps {steps} from "
                         f"{relative(run_dir)}: to resume, every worker must see the chief's run "
                         "directory (put it on storage they share)")
