"""WikiText-2 (raw) and your own text files: find, download, verify, load.

Older tutorials download WikiText-2 from
``https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-raw-v1.zip``. That bucket is
gone: it answers 403 (AccessDenied), and some download code saves the error page under the zip's
name, which then fails much later as a "bad zip". The same bytes are still published elsewhere:
the dataset author's mirror (which turns away Python's default User-Agent), a copy of the zip on
Hugging Face, and the three files one by one on cosmo.zip. This module tries those mirrors in
order, checks every file against its published SHA-256, and leaves nothing half-downloaded
behind, so a failed download ends in one message that names every mirror and what went wrong.
A mirror is trusted for nothing: no download or extraction writes more of a file than its
published size, nor more of an archive than a zip of the three files needs (a zip bomb or a
body that never ends stops there, while streaming), a zip member that is
encrypted or compressed in a way zipfile cannot read is that mirror's failure (the next is
tried), and a plain ``http://`` mirror is used with a warning.

Where ``find_split`` and ``load_split`` look for ``wiki.<split>.raw``, first match wins:

1. the ``data_dir`` argument;
2. the folder named by the environment variable ``WIKITEXT_DIR`` (where CI and developers
   keep a copy);
3. the repository's cache, ``data/wikitext-2-raw``;
4. otherwise a download into the cache.

``WIKITEXT_MIRRORS`` (space-separated URLs) replaces the mirror list: a URL ending in ``.zip`` is
an archive holding the files, anything else a folder under which ``wiki.<split>.raw`` lie.

From a shell::

    python -m helpers.data download [--splits test valid] [--dest DIR]
    python -m helpers.data verify [DIR]
"""

import argparse
import codecs
import contextlib
import hashlib
import os
import shutil
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from urllib.parse import urlsplit

import pooch
import requests  # pooch downloads with requests; its exception types tell us why a mirror failed
import urllib3

from helpers.checks import person_watching
from helpers.paths import DATA_CACHE, check_regular_file, check_regular_mode, relative

SPLITS = ("train", "valid", "test")
FILENAMES = {split: f"wiki.{split}.raw" for split in SPLITS}

# Published SHA-256 of each file and of wikitext-2-raw-v1.zip, the archive that holds them.
SHA256 = {
    "train": "6707892fa3788b5ab9ed78ab5ff37d9fe825f6011a2ad4fcd6a6d467f0e7da57",
    "valid": "4cd0f6876d07a413aa911261ff6d363c72d757d47f0fdd6015702014c89cb9c7",
    "test": "173c87a53759e0201f33e0ccf978e510c2042d7f2cb78229d9a50d79b9e7dd08",
    "zip": "ef7edb566e3e2b2d31b29c1fdb0c89a4cc683597484c3dc2517919c615435a11",
}
# Published sizes in bytes: no download or extraction writes more of a file than its size, and a
# checksum mismatch is explained with them (e.g. "truncated").
SIZES = {"train": 10_940_747, "valid": 1_146_846, "test": 1_290_590, "zip": 4_721_645}
# The most an archive mirror may send: a mirror may repack the files (so not the published zip's
# size), but a zip of the three, even stored uncompressed, needs no more than this.
ARCHIVE_LIMIT = sum(SIZES[split] for split in SPLITS) + (1 << 20)

CACHE_DIR = DATA_CACHE / "wikitext-2-raw"

DEFAULT_MIRRORS = (
    "https://wikitext.smerity.com/wikitext-2-raw-v1.zip",
    "https://huggingface.co/datasets/ggml-org/ci/resolve/main/wikitext-2-raw-v1.zip",
    "https://cosmo.zip/pub/datasets/wikitext-2-raw/",
)
# wikitext.smerity.com answers 403 to Python's default User-Agent, so always send our own.
USER_AGENT = "char-lstm-tutorial/0.1 (+pooch)"
# Seconds to wait for a connection or for the next piece of data (not for the whole file).
TIMEOUT = 30.0


