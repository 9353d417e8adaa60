"""Training: one ``tf.function`` step, checkpoints you can resume, and a history in BPC.

Bits per character (BPC) is the cross-entropy in base 2: how many yes/no questions the model
needs, on average, to pin down the next character. Guessing uniformly among WikiText's ~260
characters costs log2(260) ≈ 8 bits. The original tutorial printed its training loss in
nats (natural log): 3.21 at step 90, its last print, which is 3.21 / ln 2 ≈ 4.63 bits
(``helpers.original.PRINTED_LOSSES``).

Everything a run needs to continue or be reused lives in its run directory ``output_dir``:

    config.json        the TrainConfig
    vocabulary.json    the characters, in id order
    corpus.json        with ``text_file`` only: the file's path, SHA-256, size and split
                       (``helpers.corpus``); resuming on other text is refused
    history.json       step, train and valid BPC, chars/s, elapsed seconds and peak memory,
                       one row per log
    checkpoints/       model, optimizer and step (tf.train.CheckpointManager); the data order
                       is a pure function of (seed, step), so the step is its whole state

Under ``tf.distribute.MultiWorkerMirroredStrategy`` (see ``helpers.distributed``) every worker
process runs ``train``; only the chief writes these files.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers import corpus, data
from helpers.backend import keras, tf
from helpers.encoding import Vocabulary, batch_dataset
from helpers.model import CELLS, CharLSTM
from helpers.paths import REPO_ROOT, relative, write_json

LN2 = math.log(2.0)
LR_SCHEDULES = ("constant", "cosine")

# The parameters that shape the model or its data: a run directory cannot be continued
# with different values (max_steps, log_every, save_every may change between sessions).
_FIXED_ON_RESUME = ("hidden_nodes", "num_layers", "embedding_dim", "cell", "train_split",
                    "len_per_section", "skip", "batch_size", "seed", "dropout")


@dataclass
class TrainConfig:
    """Every training hyperparameter, in one visible place.

    Names follow the original tutorial where they mean the same thing. ``output_dir`` is
    relative to the repository root unless absolute, so a notebook run from any folder
    writes to the same place.
    """

    batch_size: int = 64
    max_steps: int = 1000
    log_every: int = 100
    save_every: int = 500
    hidden_nodes: int = 256
    len_per_section: int = 100
    skip: int | None = None  # window stride; None: len_per_section (windows do not overlap)
    learning_rate: float = 5e-3
    lr_schedule: str = "constant"  # or "cosine": decays to a tenth of learning_rate by max_steps
    seed: int = 0
    train_split: str = "test"  # as in the original tutorial; "train" whenever you have it
    valid_split: str = "valid"
    output_dir: str = "outputs/runs/default"
    num_layers: int = 1
    embedding_dim: int | None = None  # None: one-hot input (a row lookup in the kernel)
    dropout: float = 0.0
    clip_norm: float = 1.0
    cell: str = "four_gate"  # or "keras" for keras.layers.LSTM
    valid_chars: int = 100_000  # the fixed first part of valid_split that validation reads
    data_dir: str | None = None  # where the WikiText files are; None: helpers.data decides
    # Your own UTF-8 text instead of WikiText-2 (relative to the repository root unless
    # absolute): training reads its first part, validation its last valid_fraction.
    text_file: str | None = None
    valid_fraction: float = 0.1

    def validate(self) -> TrainConfig:
        """Raise ``ValueError`` naming the parameter, before TensorFlow does any work."""
        for name in ("batch_size", "max_steps", "log_every", "save_every", "hidden_nodes",
                     "len_per_section", "num_layers", "valid_chars"):
            _positive_int(name, getattr(self, name))
        if self.valid_chars <= self.len_per_section:
            raise ValueError(f"valid_chars={self.valid_chars} must exceed len_per_section="
                             f"{self.len_per_section}: validation reads at least one sequence")
        for name in ("skip", "embedding_dim"):
            if getattr(self, name) is not None:
                _positive_int(name, getattr(self, name))
        for name in ("learning_rate", "clip_norm"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
                    or not math.isfinite(value):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got "
                             f"{self.lr_schedule!r}")
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {self.cell!r}")
        for name in ("train_split", "valid_split"):
            if getattr(self, name) not in data.SPLITS:
                raise ValueError(f"{name} must be one of {data.SPLITS}, got "
                                 f"{getattr(self, name)!r}")
        if not isinstance(self.output_dir, (str, os.PathLike)) or not str(self.output_dir):
            raise ValueError(f"output_dir must be a directory path, got {self.output_dir!r}")
        _validate_text_file(self)
        return self

    @property
    def run_dir(self) -> Path:
        return resolve_run_dir(self.output_dir)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, payload: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in payload.items() if k in known})


def _validate_text_file(config: TrainConfig) -> None:
    """text_file names an existing file (load_corpus's message if not); valid_fraction fits."""
    value = config.valid_fraction
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ValueError(f"valid_fraction must lie strictly between 0 and 1, got {value!r}")
    if config.text_file is None:
        return
    if not isinstance(config.text_file, (str, os.PathLike)) or not str(config.text_file):
        raise ValueError(f"text_file must be the path of a text file or None, got "
                         f"{config.text_file!r}")
    config.text_file = os.fspath(config.text_file)  # a Path would not go into config.json
    if config.data_dir is not None:
        raise ValueError("text_file and data_dir are both set: data_dir is where WikiText-2 "
                         "lies, and with a text_file it is not read; leave data_dir None")
    try:
        data.check_corpus_file(corpus.resolve_text_file(config.text_file))
    except OSError as exc:
        raise ValueError(f"text_file: {exc}") from None


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def resolve_run_dir(output_dir) -> Path:
    path = Path(output_dir).expanduser()
    return path if path.is_absolute() else REPO_ROOT / path


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's kernels deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def bits_per_char(targets, logits):
    """Mean cross-entropy in bits per character."""
    nats = keras.losses.sparse_categorical_crossentropy(targets, logits, from_logits=True)
    return tf.reduce_mean(nats) / LN2


def validation_windows(ids: np.ndarray, len_per_section: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping windows of a fixed text: the same validation set on every call."""
    n = (len(ids) - 1) // len_per_section
    if n < 1:
        raise ValueError(f"validation text of {len(ids)} characters is shorter than one "
                         f"section of len_per_section={len_per_section}")
    used = ids[: n * len_per_section + 1]
    return (used[:-1].reshape(n, len_per_section), used[1:].reshape(n, len_per_section))


def make_evaluator(model, inputs: np.ndarray, targets: np.ndarray, batch_size: int = 256):
    """A function returning the model's BPC on a fixed set of windows."""
    dataset = tf.data.Dataset.from_tensor_slices((inputs, targets)).batch(batch_size).cache()

    @tf.function(reduce_retracing=True)
    def summed_nats(x, y):
        logits = model(x, training=False)
        return tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(
            y, logits, from_logits=True))

    def evaluate() -> float:
        total = sum(float(summed_nats(x, y)) for x, y in dataset)
        return total / targets.size / LN2

    return evaluate


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux and macOS)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _want_progress_bar() -> bool:
    """A bar in Jupyter or a terminal; nothing in a log file or CI."""
    if "ipykernel" in sys.modules:
        return True
    return sys.stderr.isatty()


