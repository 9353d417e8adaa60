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
                       one row per log, from a row for the untrained model at step 0 (its
                       chars/s is None)
    progression.json   ``sample_chars`` characters sampled from the prompt at each log
    checkpoints/       model, optimizer and step (tf.train.CheckpointManager); the data order
                       is a pure function of (seed, step), so the step is its whole state

(``helpers.rundir`` reads and writes these files.) A resumed run starts from the newest
checkpoint that can be read: a damaged one is skipped with a warning and set aside in
``checkpoints/damaged/``, and a folder whose checkpoints are all damaged is an error, never a
silent restart from step 0. While a run trains, it holds ``.lock`` in its folder, and a second
training into the same folder is refused.

Under ``tf.distribute.MultiWorkerMirroredStrategy`` (see ``helpers.distributed``) every worker
process runs ``train``; only the chief writes these files.

``TrainConfig`` and ``PRESETS`` live in ``helpers.config``, which needs no TensorFlow, and are
re-exported here.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers import corpus, rundir
from helpers.backend import keras, quiet_fd2, tf
from helpers.checks import person_watching
from helpers.config import PRESETS as PRESETS  # re-exported: helpers.training.PRESETS
from helpers.config import TrainConfig, resolve_run_dir
from helpers.encoding import Vocabulary, batch_dataset, sections, stream_dataset
from helpers.model import UNROLL_LIMIT, CharLSTM
from helpers.paths import relative

LN2 = math.log(2.0)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's kernels deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


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


def make_carried_evaluator(model, ids: np.ndarray, len_per_section: int, streams: int = 50):
    """A function returning the model's BPC on ``ids`` read as ``streams`` stretches of text,
    the LSTM state carried from one section to the next within each.

    ``make_evaluator`` starts every section of ``len_per_section`` characters from a zero
    state, so a section's first characters are guessed with no context: the yardstick every
    run is compared on. Carried through, each character is scored with all the text before it
    in its stretch (2,000 characters for 100,000 in 50 stretches), as when the model generates.
    """
    n_sections = (len(ids) - 1) // len_per_section
    if n_sections < 1:
        raise ValueError(f"validation text of {len(ids)} characters is shorter than one "
                         f"section of len_per_section={len_per_section}")
    streams = min(streams, n_sections)
    per_stream = n_sections // streams * len_per_section
    used = np.asarray(ids[: streams * per_stream + 1], dtype=np.int32)
    inputs = used[:-1].reshape(streams, per_stream)
    targets = used[1:].reshape(streams, per_stream)
    zeros = tf.zeros([streams, model.hidden_nodes])

    @tf.function(reduce_retracing=True)
    def summed_nats(x, y, states):
        logits, states = model(x, states=states, return_state=True, training=False)
        return tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(
            y, logits, from_logits=True)), states

    def evaluate() -> float:
        states = [[zeros, zeros] for _ in range(model.num_layers)]
        total = 0.0
        for start in range(0, per_stream, len_per_section):
            part = slice(start, start + len_per_section)
            nats, states = summed_nats(inputs[:, part], targets[:, part], states)
            total += float(nats)
        return total / targets.size / LN2

    return evaluate


class CarriedState(tf.Module):
    """The LSTM state (``h`` and ``c`` of every layer, one row per batch row) that training with
    ``carry_state`` keeps from one step to the next. It is in the checkpoint, so a resumed run
    continues with the state the interrupted one had."""

    def __init__(self, batch_size: int, hidden_nodes: int, num_layers: int):
        super().__init__(name="carried_state")
        self.layers = [[tf.Variable(tf.zeros([batch_size, hidden_nodes]), trainable=False,
                                    name=f"{kind}_{n}") for kind in ("h", "c")]
                       for n in range(num_layers)]

    def start(self, reset):
        """The state to begin this step with: the last step's, or zeros where ``reset``."""
        keep = 1.0 - tf.cast(reset, tf.float32)
        return [[h * keep, c * keep] for h, c in self.layers]

    def keep(self, states) -> None:
        """Remember the state this step ended with (as a value: no gradient flows back
        through it into the previous step, which is what truncated means)."""
        for (h_var, c_var), (h, c) in zip(self.layers, states, strict=True):
            h_var.assign(h)
            c_var.assign(c)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux and macOS)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _check_fits_data(config: TrainConfig, train_ids: np.ndarray, valid_ids: np.ndarray,
                     source: str) -> None:
    """Refuse sequences and batches the texts cannot fill, before anything is written."""
    length, skip = config.len_per_section, config.skip or config.len_per_section
    split = f"{source} ({len(train_ids):,} characters)"
    if len(train_ids) <= length + 1:
        raise ValueError(f"len_per_section={length:,} is longer than {split}")
    windows = len(sections(train_ids, length + 1, skip)[0])
    if windows < config.batch_size:
        raise ValueError(f"batch_size={config.batch_size:,} is more than the {windows:,} "
                         f"sequences of {length + 1:,} characters (every {skip:,}) that {split} "
                         f"holds: use a batch_size of at most {windows:,}, or a smaller "
                         "len_per_section or skip")
    if len(valid_ids) <= length:
        raise ValueError(f"len_per_section={length:,} is longer than the validation text, the "
                         f"first {len(valid_ids):,} characters of the validation part "
                         f"(valid_chars={config.valid_chars:,}): use a smaller "
                         "len_per_section or a larger valid_chars")