class ChecksumError(ValueError):
    """A file's SHA-256 differs from the published one."""

    def __init__(self, label: str, split: str, actual: str, cause: str):
        self.label, self.split, self.actual, self.cause = label, split, actual, cause
        self.expected = SHA256[split]
        super().__init__(
            f"{label} is not the published {FILENAMES[split]}: its SHA-256 differs.\n"
            f"  expected {self.expected}\n"
            f"  actual   {actual}\n"
            f"Likely cause: {cause}.\n"
            f"Replace it with an intact copy; `python -m helpers.data download --splits {split}"
            " --dest DIR` fetches one. (To train on a text of your own, give its path as "
            "text_file instead: data_dir is only for WikiText-2.)"
        )


class DownloadError(RuntimeError):
    """No mirror delivered the requested files."""


class _MirrorFailed(Exception):
    """A mirror did not deliver what we need; the message says why, in one line.

    Raised by this module's own checks (an HTML page, a zip lacking a file, a checksum) and
    for what went wrong in the transfer, classified by the exception's type and HTTP status,
    never by its text."""


# --- Finding and checking files -----------------------------------------------------------


def _filename(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: valid splits are {', '.join(SPLITS)}")
    return FILENAMES[split]


def search_dirs() -> list[Path]:
    """The folders `find_split` searches, in order: WIKITEXT_DIR (if set), then the cache."""
    env = os.environ.get("WIKITEXT_DIR", "").strip()
    return ([Path(env).expanduser()] if env else []) + [CACHE_DIR]


def find_split(split: str, data_dir: os.PathLike | str | None = None) -> Path:
    """Path of a verified ``wiki.<split>.raw``, downloading it into the cache if need be.

    An explicit `data_dir` must hold the file (FileNotFoundError otherwise): asking for one
    folder and silently getting another would hide a typo. A ``WIKITEXT_DIR`` that lacks the file
    is different: the search falls through to the cache and a download, because a folder holding
    only some splits (say test and valid, without train) is a normal setup; the final error, if
    any, lists every folder searched. A file that is found but fails its checksum
    raises ChecksumError, wherever it is: a damaged copy is never skipped silently.
    """
    name = _filename(split)
    if data_dir is not None:
        path = Path(data_dir) / name
        if not path.is_file():
            raise FileNotFoundError(
                f"{name} is not in {relative(data_dir)} (the data_dir given). Put it there, or "
                "leave data_dir out to use WIKITEXT_DIR, the cache or a download."
            )
        return check_file(path, split)
    for directory in search_dirs():
        if (directory / name).is_file():
            return check_file(directory / name, split)
    try:
        return download([split])[split]
    except DownloadError as error:
        searched = ", ".join(relative(directory) for directory in search_dirs())
        raise DownloadError(f"{name} is in none of: {searched}.\n{error}") from None


def load_split(split: str, data_dir: os.PathLike | str | None = None) -> str:
    """The exact text of a WikiText-2 split (``newline=""`` keeps every ``\\n`` as it is)."""
    with open(find_split(split, data_dir), encoding="utf-8", newline="") as file:
        return file.read()


# Files already verified in this process, keyed by (path, size, mtime): loading a split again
# should not hash 11 MB again, but a file replaced or edited since must be checked anew.
_verified: set[tuple[str, int, int]] = set()


def _stat_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with _open_regular(path) as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_file(path: os.PathLike | str, split: str, label: str | None = None) -> Path:
    """Return `path` if it is the published ``wiki.<split>.raw``, else raise ChecksumError."""
    path = Path(path)
    key = _stat_key(path)
    if key not in _verified:
        actual = _sha256(path)
        if actual != SHA256[split]:
            raise ChecksumError(label or relative(path), split, actual, _likely_cause(path, split))
        _verified.add(key)
    return path


def _likely_cause(path: Path, split: str, whole: bool = True) -> str:
    """Why ``path`` is not the published file. ``whole=False``: ``path`` holds only the first
    bytes of something longer than the published file (a download stopped there)."""
    expected = SIZES[split]
    with open(path, "rb") as file:
        data = file.read(expected)  # enough to tell, and never more than the file should hold
    if b"\r\n" in data:
        return (
            "the file has CRLF line endings where the published one has LF only: git or an "
            "editor converted line endings to CRLF; with git, mark *.raw as `-text` in "
            ".gitattributes or set core.autocrlf=false"
        )
    if _looks_like_html(data):
        return "it is an HTML page (an error page saved under the data file's name)"
    if not whole:
        return "another version of the dataset, or another file"
    size = path.stat().st_size
    if size < expected:
        return f"a truncated download ({size:,} bytes of {expected:,})"
    return (
        f"a corrupt download or a different version of the dataset "
        f"({size:,} bytes; the published file has {expected:,})"
    )


def _looks_like_html(data: bytes) -> bool:
    head = data[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<?xml", b"<error"))


def verify(directory: os.PathLike | str) -> dict[str, str]:
    """Check the ``wiki.*.raw`` files present in `directory`: ``ok``, ``mismatch`` or ``missing``.

    Call `check_file` on a mismatched file for the full explanation.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"no such folder: {relative(directory)}")
    status = {}
    for split in SPLITS:
        path = directory / FILENAMES[split]
        if not path.is_file():
            status[split] = "missing"
            continue
        try:
            check_file(path, split)
            status[split] = "ok"
        except ChecksumError:
            status[split] = "mismatch"
    return status


# --- Your own text ------------------------------------------------------------------------


@contextlib.contextmanager
def _open_regular(path: Path) -> Iterator[BinaryIO]:
    """``open(path, "rb")`` for a regular file only, checked on what was opened.

    Opened without blocking, so that a named pipe put in the file's place after a check does
    not hang the open; then ``fstat`` on the open file refuses it as `check_regular_file` does.
    """
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        check_regular_mode(path, os.fstat(descriptor).st_mode)
    except OSError:
        os.close(descriptor)
        raise
    with open(descriptor, "rb") as file:
        yield file


def load_corpus(path: os.PathLike | str) -> str:
    """The text of any UTF-8 file (char-rnn style: Shakespeare, your own notes...).

    Line endings are kept as they are in the file; a leading byte-order mark, which some Windows
    editors add, is dropped because it is not part of the text. The file's bytes are decoded
    in place, without a copy, so a large file costs its bytes and its text at the peak.
    """
    path = check_regular_file(path)
    with _open_regular(path) as file:
        raw = file.read()
    start = len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0
    if len(raw) == start:
        raise ValueError(f"{relative(path)} is empty: the model needs some text to learn from")
    try:
        return str(memoryview(raw)[start:], "utf-8")
    except UnicodeDecodeError as error:
        offset = start + error.start
        line = raw.count(b"\n", 0, offset) + 1
        raise ValueError(
            f"{relative(path)} is not valid UTF-8: the first bad byte (0x{raw[offset]:02x}) is at "
            f"byte offset {offset} (line {line}). Re-save the file as UTF-8 (most editors offer "
            "an encoding choice under 'Save as')."
        ) from None


def file_sha256(path: os.PathLike | str) -> str:
    """The SHA-256 of a file's bytes, read a megabyte at a time."""
    return _sha256(Path(path))


# --- Downloading --------------------------------------------------------------------------


def default_mirrors() -> list[str]:
    """``WIKITEXT_MIRRORS`` split on whitespace if set, else `DEFAULT_MIRRORS`.

    A value that is not an http(s) URL is a ValueError naming the variable.
    """
    mirrors = os.environ.get("WIKITEXT_MIRRORS", "").split()
    for url in mirrors:
        check_mirror(url, "WIKITEXT_MIRRORS")
    return mirrors or list(DEFAULT_MIRRORS)


def check_mirror(url: str, source: str = "the mirror list") -> str:
    """`url` if it can be a mirror (an http or https URL with a host), else ValueError."""
    try:
        parts = urlsplit(url)
        problem = None if parts.scheme in ("http", "https") and parts.hostname else \
            "it needs http:// or https:// and a host"
    except ValueError as error:  # e.g. "Invalid IPv6 URL" for http://[::1
        problem = str(error)
    if problem:
        raise ValueError(
            f"{source} holds {url!r}, which is not a URL to download from ({problem}). It takes "
            "space-separated URLs: *.zip for an archive, anything else a folder of wiki.*.raw "
            "files"
        )
    return url


def is_archive(url: str) -> bool:
    """A mirror URL ending in ``.zip`` is an archive; any other is a folder of ``wiki.*.raw``."""
    return urlsplit(url).path.lower().endswith(".zip")


def file_url(base: str, split: str) -> str:
    return base.rstrip("/") + "/" + FILENAMES[split]


def download(
    splits: Iterable[str] = ("test", "valid"),
    dest: os.PathLike | str | None = None,
    mirrors: Sequence[str] | None = None,
) -> dict[str, Path]:
    """Fetch `splits` into `dest` (default: the cache) and return their paths.

    Files already in `dest` that pass their checksum are kept. The mirrors (default:
    `default_mirrors()`) are tried in order for whatever is still missing: an archive is
    downloaded whole and only the requested files are taken out of it; from a per-file mirror
    only the requested files are fetched. A file that arrives verified stays even if another split
    then fails; a failed attempt leaves nothing behind, not even the folders it created. Raises
    DownloadError when some split
    could not be fetched from any mirror.
    """
    wanted = list(dict.fromkeys([splits] if isinstance(splits, str) else splits))
    for split in wanted:
        _filename(split)
    dest = Path(dest) if dest is not None else CACHE_DIR
    mirrors = [check_mirror(url) for url in mirrors] if mirrors is not None \
        else default_mirrors()
    created = [folder for folder in (dest, *dest.parents) if not folder.exists()]
    dest.mkdir(parents=True, exist_ok=True)
    try:
        return _download_into(dest, wanted, mirrors)
    except BaseException:
        for folder in created:  # deepest first; an offline attempt leaves no empty folders
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _download_into(dest: Path, wanted: list[str], mirrors: list[str]) -> dict[str, Path]:
    done = {split: dest / FILENAMES[split] for split in wanted if _intact(dest, split)}
    failures: list[str] = []
    for mirror in mirrors:
        missing = [split for split in wanted if split not in done]
        if not missing:
            break
        if urlsplit(mirror).scheme == "http":
            _say(f"warning: {mirror} is plain http://, which anyone on the way can alter; what "
                 "it sends is still checked (published SHA-256, never more than the published "
                 "size written), but prefer an https:// mirror")
        if is_archive(mirror):
            attempts = [(mirror, missing, _fetch_archive)]
        else:
            attempts = [(file_url(mirror, split), [split], _fetch_file) for split in missing]
        for url, these, fetch in attempts:
            _say(f"Downloading {url} into {relative(dest)}/")
            try:
                done.update(fetch(url, these, dest))
            except _MirrorFailed as failure:
                failures.append(f"{url}: {failure}")
                _say(f"  failed: {failure}")

    missing = [split for split in wanted if split not in done]
    if missing:
        raise DownloadError(_all_failed_message(missing, dest, failures))
    return {split: done[split] for split in wanted}


def _intact(dest: Path, split: str) -> bool:
    path = dest / FILENAMES[split]
    if not path.is_file():
        return False
    try:
        check_file(path, split)
    except ChecksumError as error:
        _say(f"{relative(path)} fails its checksum ({error.cause}); downloading it again")
        return False
    _say(f"{relative(path)} is already there and intact")
    return True


@contextlib.contextmanager
def _staging(dest: Path) -> Iterator[Path]:
    """A private folder inside `dest`, removed whatever happens.

    Inside `dest`, so that `os.replace` into place is an atomic rename on one filesystem, and a
    reader never sees a half-written file; removed on any failure (or Ctrl-C), so that a failed
    download leaves nothing behind.
    """
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=dest))
    try:
        yield staging
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _retrieve(url: str, target: Path, limit: int) -> Path:
    """Download ``url`` into ``target``; ``_MirrorFailed`` saying why if it fails, ``_TooLong``
    once more than ``limit`` bytes arrive (the first ``limit`` are then in ``target``).

    The bytes are checked by the caller (``check_file``), not by pooch, so that a mismatch is
    our ``ChecksumError`` with its likely cause.
    """
    try:
        return _download(url, target, limit)
    except requests.HTTPError as error:
        response = error.response
        status = "" if response is None else f" {response.status_code} {response.reason}"
        raise _MirrorFailed(f"HTTP{status}".rstrip()) from None
    except requests.exceptions.ChunkedEncodingError:  # the body ended before its length
        raise _MirrorFailed("the connection closed before the whole file arrived (truncated "
                            "download)") from None
    except (requests.RequestException, OSError) as error:
        raise _MirrorFailed(_transfer_problem(error)) from None


