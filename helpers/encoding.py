"""From text to numbers: the vocabulary, the original tutorial's sections, and training batches.

The original tutorial built its vocabulary with ``list(set(text))``, whose order changes with
``PYTHONHASHSEED`` between runs, so a saved model could never be reused. Here characters are
sorted, and id 0 is reserved for characters the vocabulary has not seen (another split, your
prompt), so encoding never raises ``KeyError``.

It also materialised every section as a dense one-hot array, shaped (sections, vocabulary,
vocabulary): about 70 GB on its own figures, 346 GB for ``wiki.test.raw`` as published
(``helpers.original.section_arithmetic``). We keep one int32 id per character and build
windows as views.
"""

from __future__ import annotations

import json
import os
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

UNKNOWN_ID = 0
UNKNOWN_CHAR = "\ufffd"  # what an unknown id decodes to: Unicode's replacement character


@dataclass(frozen=True)
class Vocabulary:
    """Sorted characters; character ``chars[i]`` has id ``i + 1`` and id 0 means unknown."""

    chars: tuple[str, ...]

    def __post_init__(self):
        if any(len(c) != 1 for c in self.chars):
            raise ValueError("a Vocabulary holds single characters")
        if list(self.chars) != sorted(set(self.chars)):
            raise ValueError("Vocabulary characters must be sorted and distinct")
        # Code points sorted like the characters, so encoding is one vectorised searchsorted.
        object.__setattr__(self, "_codes", np.array([ord(c) for c in self.chars], np.int64))

    @classmethod
    def from_text(cls, text: str, min_count: int = 1) -> Vocabulary:
        """The characters of ``text`` that occur at least ``min_count`` times, sorted."""
        if not text:
            raise ValueError("cannot build a vocabulary from an empty text")
        if min_count < 1:
            raise ValueError(f"min_count must be at least 1, got {min_count}")
        counts = Counter(text)
        return cls(tuple(sorted(c for c, n in counts.items() if n >= min_count)))

    def __len__(self) -> int:
        """Number of ids, the unknown id included (the size of a one-hot vector)."""
        return len(self.chars) + 1

    def unknown_counts(self, text: str) -> Counter:
        """How often each character of ``text`` that is not in the vocabulary occurs."""
        known = set(self.chars)
        return Counter(c for c in text if c not in known)

    def encode(self, text: str, warn: bool = True) -> np.ndarray:
        """int32 ids of ``text``; characters not in the vocabulary become ``UNKNOWN_ID``.

        With ``warn``, says how many characters (and which distinct ones) were mapped to the
        unknown id, since silently losing them would hide a vocabulary built on other text.
        """
        codes = _code_points(text)
        positions = np.searchsorted(self._codes, codes)
        positions = np.minimum(positions, max(len(self._codes) - 1, 0))
        found = self._codes[positions] == codes if len(self._codes) else np.zeros(len(codes), bool)
        ids = np.where(found, positions + 1, UNKNOWN_ID).astype(np.int32)
        missing = int(len(ids) - found.sum())
        if warn and missing:
            distinct = sorted(self.unknown_counts(text))
            shown = "".join(distinct[:20]) + ("..." if len(distinct) > 20 else "")
            warnings.warn(
                f"{missing:,} characters ({len(distinct)} distinct, e.g. {shown!r}) are not in "
                f"the vocabulary and were mapped to the unknown id {UNKNOWN_ID}",
                UnknownCharactersWarning,
                stacklevel=2,
            )
        return ids

    def decode(self, ids) -> str:
        """The text of ``ids``; the unknown id decodes to ``UNKNOWN_CHAR``."""
        table = (UNKNOWN_CHAR,) + self.chars
        ids = np.asarray(ids).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= len(table)):
            raise ValueError(f"ids must lie in [0, {len(table) - 1}]")
        return "".join(table[i] for i in ids.tolist())

    def one_hot(self, ids) -> np.ndarray:
        """float32 one-hot vectors, shape ``ids.shape + (len(self),)``."""
        ids = np.asarray(ids)
        return np.eye(len(self), dtype=np.float32)[ids]

    def save(self, path: os.PathLike | str) -> None:
        """Write the characters as JSON (a list, so order survives any reader)."""
        payload = {"unknown_id": UNKNOWN_ID, "chars": list(self.chars)}
        Path(path).write_text(json.dumps(payload, ensure_ascii=False, indent=0), "utf-8")

    @classmethod
    def load(cls, path: os.PathLike | str) -> Vocabulary:
        payload = json.loads(Path(path).read_text("utf-8"))
        return cls(tuple(payload["chars"]))


class UnknownCharactersWarning(UserWarning):
    """Text held characters the vocabulary does not know; they were mapped to id 0."""


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)


