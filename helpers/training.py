"""Training: the loop around ``helpers.step.train_step``, resumable, with a history in BPC.

Bits per character (BPC) is the cross-entropy in base 2: how many yes/no questions the model
needs, on average, to pin down the next character. Guessing uniformly among WikiText's ~260
characters costs log2(260) ≈ 8 bits.

Everything a run needs to continue or be reused lives in its run directory ``output_dir``
(``helpers.rundir`` reads and writes its files):

    config.json        the TrainConfig
    vocabulary.json    the characters, in id order
    corpus.json        with ``text_file`` only: the file's path, SHA-256, size and split
                       (``helpers.corpus``); resuming on other text is refused
    history.json       step, train and valid BPC, chars/s, elapsed seconds and peak memory
                       (MiB), one row per log, from a row for the untrained model at step 0
    progression.json   ``sample_chars`` characters sampled from the prompt at each log
    checkpoints/       model, optimizer and step (``helpers.checkpoints``); the data order
                       is a pure function of (seed, step), so the step is its whole state

A resumed run starts from the newest checkpoint that can be read. While a run trains, it holds
``.lock`` in its folder, and a second training into the same folder is refused. A loss that is
not a finite number, or far above blind guessing, stops the run (``TrainingDiverged``) before
that state is saved: the folder keeps its last good checkpoint.

Under ``tf.distribute.MultiWorkerMirroredStrategy`` (see ``helpers.distributed``) every worker
process runs ``train``; only the chief writes these files.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from IPython.display import display
from tqdm.auto import tqdm
from tqdm.notebook import tqdm as notebook_tqdm

from helpers import budget, corpus, rundir
from helpers.backend import keras, quiet_fd2, tf
from helpers.batches import stream_dataset
from helpers.checkpoints import remove_unfinished_saves, restore_newest_intact, save_to_scratch
from helpers.checks import person_watching
from helpers.config import DEFAULT_PROMPT, DEFAULT_TEMPERATURE, TrainConfig
from helpers.encoding import Vocabulary
from helpers.evaluation import make_carried_evaluator, make_evaluator, validation_windows
from helpers.model import UNROLL_LIMIT, build_model
from helpers.paths import relative
from helpers.replicas import check_replicas_agree_on_step, replica_batches
from helpers.sampling import Generator
from helpers.step import WeightAverage, build_optimizer, train_step


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow, and make TensorFlow's kernels deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


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
    """This program's peak resident memory so far, in MiB (Linux and macOS).

    On Linux, ``VmHWM``: ``ru_maxrss`` carries a parent's peak across fork and exec, so a small
    run started from a large process (a test suite, say) would report the parent's.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # in kB
    except OSError:
        pass
    import resource  # POSIX only

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _check_run_dir(config: TrainConfig, vocabulary: Vocabulary, text_record) -> list[dict]:
    """Check a run directory against this config; return the history it already holds.

    Only a folder that holds a checkpoint holds a run: its vocabulary and the settings the
    checkpoint depends on must match. A config.json without a checkpoint is what a start that
    failed left behind; it binds nothing, so the corrected rerun can use the folder.
    """
    run_dir = config.run_dir
    if not rundir.checkpoint_files(run_dir / rundir.CHECKPOINTS):
        return []
    rundir.check_same_text(run_dir, text_record)  # before the vocabulary: it names text_file
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
    rundir.record_text(config.run_dir, text_record)