def _check_writable(run_dir: Path) -> None:
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"output_dir {relative(run_dir)!r} cannot be written: "
                         f"{exc.strerror or exc}") from None


def _prepare_run_dir(config: TrainConfig, vocabulary: Vocabulary) -> list[dict]:
    """Check a run directory against this config; return the history it already holds."""
    run_dir = config.run_dir
    _check_writable(run_dir)
    vocab_path = run_dir / "vocabulary.json"
    if vocab_path.exists():
        saved = Vocabulary.load(vocab_path)
        if saved != vocabulary:
            raise ValueError(
                f"the vocabulary in {relative(vocab_path)} ({len(saved)} ids) differs from the "
                f"{config.train_split!r} corpus's ({len(vocabulary)} ids): this run directory "
                "belongs to another corpus; choose another output_dir")
    config_path = run_dir / "config.json"
    if config_path.exists():
        saved = json.loads(config_path.read_text("utf-8"))
        changed = [k for k in _FIXED_ON_RESUME if k in saved and saved[k] != getattr(config, k)]
        if changed:
            details = ", ".join(f"{k}: {saved[k]!r} there, {getattr(config, k)!r} now"
                                for k in changed)
            raise ValueError(f"output_dir {relative(run_dir)!r} holds a run with other settings "
                             f"({details}); choose another output_dir to start afresh")
    vocabulary.save(vocab_path)
    write_json(config_path, config.to_json())
    return _saved_history(run_dir)


