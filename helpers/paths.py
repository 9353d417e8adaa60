"""Where things are, so that no notebook or script depends on its working directory.

nbval runs a notebook in its own folder and papermill in the caller's folder; every file the
project reads or writes is found from here instead, and printed relative to the repository so
that no path of one machine ends up in a stored notebook output.
"""

import json
import os
import secrets
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_CACHE = REPO_ROOT / "data"
OUTPUTS = REPO_ROOT / "outputs"


def relative(path: os.PathLike | str) -> str:
    """`path` written relative to the repository root (``../`` for a sibling folder)."""
    return Path(os.path.relpath(Path(path).resolve(), REPO_ROOT)).as_posix()


def write_text(path: os.PathLike | str, text: str) -> None:
    """Write a text file atomically: a crash mid-write leaves the old file, never half a new one.

    The temporary file has a name of its own, so two writers of one file never trip over each
    other's temporary file (the last to finish wins).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # 0o666: the umask applies
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: os.PathLike | str, payload) -> None:
    """Write JSON atomically (see ``write_text``)."""
    write_text(path, json.dumps(payload, indent=1, ensure_ascii=False))


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