def _undo_failed_start(run_dir: Path) -> None:
    """After a start that failed before its first checkpoint: take back what it wrote
    (config, vocabulary, history, an empty checkpoints folder). A folder with a checkpoint
    holds a run, and is left as it is."""
    checkpoint_dir = run_dir / rundir.CHECKPOINTS
    if rundir.checkpoint_files(checkpoint_dir):
        return
    # Not the folders, nor the lock (its holder removes it)
    for name in rundir.OWNED:
        if name not in (rundir.CHECKPOINTS, rundir.LESSON, rundir.LOCK):
            (run_dir / name).unlink(missing_ok=True)
    rundir.remove_unfinished_writes(run_dir)
    remove_unfinished_saves(checkpoint_dir)
    with contextlib.suppress(OSError):
        checkpoint_dir.rmdir()  # only if empty


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
    if config.ema_decay and replicas > 1:
        raise ValueError(f"ema_decay averages the weights of one device; the strategy has "
                         f"{replicas} replicas: set ema_decay=0")
    if config.time_budget is not None and replicas > 1:
        raise ValueError(f"time_budget plans the steps of one device; the strategy has "
                         f"{replicas} replicas: set max_steps instead")
    if config.batch_size % replicas:
        raise ValueError(f"batch_size={config.batch_size} is the global batch and must split "
                         f"evenly across the strategy's {replicas} replicas")
    training_data = corpus.load_training_data(config)  # refuses texts a batch cannot fill
    # False only on the non-chief workers of MultiWorkerMirroredStrategy. Every worker runs
    # this same function; only the chief writes into the run directory, so that workers
    # sharing it never write the same file at once.
    if not strategy.extended.should_checkpoint:
        return _Session(config, strategy, training_data).run(
            rundir.read_history(config.run_dir), progress, verbose=False)
    run_dir = config.run_dir
    created = rundir.check_writable(run_dir)
    try:
        with rundir.training_lock(run_dir):
            rundir.remove_unfinished_writes(run_dir)  # left by a run that was killed
            try:
                history = _check_run_dir(config, training_data.vocabulary,
                                         training_data.text_file)
                (run_dir / rundir.ERROR).unlink(missing_ok=True)
                config = _fix_steps(config, training_data, strategy, verbose)
                return _Session(config, strategy, training_data).run(history, progress, verbose)
            except TrainingDiverged as exc:
                if rundir.saved_step(run_dir) is not None:  # the run stays, and says why
                    rundir.write_error(run_dir, {"error": f"TrainingDiverged: {exc}"})
                _undo_failed_start(run_dir)
                raise
            except BaseException:
                _undo_failed_start(run_dir)
                raise
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                run_dir.rmdir()  # only if the failed start left it empty
        raise


def _fix_steps(config: TrainConfig, training_data, strategy, verbose: bool) -> TrainConfig:
    """With a ``time_budget``: ``config`` with the steps that fit it, from the run folder's
    plan, or measured now and recorded there (``helpers.budget``)."""
    if config.time_budget is None:
        return config
    record = budget.saved_plan(config)
    if record is None:
        record = budget.plan(config, _measure_pace(config, training_data, strategy))
        rundir.write_plan(config.run_dir, record)
        if verbose:
            pace = record["pace"]
            print(f"time_budget={config.time_budget:g} minutes: here a step takes "
                  f"{pace['per_step']:.3f} s and a validation {pace['per_log']:.1f} s, so "
                  f"{record['max_steps']:,} steps (a warm-up of {record['warmup_steps']:,})",
                  flush=True)
    return budget.with_plan(config, record)


PACE_STEPS = 10  # steps timed after the first, which builds the step


def _measure_pace(config: TrainConfig, training_data, strategy) -> budget.Pace:
    """What a step, a validation and the setup cost, timed on a copy of this run's model and
    data that is then thrown away (the run itself starts from its seed)."""
    started = time.perf_counter()
    probe = _Session(config, strategy, training_data)
    probe._build()
    probe._prepare(0, keep_samples=False)

    def seconds(work, times=1) -> float:
        begun = time.perf_counter()
        for _ in range(times):
            work()
        return (time.perf_counter() - begun) / times

    building = seconds(lambda: float(probe.train_step(next(probe.batches))))
    per_step = seconds(lambda: float(probe.train_step(next(probe.batches))), PACE_STEPS)
    log = [probe.evaluate, probe.evaluate_carried]
    if probe.sampler:
        log.append(lambda: probe.sampler.record(0))
    first_log = seconds(lambda: [work() for work in log])
    per_log = seconds(lambda: [work() for work in log])
    if probe.average:  # a validation of the weights themselves before each save, per log
        per_log += seconds(probe.evaluate) * min(1.0, config.log_every / config.save_every)
    # The run builds its step again, and measures the untrained model on two texts first.
    return budget.Pace(setup=building + 2 * first_log, per_step=per_step, per_log=per_log,
                       measuring=time.perf_counter() - started)