def _check_writable(run_dir: Path) -> bool:
    """Create ``run_dir`` if need be; return whether it was created here."""
    created = not run_dir.exists()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"output_dir {relative(run_dir)!r} cannot be written: "
                         f"{exc.strerror or exc}") from None
    return created


def _check_run_dir(config: TrainConfig, vocabulary: Vocabulary, text_record) -> list[dict]:
    """Check a run directory against this config; return the history it already holds.

    Only a folder that holds a checkpoint holds a run: its vocabulary and the settings the
    checkpoint depends on must match. A config.json without a checkpoint is what a start that
    failed left behind; it binds nothing, so the corrected rerun can use the folder.
    """
    run_dir = config.run_dir
    if not rundir.checkpoint_files(run_dir / rundir.CHECKPOINTS):
        return []
    corpus.check_same_text(run_dir, text_record)  # before the vocabulary: it names text_file
    vocab_path = run_dir / rundir.VOCABULARY
    if vocab_path.exists():
        saved = Vocabulary.load(vocab_path)
        if saved != vocabulary:
            raise ValueError(
                f"the vocabulary in {relative(vocab_path)} ({len(saved)} ids) differs from the "
                f"{config.train_split!r} corpus's ({len(vocabulary)} ids): this run directory "
                "belongs to another corpus; choose another output_dir")
    rundir.check_settings(run_dir, config.to_json())
    return rundir.read_history(run_dir)


def _write_run_files(config: TrainConfig, vocabulary: Vocabulary, text_record) -> None:
    """config.json, vocabulary.json and (for a text_file) corpus.json, written once training
    has really started."""
    vocabulary.save(config.run_dir / rundir.VOCABULARY)
    rundir.write_config(config.run_dir, config.to_json())
    corpus.record_text(config.run_dir, text_record)


def _undo_failed_start(run_dir: Path) -> None:
    """After a start that failed before its first checkpoint: take back what it wrote
    (config, vocabulary, history, an empty checkpoints folder). A folder with a checkpoint
    holds a run, and is left as it is."""
    checkpoint_dir = run_dir / rundir.CHECKPOINTS
    if rundir.checkpoint_files(checkpoint_dir):
        return
    for name in (rundir.CONFIG, rundir.VOCABULARY, rundir.HISTORY, rundir.CORPUS,
                 rundir.PROGRESSION):
        (run_dir / name).unlink(missing_ok=True)
    _remove_unfinished_saves(checkpoint_dir)
    with contextlib.suppress(OSError):
        checkpoint_dir.rmdir()  # only if empty


class DamagedCheckpointError(ValueError):
    """Checkpoints exist but none can be read."""


class CheckpointWarning(UserWarning):
    """A damaged checkpoint was skipped for an older, intact one."""


def _checkpoint_problem(prefix: Path) -> str | None:
    """Why the checkpoint at ``prefix`` cannot be read, or None: every tensor is read, so
    TensorFlow checks each against the checksum its index holds."""
    try:
        reader = tf.train.load_checkpoint(str(prefix))
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as exc:  # whatever the reader fails with is the damage
        lines = str(exc).strip().splitlines()
        return lines[0] if lines else type(exc).__name__
    return None


