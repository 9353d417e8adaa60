"""A run directory's files, read and written in one place, without importing TensorFlow.

``helpers.training`` writes a run directory (with the record ``helpers.corpus`` builds of the
text it trained on, checked here on a resume), notebook 05 and
``helpers.runs`` add to it, and ``helpers.runs`` and ``helpers.generate`` read it; the file
names, their readers and writers, the checkpoints found by their file names, and the lock that
keeps two trainings out of one folder live here::

    config.json        the TrainConfig
    vocabulary.json    the characters, in id order (``Vocabulary.save`` and ``load``)
    corpus.json        with ``text_file`` only: the file's path, SHA-256, size and split
    history.json       one row per log
    progression.json   a sample from the prompt at each log
    checkpoints/       ckpt-<step>.index and ckpt-<step>.data-*, and TensorFlow's ``checkpoint``
                       file naming the latest; damaged/ holds checkpoints found damaged
    .lock              held (``flock``) by the process training into the folder
    loss_curve.png     04's figure (``helpers.plots.save_figure``)
    samples.json       05's samples (and samples.txt, the first one as text)
    metrics.json       ``helpers.runs``: a finished run's figures
    error.json         ``helpers.runs``: why a sweep's run failed
    lesson/            04's lesson trainings (a text excerpt, a run folder for each)

Every JSON file is written atomically (``paths.write_json``); a damaged one is an error naming
it (``paths.read_json``). A reader returns None (an empty list for the lists) where its file is
missing. A run folder can come from anyone (a shared drive, a downloaded run), so no write
here follows a symbolic link: a link at a name the run writes is refused with a line naming it
(``paths.refuse_link``), temporary files have random names, and ``.lock`` is opened with
``O_NOFOLLOW``.

Checkpoints are found by their file names rather than through TensorFlow's ``checkpoint``
file: a damaged or missing ``checkpoint`` file, or a missing ``.index``, must never make a
folder that holds checkpoints look empty.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import stat
import sys
import time
from pathlib import Path

from helpers.paths import (
    DamagedFileError,
    LinkRefusedError,
    create_new,
    read_json,
    refuse_link,
    relative,
    write_json,
    write_text,
)

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; a second training is not detected there
    fcntl = None

CONFIG = "config.json"
VOCABULARY = "vocabulary.json"
CORPUS = "corpus.json"
HISTORY = "history.json"
PROGRESSION = "progression.json"
CHECKPOINTS = "checkpoints"
SAMPLES = "samples.json"
SAMPLES_TEXT = "samples.txt"
METRICS = "metrics.json"
ERROR = "error.json"
PLAN = "plan.json"
DAMAGED = "damaged"
LOCK = ".lock"
LOSS_CURVE = "loss_curve.png"
LESSON = "lesson"  # a folder: notebook 04 writes its lesson's text and runs into it
CHECKPOINT_STATE = "checkpoint"
RUN_FOLDER = "run folder"  # how a refused link's message names the folder
# Every name the run writes (in the run folder, then in checkpoints/): none may be a link.
OWNED = (CONFIG, VOCABULARY, CORPUS, HISTORY, PROGRESSION, CHECKPOINTS, SAMPLES, SAMPLES_TEXT,
         METRICS, ERROR, PLAN, LOCK, LOSS_CURVE, LESSON)
OWNED_IN_CHECKPOINTS = (CHECKPOINT_STATE, DAMAGED)

_CHECKPOINT_FILE = re.compile(r"ckpt-(\d+)\.(index|data-(\d+)-of-(\d+))")


# The settings that shape the model, its optimizer's state or its data: a run cannot be
# continued with other values. (max_steps, log_every, save_every, learning_rate, lr_floor,
# clip_norm, adam_beta2 and the validation settings may change between sessions.) lr_schedule and
# whether there is a warm-up decide which variables Adam keeps, carry_state whether the
# checkpoint holds the carried state, ema_decay whether it holds an average of the weights: a
# checkpoint of one cannot be restored into the other. The warm-up's length may change, as
# max_steps may: both only reshape the rest of the schedule (a preset's warm-up follows
# max_steps, helpers.config.with_preset); so may the average's decay.
FIXED_ON_RESUME = ("hidden_nodes", "num_layers", "embedding_dim", "cell", "train_split",
                   "len_per_section", "skip", "batch_size", "seed", "dropout", "lr_schedule",
                   "warmup_steps", "carry_state", "recurrent_dropout", "ema_decay")
# Of these, compared only as "some or none"
FIXED_AS_SOME_OR_NONE = ("warmup_steps", "ema_decay")


def check_settings(run_dir: Path, settings: dict, choose: str = "output_dir") -> None:
    """Refuse ``settings`` that differ from the saved config in what a resume cannot change.

    ``choose``: what the user changes to start afresh instead ("output_dir", "--name").
    """
    saved = read_config(run_dir) or {}
    changed = [k for k in FIXED_ON_RESUME if k in saved and k in settings
               and _fixed_part(k, saved[k]) != _fixed_part(k, settings[k])]
    if changed:
        details = ", ".join(f"{k}: {saved[k]!r} there, {settings[k]!r} now" for k in changed)
        raise ValueError(f"output_dir {relative(run_dir)!r} holds a run with other settings "
                         f"({details}); choose another {choose} to start afresh")


def _fixed_part(name: str, value):
    return bool(value) if name in FIXED_AS_SOME_OR_NONE else value


def _read(run_dir: Path, name: str, kind: type):
    path = Path(run_dir) / name
    if not path.exists():
        return [] if kind is list else None
    return read_json(path, expect=kind)


def _write(run_dir: Path, name: str, payload) -> None:
    write_json(Path(run_dir) / name, payload, RUN_FOLDER)


def read_config(run_dir: Path) -> dict | None:
    """The saved configuration as a dict, or None when there is none."""
    return _read(run_dir, CONFIG, dict)


def write_config(run_dir: Path, config: dict) -> None:
    _write(run_dir, CONFIG, config)


def read_corpus(run_dir: Path) -> dict | None:
    return _read(run_dir, CORPUS, dict)


def write_corpus(run_dir: Path, record: dict) -> None:
    _write(run_dir, CORPUS, record)


def read_history(run_dir: Path) -> list[dict]:
    """The rows of history.json, each an object with a whole ``step``, numbers for its losses
    and its ``elapsed`` seconds, and numbers (or nothing) for the figures a row may lack;
    anything else is a ``DamagedFileError`` naming the file and the row."""
    rows = _read(run_dir, HISTORY, list)
    for index, row in enumerate(rows):
        problem = _history_row_problem(row)
        if problem:
            raise DamagedFileError(f"{relative(Path(run_dir) / HISTORY)} is damaged: row "
                                   f"{index} {problem}")
    return rows


def _history_row_problem(row) -> str | None:
    if not isinstance(row, dict):
        return f"is {type(row).__name__} {row!r:.40}, not an object"
    step = row.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        return f"has no whole step number (step: {step!r:.40})"
    for name in HISTORY_NUMBERS:
        value = row.get(name)
        if not _is_a(value, float):
            return f"(step {step}) has no number for {name} ({value!r:.40})"
    for name, none_allowed in HISTORY_OPTIONAL_NUMBERS.items():
        value = row.get(name)
        if name in row and not _is_a(value, float) and not (value is None and none_allowed):
            return f"(step {step}) has {value!r:.40} for {name}, not a number"
    return None


# What every history row holds (training resumes its clock from the last row's elapsed), and
# what a row may lack: the untrained row has no speed (None), and runs from before a figure
# existed have none of it. Each optional figure says whether it may be None.
HISTORY_NUMBERS = ("train_bpc", "valid_bpc", "elapsed")
HISTORY_OPTIONAL_NUMBERS = {"valid_bpc_carried": True, "chars_per_sec": True,
                            "peak_rss_mb": False}


def write_history(run_dir: Path, history: list[dict]) -> None:
    _write(run_dir, HISTORY, history)


def read_progression(run_dir: Path) -> list[dict]:
    return _read(run_dir, PROGRESSION, list)


def write_progression(run_dir: Path, rows: list[dict]) -> None:
    _write(run_dir, PROGRESSION, rows)


def read_samples(run_dir: Path) -> dict | None:
    return _read(run_dir, SAMPLES, dict)


def write_samples(run_dir: Path, record: dict, text: str) -> None:
    """05's ``record`` (prompt, step, samples) into samples.json, ``text`` into samples.txt."""
    _write(run_dir, SAMPLES, record)
    write_text(Path(run_dir) / SAMPLES_TEXT, text, RUN_FOLDER)


