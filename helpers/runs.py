"""Run the notebooks from the command line with papermill: the main job, and sweeps.

    python -m helpers.runs main [--name NAME] [-p max_steps 3000 ...]
    python -m helpers.runs sweep --param max_steps 100 300 1000 [--param hidden_nodes 128 256]
                                 [--name NAME] [-p name value ...] [--fail-fast]

A run executes ``04_training`` then ``05_sampling`` into its own directory; each notebook
receives the ``-p`` parameters it declares (``--help-notebook`` in papermill lists them).
Results are read back from the JSON files the notebooks write, never scraped from outputs.
Running the same name again resumes: training continues from its last checkpoint and a
sweep skips the combinations already complete.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
import time
import traceback
from pathlib import Path

from helpers.paths import OUTPUTS, REPO_ROOT, relative, write_json

NOTEBOOKS = REPO_ROOT / "notebooks"
TRAINING = NOTEBOOKS / "04_training.ipynb"
SAMPLING = NOTEBOOKS / "05_sampling.ipynb"
COMPARING = NOTEBOOKS / "06_comparing_runs.ipynb"

# The main job's own defaults, over the notebooks' quicker ones (benchmarks/RESULTS.md has
# the measurements behind them): about 15 minutes on a 2-core laptop.
MAIN_DEFAULTS = {"max_steps": 3000, "log_every": 100, "save_every": 250}


class RunError(RuntimeError):
    """A notebook of a run failed; the executed notebook shows where."""


def parse_value(text: str):
    """papermill's ``-p`` spelling: ints, floats, True/False and None are inferred."""
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def notebook_parameters(path: Path) -> dict:
    import papermill

    return papermill.inspect_notebook(str(path))


def split_parameters(parameters: dict) -> tuple[dict, dict]:
    """Route each parameter to the notebooks that declare it; unknown names are an error."""
    training, sampling = notebook_parameters(TRAINING), notebook_parameters(SAMPLING)
    unknown = sorted(set(parameters) - set(training) - set(sampling))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; 04_training takes "
                         f"{', '.join(training)} and 05_sampling takes {', '.join(sampling)}")
    return ({k: v for k, v in parameters.items() if k in training},
            {k: v for k, v in parameters.items() if k in sampling})


def _execute(notebook: Path, output: Path, parameters: dict, progress: bool) -> None:
    import papermill

    try:
        papermill.execute_notebook(str(notebook), str(output), parameters=parameters,
                                   cwd=str(NOTEBOOKS), progress_bar=progress,
                                   kernel_name="python3")
    except papermill.PapermillExecutionError as exc:
        raise RunError(f"{notebook.name} failed in cell {exc.exec_count}: {exc.ename}: "
                       f"{exc.evalue} (see {relative(output)})") from None


def run_notebooks(run_dir: Path, parameters: dict, progress: bool = True) -> dict:
    """Train and sample into ``run_dir``; return its metrics (also written as metrics.json)."""
    training, sampling = split_parameters(parameters)
    run_dir.mkdir(parents=True, exist_ok=True)
    rel = relative(run_dir)
    started = time.perf_counter()
    _execute(TRAINING, run_dir / TRAINING.name, {**training, "output_dir": rel}, progress)
    _execute(SAMPLING, run_dir / SAMPLING.name, {**sampling, "run_dir": rel}, progress)
    metrics = collect_metrics(run_dir)
    metrics["wall_time_s"] = time.perf_counter() - started
    write_json(run_dir / "metrics.json", metrics)
    return metrics


def collect_metrics(run_dir: Path) -> dict:
    """The figures of a finished run, from the files its notebooks wrote."""
    history = json.loads((run_dir / "history.json").read_text("utf-8"))
    config = json.loads((run_dir / "config.json").read_text("utf-8"))
    samples = json.loads((run_dir / "samples.json").read_text("utf-8"))
    last = history[-1]
    return {
        "steps": last["step"],
        "train_bpc": last["train_bpc"],
        "valid_bpc": last["valid_bpc"],
        "best_valid_bpc": min(row["valid_bpc"] for row in history),
        "chars_per_sec": sum(r["chars_per_sec"] for r in history) / len(history),
        "training_time_s": last["elapsed"],
        "peak_rss_mb": max(row.get("peak_rss_mb", 0) for row in history),
        "sample": samples["samples"][0]["text"],
        "prompt": samples["prompt"],
        "config": config,
    }


