"""From text to numbers: the vocabulary, the original tutorial's sections, and training batches.

The original tutorial built its vocabulary with ``list(set(text))``, whose order changes with
``PYTHONHASHSEED`` between runs, so a saved model could never be reused. Here characters are
sorted, and id 0 is reserved for characters the vocabulary has not seen (another split, your
prompt), so encoding never raises ``KeyError``.

It also materialised every section as a dense one-hot array, shaped (sections, vocabulary,
vocabulary): about 70 GB on its own figures, 346 GB for ``wiki.test.raw`` as published
(``helpers.original.section_arithmetic``). We keep one small integer id per character and
build windows as views.

Counting characters and encoding them are NumPy operations over the text's code points, taken a
block of ``BLOCK_CHARS`` characters at a time: no Python work per character, and no full-length
temporary arrays, so a 200 MB text costs its ids (one byte per character for a vocabulary of up
to 256 ids) and little more (``benchmarks/corpus_setup.py`` measures it).
"""

from __future__ import annotations

import json
import os
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from helpers.checks import check_int
from helpers.paths import DamagedFileError, read_json, relative, write_text

UNKNOWN_ID = 0
UNKNOWN_CHAR = "\ufffd"  # what an unknown id decodes to: Unicode's replacement character
CODE_POINTS = 0x110000  # every Unicode code point is below this
BLOCK_CHARS = 1 << 20  # characters converted to code points at a time (4 MB of them)


@dataclass(frozen=True)
class Vocabulary:
    """Sorted characters; character ``chars[i]`` has id ``i + 1`` and id 0 means unknown."""

    chars: tuple[str, ...]

    def __post_init__(self):
        if any(len(c) != 1 for c in self.chars):
            raise ValueError("a Vocabulary holds single characters")
        if list(self.chars) != sorted(set(self.chars)):
            raise ValueError("Vocabulary characters must be sorted and distinct")
        # Code points sorted like the characters: the table `_lookup` builds maps them to ids.
        object.__setattr__(self, "_codes", np.array([ord(c) for c in self.chars], np.int64))

    @classmethod
    def from_text(cls, text: str, min_count: int = 1) -> Vocabulary:
        """The characters of ``text`` that occur at least ``min_count`` times, sorted."""
        return cls.from_counts(character_counts(text), min_count)

    @classmethod
    def from_counts(cls, counts: dict[str, int], min_count: int = 1) -> Vocabulary:
        """The characters counted at least ``min_count`` times (see `character_counts`)."""
        check_int("min_count", min_count)
        if not any(counts.values()):
            raise ValueError("cannot build a vocabulary from an empty text")
        return cls(tuple(sorted(c for c, n in counts.items() if n >= min_count)))

    def __len__(self) -> int:
        """Number of ids, the unknown id included (the size of a one-hot vector)."""
        return len(self.chars) + 1

    @property
    def id_dtype(self) -> np.dtype:
        """The smallest unsigned integer type that holds every id: uint8 up to 256 ids."""
        return smallest_id_dtype(len(self))

    def _lookup(self, dtype) -> np.ndarray:
        """A table from every code point to its id (0 where unknown), cached per dtype."""
        dtype = np.dtype(dtype)
        tables = self.__dict__.setdefault("_tables", {})
        if dtype not in tables:
            if dtype.kind not in "iu" or np.iinfo(dtype).max < len(self) - 1:
                raise ValueError(f"{dtype} cannot hold the {len(self)} ids of this vocabulary")
            table = np.zeros(CODE_POINTS, dtype)
            table[self._codes] = np.arange(1, len(self), dtype=np.int64)
            tables[dtype] = table
        return tables[dtype]

    def unknown_counts(self, text: str) -> Counter:
        """How often each character of ``text`` that is not in the vocabulary occurs, in the
        order of their first occurrence (as ``Counter`` counts, so that ties keep that order)."""
        table, counts = self._lookup(self.id_dtype), Counter()
        for _, codes in _code_point_blocks(text):
            unknown = codes[table[codes] == UNKNOWN_ID]
            if len(unknown):
                found, first, n = np.unique(unknown, return_index=True, return_counts=True)
                order = np.argsort(first, kind="stable")
                counts.update({chr(c): int(k) for c, k in zip(found[order].tolist(),
                                                              n[order].tolist(), strict=True)})
        return counts

    def encode(self, text: str, warn: bool = True, dtype=np.int32) -> np.ndarray:
        """The ids of ``text`` (int32 unless ``dtype`` says otherwise, e.g. ``self.id_dtype``);
        characters not in the vocabulary become ``UNKNOWN_ID``.

        With ``warn``, says how many characters (and which distinct ones) were mapped to the
        unknown id, since silently losing them would hide a vocabulary built on other text.
        """
        table = self._lookup(dtype)
        ids = np.empty(len(text), table.dtype)
        for start, codes in _code_point_blocks(text):
            # mode="clip" never clips (every code point is in the table) but, unlike the
            # default, writes straight into `out` without a buffer.
            np.take(table, codes, out=ids[start : start + len(codes)], mode="clip")
        missing = int(np.count_nonzero(ids == UNKNOWN_ID)) if warn else 0
        if missing:
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


def smallest_id_dtype(n_ids: int) -> np.dtype:
    """The smallest unsigned integer type that holds ids ``0 .. n_ids - 1``."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if n_ids - 1 <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    raise ValueError(f"{n_ids} ids do not fit in 32 bits")


def _code_point_blocks(text: str, start: int = 0, stop: int | None = None,
                       block: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """``(offset, code points)`` of ``text[start:stop]``, ``block`` characters at a time
    (default ``BLOCK_CHARS``).

    A block of pure ASCII is one byte per character; any other is UTF-32 (``surrogatepass``
    keeps a lone surrogate, which a Python string may hold, instead of raising).
    """
    stop = len(text) if stop is None else min(stop, len(text))
    block = block or BLOCK_CHARS
    for offset in range(start, stop, block):
        piece = text[offset : min(offset + block, stop)]
        if piece.isascii():
            codes = np.frombuffer(piece.encode("ascii"), np.uint8)
        else:
            codes = np.frombuffer(piece.encode("utf-32-le", "surrogatepass"), np.uint32)
        yield offset - start, codes


def character_counts(text: str, start: int = 0, stop: int | None = None) -> Counter:
    """How often each character of ``text[start:stop]`` occurs (without copying the slice),
    in code-point order."""
    counts = np.zeros(CODE_POINTS, np.int64)
    for _, codes in _code_point_blocks(text, start, stop):
        block = np.bincount(codes)
        counts[: len(block)] += block
    present = np.flatnonzero(counts)
    return Counter({chr(c): int(n) for c, n in zip(present.tolist(), counts[present].tolist(),
                                                   strict=True)})


def sections(ids: np.ndarray, len_per_section: int, skip: int) -> tuple[np.ndarray, np.ndarray]:
    """The original tutorial's training examples, as views over ``ids`` (no copy per window).

    Window ``k`` is ``ids[k*skip : k*skip + len_per_section]`` and its target is the character
    right after it; windows start every ``skip`` characters for as long as a target follows,
    the same sections (and the same number of them) as the original's.
    """
    check_int("len_per_section", len_per_section)
    check_int("skip", skip)
    ids = np.asarray(ids)
    if len(ids) <= len_per_section:
        raise ValueError(
            f"text of {len(ids)} characters is too short for one section of "
            f"len_per_section={len_per_section} plus its target character"
        )
    windows = np.lib.stride_tricks.sliding_window_view(ids[:-1], len_per_section)[::skip]
    targets = ids[len_per_section::skip][: len(windows)]
    return windows, targets


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
