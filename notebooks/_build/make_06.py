"""Write notebook 06 from the cell sources below: this file is its source.

    .venv/bin/python notebooks/_build/make_06.py            # write the notebook
    .venv/bin/python notebooks/_build/make_06.py --execute  # write and run it in place

Writing replaces the stored outputs, so always execute afterwards. Executed here, with its
default ``sweep_dir = None``, it compares the runs under ``outputs/runs/``: run 04 and 05 first
(they leave ``outputs/runs/notebook``), as ``pytest --nbval notebooks/`` does in order. Cell ids
are fixed so that regenerating gives a small git diff.
"""

import sys

from nbbuild import code, main, md

NB06 = [
    md("""
# 06 · Comparing runs

How long should the model train? The original tutorial's author answered that the manual way:
train 100 iterations, read the loss off the output, edit the number to 300, run everything
again, and compare the two printouts by eye. Every extra setting to try meant another edit,
another wait and another printout to keep track of.

A **sweep** makes that one command:

```bash
python -m helpers.runs sweep --param max_steps 100 300 1000
```

It runs notebook 04 (training) and then 05 (sampling) once per value, each into its own folder
`outputs/sweeps/max_steps/max_steps=100/`, `.../max_steps=300/`, ... with papermill. Several
`--param` options make a grid (`--param max_steps 100 300 --param hidden_nodes 128 256` is four
runs), `-p name value` fixes a parameter for all of them, and `--name` names the sweep's folder.
Run the same command again after an interruption and it skips the runs that are complete (they
have a `metrics.json`); a run that fails leaves its error in `error.json` and the sweep goes on
with the others (`--fail-fast` stops at the first failure instead). At the end it writes
`summary.csv`, one row per run, and executes **this notebook** with `sweep_dir` pointing at
the sweep, so the comparison below is saved next to the runs.

Everything here is read from the files the runs wrote (`summary.csv`, and each run's
`metrics.json`, `history.json`, `config.json`, `samples.json`), never from a notebook's
printed output.
"""),
    md("""
## Parameters

`sweep_dir` is the folder of a sweep, relative to the repository root (the sweep passes its own).

Opened by hand it is `None`, and then there is no sweep to read: the notebook compares the
runs it finds under `runs_dir` instead, that is the single training runs of notebook 04
(`outputs/runs/notebook`) and of `make run` (`outputs/runs/main`). After notebooks 04 and 05
that may be a comparison of one run, which is still worth a look: it is how the stored version
of this notebook was made. These runs have no `metrics.json` unless `helpers.runs` trained them;
their figures are computed from `history.json` instead, in the same way.
"""),
    code("""
sweep_dir = None  # a sweep's folder, e.g. "outputs/sweeps/max_steps"; None: compare runs_dir
runs_dir = "outputs/runs"  # read when sweep_dir is None: every run directory in it""",
         "parameters"),
    md("""
The paths are resolved against the repository root, not the working directory (papermill and
Jupyter start notebooks in different folders), and checked before anything else runs.
"""),
    code("""
from pathlib import Path

from helpers.paths import REPO_ROOT, relative

SWEEP_COMMAND = "python -m helpers.runs sweep --param max_steps 100 300 1000"


def resolve(name, value):
    if not isinstance(value, (str, Path)) or not str(value):
        raise TypeError(f"{name} must be a folder path relative to the repository root, "
                        f"got {value!r}")
    path = Path(value).expanduser()
    return path if path.is_absolute() else REPO_ROOT / path


if sweep_dir is None:
    source = resolve("runs_dir", runs_dir)
    if not source.is_dir() or not any(p.is_dir() for p in source.iterdir()):
        raise FileNotFoundError(
            f"runs_dir {runs_dir!r} holds no runs yet. Train one first: run "
            "notebooks/04_training.ipynb and 05_sampling.ipynb, or `make run`; or pass the "
            f"sweep_dir of a sweep made by `{SWEEP_COMMAND}`.")
    print(f"sweep_dir is None: comparing the runs under {relative(source)}/")
else:
    source = resolve("sweep_dir", sweep_dir)
    if not source.is_dir():
        raise FileNotFoundError(
            f"sweep_dir {sweep_dir!r} does not exist. A sweep creates it: `{SWEEP_COMMAND} "
            "--name NAME` writes outputs/sweeps/NAME (without --name, the folder is named "
            "after the swept parameters).")
    if not (source / "summary.csv").exists():
        raise FileNotFoundError(
            f"{relative(source)} has no summary.csv. `{SWEEP_COMMAND}` writes it once its "
            "runs are done; if the sweep was interrupted, run the same command again (it "
            "skips the finished runs).")
    print(f"comparing the runs of the sweep in {relative(source)}")"""),
    md("""
## The runs

A sweep's `summary.csv` has one row per run: the run's folder, the swept values, its status
(`ok` or `failed`) and the error of a failed one. The figures come from each finished run's
own files. Without a sweep, every folder under `runs_dir` with a `history.json` counts as a
run; `helpers.runs.collect_metrics` computes the figures that `metrics.json` would hold from
its `history.json`, `config.json` and `samples.json`.
"""),
    code("""
import csv
import json
import math

from helpers.runs import collect_metrics


def read_json(path):
    return json.loads(path.read_text("utf-8"))


def finished_run(path, values):
    metrics_file = path / "metrics.json"
    samples_file = path / "samples.json"
    return {
        "name": path.name, "path": path, "status": "ok", "values": values, "error": "",
        "metrics": read_json(metrics_file) if metrics_file.exists() else collect_metrics(path),
        "history": read_json(path / "history.json"),
        "samples": read_json(samples_file) if samples_file.exists() else None,
    }


def failed_run(path, values, error):
    return {"name": path.name, "path": path, "status": "failed", "values": values,
            "error": error, "metrics": None, "history": [], "samples": None}


runs = []
if sweep_dir is not None:
    with open(source / "summary.csv", newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    swept = reader.fieldnames[1:reader.fieldnames.index("status")]  # between run and status
    for row in rows:
        path, values = source / row["run"], {name: row[name] for name in swept}
        if row["status"] == "ok":
            assert (path / "metrics.json").exists(), f"{row['run']} is ok but has no metrics.json"
            runs.append(finished_run(path, values))
        else:
            runs.append(failed_run(path, values, row["error"]))
else:
    for path in sorted(p for p in source.iterdir() if p.is_dir()):
        history_file = path / "history.json"
        if history_file.exists() and read_json(history_file):
            runs.append(finished_run(path, {}))
        else:
            runs.append(failed_run(path, {}, "no history.json: training has not reached its "
                                   "first log (still running, or stopped early)"))
    # The settings in which the runs differ play the part of the swept parameters.
    configs = [run["metrics"]["config"] for run in runs if run["status"] == "ok"]
    keys = sorted({key for config in configs for key in config} - {"output_dir", "data_dir"})
    swept = [key for key in keys if len({json.dumps(c.get(key)) for c in configs}) > 1]
    for run in runs:
        if run["status"] == "ok":
            run["values"] = {key: run["metrics"]["config"].get(key) for key in swept}

finished = [run for run in runs if run["status"] == "ok"]
failed = [run for run in runs if run["status"] != "ok"]
for run in finished:
    steps = [row["step"] for row in run["history"]]
    assert steps and steps == sorted(set(steps)), f"{run['name']}: steps out of order"
    for row in run["history"]:
        assert math.isfinite(row["valid_bpc"]) and row["valid_bpc"] > 0, run["name"]
        assert math.isfinite(row["train_bpc"]) and row["train_bpc"] > 0, run["name"]
    assert math.isfinite(run["metrics"]["valid_bpc"]), run["name"]
for run in failed:
    assert run["error"], f"{run['name']} failed without an error message"
print("every finished run has a history with finite BPC; every failed run has an error")"""),
    code("""
# NBVAL_IGNORE_OUTPUT
def table(rows, header):
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    for cells in (header, ["-" * w for w in widths], *rows):
        line = "  ".join(str(cell).ljust(w) for cell, w in zip(cells, widths, strict=True))
        print(line.rstrip())


header = ["run", *swept, "status", "steps", "valid BPC", "best valid", "train BPC",
          "train s", "wall s", "chars/s", "peak MB"]
rows = []
for run in runs:
    m = run["metrics"]
    figures = ["-"] * 8 if m is None else [
        f"{m['steps']:,}", f"{m['valid_bpc']:.3f}", f"{m['best_valid_bpc']:.3f}",
        f"{m['train_bpc']:.3f}", f"{m['training_time_s']:,.1f}",
        f"{m['wall_time_s']:,.1f}" if "wall_time_s" in m else "-",
        f"{m['chars_per_sec']:,.0f}", f"{m['peak_rss_mb']:,.0f}"]
    rows.append([run["name"], *(run["values"].get(k, "") for k in swept), run["status"],
                 *figures])
print(f"{len(finished)} finished, {len(failed)} failed, in {relative(source)}\\n")
table(rows, header)
no_file = [run["name"] for run in finished if not (run["path"] / "metrics.json").exists()]
if no_file:
    print(f"\\nno metrics.json in {', '.join(no_file)}: figures computed from history.json")"""),
    md("""
`train s` is the time spent training (validation included), summed over resumed sessions;
`wall s` is the whole run as `helpers.runs` timed it, notebook start-up and sampling included
(only runs made by `helpers.runs` have it). `chars/s` averages the training speed over the
logged intervals.

## BPC against iterations

On the left, each run's validation BPC at its last step, against the number of steps it
trained: the one figure the original author compared by hand. On the right, each run's
whole history: training BPC (dashed, averaged since the previous measurement) and validation
BPC (solid), one colour per run.
"""),
    code("""
# NBVAL_IGNORE_OUTPUT
import matplotlib.pyplot as plt

from helpers.plots import plot_history

if not finished:
    print("no finished run to plot")
else:
    fig, (final_ax, curves_ax) = plt.subplots(1, 2, figsize=(13, 4.2), dpi=90)
    for i, run in enumerate(finished):
        m = run["metrics"]
        final_ax.plot(m["steps"], m["valid_bpc"], "o", color=f"C{i}", label=run["name"])
        plot_history(run["history"], ax=curves_ax, label=run["name"])
    final_ax.set_xlim(left=0)
    final_ax.set_xlabel("training steps (iterations) of the run")
    final_ax.set_ylabel("validation bits per character")
    final_ax.set_title("Validation BPC at the end of each run")
    final_ax.grid(alpha=0.3)
    final_ax.legend(fontsize=8)
    curves_ax.set_title("Each run's history (lower is better)")
    curves_ax.legend(fontsize=8)
    fig.tight_layout()
    plt.show()"""),
    md("""
Two runs that differ only in `max_steps` train on the same batches in the same order (the data
order is a function of the seed and the step), so the longer run passes through the shorter
one's state: their curves lie on top of each other where they overlap. A sweep over `max_steps`
therefore says little that one long run's `history.json` does not; sweeps earn their keep on
settings that change the training itself, such as `hidden_nodes`, `learning_rate` or
`len_per_section`.

## BPC against wall time

Steps are not equally expensive: a bigger model or longer sections make each step slower.
Against the training time, the comparison is the one that matters on a fixed budget: which run
gets lowest in the same number of minutes?
"""),
    code("""
# NBVAL_IGNORE_OUTPUT
if not finished:
    print("no finished run to plot")
else:
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=90)
    for run in finished:
        plot_history(run["history"], ax=ax, label=run["name"], x="elapsed")
    ax.set_title("Training and validation BPC against training time (lower is better)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.show()"""),
    md("""
## The samples, side by side

Each run's sample from notebook 05, read from its `samples.json`: the prompt, then the text
the model generated at the temperature that notebook was given.
"""),
    code("""
# NBVAL_IGNORE_OUTPUT
import itertools
import textwrap

sampled = [run for run in finished if run["samples"]]
prompts = {run["samples"]["prompt"] for run in sampled}
shared_prompt = len(prompts) == 1  # then shown once, above the columns
if shared_prompt:
    print(f"prompt: {next(iter(prompts))!r}\\n")
for start in range(0, len(sampled), 3):
    group = sampled[start:start + 3]
    width = (99 - 3 * (len(group) - 1)) // len(group)
    columns = []
    for run in group:
        record, first = run["samples"], run["samples"]["samples"][0]
        text = first["text"] if shared_prompt else f"[{record['prompt']}] {first['text']}"
        columns.append([run["name"][:width],
                        f"step {record['step']:,}, temperature {first['temperature']}"[:width],
                        "-" * width, *textwrap.wrap(text, width)])
    for line in itertools.zip_longest(*columns, fillvalue=""):
        print(" | ".join(cell.ljust(width) for cell in line).rstrip())
    print()
without = [run["name"] for run in finished if not run["samples"]]
if without:
    print("no samples.json (05_sampling has not run on it):", ", ".join(without))"""),
    md("""
## Failed runs

A run that failed is listed with its error; the executed notebook in its folder shows the
cell where it stopped. Fix the cause and run the same sweep command again: only the runs
without a `metrics.json` run again.
"""),
    code("""
# NBVAL_IGNORE_OUTPUT
if not failed:
    print("no failed runs")
for run in failed:
    print(f"{run['name']}:")
    wrapped = textwrap.fill(run["error"], 96, break_long_words=False, break_on_hyphens=False)
    print(textwrap.indent(wrapped, "    "))"""),
    md("""
## What to try next

Each of these is one command, and this notebook, run by the sweep, compares the results:

```bash
python -m helpers.runs sweep --param hidden_nodes 128 256 512 -p max_steps 1000
python -m helpers.runs sweep --param learning_rate 0.002 0.005 0.01 -p max_steps 1000
python -m helpers.runs sweep --param len_per_section 50 100 200 -p max_steps 1000
```

To reopen a sweep's comparison later, run this notebook with its folder:
`papermill notebooks/06_comparing_runs.ipynb out.ipynb -p sweep_dir outputs/sweeps/hidden_nodes`.
"""),
]


if __name__ == "__main__":
    sys.exit(main({"06_comparing_runs.ipynb": NB06}))
