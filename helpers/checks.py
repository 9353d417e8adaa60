"""Three questions several modules ask, answered once: is this a whole number in range, is a
person watching this process's output, and does this CPU multiply bfloat16 in hardware?

Light on purpose (no NumPy, no TensorFlow), so that any module can import it.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
from pathlib import Path

PROGRESS_VARIABLE = "HELPERS_PROGRESS"
_KINDS = {1: "a positive integer", 0: "a non-negative integer"}


def check_int(name: str, value, minimum: int = 1, none_ok: bool = False):
    """``value`` if it is a whole number of at least ``minimum``; else a ``ValueError`` naming it.

    ``minimum`` is 1 ("must be a positive integer") or 0 ("must be a non-negative integer").
    Python and NumPy integers pass; ``True`` and ``False``, floats (even ``3.0``) and strings do
    not. ``none_ok``: None passes too (the message then says "or None").
    """
    if minimum not in _KINDS:
        raise ValueError(f"minimum must be 0 or 1, got {minimum!r}")
    if none_ok and value is None:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        kind = _KINDS[minimum] + (" or None" if none_ok else "")
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return value


def check_number(name: str, value, low: float | None = None, high: float | None = None, *,
                 low_open: bool = False, high_open: bool = False, none_ok: bool = False,
                 must: str):
    """``value`` if it is a finite number within the bounds (``low_open``/``high_open``: the
    bound itself excluded); else a ``ValueError``: "NAME must MUST, got VALUE". Booleans are not
    numbers here; ``none_ok``: None passes."""
    if none_ok and value is None:
        return value
    number = not isinstance(value, bool) and isinstance(value, numbers.Real) \
        and math.isfinite(value)
    if not number or (low is not None and (value < low or (low_open and value == low))) \
            or (high is not None and (value > high or (high_open and value == high))):
        raise ValueError(f"{name} must {must}, got {value!r}")
    return value


def person_watching() -> bool:
    """Whether a person is watching this process's output, so that a progress bar helps.

    True in a Jupyter kernel (a notebook in JupyterLab, or one executed by papermill or nbval,
    whose outputs keep the bar) and when stderr is a terminal. False when stderr goes to a file,
    a pipe or pytest's capture, even in a process that has imported ipykernel without being a
    kernel (pytest's nbval plugin imports it). False also where ``HELPERS_PROGRESS=lines``:
    ``helpers.runs`` sets it for the kernels it starts, whose printed lines it shows in a
    terminal that cannot draw a notebook's progress bar.
    """
    if os.environ.get(PROGRESS_VARIABLE) == "lines":
        return False
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None and "IPKernelApp" in getattr(shell, "config", {}):
        return True
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


# The CPU features that multiply bfloat16 matrices in hardware, as Linux names them
BFLOAT16_FEATURES = ("avx512_bf16", "amx_bf16")


def bfloat16_cpu_features(cpuinfo: Path = Path("/proc/cpuinfo")) -> list[str]:
    """Which of ``BFLOAT16_FEATURES`` this CPU has (none where ``cpuinfo`` cannot be read, as
    on macOS or Windows: there TensorFlow emulates bfloat16 products, slower than float32)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    flags = set()
    for line in text.splitlines():
        name, _, values = line.partition(":")
        if name.strip() == "flags":
            flags.update(values.split())
    return [feature for feature in BFLOAT16_FEATURES if feature in flags]


def matmul_dtype_for_this_cpu() -> str:
    """What ``matmul_dtype="auto"`` becomes here: bfloat16 where the CPU multiplies it in
    hardware, float32 elsewhere."""
    return "bfloat16" if bfloat16_cpu_features() else "float32"
