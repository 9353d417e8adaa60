# %% [markdown]
# # 06 · Comparing runs
#
# How long should the model train? The original tutorial's author answered that the manual way:
# train 100 iterations, printing the training loss along the way, then edit the number to 300,
# run everything again, and judge the two generated samples by eye (for the 300-iteration run
# it showed a sample and no loss at all). Every extra setting to try meant another edit,
# another wait and another printout to keep track of.
#
# A **sweep** makes that one command:
#
# ```bash
# python -m helpers.runs sweep --param max_steps 100 300 1000
# ```
#
# It runs notebook 04 (training) and then 05 (sampling) once per value, each into its own folder
# `outputs/sweeps/max_steps/max_steps=100/`, `.../max_steps=300/`, ... with papermill. Several
# `--param` options make a grid (`--param max_steps 100 300 --param hidden_nodes 128 256` is four
# runs), `-p name value` fixes a parameter for all of them, and `--name` names the sweep's folder.
# Run the same command again after an interruption and it skips the runs that are complete (they
# have a `metrics.json`); a run that fails leaves its error in `error.json` and the sweep goes on
# with the others (`--fail-fast` stops at the first failure instead). At the end it writes
# `summary.csv`, one row per run, and executes **this notebook** with `sweep_dir` pointing at
# the sweep, so the comparison below is saved next to the runs.
#
# Everything here is read from the files the runs wrote (`summary.csv`, and each run's
# `metrics.json`, `history.json`, `config.json`, `samples.json`), never from a notebook's
# printed output.

# %% [markdown]
# ## Parameters
#
# `sweep_dir` is the folder of a sweep, relative to the repository root (the sweep passes its own).
#
# Opened by hand it is `None`, and then there is no sweep to read: the notebook compares the
# runs it finds under `runs_dir` instead, that is the single training runs of notebook 04
# (`outputs/runs/notebook`) and of `make run` (`outputs/runs/main`). After notebooks 04 and 05
# that may be a comparison of one run, which is still worth a look: it is how the stored version
# of this notebook was made. These runs have no `metrics.json` unless `helpers.runs` trained them;
# their figures are computed from `history.json` instead, in the same way.

# %% tags=["parameters"]
sweep_dir = None  # a sweep's folder, e.g. "outputs/sweeps/max_steps"; None: compare runs_dir
runs_dir = "outputs/runs"  # read when sweep_dir is None: every run directory in it

# %% [markdown]
# `helpers.runs` reads the runs back: `read_sweep` from a sweep's `summary.csv`, `read_runs`
# from every folder under `runs_dir`. Paths are resolved against the repository root, not the
# working directory (papermill and Jupyter start notebooks in different folders), and a missing
# folder stops here with a message saying how to make it.

# %%
from helpers.paths import relative
from helpers.runs import read_runs, read_sweep

if sweep_dir is None:
    comparison = read_runs(runs_dir)
    print(f"sweep_dir is None: comparing the runs under {relative(comparison.source)}/")
else:
    comparison = read_sweep(sweep_dir)
    print(f"comparing the runs of the sweep in {relative(comparison.source)}")
finished, failed = comparison.finished, comparison.failed

# %% [markdown]
# ## The runs
#
# A sweep's `summary.csv` has one row per run: the run's folder, the swept values, its status
# (`ok` or `failed`) and the error of a failed one. The figures come from each finished run's
# own files. Without a sweep, every folder under `runs_dir` with a `history.json` counts as a
# run, the settings in which the runs differ play the part of the swept ones, and
# `helpers.runs.collect_metrics` computes the figures that `metrics.json` would hold from its
# `history.json`, `config.json` and `samples.json`. Before anything is plotted, check what must
# hold of every run:

# %%
import math

for run in finished:
    steps = [row["step"] for row in run.history]
    assert steps and steps == sorted(set(steps)), f"{run.name}: steps out of order"
    for row in run.history:
        assert math.isfinite(row["valid_bpc"]) and row["valid_bpc"] > 0, run.name
        assert math.isfinite(row["train_bpc"]) and row["train_bpc"] > 0, run.name
for run in failed:
    assert run.error, f"{run.name} failed without an error message"
print("every finished run has a history with finite BPC; every failed run has an error")

# %%
# NBVAL_IGNORE_OUTPUT
print(f"{len(finished)} finished, {len(failed)} failed, in {relative(comparison.source)}\n")
print(comparison.table())
no_file = [run.name for run in finished if not (run.path / "metrics.json").exists()]
if no_file:
    print(f"\nno metrics.json in {', '.join(no_file)}: figures computed from history.json")

