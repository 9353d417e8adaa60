"""What training reads: WikiText-2's splits, or a text file of your own.

By default training reads WikiText-2 (``train_split``, and the first ``valid_chars`` of
``valid_split`` for validation). With ``text_file`` it reads that file through
``helpers.data.load_corpus`` instead, char-rnn style, and splits it in two:

    |<------------- training: the first 1 - valid_fraction ------------->|<- validation ->|

Validation reads the first ``valid_chars`` characters of the last part, which training never
sees. The vocabulary is built from the training part only, as with WikiText, so a character
that occurs only in the validation part counts as the unknown id there.

A run directory trained on a file records it in ``corpus.json``: the path as given, its SHA-256,
its size, and how it was split. This module builds that record (``TrainingData.text_file``);
``helpers.rundir`` writes it, and on a resume checks the file against it
(``rundir.check_same_text``), so that a run is never continued on other text by accident.

A path is relative to the repository root unless absolute (like ``output_dir``), so that a
notebook run from any folder reads the same file.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from helpers import data
from helpers.encoding import Vocabulary, character_counts
from helpers.paths import resolve_from_root


@dataclass
class TrainingData:
    """The ids training and validation read, the vocabulary behind them, and their source."""

    vocabulary: Vocabulary
    train_ids: np.ndarray
    valid_ids: np.ndarray
    source: str  # in messages: "the 'test' split", "the training part of notes.txt"
    text_file: dict | None = None  # what corpus.json records; None for WikiText-2
    seconds: dict = field(default_factory=dict)  # how long each stage took


def load_training_data(config) -> TrainingData:
    """The training and validation ids of ``config`` (a TrainConfig), from WikiText or a file."""
    if config.text_file is None:
        return _wikitext_data(config)
    return _text_file_data(config)


def _wikitext_data(config) -> TrainingData:
    started = time.perf_counter()
    train_text = data.load_split(config.train_split, config.data_dir)
    valid_text = data.load_split(config.valid_split, config.data_dir)[: config.valid_chars]
    source = f"the {config.train_split!r} split"
    check_fills_a_batch(config, len(train_text), len(valid_text), source)
    loaded = time.perf_counter()
    vocabulary = Vocabulary.from_text(train_text)
    counted = time.perf_counter()
    train_ids = vocabulary.encode(train_text, warn=False, dtype=vocabulary.id_dtype)
    valid_ids = vocabulary.encode(valid_text, warn=False, dtype=vocabulary.id_dtype)
    return TrainingData(vocabulary, train_ids, valid_ids, source,
                        seconds=_stages(started, loaded, counted, time.perf_counter()))


def _text_file_data(config) -> TrainingData:
    """Read, fingerprint and split the file; count and encode it without copying the text."""
    path = resolve_from_root(config.text_file)
    started = time.perf_counter()
    record = {"text_file": str(config.text_file), "sha256": data.file_sha256(path),
              "size_bytes": path.stat().st_size}
    text = data.load_corpus(path)
    loaded = time.perf_counter()
    n_train, n_valid = split_sizes(len(text), config.valid_fraction)
    check_fills_a_batch(config, n_train, n_valid, f"the training part of {path.name}")
    vocabulary = Vocabulary.from_counts(character_counts(text, 0, n_train))
    counted = time.perf_counter()
    ids = vocabulary.encode(text, warn=False, dtype=vocabulary.id_dtype)
    del text  # from here on only the ids (one or two bytes a character) stay
    record.update(characters=len(ids), valid_fraction=config.valid_fraction,
                  train_characters=n_train, valid_characters=n_valid)
    return TrainingData(vocabulary, ids[:n_train], ids[n_train:][: config.valid_chars],
                        f"the training part of {path.name}", record,
                        _stages(started, loaded, counted, time.perf_counter()))


def _stages(started, loaded, counted, encoded) -> dict:
    return {"load": loaded - started, "vocabulary": counted - loaded, "ids": encoded - counted}


def split_sizes(n_chars: int, valid_fraction: float) -> tuple[int, int]:
    """Characters for training and for validation: validation gets the last ``valid_fraction``
    (rounded up, so at least one character)."""
    n_valid = min(n_chars, math.ceil(n_chars * valid_fraction))
    return n_chars - n_valid, n_valid


def sequences_in(n_chars: int, len_per_section: int, skip: int | None) -> int:
    """How many training sequences a text of ``n_chars`` characters holds: ``batch_dataset``'s
    windows, ``len_per_section`` characters and the one after each as its last target, one
    starting every ``skip`` (default ``len_per_section``)."""
    skip = len_per_section if skip is None else skip
    return max(0, -(-(n_chars - len_per_section - 1) // skip))


def training_chars_needed(batch_size: int, len_per_section: int, skip: int | None) -> int:
    """The shortest training text that gives one batch: the least ``n_chars`` for which
    `sequences_in` reaches ``batch_size``."""
    skip = len_per_section if skip is None else skip
    return (batch_size - 1) * skip + len_per_section + 2


def check_fills_a_batch(config, n_train: int, n_valid: int, source: str) -> None:
    """Refuse a text that cannot fill one batch, or validation one sequence, before any work.

    ``config`` is a TrainConfig; ``n_train`` and ``n_valid`` are the characters training and
    validation read (validation's already capped at ``valid_chars``); ``source`` names the
    training text ("the 'train' split"). A ValueError says what to change: for a text_file,
    how long the file must be; for a WikiText split, the largest batch_size it allows.
    """
    need_train = training_chars_needed(config.batch_size, config.len_per_section, config.skip)
    need_valid = config.len_per_section + 1  # one validation window and its last target
    if n_train >= need_train and n_valid >= need_valid:
        return
    if config.text_file is not None:
        raise ValueError(_file_too_short(config, n_train, n_valid, need_train, need_valid))
    raise ValueError(_split_too_short(config, n_train, n_valid, need_train, source))


def _split_too_short(config, n_train: int, n_valid: int, need_train: int, source: str) -> str:
    length, skip = config.len_per_section, config.skip or config.len_per_section
    split = f"{source} ({n_train:,} characters)"
    windows = sequences_in(n_train, length, skip)
    if windows == 0:
        return f"len_per_section={length:,} is longer than {split}"
    if n_train < need_train:
        return (f"batch_size={config.batch_size:,} is more than the {windows:,} sequences of "
                f"{length + 1:,} characters (every {skip:,}) that {split} holds: use a "
                f"batch_size of at most {windows:,}, or a smaller len_per_section or skip")
    return (f"len_per_section={length:,} is longer than the validation text, the first "
            f"{n_valid:,} characters of the validation part (valid_chars="
            f"{config.valid_chars:,}): use a smaller len_per_section or a larger valid_chars")


def _file_too_short(config, n_train: int, n_valid: int, need_train: int,
                    need_valid: int) -> str:
    least = _shortest_text(need_train, need_valid, config.valid_fraction)
    skip = config.len_per_section if config.skip is None else config.skip
    advice = "lower batch_size or len_per_section (or skip)"
    if n_train >= need_train:
        advice = "raise valid_fraction, or lower len_per_section"
    return (
        f"text_file {config.text_file!r} has {n_train + n_valid:,} characters, too few for one "
        f"batch plus validation: with batch_size={config.batch_size}, "
        f"len_per_section={config.len_per_section} and skip={skip}, one training batch needs "
        f"{need_train:,} characters, and validation (the last valid_fraction="
        f"{config.valid_fraction:g} of the file) needs {need_valid:,}; this file gives "
        f"{n_train:,} and {n_valid:,}. The file needs at least {least:,} characters: "
        f"{advice}, or use a longer text.")


def _shortest_text(need_train: int, need_valid: int, valid_fraction: float) -> int:
    n = max(math.ceil(need_train / (1 - valid_fraction)), math.ceil(need_valid / valid_fraction))
    n = max(n - 2, 1)
    while True:  # both parts grow with n: a step or two from the estimate
        n_train, n_valid = split_sizes(n, valid_fraction)
        if n_train >= need_train and n_valid >= need_valid:
            return n
        n += 1