def _check_window(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def sections(ids: np.ndarray, len_per_section: int, skip: int) -> tuple[np.ndarray, np.ndarray]:
    """The original tutorial's training examples, as views over ``ids`` (no copy per window).

    Window ``k`` is ``ids[k*skip : k*skip + len_per_section]`` and its target is the character
    right after it; windows start every ``skip`` characters for as long as a target follows,
    the same sections (and the same number of them) as the original's.
    """
    _check_window("len_per_section", len_per_section)
    _check_window("skip", skip)
    ids = np.asarray(ids)
    if len(ids) <= len_per_section:
        raise ValueError(
            f"text of {len(ids)} characters is too short for one section of "
            f"len_per_section={len_per_section} plus its target character"
        )
    windows = np.lib.stride_tricks.sliding_window_view(ids[:-1], len_per_section)[::skip]
    targets = ids[len_per_section::skip][: len(windows)]
    return windows, targets


def batch_dataset(
    ids: np.ndarray,
    batch_size: int,
    len_per_section: int,
    skip: int | None = None,
    seed: int = 0,
    start_step: int = 0,
    shuffle: bool = True,
):
    """A deterministic, endless ``tf.data`` pipeline of ``(inputs, targets)`` id batches.

    Each example is a window of ``len_per_section`` ids and the same window shifted by one
    character: a target at every position, as the original's graph had too (it scored each
    step's output against the next input character). Windows start every ``skip``
    characters (default ``len_per_section``: no overlap, where the original started one
    every 2 characters) and are shuffled, where the original took them in order.

    The batch of step ``s`` is a pure function of ``(seed, s)``: epoch ``e`` visits the windows
    in a permutation seeded by ``(seed, e)``. So the data order state is just the step
    counter, which the checkpoint holds, and a resumed run (``start_step``) sees exactly the
    batches an uninterrupted run would have seen.
    """
    from helpers.backend import tf  # imported here so the data and encoding stages stay light

    _check_window("batch_size", batch_size)
    _check_window("len_per_section", len_per_section)
    skip = len_per_section if skip is None else skip
    windows, _ = sections(ids, len_per_section + 1, skip)
    n_windows = len(windows)
    if n_windows < batch_size:
        raise ValueError(
            f"text of {len(ids)} characters gives {n_windows} sections of "
            f"{len_per_section + 1} characters, fewer than batch_size={batch_size}"
        )
    if start_step < 0:
        raise ValueError(f"start_step must not be negative, got {start_step}")
    steps_per_epoch = n_windows // batch_size
    data = tf.constant(np.asarray(ids, np.int32))
    offsets = tf.range(len_per_section + 1, dtype=tf.int64)

    def batch_of_step(step):
        epoch, k = step // steps_per_epoch, step % steps_per_epoch
        order = tf.range(n_windows, dtype=tf.int64)
        if shuffle:
            order = tf.random.experimental.stateless_shuffle(
                order, seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
        starts = order[k * batch_size : (k + 1) * batch_size] * skip
        chunk = tf.gather(data, starts[:, None] + offsets[None, :])
        return chunk[:, :-1], chunk[:, 1:]

    steps = tf.data.Dataset.range(start_step, 2**62)
    return steps.map(batch_of_step).prefetch(2)


# --------------------------------------------------------------------------------------------
# WikiText's tokenisation, undone for reading
#
# WikiText-2 is stored tokenised: spaces around punctuation (" , ", " . ", "( 24 in )"), and
# hyphens, thousands separators and decimal points inside numbers marked " @-@ ", " @,@ ",
# " @.@ ". The model learns (and generates) exactly that form; `detokenize` turns it into
# ordinary text for a reader, and `tokenize` is its inverse on the markers handled here.

_NUMBER_MARKERS = (("@-@", "-"), ("@,@", ","), ("@.@", "."))
_CLOSING = ",.;:!?%)]}"
_OPENING = "([{$"
_CONTRACTIONS = ("'t", "'s", "'re", "'ve", "'ll", "'d", "'m")


def detokenize(text: str) -> str:
    """WikiText's tokenised form as ordinary text: ``"a 1 @,@ 000 @-@ ton ship ( 24 in ) ."``
    reads ``"a 1,000-ton ship (24 in)."``. Line breaks, headings (``= = x = =``) and anything
    else are left as they are; quotes are paired within a line."""
    return "\n".join(_detokenize_line(line) for line in text.split("\n"))


def _detokenize_line(line: str) -> str:
    import re

    for marker, char in _NUMBER_MARKERS:
        line = line.replace(f" {marker} ", char)
    # A standalone '"' opens a quote the first time, closes it the second, and so on.
    parts = f" {line} ".split(' " ')
    if len(parts) > 1 and len(parts) % 2 == 1:  # only when every quote on the line is paired
        line = parts[0]
        for k, part in enumerate(parts[1:]):
            line += (' "' if k % 2 == 0 else '" ') + part
        line = line[1:-1]
    line = re.sub(rf" ([{re.escape(_CLOSING)}])(?= |$)", r"\1", line)
    line = re.sub(rf"(^| )([{re.escape(_OPENING)}]) ", r"\1\2", line)
    return re.sub(rf" ({'|'.join(map(re.escape, _CONTRACTIONS))})(?= |$)", r"\1", line)


def tokenize(text: str) -> str:
    """WikiText's tokenisation of ordinary text, for the markers ``detokenize`` handles: the
    inverse of ``detokenize`` on such text (tested as a round trip)."""
    import re

    lines = []
    for line in text.split("\n"):
        line = re.sub(rf" ?({'|'.join(map(re.escape, _CONTRACTIONS))})(?= |$)", r" \1", line)
        line = re.sub(rf"(^| )([{re.escape(_OPENING)}])(?=\S)", r"\1\2 ", line)
        while True:  # "lb)." is two closing marks: split off the last, then the one before
            split = re.sub(rf"(?<=\S)([{re.escape(_CLOSING)}])(?= |$)", r" \1", line)
            if split == line:
                break
            line = split
        line = re.sub(r'(^| )"(\S)', r'\1" \2', line)  # an opening quote
        line = re.sub(r'(\S)"(?= |$)', r'\1 "', line)  # a closing quote
        for marker, char in _NUMBER_MARKERS:
            between = r"(?<=\w)" + re.escape(char) + r"(?=\w)"
            line = re.sub(between, f" {marker} ", line)
        lines.append(line)
    return "\n".join(lines)