def restore_newest_intact(checkpoint, checkpoint_dir: Path, partial: bool = False,
                          set_aside: bool = False) -> int | None:
    """Restore the newest checkpoint that can be read; return its number (None: there is none).

    A damaged checkpoint (a file missing, truncated or empty, a checksum that fails) is
    skipped with a ``CheckpointWarning`` naming it and the one used instead; ``set_aside``
    moves its files into ``checkpoints/damaged/`` and points TensorFlow's ``checkpoint`` file
    at the one used. Where checkpoints exist but none can be read, ``DamagedCheckpointError``:
    never a silent start from step 0 over them. ``partial``: the checkpoint may hold more than
    ``checkpoint`` tracks (loading a model without its optimizer).
    """
    checkpoint_dir = Path(checkpoint_dir)
    damaged = []
    for number, files in rundir.checkpoint_files(checkpoint_dir).items():
        prefix = checkpoint_dir / f"ckpt-{number}"
        problem = rundir.missing_files(checkpoint_dir, number, files) or \
            _checkpoint_problem(prefix)
        if problem:
            damaged.append((number, problem))
            continue
        _restore(checkpoint, prefix, partial)
        moved = ""
        if set_aside:
            for bad, _ in damaged:
                moved = f"; its files are now in {relative(rundir.set_aside(checkpoint_dir, bad))}"
            if damaged or not rundir.checkpoint_state_names(checkpoint_dir, number):
                rundir.write_checkpoint_state(checkpoint_dir, number)
        for bad, problem in damaged:
            warnings.warn(f"checkpoint ckpt-{bad} in {relative(checkpoint_dir)} is damaged "
                          f"({problem}); using ckpt-{number}, the newest intact one, "
                          f"instead{moved}", CheckpointWarning, stacklevel=3)
        return number
    if damaged:
        listed = "; ".join(f"ckpt-{number}: {problem}" for number, problem in damaged)
        raise DamagedCheckpointError(
            f"no checkpoint in {relative(checkpoint_dir)} can be read ({listed}). Nothing was "
            "changed: to start that run afresh from step 0, move the checkpoints folder "
            "away; or choose another output_dir")
    return None


def _restore(checkpoint, prefix: Path, partial: bool) -> None:
    """Restore one checkpoint known to be readable; a mismatch is an error naming it."""
    try:
        status = checkpoint.restore(str(prefix))
        if partial:
            status.expect_partial()
        status.assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as exc:
        lines = str(exc).strip().splitlines()
        raise ValueError(f"{relative(prefix)} does not fit this model ("
                         f"{lines[0] if lines else type(exc).__name__}); was config.json "
                         "changed by hand?") from None


def learning_rate_schedule(config: TrainConfig):
    """Adam's step size: constant, or cosine-decayed over ``max_steps``, after an optional
    linear warm-up over ``warmup_steps``.

    Large steps early get the loss down fast; small ones at the end settle into a minimum that
    the large ones keep jumping over. A warm-up keeps the first steps small while Adam's
    running averages of the gradient are still mostly the zeros they started from. The
    schedule reads the optimizer's own step counter, which the checkpoint restores, so a
    resumed run continues the same curve (resuming with another ``max_steps`` reshapes what is
    left of it).
    """
    warmup = config.warmup_steps
    if config.lr_schedule == "constant":
        return WarmUp(config.learning_rate, warmup) if warmup else config.learning_rate
    if not warmup:
        return keras.optimizers.schedules.CosineDecay(config.learning_rate, config.max_steps,
                                                      alpha=0.1)
    return keras.optimizers.schedules.CosineDecay(0.0, config.max_steps - warmup, alpha=0.1,
                                                  warmup_target=config.learning_rate,
                                                  warmup_steps=warmup)


class WarmUp(keras.optimizers.schedules.LearningRateSchedule):
    """A rate that climbs linearly from 0 to ``rate`` over ``warmup_steps``, then stays."""

    def __init__(self, rate: float, warmup_steps: int):
        self.rate, self.warmup_steps = rate, warmup_steps

    def __call__(self, step):
        fraction = tf.cast(step, tf.float32) / self.warmup_steps
        return self.rate * tf.minimum(fraction, 1.0)

    def get_config(self):
        return {"rate": self.rate, "warmup_steps": self.warmup_steps}