def _transfer_problem(error: BaseException) -> str:
    """Why a connection or transfer failed, from the types of the exceptions requests wraps
    (urllib3's, and the socket's ``OSError`` inside)."""
    causes = _wrapped(error)
    if any(isinstance(cause, ConnectionRefusedError) for cause in causes):
        return "connection refused"
    # Not urllib3's TimeoutError: its NewConnectionError (any failure to connect) is one too.
    if isinstance(error, requests.Timeout) or any(
            isinstance(cause, TimeoutError | urllib3.exceptions.ReadTimeoutError)
            for cause in causes):
        return f"timed out (no answer within {TIMEOUT:g} s)"
    system = [cause for cause in causes if isinstance(cause, OSError) and cause.strerror]
    detail = system[-1].strerror if system else type(causes[-1]).__name__
    if isinstance(error, requests.ConnectionError):
        return f"could not connect ({detail})"
    return f"the download failed ({detail})"


def _wrapped(error: BaseException) -> list[BaseException]:
    """``error`` and the exceptions it wraps, outermost first: requests' ConnectionError holds
    urllib3's MaxRetryError, whose ``reason`` was raised from the socket's OSError."""
    chain: list[BaseException] = []
    while isinstance(error, BaseException) and error not in chain:
        chain.append(error)
        inner = error.__cause__ or error.__context__ or getattr(error, "reason", None)
        if inner is None and error.args:
            inner = error.args[0]
        error = inner
    return chain


