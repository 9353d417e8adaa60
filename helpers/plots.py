"""The figures the notebooks share: training curves."""

from __future__ import annotations

import os
from pathlib import Path

from helpers.paths import write_atomically


def plot_history(history: list[dict], ax=None, label: str = "", x: str = "step",
                 carried: bool = False):
    """Train and validation BPC against ``x`` ("step" or "elapsed" seconds); ``carried``: the
    validation BPC with the state carried through the text as well (dotted)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.5), dpi=90)
    xs = [row[x] / (60 if x == "elapsed" else 1) for row in history]
    prefix = f"{label} " if label else ""
    (line,) = ax.plot(xs, [r["train_bpc"] for r in history], "--", label=f"{prefix}train")
    ax.plot(xs, [r["valid_bpc"] for r in history], "-", color=line.get_color(),
            label=f"{prefix}validation")
    if carried:
        ax.plot(xs, [r.get("valid_bpc_carried") for r in history], ":", color=line.get_color(),
                label=f"{prefix}validation, state carried")
    ax.set_xlabel("training step" if x == "step" else "training time (minutes)")
    ax.set_ylabel("bits per character")
    ax.set_title("Loss in bits per character (lower is better)")
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def save_figure(ax, path: os.PathLike | str, kind: str = "run folder") -> None:
    """Save ``ax``'s figure to ``path`` (its format from the suffix), atomically and never
    through a link: a link at ``path`` is refused (``paths.write_atomically``).

    ``kind`` names the folder in that refusal; the figures are saved into run folders.
    """
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    write_atomically(path, lambda f: ax.figure.savefig(f, format=fmt, bbox_inches="tight"),
                     kind)