def build_optimizer(config: TrainConfig):
    """Adam, or AdamW when ``weight_decay`` is set: the decay pulls every weight matrix a
    little towards zero at each step, apart from the gradient (biases are left alone)."""
    rate = learning_rate_schedule(config)
    if not config.weight_decay:
        return keras.optimizers.Adam(rate)
    optimizer = keras.optimizers.AdamW(rate, weight_decay=config.weight_decay)
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    return optimizer


def build_model(config: TrainConfig, vocab_size: int) -> CharLSTM:
    return CharLSTM(vocab_size, config.hidden_nodes, num_layers=config.num_layers,
                    embedding_dim=config.embedding_dim, dropout=config.dropout,
                    cell=config.cell, recurrent_dropout=config.recurrent_dropout)


def build_training(config: TrainConfig, vocab_size: int, strategy=None):
    """``(model, optimizer, step)`` as ``train`` makes them, seeded by ``config.seed``: the
    model with its weights, Adam built over them, and the step counter, all in ``strategy``'s
    scope (None: the default strategy). ``make_train_step`` takes them."""
    strategy = strategy or tf.distribute.get_strategy()
    seed_everything(config.seed)
    with strategy.scope():
        model = build_model(config, vocab_size).build_for(1, 1)
        optimizer = build_optimizer(config)
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        optimizer.build(model.trainable_variables)
    return model, optimizer, step


def train(config: TrainConfig, strategy=None, progress: bool | None = None,
          verbose: bool = True) -> list[dict]:
    """Train (or resume) the run in ``config.output_dir``; return its whole history.

    ``strategy``: a ``tf.distribute`` strategy; the global batch is ``batch_size``, split
    across its replicas (all workers' together). ``progress``: a tqdm bar (None: when someone
    is watching).

    Everything that can be checked is checked before the run directory is touched; its
    config.json and vocabulary.json are written once the first training step has run, and a
    start that fails before its first checkpoint takes back what it wrote. A folder another
    process is training into is refused (``rundir.RunDirectoryInUseError``).
    """
    config.validate()
    strategy = strategy or tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    if config.carry_state and replicas > 1:
        raise ValueError(f"carry_state=True trains on one device; the strategy has {replicas} "
                         "replicas")
    if config.batch_size % replicas:
        raise ValueError(f"batch_size={config.batch_size} is the global batch and must split "
                         f"evenly across the strategy's {replicas} replicas")
    training_data = corpus.load_training_data(config)
    vocabulary = training_data.vocabulary
    train_ids = training_data.train_ids
    valid_ids = training_data.valid_ids.astype(np.int32)  # the model reads int32 ids
    _check_fits_data(config, train_ids, valid_ids, training_data.source)
    session = _Session(config, strategy, vocabulary, train_ids, valid_ids, training_data)
    # False only on the non-chief workers of MultiWorkerMirroredStrategy. Every worker runs
    # this same function; only the chief writes into the run directory, so that workers
    # sharing it never write the same file at once.
    if not strategy.extended.should_checkpoint:
        return session.run(rundir.read_history(config.run_dir), progress, verbose=False)
    run_dir = config.run_dir
    created = _check_writable(run_dir)
    try:
        with rundir.training_lock(run_dir):
            try:
                return session.run(_check_run_dir(config, vocabulary,
                                                  training_data.text_file), progress, verbose)
            except BaseException:
                _undo_failed_start(run_dir)
                raise
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                run_dir.rmdir()  # only if the failed start left it empty
        raise


