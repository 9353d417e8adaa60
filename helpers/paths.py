"""Where things are, so that no notebook or script depends on its working directory.

nbval runs a notebook in its own folder and papermill in the caller's folder; every file the
project reads or writes is found from here instead, and printed relative to the repository so
that no path of one machine ends up in a stored notebook output.
"""

import json
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_CACHE = REPO_ROOT / "data"
OUTPUTS = REPO_ROOT / "outputs"


def relative(path: os.PathLike | str) -> str:
    """`path` written relative to the repository root (``../`` for a sibling folder)."""
    return Path(os.path.relpath(Path(path).resolve(), REPO_ROOT)).as_posix()


def write_json(path: os.PathLike | str, payload) -> None:
    """Write JSON atomically: a crash mid-write leaves the old file, never half a new one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(payload, f, indent=1, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