class TrainingDiverged(ValueError):
    """The loss stopped being a finite number, or rose far above blind guessing."""


def divergence_limit(vocab_size: int) -> float:
    """The loss in bits above which a run has diverged: four times blind guessing's (with a
    floor for tiny vocabularies). A model that trains never comes near it; one whose steps are
    far too large passes it within a few steps, on its way to infinity and NaN."""
    return max(4 * math.log2(vocab_size), 20.0)


@dataclass
class _Session:
    """One call of ``train``: the model, its optimizer and checkpoint, and the loop."""

    config: TrainConfig
    strategy: object
    training_data: corpus.TrainingData

    @property
    def is_chief(self) -> bool:
        return self.strategy.extended.should_checkpoint

    def run(self, history: list[dict], progress: bool | None, verbose: bool) -> list[dict]:
        config, run_dir = self.config, self.config.run_dir
        start = self._build_and_restore()
        history = [row for row in history if row["step"] <= start]
        if start >= config.max_steps:
            if verbose:
                past = "" if start == config.max_steps else ", past"
                print(f"{relative(run_dir)} is already trained to step {start:,}{past} "
                      f"(max_steps={config.max_steps:,}); nothing to do")
            return history
        if verbose:
            self._announce()
        self._prepare(start)
        if start == 0 and not history:
            history.append(self._untrained_row())
            if self.sampler:
                self.sampler.record(0)
        show_bar = person_watching() if progress is None else progress
        self._loop(start, history, show_bar, verbose)
        if verbose:
            print(f"saved step {int(self.step.numpy()):,} to {relative(run_dir)}")
        return history

    def _build(self) -> None:
        """Model, optimizer, step and (with ``carry_state``) the carried state, from the seed."""
        config = self.config
        self.model, self.optimizer, self.step = build_training(
            config, len(self.training_data.vocabulary), self.strategy)
        self.carried = CarriedState(config.batch_size, config.hidden_nodes,
                                    config.num_layers) if config.carry_state else None
        self.average = WeightAverage(self.model.trainable_variables, config.ema_decay) \
            if config.ema_decay else None

    def _build_and_restore(self) -> int:
        """Model, optimizer and step, restored from the newest intact checkpoint; the step."""
        config, strategy = self.config, self.strategy
        self._build()
        self.checkpoint = tf.train.Checkpoint(
            model=self.model, optimizer=self.optimizer, step=self.step,
            **({"carried_state": self.carried} if self.carried else {}),
            **({"weight_average": self.average} if self.average else {}))
        checkpoint_dir = config.run_dir / rundir.CHECKPOINTS
        if self.is_chief:
            remove_unfinished_saves(checkpoint_dir)
        # Every worker restores the chief's latest checkpoint (so, to resume, all must see it).
        restore_newest_intact(self.checkpoint, checkpoint_dir, set_aside=self.is_chief)
        if config.lr_schedule == "constant" and not config.warmup_steps:
            # The checkpoint holds Adam's rate; a resumed run takes the one asked for now.
            self.optimizer.learning_rate = config.learning_rate
        if strategy.num_replicas_in_sync > 1:
            check_replicas_agree_on_step(strategy, self.step, config.run_dir)
        start = int(self.step.numpy())
        if self.is_chief:
            self.manager = tf.train.CheckpointManager(self.checkpoint, checkpoint_dir,
                                                      max_to_keep=2)
        return start

    def _announce(self) -> None:
        config, data = self.config, self.training_data
        valid_ids = data.valid_ids
        unknown = int((valid_ids == 0).sum())
        if unknown:
            print(f"validation: {unknown:,} of {len(valid_ids):,} characters are not in the "
                  f"vocabulary of {data.source} and count as the unknown id")
        if config.len_per_section > UNROLL_LIMIT and config.cell == "four_gate":
            print(f"len_per_section={config.len_per_section:,} is above {UNROLL_LIMIT}: the LSTM "
                  "runs as a loop (slower per character, but its graph does not grow with the "
                  "length)")

    def _prepare(self, start: int, keep_samples: bool = True) -> None:
        """The evaluators, the batches from step ``start`` on, the compiled step, the sampler
        (``keep_samples``: whether it writes progression.json)."""
        config, data = self.config, self.training_data
        valid_ids = data.valid_ids.astype(np.int32)  # the model reads int32 ids
        self.evaluate = make_evaluator(self.model, *validation_windows(
            valid_ids, config.len_per_section))
        self.evaluate_carried = make_carried_evaluator(self.model, valid_ids,
                                                       config.len_per_section)
        if self.carried:
            self.batches = iter(stream_dataset(data.train_ids, config.batch_size,
                                               config.len_per_section, config.seed, start))
        else:
            self.batches = iter(replica_batches(self.strategy, data.train_ids, config, start))
        self.train_step = make_train_step(self.model, self.optimizer, self.step, self.strategy,
                                          config.clip_norm, self.carried, self.average)
        self.sampler = _ProgressionSampler(self.model, data.vocabulary, config, start,
                                           keep=keep_samples) \
            if self.is_chief and self.strategy.num_replicas_in_sync == 1 \
            and config.sample_chars else None
        self.limit = divergence_limit(len(data.vocabulary))

    def _untrained_row(self) -> dict:
        """The untrained model, measured: the yardstick every later row is read against."""
        config = self.config
        train_windows = validation_windows(self.training_data.train_ids[: config.valid_chars]
                                           .astype(np.int32), config.len_per_section)
        return {"step": 0, "train_bpc": make_evaluator(self.model, *train_windows)(),
                "valid_bpc": self.evaluate(), "valid_bpc_carried": self.evaluate_carried(),
                "chars_per_sec": None, "elapsed": 0.0, "peak_rss_mb": peak_rss_mb()}

    def _loop(self, start: int, history: list[dict], show_bar: bool, verbose: bool) -> None:
        config = self.config
        bar = _progress_bar(start, config.max_steps, show_bar)
        window = _LogWindow(config, history[-1]["elapsed"] if history else 0.0, start)
        try:
            current = start
            while current < config.max_steps:
                bits = float(self.train_step(next(self.batches)))
                current += 1
                self._check_diverged(current, {"training loss": bits})
                if current == start + 1 and self.is_chief:
                    # Training has really started (the step was built and ran): only now
                    # does the folder record this run's settings.
                    _write_run_files(config, self.training_data.vocabulary,
                                     self.training_data.text_file)
                window.add(bits)
                bar.update(1)
                logged = current % config.log_every == 0 or current == config.max_steps
                if logged:
                    self._log(current, window, history, bar, verbose and not show_bar)
                if current % config.save_every == 0 or current == config.max_steps:
                    if not logged or self.average:
                        # A step's training loss is measured before its update, so only a
                        # validation sees the weights about to be saved: at a log, _log ran
                        # one (of the average, with ema_decay); otherwise, it runs here
                        # (weights of 1e30 are finite, and a checkpoint of them would make
                        # every resume diverge).
                        self._check_diverged(current, {"validation loss": self.evaluate()})
                    self._save(current, history)
        finally:
            _close_progress_bar(bar)

    def _log(self, current: int, window: _LogWindow, history: list[dict], bar,
             print_line: bool) -> None:
        window.stop()  # the speed is the steps', not the validations' that follow
        with self._averaged_weights():
            row = window.row(current, self.evaluate(), self.evaluate_carried())
            self._check_diverged(current, {"validation loss": row["valid_bpc"],
                                           "carried validation loss": row["valid_bpc_carried"]})
            if self.sampler:
                self.sampler.record(current)
        history.append(row)
        # Rewritten at every log so that a reader sees progress; rows past the last checkpoint
        # are dropped again on resume.
        if self.is_chief:
            rundir.write_history(self.config.run_dir, history)
        bar.set_postfix(train_bpc=f"{row['train_bpc']:.3f}", valid_bpc=f"{row['valid_bpc']:.3f}")
        if print_line:
            print(window.line(row), flush=True)

    def _averaged_weights(self):
        """The model holds the average of its weights in this block, with ``ema_decay``."""
        if self.average is None:
            return contextlib.nullcontext()
        return self.average.swapped_into(self.model.trainable_variables)

    def _save(self, current: int, history: list[dict]) -> None:
        if self.is_chief:
            self.manager.save(checkpoint_number=current)
            rundir.write_history(self.config.run_dir, history)
        else:
            save_to_scratch(self.checkpoint, current)

    def _check_diverged(self, current: int, losses: dict[str, float]) -> None:
        """Stop, before anything of this step is saved, at a loss that is not a finite number
        or far above blind guessing."""
        for what, bits in losses.items():
            if math.isfinite(bits) and bits <= self.limit:
                continue
            config = self.config
            saved = rundir.saved_step(config.run_dir) if self.is_chief else None
            kept = (f"{relative(config.run_dir)} keeps its last checkpoint, step {saved:,}, and "
                    "resumes from it") if saved is not None else "no checkpoint was saved"
            raise TrainingDiverged(
                f"training diverged at step {current:,}: the {what} is {bits:.4g} bits per "
                f"character (blind guessing costs {self.limit / 4:.2f}). Lower learning_rate "
                f"(now {config.learning_rate:g}) or clip_norm (now {config.clip_norm:g}); this "
                f"state was not saved, and {kept}")


