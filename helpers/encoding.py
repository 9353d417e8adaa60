"""From text to numbers: the vocabulary, the original tutorial's sections, and training batches.

The original tutorial built its vocabulary with ``list(set(text))``, whose order changes with
``PYTHONHASHSEED`` between runs, so a saved model could never be reused. Here characters are
sorted, and id 0 is reserved for characters the vocabulary has not seen (another split, your
prompt), so encoding never raises ``KeyError``.

It also materialised every section as a dense float64 one-hot array: ~67 GB for
``wiki.test.raw``. We keep one int32 id per character and build windows as views.
"""

from __future__ import annotations

import json
import os
import warnings
from collections import Counter
from dataclasses import dataclass

import numpy as np

from helpers.paths import DamagedFileError, read_json, relative, write_text

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
        write_text(path, json.dumps(payload, ensure_ascii=False, indent=0))

    @classmethod
    def load(cls, path: os.PathLike | str) -> Vocabulary:
        """The vocabulary saved in ``path``; ``DamagedFileError`` (a ValueError) naming the file
        if it does not hold one."""
        payload = read_json(path, expect=dict)
        chars = payload.get("chars")
        try:
            return cls(tuple(chars))
        except (TypeError, ValueError):
            raise DamagedFileError(f"{relative(path)} is damaged: its \"chars\" are not a sorted "
                                   "list of distinct single characters") from None


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
    right after it, exactly like the original's
    ``for i in range(0, len(text) - len_per_section, skip)``.
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


def original_one_hot_bytes(
    n_chars: int, len_per_section: int, skip: int, vocab_size: int, itemsize: int = 8
) -> dict[str, int]:
    """Bytes of the original's dense arrays ``X`` (sections x len x vocab) and ``y``.

    The original used ``np.zeros`` with its default dtype, float64 (``itemsize=8``).
    """
    _check_window("len_per_section", len_per_section)
    _check_window("skip", skip)
    n_sections = len(range(0, n_chars - len_per_section, skip))
    x = n_sections * len_per_section * vocab_size * itemsize
    y = n_sections * vocab_size * itemsize
    return {"sections": n_sections, "X": x, "y": y, "total": x + y}


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
    character: a target at every position, not only after the last one as in the original,
    so each window teaches ``len_per_section`` times as much. Windows start every ``skip``
    characters (default ``len_per_section``: no overlap).

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
