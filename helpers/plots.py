"""The figures the notebooks share: training curves."""

from __future__ import annotations

import os


def plot_history(history: list[dict], ax=None, label: str = "", x: str = "step"):
    """Train and validation BPC against ``x`` ("step" or "elapsed" seconds)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.5), dpi=90)
    xs = [row[x] / (60 if x == "elapsed" else 1) for row in history]
    prefix = f"{label} " if label else ""
    (line,) = ax.plot(xs, [r["train_bpc"] for r in history], "--", label=f"{prefix}train")
    ax.plot(xs, [r["valid_bpc"] for r in history], "-", color=line.get_color(),
            label=f"{prefix}validation")
    ax.set_xlabel("training step" if x == "step" else "training time (minutes)")
    ax.set_ylabel("bits per character")
    ax.set_title("Loss in bits per character (lower is better)")
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def save_figure(ax, path: os.PathLike | str) -> None:
    ax.figure.savefig(path, bbox_inches="tight")