class _LogWindow:
    """The steps since the last log: their mean loss, their speed (the steps' own time, up to
    ``stop``), and the time so far (everything included)."""

    def __init__(self, config: TrainConfig, elapsed_before: float, start: int):
        self.config, self.elapsed_before, self.start = config, elapsed_before, start
        self.started = time.perf_counter()
        self._reset()

    def _reset(self) -> None:
        self.window_start, self.bits, self.steps = time.perf_counter(), 0.0, 0
        self.stopped = None

    def stop(self) -> None:
        self.stopped = time.perf_counter()

    def add(self, bits: float) -> None:
        self.bits += bits
        self.steps += 1

    def row(self, step: int, valid_bpc: float, valid_bpc_carried: float) -> dict:
        seconds = (self.stopped or time.perf_counter()) - self.window_start
        chars = self.steps * self.config.batch_size * self.config.len_per_section
        row = {"step": step, "train_bpc": self.bits / self.steps, "valid_bpc": valid_bpc,
               "valid_bpc_carried": valid_bpc_carried, "chars_per_sec": chars / seconds,
               "elapsed": self.elapsed_before + time.perf_counter() - self.started,
               "peak_rss_mb": peak_rss_mb()}
        self._reset()
        return row

    def line(self, row: dict) -> str:
        """One row as a line of progress, with the time left at this session's pace."""
        this_session = time.perf_counter() - self.started
        left = (self.config.max_steps - row["step"]) * this_session / (row["step"] - self.start)
        return (f"step {row['step']:>6,} of {self.config.max_steps:,}  train "
                f"{row['train_bpc']:.3f} bpc  valid {row['valid_bpc']:.3f} bpc  "
                f"{row['chars_per_sec']:,.0f} chars/s  {row['elapsed'] / 60:.1f} min, "
                f"~{left / 60:.1f} min left")