@dataclass
class _Session:
    """One call of ``train``: the model, its optimizer and checkpoint, and the loop."""

    config: TrainConfig
    strategy: object
    vocabulary: Vocabulary
    train_ids: np.ndarray
    valid_ids: np.ndarray
    training_data: corpus.TrainingData

    def run(self, history: list[dict], progress: bool | None, verbose: bool) -> list[dict]:
        config, strategy, run_dir = self.config, self.strategy, self.config.run_dir
        is_chief = strategy.extended.should_checkpoint
        model, optimizer, step = build_training(config, len(self.vocabulary), strategy)
        carried = CarriedState(config.batch_size, config.hidden_nodes, config.num_layers) \
            if config.carry_state else None
        checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step,
                                         **({"carried_state": carried} if carried else {}))
        checkpoint_dir = run_dir / rundir.CHECKPOINTS
        if is_chief:
            _remove_unfinished_saves(checkpoint_dir)
        # Every worker restores the chief's latest checkpoint (so, to resume, all must see it).
        restore_newest_intact(checkpoint, checkpoint_dir, set_aside=is_chief)
        if config.lr_schedule == "constant" and not config.warmup_steps:
            # The checkpoint holds Adam's rate; a resumed run takes the one asked for now.
            optimizer.learning_rate = config.learning_rate
        if strategy.num_replicas_in_sync > 1:
            _check_replicas_agree_on_step(strategy, step, run_dir)
        start = int(step.numpy())
        history = [row for row in history if row["step"] <= start]
        if start >= config.max_steps:
            if verbose:
                past = "" if start == config.max_steps else ", past"
                print(f"{relative(run_dir)} is already trained to step {start:,}{past} "
                      f"(max_steps={config.max_steps:,}); nothing to do")
            return history
        if is_chief:
            manager = tf.train.CheckpointManager(checkpoint, checkpoint_dir, max_to_keep=2)

        unknown = int((self.valid_ids == 0).sum())
        if verbose and unknown:
            print(f"validation: {unknown:,} of {len(self.valid_ids):,} characters are not in the "
                  f"vocabulary of {self.training_data.source} and count as the unknown id")
        if verbose and config.len_per_section > UNROLL_LIMIT and config.cell == "four_gate":
            print(f"len_per_section={config.len_per_section:,} is above {UNROLL_LIMIT}: the LSTM "
                  "runs as a loop (slower per character, but its graph does not grow with the "
                  "length)")
        evaluate = make_evaluator(model, *validation_windows(self.valid_ids,
                                                             config.len_per_section))
        evaluate_carried = make_carried_evaluator(model, self.valid_ids, config.len_per_section)
        if carried:
            batches = iter(stream_dataset(self.train_ids, config.batch_size,
                                          config.len_per_section, config.seed, start))
        else:
            batches = iter(_replica_batches(strategy, self.train_ids, config, start))
        train_step = make_train_step(model, optimizer, step, strategy, config, carried)
        sampler = _ProgressionSampler(model, self.vocabulary, config, start) \
            if is_chief and strategy.num_replicas_in_sync == 1 and config.sample_chars else None
        if start == 0 and not history:
            # The untrained model, measured: the yardstick every later row is read against.
            train_windows = validation_windows(self.train_ids[: config.valid_chars]
                                               .astype(np.int32), config.len_per_section)
            history.append({"step": 0, "train_bpc": make_evaluator(model, *train_windows)(),
                            "valid_bpc": evaluate(), "valid_bpc_carried": evaluate_carried(),
                            "chars_per_sec": None, "elapsed": 0.0,
                            "peak_rss_mb": peak_rss_mb()})
            if sampler:
                sampler.record(0)

        chars_per_step = config.batch_size * config.len_per_section
        elapsed_before = history[-1]["elapsed"] if history else 0.0
        show_bar = person_watching() if progress is None else progress
        bar = _progress_bar(start, config.max_steps, show_bar)
        started = time.perf_counter()
        window_start, window_bits, window_steps = time.perf_counter(), 0.0, 0

        def save():
            if is_chief:
                manager.save(checkpoint_number=int(step.numpy()))
                rundir.write_history(run_dir, history)
            else:
                _save_to_scratch(checkpoint, int(step.numpy()))

        try:
            current = start  # mirrors the step variable without reading it back every step
            while current < config.max_steps:
                bpc = train_step(next(batches))
                if current == start and is_chief:
                    # Training has really started (the step was built and ran): only now
                    # does the folder record this run's settings.
                    float(bpc)
                    _write_run_files(config, self.vocabulary, self.training_data.text_file)
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
                        "valid_bpc_carried": evaluate_carried(),
                        "chars_per_sec": window_steps * chars_per_step / seconds,
                        "elapsed": elapsed_before + time.perf_counter() - started,
                        "peak_rss_mb": peak_rss_mb(),
                    }
                    history.append(row)
                    if sampler:
                        sampler.record(current)
                    # Rewritten at every log so that a watcher (helpers.runs) can show
                    # progress; rows past the last checkpoint are dropped again on resume.
                    if is_chief:
                        rundir.write_history(run_dir, history)
                    bar.set_postfix(train_bpc=f"{row['train_bpc']:.3f}",
                                    valid_bpc=f"{row['valid_bpc']:.3f}")
                    if verbose and not show_bar:
                        print(f"step {current:>6,}  train {row['train_bpc']:.3f} bpc  valid "
                              f"{row['valid_bpc']:.3f} bpc  {row['chars_per_sec']:,.0f} "
                              "chars/s", flush=True)
                    window_start, window_bits, window_steps = time.perf_counter(), 0.0, 0
                if current % config.save_every == 0 or current == config.max_steps:
                    save()
        finally:
            bar.close()
        if verbose:
            print(f"saved step {int(step.numpy()):,} to {relative(run_dir)}")
        return history