def holds_trained_model(run_dir: Path) -> bool:
    """Whether ``run_dir`` has what a trained model needs: its config, its vocabulary and at
    least one checkpoint (which may still turn out damaged when read)."""
    run_dir = Path(run_dir)
    return (run_dir / CONFIG).is_file() and (run_dir / VOCABULARY).is_file() \
        and bool(checkpoint_files(run_dir / CHECKPOINTS))


def read_plan(run_dir: Path) -> dict | None:
    """The steps a ``time_budget`` run fixed (``helpers.budget``), or None."""
    return _read(run_dir, PLAN, dict)


def write_plan(run_dir: Path, plan: dict) -> None:
    _write(run_dir, PLAN, plan)


def read_metrics(run_dir: Path) -> dict | None:
    return _read(run_dir, METRICS, dict)


def write_metrics(run_dir: Path, metrics: dict) -> None:
    _write(run_dir, METRICS, metrics)


def read_error(run_dir: Path) -> dict | None:
    return _read(run_dir, ERROR, dict)


def write_error(run_dir: Path, error: dict) -> None:
    _write(run_dir, ERROR, error)


# --- Checkpoints, by file name -------------------------------------------------------------


def checkpoint_files(checkpoint_dir: Path) -> dict[int, list[Path]]:
    """Every checkpoint that has at least one file, ``{step: its files}``, newest first."""
    checkpoint_dir = Path(checkpoint_dir)
    found: dict[int, list[Path]] = {}
    if checkpoint_dir.is_dir():
        for path in checkpoint_dir.iterdir():
            match = _CHECKPOINT_FILE.fullmatch(path.name)
            if match and path.is_file():
                found.setdefault(int(match[1]), []).append(path)
    return {number: sorted(found[number]) for number in sorted(found, reverse=True)}