class _ProgressionSampler:
    """Samples from the prompt as training goes, kept in the run's progression.json: how
    spelling, then words, then layout appear. Cheap: one short generation per log."""

    def __init__(self, model, vocabulary: Vocabulary, config: TrainConfig, start: int,
                 keep: bool = True):
        # Not compiled with XLA: a second's compile would cost more than 200 characters.
        self.generator = Generator(model, vocabulary, jit_compile=False)
        # The original's prompt where the text has its characters; else a line break.
        self.prompt = DEFAULT_PROMPT if set(DEFAULT_PROMPT) <= set(vocabulary.chars) else ""
        self.config, self.traced, self.keep = config, False, keep
        # A resumed run keeps the samples up to its checkpoint; a fresh start (step 0, perhaps
        # over the files of a start that was killed) keeps none. A damaged progression.json
        # (a record for reading only) is started afresh rather than blocking the run.
        try:
            kept = rundir.read_progression(config.run_dir) if start else []
        except ValueError:
            kept = []
        self.rows = [row for row in kept if isinstance(row, dict)
                     and isinstance(row.get("step"), int) and row["step"] <= start]

    def record(self, step: int) -> None:
        # The first call builds the loop's graph, and TensorFlow's C++ side prints a oneDNN
        # notice about int32 ops on CPUs without AVX-512 straight to descriptor 2 (into the
        # notebook); that call runs with it silenced.
        with quiet_fd2() if not self.traced else contextlib.nullcontext():
            text = self.generator.generate(self.prompt, self.config.sample_chars,
                                           temperature=DEFAULT_TEMPERATURE,
                                           seed=self.config.seed)[0]
        self.traced = True
        self.rows.append({"step": step, "prompt": self.prompt,
                          "temperature": DEFAULT_TEMPERATURE, "text": text})
        if self.keep:
            rundir.write_progression(self.config.run_dir, self.rows)