class _ProgressionSampler:
    """Samples from the prompt as training goes, kept in the run's progression.json: how
    spelling, then words, then layout appear. Cheap: one short generation per log."""

    def __init__(self, model, vocabulary: Vocabulary, config: TrainConfig, start: int):
        from helpers.sampling import DEFAULT_PROMPT, Generator

        # Not compiled with XLA: a second's compile would cost more than 200 characters.
        self.generator = Generator(model, vocabulary, jit_compile=False)
        # The original's prompt where the text has its characters; else a line break.
        self.prompt = DEFAULT_PROMPT if set(DEFAULT_PROMPT) <= set(vocabulary.chars) else ""
        self.config, self.traced = config, False
        # A resumed run keeps the samples up to its checkpoint; a fresh start (step 0, perhaps
        # over the files of a start that was killed) keeps none.
        self.rows = [row for row in rundir.read_progression(config.run_dir)
                     if row["step"] <= start] if start else []

    def record(self, step: int) -> None:
        # The first call builds the loop's graph, and TensorFlow's C++ side prints a oneDNN
        # notice about int32 ops on CPUs without AVX-512 straight to descriptor 2 (into the
        # notebook); that call runs with it silenced.
        with quiet_fd2() if not self.traced else contextlib.nullcontext():
            text = self.generator.generate(self.prompt, self.config.sample_chars,
                                           temperature=0.8, seed=self.config.seed)[0]
        self.traced = True
        self.rows.append({"step": step, "prompt": self.prompt, "temperature": 0.8,
                          "text": text})
        rundir.write_progression(self.config.run_dir, self.rows)


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


def make_train_step(model, optimizer, step, strategy, config: TrainConfig,
                    carried: CarriedState | None = None):
    """The function ``train`` runs once per step: one batch in, the mean loss in bits out.

    ``strategy`` splits the batch across replicas; with one device (``tf.distribute.
    get_strategy()``) ``strategy.run`` just calls ``replica_gradients`` and the sums are
    the values themselves. With ``carried`` (``carry_state``), a batch also says whether to
    reset, and each step begins from the state the last one ended with.
    """
    global_chars = config.batch_size * config.len_per_section

    def replica_gradients(batch):
        inputs, targets = batch[0], batch[1]
        with tf.GradientTape() as tape:
            if carried is None:
                logits = model(inputs, training=True)
            else:
                logits, states = model(inputs, states=carried.start(reset=batch[2]),
                                       return_state=True, training=True)
                carried.keep(states)
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
    """Rebuild the trained model of ``run_dir`` (e.g. in a fresh process) from its files.

    Like a resumed training, it loads the newest checkpoint that can be read, with a
    ``CheckpointWarning`` if it had to skip a damaged one (the folder itself is not changed).
    """
    run_dir = resolve_run_dir(run_dir)
    needed = [run_dir / rundir.CONFIG, run_dir / rundir.VOCABULARY]
    if not all(p.exists() for p in needed) or \
            not rundir.checkpoint_files(run_dir / rundir.CHECKPOINTS):
        raise NoTrainedModelError(
            f"{relative(run_dir)} holds no trained model (it needs config.json, "
            "vocabulary.json and a checkpoint). Train first: run notebooks/04_training.ipynb "
            "or `make run`.")
    config = TrainConfig.from_json(rundir.read_config(run_dir))
    try:
        config.validate()
    except ValueError as exc:
        raise ValueError(f"{relative(needed[0])} does not hold a valid configuration: "
                         f"{exc}") from None
    vocabulary = Vocabulary.load(needed[1])
    model = build_model(config, len(vocabulary)).build_for(1, 1)
    step = tf.Variable(0, dtype=tf.int64)
    restore_newest_intact(tf.train.Checkpoint(model=model, step=step),
                          run_dir / rundir.CHECKPOINTS, partial=True)
    return TrainedRun(model, vocabulary, config, rundir.read_history(run_dir),
                      int(step.numpy()), run_dir)