# %% [markdown]
# `train s` is the time spent training (validation included), summed over resumed sessions;
# `wall s` is the whole run as `helpers.runs` timed it, notebook start-up and sampling included
# (only runs made by `helpers.runs` have it). `chars/s` averages the training speed over the
# logged intervals.
#
# ## BPC against iterations
#
# On the left, each run's validation BPC at its last step, against the number of steps it
# trained: the comparison the original could not make, since it set its 100- and 300-step runs
# side by side only by their samples, and had no validation data. On the right, each run's
# whole history: training BPC (dashed, averaged since the previous measurement) and validation
# BPC (solid), one colour per run.

# %%
# NBVAL_IGNORE_OUTPUT
import matplotlib.pyplot as plt

from helpers.plots import plot_history

if not finished:
    print("no finished run to plot")
else:
    fig, (final_ax, curves_ax) = plt.subplots(1, 2, figsize=(13, 4.2), dpi=90)
    for i, run in enumerate(finished):
        m = run.metrics
        final_ax.plot(m["steps"], m["valid_bpc"], "o", color=f"C{i}", label=run.name)
        plot_history(run.history, ax=curves_ax, label=run.name)
    final_ax.set_xlim(left=0)
    final_ax.set_xlabel("training steps (iterations) of the run")
    final_ax.set_ylabel("validation bits per character")
    final_ax.set_title("Validation BPC at the end of each run")
    final_ax.grid(alpha=0.3)
    final_ax.legend(fontsize=8)
    curves_ax.set_title("Each run's history (lower is better)")
    curves_ax.legend(fontsize=8)
    fig.tight_layout()
    plt.show()

# %% [markdown]
# Two runs that differ only in `max_steps` train on the same batches in the same order (the data
# order is a function of the seed and the step), so the longer run passes through the shorter
# one's state: their curves lie on top of each other where they overlap. A sweep over `max_steps`
# therefore says little that one long run's `history.json` does not; sweeps earn their keep on
# settings that change the training itself, such as `hidden_nodes`, `learning_rate` or
# `len_per_section`.
#
# ## BPC against wall time
#
# Steps are not equally expensive: a bigger model or longer sections make each step slower.
# Against the training time, the comparison is the one that matters on a fixed budget: which run
# gets lowest in the same number of minutes?

# %%
# NBVAL_IGNORE_OUTPUT
if not finished:
    print("no finished run to plot")
else:
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=90)
    for run in finished:
        plot_history(run.history, ax=ax, label=run.name, x="elapsed")
    ax.set_title("Training and validation BPC against training time (lower is better)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.show()

# %% [markdown]
# ## The samples, side by side
#
# Each run's sample from notebook 05, read from its `samples.json`: the prompt, then the text
# the model generated at the temperature that notebook was given, with WikiText's spacing
# undone for reading (`helpers.encoding.detokenize`; `samples.json` keeps the raw text).

# %%
# NBVAL_IGNORE_OUTPUT
from helpers.runs import samples_side_by_side

print(samples_side_by_side(finished))
without = [run.name for run in finished if not run.samples]
if without:
    print("no samples.json (05_sampling has not run on it):", ", ".join(without))

# %% [markdown]
# ## Failed runs
#
# A run that failed is listed with its error; the executed notebook in its folder shows the
# cell where it stopped. Fix the cause and run the same sweep command again: only the runs
# without a `metrics.json` run again.

# %%
# NBVAL_IGNORE_OUTPUT
import textwrap

if not failed:
    print("no failed runs")
for run in failed:
    print(f"{run.name}:")
    wrapped = textwrap.fill(run.error, 96, break_long_words=False, break_on_hyphens=False)
    print(textwrap.indent(wrapped, "    "))

# %% [markdown]
# ## What to try next
#
# Each of these is one command, and this notebook, run by the sweep, compares the results:
#
# ```bash
# python -m helpers.runs sweep --param hidden_nodes 128 256 512 -p max_steps 1000
# python -m helpers.runs sweep --param learning_rate 0.002 0.005 0.01 -p max_steps 1000
# python -m helpers.runs sweep --param len_per_section 50 100 200 -p max_steps 1000
# ```
#
# To reopen a sweep's comparison later, run this notebook with its folder:
# `papermill notebooks/06_comparing_runs.ipynb out.ipynb -p sweep_dir outputs/sweeps/hidden_nodes`.