def _saved_history(run_dir: Path) -> list[dict]:
    history_path = run_dir / "history.json"
    return json.loads(history_path.read_text("utf-8")) if history_path.exists() else []


def learning_rate_schedule(config: TrainConfig):
    """Adam's step size: constant, or cosine-decayed over ``max_steps``.

    Large steps early get the loss down fast; small ones at the end settle into a minimum that
    the large ones keep jumping over. The schedule reads the optimizer's own step counter, which
    the checkpoint restores, so a resumed run continues the same curve (resuming with another
    ``max_steps`` reshapes what is left of it).
    """
    if config.lr_schedule == "constant":
        return config.learning_rate
    return keras.optimizers.schedules.CosineDecay(config.learning_rate, config.max_steps,
                                                  alpha=0.1)


def build_model(config: TrainConfig, vocab_size: int) -> CharLSTM:
    return CharLSTM(vocab_size, config.hidden_nodes, num_layers=config.num_layers,
                    embedding_dim=config.embedding_dim, dropout=config.dropout,
                    cell=config.cell)


def train(config: TrainConfig, strategy=None, progress: bool | None = None,
          verbose: bool = True) -> list[dict]:
    """Train (or resume) the run in ``config.output_dir``; return its whole history.

    ``strategy``: a ``tf.distribute`` strategy; the global batch is ``batch_size``, split
    across its replicas (all workers' together). ``progress``: a tqdm bar (None: when someone
    is watching).
    """
    config.validate()
    strategy = strategy or tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        raise ValueError(f"batch_size={config.batch_size} is the global batch and must split "
                         f"evenly across the strategy's {replicas} replicas")
    # False only on the non-chief workers of MultiWorkerMirroredStrategy. Every worker runs
    # this same function; only the chief writes into the run directory, so that workers
    # sharing it never write the same file at once.
    is_chief = strategy.extended.should_checkpoint
    verbose = verbose and is_chief
    training_data = corpus.load_training_data(config)
    vocabulary = training_data.vocabulary
    run_dir = config.run_dir
    if is_chief:
        corpus.check_same_text(run_dir, training_data.text_file)
    history = _prepare_run_dir(config, vocabulary) if is_chief else _saved_history(run_dir)
    if is_chief:
        corpus.record_text(run_dir, training_data.text_file)

    seed_everything(config.seed)
    with strategy.scope():
        model = build_model(config, len(vocabulary)).build_for(1, 1)
        optimizer = keras.optimizers.Adam(learning_rate_schedule(config))
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        optimizer.build(model.trainable_variables)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step)
    checkpoint_dir = run_dir / "checkpoints"
    if is_chief:
        manager = tf.train.CheckpointManager(checkpoint, checkpoint_dir, max_to_keep=2)
        _remove_unfinished_saves(checkpoint_dir)
    # Every worker restores the chief's latest checkpoint (so, to resume, all must see it).
    latest = tf.train.latest_checkpoint(checkpoint_dir) if checkpoint_dir.is_dir() else None
    if latest:
        checkpoint.restore(latest).assert_existing_objects_matched()
    if replicas > 1:
        _check_replicas_agree_on_step(strategy, step, run_dir)
    start = int(step.numpy())
    history = [row for row in history if row["step"] <= start]
    if start >= config.max_steps:
        if verbose:
            print(f"{relative(run_dir)} is already trained to step {start:,} "
                  f"(max_steps={config.max_steps:,}); nothing to do")
        return history

    train_ids = training_data.train_ids
    valid_ids = training_data.valid_ids.astype(np.int32)  # the model reads int32 ids
    unknown = int((valid_ids == 0).sum())
    if verbose and unknown:
        print(f"validation: {unknown:,} of {len(valid_ids):,} characters are not in the "
              f"vocabulary of {training_data.source} and count as the unknown id")
    evaluate = make_evaluator(model, *validation_windows(valid_ids, config.len_per_section))
    batches = iter(_replica_batches(strategy, train_ids, config, start))
    train_step = _make_train_step(model, optimizer, step, strategy, config)

    chars_per_step = config.batch_size * config.len_per_section
    elapsed_before = history[-1]["elapsed"] if history else 0.0
    show_bar = _want_progress_bar() if progress is None else progress
    bar = _progress_bar(start, config.max_steps, show_bar)
    started = time.perf_counter()
    window_start, window_bits, window_steps = time.perf_counter(), 0.0, 0

    def save():
        if is_chief:
            manager.save(checkpoint_number=int(step.numpy()))
            write_json(run_dir / "history.json", history)
        else:
            _save_to_scratch(checkpoint, int(step.numpy()))

    try:
        current = start  # mirrors the step variable without reading it back every step
        while current < config.max_steps:
            bpc = train_step(next(batches))
            current += 1
            window_bits += float(bpc)
            window_steps += 1
            bar.update(1)
            if current % config.log_every == 0 or current == config.max_steps:
                seconds = time.perf_counter() - window_start
                row = {
                    "step": current,
                    "train_bpc": window_bits / window_steps,
                    "valid_bpc": evaluate(),
                    "chars_per_sec": window_steps * chars_per_step / seconds,
                    "elapsed": elapsed_before + time.perf_counter() - started,
                    "peak_rss_mb": peak_rss_mb(),
                }
                history.append(row)
                # Rewritten at every log so that a watcher (helpers.runs) can show progress;
                # rows past the last checkpoint are dropped again on resume.
                if is_chief:
                    write_json(run_dir / "history.json", history)
                bar.set_postfix(train_bpc=f"{row['train_bpc']:.3f}",
                                valid_bpc=f"{row['valid_bpc']:.3f}")
                if verbose and not show_bar:
                    print(f"step {current:>6,}  train {row['train_bpc']:.3f} bpc  valid "
                          f"{row['valid_bpc']:.3f} bpc  {row['chars_per_sec']:,.0f} chars/s",
                          flush=True)
                window_start, window_bits, window_steps = time.perf_counter(), 0.0, 0
            if current % config.save_every == 0 or current == config.max_steps:
                save()
    finally:
        bar.close()
    if verbose:
        print(f"saved step {int(step.numpy()):,} to {relative(run_dir)}")
    return history


