# %% [markdown]
# # 06 · Comparing runs
#
# Does a wider model learn faster, and is it worth its slower steps? The original tutorial's
# author compared settings the manual way: train 100 iterations, run the code again with 300,
# and set the two generated samples one after the other, to be judged by eye (for the
# 300-iteration run it showed a sample and no loss at all). Every extra setting to try meant
# another edit, another wait and another printout to keep track of.
#
# A **sweep** makes that one command. The comparison stored in this notebook is of three runs
# that differ in one setting only, the number of LSTM units, 64, 128 and 256, each trained 400
# steps with notebook 04's other defaults (3 minutes 20 seconds for the three, on 2 shared CPU
# cores):
#
# ```bash
# python -m helpers.runs sweep --param hidden_nodes 64 128 256 -p max_steps 400 -p log_every 40 -p show_original False
# ```
#
# It runs notebook 04 (training) and then 05 (sampling) once per value, each into its own folder
# `outputs/sweeps/hidden_nodes/hidden_nodes=64/`, `.../hidden_nodes=128/`, ... with papermill.
# Several `--param` options make a grid (`--param hidden_nodes 128 256 --param dropout 0 0.5`
# is four runs), `-p name value` fixes a parameter for all of them, and `--name` names the
# sweep's folder. Run the same command again after an interruption and it skips the runs that
# are complete (they have a `metrics.json`); a run that fails leaves its error in `error.json`
# and the sweep goes on with the others (`--fail-fast` stops at the first failure instead). At
# the end it writes `summary.csv`, one row per run, and executes **this notebook** with
# `sweep_dir` pointing at the sweep, so the comparison is saved next to the runs.
#
# Everything here is read from the files the runs wrote (`summary.csv`, and each run's
# `metrics.json`, `history.json`, `config.json`, `samples.json`), never from a notebook's
# printed output.

# %% [markdown]
# ## Parameters
#
# `sweep_dir` is the folder of a sweep, relative to the repository root (a sweep passes its
# own). By default it is `notebooks/records/hidden_nodes`: the files of the sweep above, kept in
# the repository (without checkpoints or executed notebooks), so that this notebook shows a
# real comparison before you have run anything. Its `README.md` says how it was made; run the
# command and point `sweep_dir` at `outputs/sweeps/hidden_nodes` to compare your own.
#
# With `sweep_dir = None` the notebook compares the runs it finds under `runs_dir` instead: the
# single training runs of notebook 04 (`outputs/runs/notebook`) and of `make run`
# (`outputs/runs/main`). These runs have no `metrics.json` unless `helpers.runs` trained them;
# their figures are computed from `history.json` instead, in the same way.

# %% tags=["parameters"]
sweep_dir = "notebooks/records/hidden_nodes"  # a sweep's folder; None: compare runs_dir
runs_dir = "outputs/runs"  # read when sweep_dir is None: every run directory in it

# %% [markdown]
# `helpers.comparing` reads the runs back: `read_sweep` from a sweep's `summary.csv`, `read_runs`
# from every folder under `runs_dir`. Paths are resolved against the repository root, not the
# working directory (papermill and Jupyter start notebooks in different folders), and a missing
# folder stops here with a message saying how to make it.

# %%
from helpers.comparing import read_runs, read_sweep
from helpers.paths import relative

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
# run, and `helpers.comparing.collect_metrics` computes the figures that `metrics.json` would hold
# from its `history.json`, `config.json` and `samples.json`. Before anything is plotted, check
# what must hold of every run:

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

# %% [markdown]
# The settings the runs differ in, then one line per run: the validation BPC at its last step
# and the training BPC there (averaged since the previous measurement), the time spent
# training (validation included) and the training speed.

# %%
# NBVAL_IGNORE_OUTPUT
from helpers.comparing import format_table

print(f"{len(finished)} finished, {len(failed)} failed, in {relative(comparison.source)}")
print(f"the runs differ in: {', '.join(comparison.swept) or 'nothing recorded'}\n")
rows = [[run.name, f"{run.metrics['steps']:,}", f"{run.metrics['valid_bpc']:.3f}",
         f"{run.metrics['train_bpc']:.3f}", f"{run.metrics['training_time_s']:,.0f}",
         f"{run.metrics['chars_per_sec']:,.0f}"] for run in finished]
print(format_table(["run", "steps", "valid BPC", "train BPC", "train s", "chars/s"], rows))
no_file = [run.name for run in finished if not (run.path / "metrics.json").exists()]
if no_file:
    print(f"\nno metrics.json in {', '.join(no_file)}: figures computed from history.json")

# %% [markdown]
# ## The curves
#
# On the left, each run's validation and training BPC at its last step, one point per run.
# On the right, each run's whole history: validation BPC (solid) and training BPC (dashed),
# one colour per run. Every run starts at step 0 near $\log_2 260 \approx 8$ bits, blind
# guessing; drawn, that point would stretch the scale until the differences that matter were
# a few pixels, so the curves start at the first measurement after it, and the step-0 values
# are printed below the figure instead.

# %%
# NBVAL_IGNORE_OUTPUT
import matplotlib.pyplot as plt

from helpers.plots import plot_history


def after_step_0(history):
    return [row for row in history if row["step"] > 0]


if not finished:
    print("no finished run to plot")