class _TooLong(Exception):
    """More bytes came than a file may hold; raised while writing, it ends the transfer."""


class _LimitedWriter:
    """Writes through to ``file`` at most ``limit`` bytes in all; past them, ``_TooLong``."""

    def __init__(self, file: BinaryIO, limit: int):
        self.file, self.room = file, limit

    def write(self, block: bytes) -> None:
        if len(block) > self.room:
            self.file.write(block[: self.room])
            self.room = 0
            raise _TooLong
        self.room -= len(block)
        self.file.write(block)

    def flush(self) -> None:
        self.file.flush()


def _download(url: str, target: Path, limit: int) -> Path:
    """Stream ``url`` into ``target``, never writing more than ``limit`` bytes.

    pooch's HTTPDownloader streams the body (requests, our User-Agent, a progress bar when a
    person watches) into the file object it is given; the file object stops it at the limit.
    Not through ``pooch.retrieve``, whose temporary file would vanish with what arrived before
    the limit, which tells why a file was too long.
    """
    downloader = pooch.HTTPDownloader(
        progressbar=person_watching(),
        chunk_size=1 << 16,
        timeout=TIMEOUT,
        headers={"User-Agent": USER_AGENT},
    )
    with open(target, "wb") as file:
        downloader(url, _LimitedWriter(file, limit), None)
    return target