def main_job(name: str, parameters: dict) -> int:
    run_dir = OUTPUTS / "runs" / name
    print(f"main job: training and sampling into {relative(run_dir)} "
          f"(parameters: {parameters or 'defaults'})", flush=True)
    metrics = run_notebooks(run_dir, {**MAIN_DEFAULTS, **parameters})
    print(f"\nvalid BPC {metrics['valid_bpc']:.3f} after {metrics['steps']:,} steps "
          f"({metrics['training_time_s'] / 60:.1f} min training, "
          f"{metrics['chars_per_sec']:,.0f} chars/s, peak memory "
          f"{metrics['peak_rss_mb']:,.0f} MB)")
    print(f"sample: {metrics['prompt']}{metrics['sample']}")
    print(f"everything is in {relative(run_dir)}: executed notebooks, checkpoints, "
          "history.json, loss_curve.png, samples.txt, metrics.json")
    return 0


def combination_name(combo: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in combo.items())


def sweep(grid: dict[str, list], fixed: dict, name: str | None = None,
          fail_fast: bool = False, progress: bool = True) -> Path:
    """One run per combination of ``grid``, then summary.csv and 06_comparing_runs."""
    if not grid:
        raise ValueError("a sweep needs at least one --param NAME VALUE [VALUE ...]")
    split_parameters({**fixed, **grid})  # unknown names fail before anything runs
    name = name or "-".join(grid)
    sweep_dir = OUTPUTS / "sweeps" / name
    combos = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    print(f"sweep {name}: {len(combos)} runs into {relative(sweep_dir)}", flush=True)
    rows = []
    for combo in combos:
        run_dir = sweep_dir / combination_name(combo)
        done, failed = run_dir / "metrics.json", run_dir / "error.json"
        if done.exists():
            print(f"  {run_dir.name}: already complete, skipped")
        else:
            print(f"  {run_dir.name}: running", flush=True)
            failed.unlink(missing_ok=True)
            try:
                run_notebooks(run_dir, {**fixed, **combo}, progress)
            except Exception as exc:  # recorded, and the other combinations still run
                write_json(failed, {"error": f"{type(exc).__name__}: {exc}",
                                    "traceback": traceback.format_exc()})
                print(f"  {run_dir.name}: FAILED: {exc}", flush=True)
                if fail_fast:
                    raise
        rows.append(_summary_row(combo, run_dir))
    _write_summary(sweep_dir / "summary.csv", rows)
    _execute(COMPARING, sweep_dir / COMPARING.name, {"sweep_dir": relative(sweep_dir)},
             progress)
    failures = [r for r in rows if r["status"] != "ok"]
    print(f"sweep {name}: {len(rows) - len(failures)} complete, {len(failures)} failed; "
          f"see {relative(sweep_dir / 'summary.csv')} and {relative(sweep_dir / COMPARING.name)}")
    return sweep_dir


SUMMARY_FIELDS = ("steps", "train_bpc", "valid_bpc", "best_valid_bpc", "chars_per_sec",
                  "training_time_s", "wall_time_s", "peak_rss_mb", "sample")


def _summary_row(combo: dict, run_dir: Path) -> dict:
    row = {"run": run_dir.name, **combo}
    metrics_path, error_path = run_dir / "metrics.json", run_dir / "error.json"
    if metrics_path.exists():
        metrics = json.loads(metrics_path.read_text("utf-8"))
        row.update(status="ok", error="", **{k: metrics.get(k, "") for k in SUMMARY_FIELDS})
    else:
        error = json.loads(error_path.read_text("utf-8"))["error"] if error_path.exists() \
            else "did not finish"
        row.update(status="failed", error=error, **dict.fromkeys(SUMMARY_FIELDS, ""))
    return row


def _write_summary(path: Path, rows: list[dict]) -> None:
    fields = list(dict.fromkeys(k for row in rows for k in row))
    tmp = path.with_name(".summary.csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def _parameter_pairs(pairs) -> dict:
    return {name: parse_value(value) for name, value in pairs or []}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.runs", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    main_cmd = commands.add_parser("main", help="train and sample into outputs/runs/NAME")
    main_cmd.add_argument("--name", default="main")
    sweep_cmd = commands.add_parser("sweep", help="one run per parameter combination")
    sweep_cmd.add_argument("--param", nargs="+", action="append", metavar=("NAME", "VALUE"),
                           default=[], help="a parameter and its values (repeat for a grid)")
    sweep_cmd.add_argument("--name", default=None, help="default: the swept parameters' names")
    sweep_cmd.add_argument("--fail-fast", action="store_true",
                           help="stop at the first failing combination")
    for command in (main_cmd, sweep_cmd):
        command.add_argument("-p", "--parameter", nargs=2, action="append",
                             metavar=("NAME", "VALUE"), help="a notebook parameter")
    args = parser.parse_args(argv)
    fixed = _parameter_pairs(args.parameter)
    try:
        if args.command == "main":
            return main_job(args.name, fixed)
        grid = {}
        for name, *values in args.param:
            if not values:
                parser.error(f"--param {name} needs at least one value")
            grid[name] = [parse_value(v) for v in values]
        sweep(grid, fixed, args.name, args.fail_fast)
        return 0
    except (RunError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