else:
    fig, (final_ax, curves_ax) = plt.subplots(1, 2, figsize=(13, 4.2), dpi=90,
                                              gridspec_kw={"width_ratios": [1, 2]})
    positions = range(len(finished))
    final_ax.plot(positions, [run.metrics["valid_bpc"] for run in finished], "o-",
                  color="black", label="validation")
    final_ax.plot(positions, [run.metrics["train_bpc"] for run in finished], "x--",
                  color="grey", label="training")
    final_ax.set_xticks(positions, [run.name for run in finished], fontsize=8)
    final_ax.set_xlim(-0.5, len(finished) - 0.5)
    final_ax.set_ylabel("bits per character at the last step")
    final_ax.set_title("Where each run ended (lower is better)")
    final_ax.grid(alpha=0.3)
    final_ax.legend(fontsize=8)
    for run in finished:
        plot_history(after_step_0(run.history), ax=curves_ax, label=run.name)
    curves_ax.set_title("Each run's history after step 0 (lower is better)")
    curves_ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    plt.show()
    for run in finished:
        start = run.history[0]
        if start["step"] == 0:
            print(f"{run.name}: step 0 validation {start['valid_bpc']:.2f} bits (not drawn)")

# %% [markdown]
# In the stored record the wider models are lower at every measurement: per step, more units
# learn faster. The gap between training and validation BPC stays small for all three: 400
# steps of 64 sections of 100 characters read 2.56 million characters, about twice the
# training text, too little to overfit (notebook 04 shows what dropout does once a run does).
# Checked on the record, when it is the one read:

# %%
from itertools import pairwise

RECORD = "notebooks/records/hidden_nodes"
if sweep_dir != RECORD:
    print(f"not the stored record ({RECORD}): nothing to check here")
else:
    by_units = sorted(finished, key=lambda run: int(run.values["hidden_nodes"]))
    assert len(by_units) == 3 and not failed
    for narrow, wide in pairwise(by_units):
        for a, b in zip(after_step_0(narrow.history), after_step_0(wide.history), strict=True):
            assert a["step"] == b["step"] and b["valid_bpc"] < a["valid_bpc"], a["step"]
    gaps = [run.metrics["valid_bpc"] - run.metrics["train_bpc"] for run in by_units]
    assert max(abs(gap) for gap in gaps) < 0.1, gaps
    print("the stored record: at every measurement after step 0, more units, lower validation "
          "BPC; training and validation within 0.1 bits of each other at the end")

# %% [markdown]
#
# A sweep over `max_steps` alone compares less than it seems to: the runs share their first
# steps only while the rate does not depend on `max_steps`. With `lr_schedule = "cosine"`,
# or a warm-up whose length is a share of the steps (the `main` preset), every step's rate
# depends on `max_steps`, so a shorter run is not the start of a longer one.
#
# ## BPC against training time
#
# Steps are not equally expensive: a wider model makes each step slower. Against the training
# time, the comparison is the one that matters on a fixed budget: which run gets lowest in the
# same number of minutes? The times are those of the machine that ran the sweep (for the
# stored record, 2 shared CPU cores), so only their ratios carry over to another one.

# %%
# NBVAL_IGNORE_OUTPUT
if not finished:
    print("no finished run to plot")
else:
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=90)
    for run in finished:
        plot_history(after_step_0(run.history), ax=ax, label=run.name, x="elapsed")
    ax.set_title("Training and validation BPC against training time, after step 0")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    plt.show()

# %% [markdown]
# The same question as numbers: when the quickest run had finished, where was each run?
# (Its last validation measurement at or before that time.)

# %%
# NBVAL_IGNORE_OUTPUT
if finished:
    budget = min(run.metrics["training_time_s"] for run in finished)
    print(f"after {budget:.0f} s of training (the quickest run's whole time):")
    for run in finished:
        reached = [row for row in run.history if row["elapsed"] <= budget]
        if not reached:
            print(f"  {run.name}: no measurement yet")
            continue
        last = reached[-1]
        print(f"  {run.name}: validation {last['valid_bpc']:.3f} BPC at step {last['step']:,}")

# %% [markdown]
# So the answer to the opening question depends on what is fixed. Per step, the widest model
# wins, as above. On the clock, in the seconds the quickest run (64 units) took, the middle
# one, 128 units, was lowest in the stored record: its steps cost about half as much again as
# the narrow model's, but each learns more, while the 256-unit model had taken too few of its
# slower steps by then. Given its whole 400 steps, about twice the 128-unit model's time, the 256-unit
# model ends lowest of the three: the wider model pays off when there is time for its steps,
# which is why notebook 04 trains 256 units and `make run`, with 15 minutes, 768. Checked on
# the record, when it is the one read:

# %%
if sweep_dir != RECORD:
    print(f"not the stored record ({RECORD}): nothing to check here")
else:
    at_budget = {}
    for run in by_units:
        reached = [row for row in run.history if row["elapsed"] <= budget]
        at_budget[int(run.values["hidden_nodes"])] = reached[-1]["valid_bpc"]
    assert min(at_budget, key=at_budget.get) == 128, at_budget
    print(f"the stored record: after {budget:.0f} s, 128 units lowest "
          f"({', '.join(f'{units}: {bpc:.3f}' for units, bpc in at_budget.items())})")

# %% [markdown]
# ## The samples, side by side
#
# Each run's sample from notebook 05, read from its `samples.json`: the prompt, then the text
# the model generated at the temperature that notebook was given, with WikiText's spacing
# undone for reading (`helpers.encoding.detokenize`; `samples.json` keeps the raw text).

# %%
# NBVAL_IGNORE_OUTPUT
from helpers.comparing import samples_side_by_side

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
# python -m helpers.runs sweep --param dropout 0 0.25 0.5 -p max_steps 2000
# python -m helpers.runs sweep --param learning_rate 0.002 0.005 0.01 -p max_steps 1000
# python -m helpers.runs sweep --param len_per_section 50 100 200 -p max_steps 1000
# ```
#
# To reopen a sweep's comparison later, run this notebook with its folder:
# `papermill notebooks/06_comparing_runs.ipynb out.ipynb -p sweep_dir outputs/sweeps/dropout`.