def _replica_batches(strategy, train_ids, config: TrainConfig, start: int):
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


def _check_replicas_agree_on_step(strategy, step, run_dir: Path) -> None:
    """Fail loudly if a worker restored another step than the chief (run_dir not shared)."""
    @tf.function  # collective ops run eagerly are slow, and TensorFlow warns about it
    def every_replicas_step():
        return strategy.gather(strategy.run(lambda: tf.reshape(tf.identity(step), [1])), axis=0)

    steps = sorted(set(every_replicas_step().numpy().tolist()))
    if len(steps) > 1:
        raise ValueError(f"the workers restored different steps {steps} from "
                         f"{relative(run_dir)}: to resume, every worker must see the chief's run "
                         "directory (put it on storage they share)")


def _save_to_scratch(checkpoint, number: int) -> None:
    """A non-chief worker's checkpoint save, thrown away at once.

    Under MultiWorkerMirroredStrategy saving may run collective ops that every worker must join,
    so the non-chief workers save too, each into a directory of its own that is deleted
    afterwards (TensorFlow's documented pattern): only the chief's copy is kept.
    """
    scratch = tempfile.mkdtemp(prefix="char-lstm-worker-ckpt-")
    try:
        manager = tf.train.CheckpointManager(checkpoint, scratch, max_to_keep=1)
        manager.save(checkpoint_number=number)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _make_train_step(model, optimizer, step, strategy, config):
    global_chars = config.batch_size * config.len_per_section

    def replica_gradients(batch):
        inputs, targets = batch
        with tf.GradientTape() as tape:
            logits = model(inputs, training=True)
            nats = keras.losses.sparse_categorical_crossentropy(targets, logits,
                                                                from_logits=True)
            # Each replica's share of the global mean, so summing replicas gives the mean.
            loss = tf.reduce_sum(nats) / global_chars
        return loss, tape.gradient(loss, model.trainable_variables)

    @tf.function
    def train_step(batch):
        loss, grads = strategy.run(replica_gradients, args=(batch,))
        loss = strategy.reduce("SUM", loss, axis=None)
        grads = [strategy.reduce("SUM", g, axis=None) for g in grads]
        # Clip once, on the gradient of the whole global batch, as on a single device.
        grads, _ = tf.clip_by_global_norm(grads, config.clip_norm)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        step.assign_add(1)
        return loss / LN2

    return train_step