def make_train_step(model, optimizer, step, strategy, clip_norm: float,
                    carried: CarriedState | None = None, average: WeightAverage | None = None):
    """``train_step`` as the loop runs it: compiled, on every replica of ``strategy`` (with one
    device, ``strategy.run`` just calls it), from the LSTM state the last step ended with
    (``carried``, for ``carry_state``; a batch then also says which rows to reset) or from
    zeros, folded into ``average`` (for ``ema_decay``), and counted in ``step``. Returns the
    batch's mean loss in bits."""
    @tf.function
    def run(batch):
        states = None if carried is None else carried.start(reset=batch[2])
        bits, states = strategy.run(train_step, args=(model, optimizer, batch[0], batch[1],
                                                      clip_norm, states))
        if carried is not None:
            carried.keep(states)
        if average is not None:
            average.update(model.trainable_variables)
        step.assign_add(1)
        return strategy.reduce("SUM", bits, axis=None)

    return run


def _progress_bar(start, total, enabled):
    options = dict(total=total, initial=start, disable=not enabled, unit="step",
                   desc="training", dynamic_ncols=True)
    if not (enabled and issubclass(tqdm, notebook_tqdm)):
        return tqdm(**options)
    # In a notebook the bar is a widget; a viewer without widgets (GitHub, a saved notebook
    # opened elsewhere) shows its text form instead, fixed when it was displayed. Displayed
    # with a handle, the text is brought up to date when the bar closes
    # (_close_progress_bar).
    bar = tqdm(**options, display=False)
    bar.display_handle = display(bar.container, display_id=True)
    return bar


def _close_progress_bar(bar) -> None:
    bar.close()
    handle = getattr(bar, "display_handle", None)
    if handle is not None:
        handle.update(bar.container)
