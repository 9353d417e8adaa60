"""Reading runs back: the figures of one run, and the comparison of many that notebook 06 shows.

A sweep's ``summary.csv`` lists its runs; without a sweep, every folder of a runs directory is
one, and the settings in which they differ play the part of the swept parameters. Everything is
read from the files the runs wrote, never from a notebook's printed output.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from helpers import rundir
from helpers.encoding import detokenize
from helpers.paths import DamagedFileError, relative, resolve_from_root


def _mean(values: list) -> float | None:
    return sum(values) / len(values) if values else None


def collect_metrics(run_dir: Path) -> dict:
    """The figures of a run, from the files its notebooks wrote.

    Needs ``history.json`` with at least one row; ``config.json`` and ``samples.json`` are
    optional (a run that 05_sampling has not sampled from yet has an empty sample).
    """
    run_dir = Path(run_dir)
    history = rundir.read_history(run_dir)
    if not history:
        raise ValueError(f"{relative(run_dir / rundir.HISTORY)} is missing or empty: training "
                         "never reached its first log")
    config = rundir.read_config(run_dir) or {}
    samples = rundir.read_samples(run_dir) or {"prompt": "", "samples": [{"text": ""}]}
    last = history[-1]
    return {
        "steps": last["step"],
        "train_bpc": last["train_bpc"],
        "valid_bpc": last["valid_bpc"],
        "best_valid_bpc": min(row["valid_bpc"] for row in history),
        # Runs from before this figure existed have none.
        "valid_bpc_carried": last.get("valid_bpc_carried"),
        "chars_per_sec": _mean([r["chars_per_sec"] for r in history
                                if r.get("chars_per_sec") is not None]),
        "training_time_s": last["elapsed"],
        "peak_rss_mb": max(row.get("peak_rss_mb", 0) for row in history),
        "sample": samples["samples"][0]["text"],
        "prompt": samples["prompt"],
        "config": config,
    }



SWEEP_COMMAND = "python -m helpers.runs sweep --param hidden_nodes 64 128 256"


@dataclass
class RunRecord:
    """One run as its files describe it; ``metrics`` is None for a run that did not finish."""

    name: str
    path: Path
    status: str  # "ok" or "failed"
    values: dict  # the swept (or differing) settings
    error: str = ""
    metrics: dict | None = None
    history: list = field(default_factory=list)
    samples: dict | None = None


@dataclass
class Comparison:
    """The runs of a sweep, or of a runs directory, and the parameters they differ in."""

    source: Path
    swept: list[str]
    runs: list[RunRecord]

    @property
    def finished(self) -> list[RunRecord]:
        return [run for run in self.runs if run.status == "ok"]

    @property
    def failed(self) -> list[RunRecord]:
        return [run for run in self.runs if run.status != "ok"]

    def table(self) -> str:
        """One line per run: the swept values, status and figures, aligned in columns."""
        header = ["run", *self.swept, "status", "steps", "valid BPC", "best valid",
                  "train BPC", "train s", "wall s", "chars/s", "peak MiB"]
        rows = []
        for run in self.runs:
            m = run.metrics
            figures = ["-"] * 8 if m is None else [
                f"{m['steps']:,}", f"{m['valid_bpc']:.3f}", f"{m['best_valid_bpc']:.3f}",
                f"{m['train_bpc']:.3f}", f"{m['training_time_s']:,.1f}",
                f"{m['wall_time_s']:,.1f}" if "wall_time_s" in m else "-",
                "-" if m["chars_per_sec"] is None else f"{m['chars_per_sec']:,.0f}",
                f"{m['peak_rss_mb']:,.0f}"]
            rows.append([run.name, *(str(run.values.get(k, "")) for k in self.swept),
                         run.status, *figures])
        return format_table(header, rows)


def format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column)
              for column in zip(header, *rows, strict=True)]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(cells, widths, strict=True))
             .rstrip() for cells in (header, ["-" * w for w in widths], *rows)]
    return "\n".join(lines)


def _finished_run(path: Path, values: dict) -> RunRecord:
    return RunRecord(path.name, path, "ok", values,
                     metrics=rundir.read_metrics(path) or collect_metrics(path),
                     history=rundir.read_history(path), samples=rundir.read_samples(path))


def _resolve_folder(name: str, value) -> Path:
    if not isinstance(value, (str, Path)) or not str(value):
        raise TypeError(f"{name} must be a folder path relative to the repository root, "
                        f"got {value!r}")
    return resolve_from_root(value)


def read_sweep(sweep_dir) -> Comparison:
    """The runs listed in a sweep's ``summary.csv``, with each finished run's files."""
    source = _resolve_folder("sweep_dir", sweep_dir)
    if not source.is_dir():
        raise FileNotFoundError(
            f"sweep_dir {str(sweep_dir)!r} does not exist. A sweep creates it: "
            f"`{SWEEP_COMMAND} --name NAME` writes outputs/sweeps/NAME (without --name, the "
            "folder is named after the swept parameters).")
    if not (source / "summary.csv").exists():
        raise FileNotFoundError(
            f"{relative(source)} has no summary.csv. `{SWEEP_COMMAND}` writes it once its "
            "runs are done; if the sweep was interrupted, run the same command again (it "
            "skips the finished runs).")
    with open(source / "summary.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    # The swept parameters are the columns between "run" and "status" (_summary_row).
    swept = reader.fieldnames[1:reader.fieldnames.index("status")]
    runs = []
    for row in rows:
        path, values = source / row["run"], {name: row[name] for name in swept}
        if row["status"] == "ok":
            if not (path / rundir.METRICS).exists():
                raise FileNotFoundError(f"{relative(path)} is listed as ok in summary.csv but "
                                        "has no metrics.json")
            try:
                runs.append(_finished_run(path, values))
            except DamagedFileError as exc:  # as in read_runs: the others are still compared
                runs.append(RunRecord(path.name, path, "failed", values, error=str(exc)))
        else:
            runs.append(RunRecord(path.name, path, "failed", values, error=row["error"]))
    return Comparison(source, swept, runs)


def read_runs(runs_dir="outputs/runs") -> Comparison:
    """Every run folder under ``runs_dir``; a folder without history counts as failed."""
    source = _resolve_folder("runs_dir", runs_dir)
    if not source.is_dir() or not any(p.is_dir() for p in source.iterdir()):
        raise FileNotFoundError(
            f"runs_dir {str(runs_dir)!r} holds no runs yet. Train one first: run "
            "notebooks/04_training.ipynb and 05_sampling.ipynb, or `make run`; or pass the "
            f"sweep_dir of a sweep made by `{SWEEP_COMMAND}`.")
    runs = [_read_run(path) for path in sorted(p for p in source.iterdir() if p.is_dir())]
    configs = [run.metrics["config"] for run in runs if run.status == "ok"]
    keys = sorted({key for config in configs for key in config} - BOOKKEEPING)
    swept = [key for key in keys if len({json.dumps(c.get(key)) for c in configs}) > 1]
    for run in runs:
        if run.status == "ok":
            run.values = {key: run.metrics["config"].get(key) for key in swept}
    return Comparison(source, swept, runs)


# Settings that say where a run writes and how often it logs, not how it learns.
BOOKKEEPING = {"output_dir", "data_dir", "log_every", "save_every", "sample_chars"}


def _read_run(path: Path) -> RunRecord:
    """A folder of a runs directory: finished, or failed with the reason (a damaged file
    included: one run's damage must not stop the comparison of the others)."""
    try:
        return _judge_run(path)
    except DamagedFileError as exc:
        return RunRecord(path.name, path, "failed", {}, error=str(exc))


def _judge_run(path: Path) -> RunRecord:
    failure = rundir.read_error(path)
    if failure is not None:
        return RunRecord(path.name, path, "failed", {}, error=str(failure.get("error", "")))
    history = rundir.read_history(path)
    if not history:
        return RunRecord(path.name, path, "failed", {}, error=(
            "no history.json: training has not reached its first log (still running, or "
            "stopped early)"))
    broken = next((row["step"] for row in history if not all(
        math.isfinite(row[k]) for k in ("train_bpc", "valid_bpc"))), None)
    if broken is not None:
        return RunRecord(path.name, path, "failed", {}, error=(
            f"diverged: its loss is not a finite number at step {broken:,}"))
    return _finished_run(path, {})


def samples_side_by_side(runs: list[RunRecord], columns: int = 3, width: int = 99) -> str:
    """Each run's first sample, readable, wrapped into columns, ``columns`` runs to a row."""
    sampled = [run for run in runs if run.samples]
    prompts = {run.samples["prompt"] for run in sampled}
    shared_prompt = len(prompts) == 1  # then shown once, above the columns
    blocks = [f"prompt: {next(iter(prompts))!r}\n"] if shared_prompt else []
    for start in range(0, len(sampled), columns):
        group = sampled[start:start + columns]
        column_width = (width - 3 * (len(group) - 1)) // len(group)
        texts = []
        for run in group:
            record, first = run.samples, run.samples["samples"][0]
            # WikiText's spacing undone for reading; samples.json keeps the raw text.
            readable = detokenize(first["text"])
            text = readable if shared_prompt else f"[{record['prompt']}] {readable}"
            texts.append([run.name[:column_width],
                          f"step {record['step']:,}, temperature {first['temperature']}"
                          [:column_width],
                          "-" * column_width, *textwrap.wrap(text, column_width)])
        blocks.append("\n".join(" | ".join(cell.ljust(column_width) for cell in line).rstrip()
                                for line in itertools.zip_longest(*texts, fillvalue="")))
    return "\n\n".join(blocks)