def _progress_bar(start, total, enabled):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=start, disable=not enabled, unit="step",
                desc="training", dynamic_ncols=True)


def _remove_unfinished_saves(checkpoint_dir: Path) -> None:
    """A save killed half-way leaves temporary files; the finished checkpoints are intact."""
    if not checkpoint_dir.exists():
        return
    for leftover in checkpoint_dir.glob("*_temp*"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


@dataclass
class TrainedRun:
    """What ``load_run`` returns: a model ready to sample from, and how it was made."""

    model: CharLSTM
    vocabulary: Vocabulary
    config: TrainConfig
    history: list
    step: int
    run_dir: Path


class NoTrainedModelError(FileNotFoundError):
    """The run directory does not (yet) hold a trained model."""


def load_run(run_dir) -> TrainedRun:
    """Rebuild the trained model of ``run_dir`` (e.g. in a fresh process) from its files."""
    run_dir = resolve_run_dir(run_dir)
    needed = [run_dir / "config.json", run_dir / "vocabulary.json"]
    latest = tf.train.latest_checkpoint(run_dir / "checkpoints") if run_dir.is_dir() else None
    if not all(p.exists() for p in needed) or latest is None:
        raise NoTrainedModelError(
            f"{relative(run_dir)} holds no trained model (it needs config.json, "
            "vocabulary.json and a checkpoint). Train first: run notebooks/04_training.ipynb "
            "or `make run`.")
    config = TrainConfig.from_json(json.loads(needed[0].read_text("utf-8")))
    vocabulary = Vocabulary.load(needed[1])
    model = build_model(config, len(vocabulary)).build_for(1, 1)
    step = tf.Variable(0, dtype=tf.int64)
    tf.train.Checkpoint(model=model, step=step).restore(latest).expect_partial()
    history_path = run_dir / "history.json"
    history = json.loads(history_path.read_text("utf-8")) if history_path.exists() else []
    return TrainedRun(model, vocabulary, config, history, int(step.numpy()), run_dir)