def _too_long(path: Path, split: str, what: str) -> str:
    """A mirror's failure for ``what`` (e.g. "the server sent"), stopped at the published size."""
    return (f"{what} more than the {SIZES[split]:,} bytes of the published {FILENAMES[split]}, "
            f"so it is not that file; stopped there ({_likely_cause(path, split, whole=False)})")


def _fetch_file(url: str, splits: list[str], dest: Path) -> dict[str, Path]:
    """One file from a per-file mirror, checked against its SHA-256 before it is kept."""
    (split,) = splits
    with _staging(dest) as staging:
        fetched = staging / FILENAMES[split]
        try:
            _retrieve(url, fetched, SIZES[split])
        except _TooLong:
            raise _MirrorFailed(_too_long(fetched, split, "the server sent")) from None
        _check_fetched(fetched, split, f"the downloaded {FILENAMES[split]}")
        return {split: _move_into_place(fetched, dest)}


def _check_fetched(path: Path, split: str, label: str) -> Path:
    """``check_file``, its ``ChecksumError`` told as a mirror's failure."""
    try:
        return check_file(path, split, label=label)
    except ChecksumError as error:
        raise _MirrorFailed(
            f"checksum mismatch: {error.label} has SHA-256 {error.actual[:16]}..., expected "
            f"{error.expected[:16]}... ({error.cause})") from None


