"""Checkpoints: saving, finding the newest one that can be read, and loading a trained run.

A run folder's ``checkpoints/`` holds the model, the optimizer and the step
(``tf.train.CheckpointManager``). A damaged checkpoint (a file missing, truncated or empty, a
checksum that fails, weights that are not finite numbers) is skipped with a
``CheckpointWarning`` for the newest intact one; a folder whose checkpoints are all damaged is
an error, never a silent restart from step 0.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers import rundir
from helpers.backend import tf
from helpers.config import TrainConfig
from helpers.encoding import Vocabulary
from helpers.model import CharLSTM, build_model
from helpers.paths import relative, resolve_from_root
from helpers.step import WeightAverage


class DamagedCheckpointError(ValueError):
    """Checkpoints exist but none can be read."""


class CheckpointWarning(UserWarning):
    """A damaged checkpoint was skipped for an older, intact one."""


def checkpoint_problem(prefix: Path) -> str | None:
    """Why the checkpoint at ``prefix`` cannot be used, or None: every tensor is read, so
    TensorFlow checks each against the checksum its index holds, and every weight must be a
    finite number (a run that diverged holds NaN or infinity)."""
    try:
        reader = tf.train.load_checkpoint(str(prefix))
        for name in reader.get_variable_to_shape_map():
            value = reader.get_tensor(name)
            if isinstance(value, np.ndarray) and value.dtype.kind == "f" \
                    and not np.isfinite(value).all():
                return f"{name} holds values that are not finite numbers (the run diverged)"
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
            checkpoint_problem(prefix)
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
            # Attributed to this module by name, not to a file and line: the warning reads as
            # one line, with no path of this machine, in a notebook and in a terminal alike.
            warnings.warn_explicit(f"checkpoint ckpt-{bad} in {relative(checkpoint_dir)} is "
                                   f"damaged ({problem}); using ckpt-{number}, the newest "
                                   f"intact one, instead{moved}", CheckpointWarning,
                                   filename=__name__, lineno=0)
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
        vocab_size = getattr(checkpoint, "model", None) and checkpoint.model.vocab_size
        saved = _saved_vocabulary_size(prefix)
        if vocab_size and saved and saved != vocab_size:
            raise ValueError(f"{relative(prefix)} was trained with {saved} character ids, but "
                             f"the vocabulary it is loaded with has {vocab_size}: was "
                             f"{rundir.VOCABULARY} changed by hand?") from None
        lines = str(exc).strip().splitlines()
        raise ValueError(f"{relative(prefix)} does not fit this model ("
                         f"{lines[0] if lines else type(exc).__name__}); was config.json "
                         "changed by hand?") from None


def _saved_vocabulary_size(prefix: Path) -> int | None:
    """How many ids the checkpoint's output layer scores (the length of its logits' bias)."""
    try:
        shapes = tf.train.load_checkpoint(str(prefix)).get_variable_to_shape_map()
    except Exception:  # unreadable: the caller's own message stands
        return None
    sizes = [shape[0] for name, shape in shapes.items()
             if "logits" in name and "bias" in name and "OPTIMIZER" not in name and shape]
    return sizes[0] if sizes else None


def remove_unfinished_saves(checkpoint_dir: Path) -> None:
    """A save killed half-way leaves temporary files; the finished checkpoints are intact.

    A link planted at such a name (TensorFlow saves into ``ckpt-<step>_temp/``, a name anyone
    can guess) is removed, never followed: ``rmtree`` refuses a link, and left in place it
    would receive the next save's files.
    """
    if not checkpoint_dir.exists():
        return
    for leftover in checkpoint_dir.glob("*_temp*"):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def save_to_scratch(checkpoint, number: int) -> None:
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
    run_dir = resolve_from_root(run_dir)
    needed = [run_dir / rundir.CONFIG, run_dir / rundir.VOCABULARY]
    if not rundir.holds_trained_model(run_dir):
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
    # With ema_decay, the average of the weights is what was validated and what samples.
    average = WeightAverage(model.trainable_variables, config.ema_decay) \
        if config.ema_decay else None
    restore_newest_intact(tf.train.Checkpoint(model=model, step=step,
                                              **({"weight_average": average} if average else {})),
                          run_dir / rundir.CHECKPOINTS, partial=True)
    if average:
        average.copy_into(model.trainable_variables)
    return TrainedRun(model, vocabulary, config, rundir.read_history(run_dir),
                      int(step.numpy()), run_dir)