def missing_files(checkpoint_dir: Path, number: int, files: list[Path]) -> str | None:
    """What is missing from checkpoint ``number`` (its ``.index``, a data shard), or None."""
    names = {path.name for path in files}
    prefix = f"ckpt-{number}"
    if f"{prefix}.index" not in names:
        return f"{prefix}.index is missing"
    shards = [_CHECKPOINT_FILE.fullmatch(name) for name in names if ".data-" in name]
    if not shards:
        return f"{prefix} has no .data file"
    total = int(shards[0][4])
    absent = [f"{prefix}.data-{i:05d}-of-{total:05d}" for i in range(total)
              if f"{prefix}.data-{i:05d}-of-{total:05d}" not in names]
    return f"{absent[0]} is missing" if absent else None


def saved_step(run_dir: Path) -> int | None:
    """The step of the newest checkpoint whose files are all there (not read, so not
    checked for damage), or None."""
    checkpoint_dir = Path(run_dir) / CHECKPOINTS
    for number, files in checkpoint_files(checkpoint_dir).items():
        if missing_files(checkpoint_dir, number, files) is None:
            return number
    return None


def set_aside(checkpoint_dir: Path, number: int) -> Path:
    """Move the files of a damaged checkpoint into ``checkpoints/damaged/``; return that folder."""
    refuse_link(checkpoint_dir, RUN_FOLDER)
    damaged = refuse_link(Path(checkpoint_dir) / DAMAGED, RUN_FOLDER)
    damaged.mkdir(exist_ok=True)
    for path in checkpoint_files(checkpoint_dir).get(number, []):
        os.replace(path, damaged / path.name)
    return damaged


def write_checkpoint_state(checkpoint_dir: Path, latest: int) -> None:
    """TensorFlow's ``checkpoint`` file, listing the complete checkpoints up to ``latest``.

    Written when the old one named a damaged checkpoint (or could not be read), so that the
    ``CheckpointManager`` continues from ``latest`` and later deletes the older ones as usual.
    """
    checkpoint_dir = refuse_link(checkpoint_dir, RUN_FOLDER)
    kept = sorted(number for number, files in checkpoint_files(checkpoint_dir).items()
                  if number <= latest and missing_files(checkpoint_dir, number, files) is None)
    # The manager deletes only checkpoints saved after last_preserved_timestamp.
    times = [(checkpoint_dir / f"ckpt-{number}.index").stat().st_mtime for number in kept]
    lines = [f'model_checkpoint_path: "ckpt-{latest}"']
    lines += [f'all_model_checkpoint_paths: "ckpt-{number}"' for number in kept]
    lines += [f"all_model_checkpoint_timestamps: {t!r}" for t in times]
    lines += [f"last_preserved_timestamp: {min(times, default=0.0) - 1.0!r}"]
    write_text(checkpoint_dir / CHECKPOINT_STATE, "\n".join(lines) + "\n", RUN_FOLDER)