def _fetch_archive(url: str, splits: list[str], dest: Path) -> dict[str, Path]:
    """Download a zip and take the requested files out of it, all of them or none.

    The zip itself is not checked against the published hash: a mirror may repack the same files,
    and what matters is each extracted file, which is checked. The extraction uses `zipfile`, not
    `pooch.Unzip`: Unzip extracts whole members, with no limit on what a member inflates to, and
    needs each member's exact path inside the zip, while we look members up by file name,
    whatever folder a repacked zip uses, stop each at its published size, and verify each
    before anything is moved into `dest`.
    """
    with _staging(dest) as staging:
        archive = staging / "archive.zip"
        try:
            _retrieve(url, archive, ARCHIVE_LIMIT)
        except _TooLong:
            raise _MirrorFailed(f"the server sent more than {ARCHIVE_LIMIT:,} bytes, more than a "
                                "zip of the three files needs; stopped there") from None
        extracted = _extract_all(archive, splits, staging)
        return {split: _move_into_place(path, dest) for split, path in extracted.items()}


# The compression methods zipfile reads (a standard CPython has the bz2 and lzma modules).
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


def _extract_all(archive: Path, splits: list[str], staging: Path) -> dict[str, Path]:
    if not zipfile.is_zipfile(archive):
        with open(archive, "rb") as file:
            head = file.read(512)
        if _looks_like_html(head):
            raise _MirrorFailed("the server sent an HTML/XML page, not a zip (an error page?)")
        raise _MirrorFailed(f"not a zip file ({archive.stat().st_size:,} bytes)")
    try:
        with zipfile.ZipFile(archive) as zipped:
            return {split: _extract(zipped, split, staging) for split in splits}
    # A zip that opens can still hold a damaged deflate stream or a member cut short.
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise _MirrorFailed(f"corrupt zip ({type(error).__name__}: {error})") from None
    except NotImplementedError as error:  # e.g. strong encryption, patched data
        raise _MirrorFailed(f"the zip uses what Python's zipfile cannot read ({error})") from None


