"""Where things are, so that no notebook or script depends on its working directory.

nbval runs a notebook in its own folder and papermill in the caller's folder; every file the
project reads or writes is found from here instead, and printed relative to the repository so
that no path of one machine ends up in a stored notebook output.
"""

import json
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_CACHE = REPO_ROOT / "data"
OUTPUTS = REPO_ROOT / "outputs"


def relative(path: os.PathLike | str) -> str:
    """`path` written relative to the repository root (``../`` for a sibling folder)."""
    return Path(os.path.relpath(Path(path).resolve(), REPO_ROOT)).as_posix()


def resolve_from_root(path: os.PathLike | str) -> Path:
    """``path`` with ``~`` expanded, taken from the repository root unless absolute."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else REPO_ROOT / path


class LinkRefusedError(ValueError):
    """A file the project writes is a symbolic link: writing would follow it, or replace it."""


def refuse_link(path: os.PathLike | str, kind: str = "folder") -> Path:
    """``path``, or a ``LinkRefusedError`` if it is a symbolic link (dangling or not).

    A folder can come from anyone (a shared drive, a downloaded run): a link planted at a name
    the project writes would send the write to the file it points to. ``kind`` names the
    folder in the message ("run folder", "sweep folder").
    """
    path = Path(path)
    if path.is_symlink():
        # The folder, not the file, is made relative: resolving the link would name its target.
        raise LinkRefusedError(f"{path.name} in {relative(path.parent)} is a symbolic link; a "
                               f"{kind}'s files must be plain files: remove it")
    return path


def create_new(path: os.PathLike | str, mode: int = 0o666) -> int:
    """A descriptor, open for writing, of a file created at ``path``: never one that is there.

    ``O_EXCL`` refuses any name that exists, a link included, and ``O_NOFOLLOW`` says so
    twice; the mode is narrowed by the umask as usual.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    return os.open(path, flags | getattr(os, "O_BINARY", 0), mode)


def write_atomically(path: os.PathLike | str, write: Callable[[BinaryIO], None],
                     kind: str = "folder") -> None:
    """Call ``write`` on a new file, then rename it to ``path``: a crash mid-write leaves the old
    file, never half a new one; a link at ``path`` is refused (``refuse_link``).

    The temporary file has a random name of its own, created with ``create_new``, so that two
    writers of one file never trip over each other's temporary file (the last to finish wins)
    and a link planted at a temporary name cannot be followed. The rename replaces whatever
    is at ``path`` (a link planted after the check included) rather than writing through it.
    """
    path = refuse_link(path, kind)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = create_new(tmp)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: os.PathLike | str, text: str, kind: str = "folder") -> None:
    """Write UTF-8 text atomically, never through a link (see ``write_atomically``)."""
    write_atomically(path, lambda f: f.write(text.encode("utf-8")), kind)


def write_json(path: os.PathLike | str, payload, kind: str = "folder") -> None:
    """Write strict JSON atomically (see ``write_atomically``): a NaN or an infinity, which
    JSON has no spelling for, is a ``ValueError`` rather than a file other tools cannot read."""
    write_text(path, json.dumps(payload, indent=1, ensure_ascii=False, allow_nan=False), kind)


class DamagedFileError(ValueError):
    """A file the project wrote earlier no longer holds what it should."""


def read_json(path: os.PathLike | str, expect: type | None = None):
    """The JSON in ``path``, or a ``DamagedFileError`` that names the file and what is wrong.

    ``expect`` (``dict`` or ``list``): the kind of value the file must hold. A missing file
    raises ``FileNotFoundError`` as usual.
    """
    path = Path(path)
    try:
        payload = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DamagedFileError(f"{relative(path)} is damaged: it is not UTF-8 text (byte "
                               f"0x{exc.object[exc.start]:02x} at offset {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise DamagedFileError(f"{relative(path)} is damaged: it is not valid JSON ({exc.msg} "
                               f"at line {exc.lineno}, column {exc.colno})") from None
    if expect is not None and not isinstance(payload, expect):
        kinds = {dict: "an object", list: "a list"}
        raise DamagedFileError(f"{relative(path)} is damaged: it should hold "
                               f"{kinds.get(expect, expect.__name__)}, not "
                               f"{type(payload).__name__} {payload!r:.40}")
    return payload


class NotARegularFileError(OSError):
    """A path names something that is not a file of bytes: a named pipe, a device, a socket."""


# What stat calls what a text file cannot be: reading a pipe waits for a writer, a device such
# as /dev/zero never ends.
_SPECIAL_FILES = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
                  (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def check_regular_file(path: os.PathLike | str) -> Path:
    """`path` if it names a regular file; else an OSError (FileNotFoundError,
    IsADirectoryError, NotARegularFileError...) whose message names it and says what it is.

    Only ``stat`` looks at it, never ``open``: opening a named pipe blocks until something
    writes to it.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"no such file: {relative(path)}") from None
    except OSError as error:  # e.g. a folder on the way that cannot be entered
        raise type(error)(f"cannot read {relative(path)}: {error.strerror or error}") from None
    check_regular_mode(path, mode)
    return path


def check_regular_mode(path: Path, mode: int) -> None:
    """``check_regular_file``'s answer for a file whose ``st_mode`` is already known."""
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(f"{relative(path)} is a folder: give the path of one text file "
                                "in it")
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _SPECIAL_FILES if test(mode)), "not a file")
        raise NotARegularFileError(f"{relative(path)} is not a regular file (it is {kind}): "
                                   "give the path of a text file")