def checkpoint_state_names(checkpoint_dir: Path, number: int) -> bool:
    """Whether TensorFlow's ``checkpoint`` file names checkpoint ``number`` as the latest."""
    path = Path(checkpoint_dir) / CHECKPOINT_STATE
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    latest = re.search(r'^model_checkpoint_path: "(?:.*/)?ckpt-(\d+)"$', text, re.MULTILINE)
    return latest is not None and int(latest[1]) == number


# --- Before writing: a folder that can be written, and no links -----------------------------


def check_writable(run_dir: Path) -> bool:
    """Create ``run_dir`` if need be and check that files can be made in it; return whether it
    was created here.

    Refused with a one-line ``ValueError``, before any work: a folder that cannot be written
    (read-only, on a read-only filesystem, not a folder) and a link at any name the run writes
    (``refuse_links``). The probe has a random name and is made by ``paths.create_new``
    (``O_EXCL | O_NOFOLLOW``), so that no link planted in the folder can receive it.
    """
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"output_dir {relative(run_dir)!r} is not a folder: choose another "
                         "output_dir")
    created = not run_dir.exists()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / f".write-test-{secrets.token_hex(8)}"
        os.close(create_new(probe))
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"output_dir {relative(run_dir)!r} cannot be written: "
                         f"{exc.strerror or exc}") from None
    refuse_links(run_dir)
    return created


def refuse_links(run_dir: Path) -> None:
    """A ``LinkRefusedError`` (a ValueError) naming the first name the run writes that is a
    symbolic link; writing it would follow the link, or replace it."""
    run_dir = Path(run_dir)
    for name in OWNED:
        refuse_link(run_dir / name, RUN_FOLDER)
    for name in OWNED_IN_CHECKPOINTS:
        refuse_link(run_dir / CHECKPOINTS / name, RUN_FOLDER)


def remove_unfinished_writes(run_dir: Path) -> None:
    """Remove the temporary files of writes that were stopped (a kill, a power cut) between
    creating their ``.NAME.*.tmp`` file and renaming it over NAME. Only the holder of the
    training lock calls this, so no write of a live process is taken away."""
    run_dir = Path(run_dir)
    for folder, names in ((run_dir, OWNED), (run_dir / CHECKPOINTS, OWNED_IN_CHECKPOINTS)):
        for name in names:
            for unfinished in folder.glob(f".{name}.*.tmp"):
                unfinished.unlink(missing_ok=True)  # a link is removed, never followed


# --- One training per folder ---------------------------------------------------------------


class RunDirectoryInUseError(ValueError):
    """Another process is training into this run directory."""


@contextlib.contextmanager
def training_lock(run_dir: Path):
    """Hold ``run_dir/.lock`` while training; refuse a folder another process trains into.

    An advisory ``flock``: the operating system releases it when its process ends, however it
    ends, so a run that was killed never blocks the next one. The file names the holder
    (process id, host, start time), for the message the second run gets; it is removed on a
    normal exit.
    """
    run_dir = Path(run_dir)
    if fcntl is None:
        yield
        return
    path = run_dir / LOCK
    fd = _acquire(path, run_dir)
    if fd is None:  # a filesystem without locks: train unguarded rather than not at all
        yield
        return
    try:
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "started": time.strftime("%Y-%m-%d %H:%M:%S"),
                                 "command": " ".join(sys.argv)[:200]}).encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)  # releases the lock


def _acquire(path: Path, run_dir: Path) -> int | None:
    """An open descriptor of ``path``, locked; None where the filesystem has no locks."""
    while True:
        fd = _open_lock(path, run_dir)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe_holder(fd)
            os.close(fd)
            raise RunDirectoryInUseError(
                f"output_dir {relative(run_dir)!r} is in use: {holder} is training into it. "
                "Wait for it to finish (or stop it), or choose another output_dir") from None
        except OSError:
            os.close(fd)
            return None
        # The holder before us may have removed the file after we opened it: then we locked
        # a file that no longer is the lock, and must try again with the one on disk now.
        try:
            if os.path.samestat(os.fstat(fd), os.lstat(path)):
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)