def _extract(zipped: zipfile.ZipFile, split: str, staging: Path) -> Path:
    """One member into ``staging``, stopped at the published size, then checked."""
    name = FILENAMES[split]
    members = [m for m in zipped.infolist() if PurePosixPath(m.filename).name == name]
    if not members:
        raise _MirrorFailed(f"the zip has no {name}")
    member = members[0]
    if member.flag_bits & 0x1:
        raise _MirrorFailed(f"{member.filename} in the zip is encrypted (it needs a password)")
    if member.compress_type not in _ZIP_METHODS:
        raise _MirrorFailed(f"{member.filename} in the zip is compressed with method "
                            f"{member.compress_type}, which Python's zipfile cannot read (it "
                            "reads stored, deflate, bzip2 and LZMA)")
    target = staging / name
    try:
        with zipped.open(member) as source, open(target, "wb") as sink:
            shutil.copyfileobj(source, _LimitedWriter(sink, SIZES[split]), 1 << 20)
    except _TooLong:
        raise _MirrorFailed(_too_long(target, split, f"{member.filename} in the zip inflates to")
                            ) from None
    return _check_fetched(target, split, f"{member.filename} in the zip")


def _move_into_place(fetched: Path, dest: Path) -> Path:
    final = dest / fetched.name
    os.replace(fetched, final)
    _verified.add(_stat_key(final))  # checked in staging; a rename keeps size and mtime
    _say(f"  saved {relative(final)}")
    return final


def _all_failed_message(missing: list[str], dest: Path, failures: list[str]) -> str:
    names = ", ".join(FILENAMES[split] for split in missing)
    tried = "\n".join(f"  - {line}" for line in failures) or "  (no mirrors were given)"
    return (
        f"Could not download {names}. Mirrors tried:\n{tried}\n"
        f"To go on, put {names} into {relative(dest)}/ by hand (wikitext-2-raw-v1.zip holds "
        "them in its wikitext-2-raw/ folder), or set WIKITEXT_DIR to a folder that holds "
        "them. WIKITEXT_MIRRORS (space-separated URLs: *.zip for an archive, else a folder of "
        "wiki.*.raw files) replaces the list of mirrors."
    )


def _say(message: str) -> None:
    print(message, file=sys.stderr)


# --- Command line -------------------------------------------------------------------------


def _located() -> dict[str, Path | None]:
    """For each split, the file `find_split` would use, without downloading anything."""
    found: dict[str, Path | None] = {}
    for split in SPLITS:
        paths = [d / FILENAMES[split] for d in search_dirs() if (d / FILENAMES[split]).is_file()]
        found[split] = paths[0] if paths else None
    return found


def _verify_command(directory: str | None) -> int:
    if directory is not None:
        found = {
            split: Path(directory) / FILENAMES[split] if status != "missing" else None
            for split, status in verify(directory).items()
        }
    else:
        found = _located()
    if not any(found.values()):
        where = relative(directory) if directory else ", ".join(map(relative, search_dirs()))
        print(f"No wiki.*.raw files in {where}.", file=sys.stderr)
        return 1
    failed = False
    for split, path in found.items():
        if path is None:
            print(f"missing   {FILENAMES[split]}")
            continue
        try:
            check_file(path, split)
            print(f"ok        {relative(path)}")
        except ChecksumError as error:
            failed = True
            print(f"MISMATCH  {relative(path)}")
            print(error, file=sys.stderr)
    return 1 if failed else 0


def _download_command(splits: list[str], dest: str | None) -> int:
    for path in download(splits, dest).values():
        print(f"ok        {relative(path)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.data", description="Download or verify WikiText-2 (raw)."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("download", help="download splits (default: test valid)")
    fetch.add_argument("--splits", nargs="+", choices=SPLITS, default=["test", "valid"])
    fetch.add_argument("--dest", help="folder to save into (default: data/wikitext-2-raw)")
    check = commands.add_parser("verify", help="check files against the published SHA-256")
    check.add_argument(
        "dir", nargs="?", help="folder to check (default: where load_split would look)"
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "download":
            return _download_command(args.splits, args.dest)
        return _verify_command(args.dir)
    except (DownloadError, ChecksumError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