def _open_lock(path: Path, run_dir: Path) -> int:
    """``path`` opened for reading and writing, created if need be; refused if it is a link.

    A lock file planted as a symbolic or hard link to another file would have that file
    truncated and overwritten with the holder's description.
    """
    refuse_link(path, RUN_FOLDER)
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError:
        refuse_link(path, RUN_FOLDER)  # a link planted since the check
        raise
    info = os.fstat(fd)
    # No more than one name: a holder that removes the file as we open it leaves it none.
    if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
        os.close(fd)
        what = "a hard link to another file" if stat.S_ISREG(info.st_mode) else "not a file"
        raise LinkRefusedError(f"{LOCK} in {relative(run_dir)} is {what}; a {RUN_FOLDER}'s "
                               "files must be plain files: remove it")
    return fd


def _describe_holder(fd: int) -> str:
    try:
        holder = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
        where = "" if holder["host"] == socket.gethostname() else f" on {holder['host']}"
        return f"process {holder['pid']}{where} (started {holder['started']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


# --- corpus.json: the text a run was trained on ------------------------------------------
# ``helpers.corpus`` builds the record (the file's path as given, its SHA-256, its size and
# how it was split); here it is written, read back and checked on a resume.


def check_same_text(run_dir: Path, record: dict | None) -> None:
    """Refuse to continue a run directory on other text than it was trained on.

    ``record`` is what `corpus.load_training_data` read now (None: WikiText-2). WikiText-2 runs
    have no ``corpus.json`` and ``text_file: null`` (or nothing, from before text files) in
    their ``config.json``. The same bytes under another path are the same text: a file that
    moved may continue its run.
    """
    run_dir = Path(run_dir)
    config = read_config(run_dir)
    if config is None:
        return  # a fresh run directory
    saved = _read_text_record(run_dir)
    if saved is not None:
        same = record is not None and saved["sha256"] == record["sha256"]
    else:  # WikiText-2, or a file whose record was never written (stopped right there)
        saved = config.get("text_file")
        same = saved == (record and record["text_file"])
    if not same:
        raise ValueError(
            f"output_dir {relative(run_dir)!r} holds a run trained on other text (text_file: "
            f"{_describe_text(saved)} there, {_describe_text(record)} now); choose another "
            "output_dir to start afresh, or give the text_file it was trained on")
    before = saved.get("valid_fraction") if isinstance(saved, dict) else None
    if before is not None and before != record["valid_fraction"]:
        raise ValueError(
            f"output_dir {relative(run_dir)!r} holds a run with other settings (valid_fraction: "
            f"{before!r} there, {record['valid_fraction']!r} now: validation would overlap "
            "what it trained on); choose another output_dir to start afresh")


def record_text(run_dir: Path, record: dict | None) -> None:
    """Write (or update, for a file that moved) the run directory's ``corpus.json``."""
    if record is not None:
        write_corpus(run_dir, record)


# What corpus.json holds, and the types check_same_text relies on (valid_fraction is absent from
# runs recorded before it could be set).
_RECORD_FIELDS = {"text_file": str, "sha256": str, "size_bytes": int}
_RECORD_KINDS = {str: "a string", int: "an integer", float: "a number"}


def _read_text_record(run_dir: Path) -> dict | None:
    """The run's ``corpus.json``, or a DamagedFileError naming it and the field that is wrong."""
    record = read_corpus(run_dir)  # None if there is none; a JSON object if there is
    if record is None:
        return None
    problems = [f'"{name}" is missing' if name not in record else
                f'"{name}" is {record[name]!r:.40}, not {_RECORD_KINDS[kind]}'
                for name, kind in _RECORD_FIELDS.items()
                if not _is_a(record.get(name), kind)]
    fraction = record.get("valid_fraction")
    if fraction is not None and not _is_a(fraction, float):
        problems.append(f'"valid_fraction" is {fraction!r:.40}, not {_RECORD_KINDS[float]}')
    if problems:
        raise DamagedFileError(
            f"{relative(run_dir / CORPUS)} is damaged: {'; '.join(problems)}. It records "
            "the text the run was trained on: restore it, or choose another output_dir to "
            "start afresh")
    return record


def _is_a(value, kind: type) -> bool:
    """Whether ``value`` is of ``kind``, where a float may be written as an int and a bool is
    neither."""
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, float) if kind is float else kind)


def _describe_text(saved) -> str:
    if saved is None:
        return "None (WikiText-2)"
    if isinstance(saved, str):
        return repr(saved)
    return (f"{saved['text_file']!r} with SHA-256 {saved['sha256'][:12]}... and "
            f"{saved['size_bytes']:,} bytes")
