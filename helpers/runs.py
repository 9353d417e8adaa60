"""Run the notebooks from the command line with papermill: the main job, and sweeps.

    python -m helpers.runs main [--name NAME] [--preset NAME] [-p max_steps 3000 ...]
                                [--outputs DIR]
    python -m helpers.runs sweep --param max_steps 100 300 1000 [--param hidden_nodes 128 256]
                                 [--name NAME] [--preset NAME] [-p name value ...] [--fail-fast]
                                 [--outputs DIR]

A run executes ``04_training`` then ``05_sampling`` into its own directory; each notebook
receives the ``-p`` parameters it declares (``--help-notebook`` in papermill lists them).
Results are read back from the JSON files the notebooks write, never scraped from outputs.
Running the same name again resumes: training continues from its last checkpoint and a
sweep skips the combinations already complete (it refuses to mix in a complete combination
that was run with other fixed parameters). A sweep writes a failing combination's error to
its ``error.json``, goes on with the others, and exits with status 1 at the end.

A run already trained to ``max_steps`` or further is not trained again (04 is skipped and its
executed notebook kept). A notebook that fails is saved as ``<name>.failed.ipynb``: it never
replaces the executed notebook of an earlier, good run. Ctrl-C ends with one line saying what
was finished (exit status 130). ``--name`` is a plain folder name.

``--outputs DIR`` puts everything under DIR instead of the repository's ``outputs/``.

``main`` trains with the "main" preset (``helpers.config.PRESETS``: more steps than 04's
defaults) under the ``-p`` values; ``--preset`` chooses another. A sweep uses no preset unless
given one; the swept values win over the preset's.

``-p text_file PATH`` trains on your own UTF-8 text instead of WikiText-2; on the command line a
relative PATH is taken from the current folder (the notebooks resolve it from the repository
root, so it is rewritten for them). A sweep over several files names each run after its file:
``--param text_file a/notes.txt b/poems.txt`` runs ``text_file=notes.txt`` and
``text_file=poems.txt``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import itertools
import os
import secrets
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import papermill

from helpers import rundir
from helpers.checks import PROGRESS_VARIABLE
from helpers.comparing import collect_metrics
from helpers.config import (
    LESSON_OFF,
    PATH_PARAMETERS,
    LessonSwitches,
    SamplingSettings,
    TrainConfig,
    add_parameter_options,
    convert,
    convert_parameters,
    field_types,
    paths_from_here,
    with_preset,
)
from helpers.encoding import detokenize
from helpers.paths import OUTPUTS, REPO_ROOT, create_new, relative, write_text

NOTEBOOKS = REPO_ROOT / "notebooks"
TRAINING = NOTEBOOKS / "04_training.ipynb"
SAMPLING = NOTEBOOKS / "05_sampling.ipynb"
COMPARING = NOTEBOOKS / "06_comparing_runs.ipynb"

# Set by this module for every run: the run directory itself.
RESERVED = ("output_dir", "run_dir")
# Each notebook's parameters and their types: 04 takes TrainConfig's fields and its lesson
# switches, 05 the sampling settings (a name in both, such as seed, goes to both).
TRAINING_PARAMETERS = field_types(TrainConfig, LessonSwitches)
SAMPLING_PARAMETERS = field_types(SamplingSettings)
RUN_PARAMETERS = {**TRAINING_PARAMETERS, **SAMPLING_PARAMETERS}  # RESERVED: split_parameters
# Seconds one cell may run before the notebook is stopped: training may take hours, while
# sampling and comparing take seconds, so a cell there that runs for minutes has hung.
CELL_TIMEOUT_S = {TRAINING.name: 12 * 3600, SAMPLING.name: 600, COMPARING.name: 600}


class RunError(RuntimeError):
    """A notebook of a run failed; the executed notebook shows where."""


class Interrupted(Exception):
    """Ctrl-C: what was finished, in one line."""


def check_run_name(name: str, what: str = "--name") -> str:
    """A run or sweep name is one folder under runs/ or sweeps/, nothing else."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{what} must name a folder, got {name!r}")
    if "/" in name or "\\" in name or name.startswith(".") or "\0" in name:
        raise ValueError(f"{what} {name!r} must be a plain folder name: no slashes, not "
                         "starting with a dot (runs stay under outputs/runs/ and "
                         "outputs/sweeps/)")
    return name


def split_parameters(parameters: dict) -> tuple[dict, dict]:
    """Route each parameter to the notebooks that declare it; unknown names are an error."""
    reserved = sorted(set(parameters) & set(RESERVED))
    if reserved:
        raise ValueError(f"{', '.join(reserved)} cannot be set here: helpers.runs chooses the "
                         "run directory (use --name, and --outputs for another folder)")
    unknown = sorted(set(parameters) - set(RUN_PARAMETERS))
    if unknown:
        def settable(names):
            return ", ".join(n for n in names if n not in RESERVED)

        raise ValueError(f"unknown parameter(s) {', '.join(unknown)}; 04_training takes "
                         f"{settable(TRAINING_PARAMETERS)} and 05_sampling takes "
                         f"{settable(SAMPLING_PARAMETERS)}")
    return ({k: v for k, v in parameters.items() if k in TRAINING_PARAMETERS},
            {k: v for k, v in parameters.items() if k in SAMPLING_PARAMETERS})


def _execute(notebook: Path, output: Path, parameters: dict, progress: bool,
             echo: bool = False) -> None:
    """Execute ``notebook`` into ``output``, which is replaced only if it runs through.

    papermill writes the executed notebook as it goes, so it writes into a temporary file
    first: a failed execution goes to ``<name>.failed.ipynb`` and never replaces the executed
    notebook of an earlier, good run; an interrupted one leaves nothing. ``echo``: the lines the
    notebook prints (training's progress, its warnings) appear here as they come. A cell that
    runs past ``CELL_TIMEOUT_S`` stops the notebook with a message saying so.

    papermill opens its output as any file is opened, following a link: the temporary file has
    a random name and is created here first (``paths.create_new``), so that no link planted in
    the run folder receives the notebook, and the renames replace a link rather than follow it.
    """
    _remove_stale_executions(output)
    running = output.with_name(f".{output.stem}.{os.getpid()}.{secrets.token_hex(8)}"
                               ".running.ipynb")
    os.close(create_new(running))
    failed = failed_notebook(output)
    timeout = CELL_TIMEOUT_S.get(notebook.name)
    try:
        # shutdown_kernel="immediate": the kernel is killed once the notebook is done or on
        # Ctrl-C, rather than asked to stop while a cell still runs, which it answers with a
        # traceback; a run killed at any point resumes from its last checkpoint. The kernel's
        # own log goes to this terminal: at CRITICAL, it leaves out the warning every kernel
        # started on TCP gives ("running over TCP without encryption", on 127.0.0.1 here) and
        # the error an idle kernel logs when jupyter_client's shutdown interrupts it just
        # before the kill ("KeyboardInterrupt caught in kernel": a race, seen under load).
        # What a cell raises is reported from the notebook, not from this log.
        with _progress_as_lines():
            papermill.execute_notebook(
                str(notebook), str(running), parameters=parameters, cwd=str(NOTEBOOKS),
                progress_bar=progress, kernel_name="python3", shutdown_kernel="immediate",
                extra_arguments=["--IPKernelApp.log_level=CRITICAL"], execution_timeout=timeout,
                stdout_file=_Indented(sys.stdout) if echo else None,
                stderr_file=_Indented(sys.stderr) if echo else None)
    except papermill.PapermillExecutionError as exc:
        _keep_failed(running, failed)
        raise RunError(f"{notebook.name} failed in cell {exc.exec_count}: {exc.ename}: "
                       f"{exc.evalue} (see {relative(failed)})") from None
    except TimeoutError:
        _keep_failed(running, failed)
        raise RunError(f"{notebook.name}: a cell ran for more than {timeout:,} s and was "
                       f"stopped (see {relative(failed)})") from None
    except BaseException as exc:
        if isinstance(exc, Exception):  # the kernel died, say: keep what it got to
            _keep_failed(running, failed)
        running.unlink(missing_ok=True)  # interrupted (Ctrl-C): nothing to keep
        raise
    os.replace(running, output)
    failed.unlink(missing_ok=True)


@contextlib.contextmanager
def _progress_as_lines():
    """Kernels started here print training's progress as lines (``checks.person_watching``):
    what they print reaches a terminal, where a notebook's progress bar cannot be drawn."""
    before = os.environ.get(PROGRESS_VARIABLE)
    os.environ[PROGRESS_VARIABLE] = "lines"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(PROGRESS_VARIABLE, None)
        else:
            os.environ[PROGRESS_VARIABLE] = before


class _Indented(io.TextIOBase):
    """A text stream that writes each line to ``stream`` indented, under the run's heading."""

    def __init__(self, stream, indent: str = "    "):
        self.stream, self.indent, self.at_line_start = stream, indent, True

    def write(self, text: str) -> int:
        for piece in text.splitlines(keepends=True):
            self.stream.write((self.indent if self.at_line_start else "") + piece)
            self.at_line_start = piece.endswith("\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def _remove_stale_executions(output: Path) -> None:
    """Temporary notebooks of executions whose process was killed (SIGKILL leaves them)."""
    for path in output.parent.glob(f".{output.stem}.*.running.ipynb"):
        # .STEM.PID.RANDOM.running.ipynb (.STEM.PID.running.ipynb before the random part)
        pid = path.name[len(output.stem) + 2:-len(".running.ipynb")].split(".")[0]
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
        except (ValueError, PermissionError):  # not ours to judge
            pass


def failed_notebook(output: Path) -> Path:
    return output.with_name(f"{output.stem}.failed{output.suffix}")


def _keep_failed(running: Path, failed: Path) -> None:
    if running.exists() and running.stat().st_size:  # papermill got to write the notebook
        os.replace(running, failed)
    else:
        running.unlink(missing_ok=True)


def check_parameters(training: dict, sampling: dict) -> None:
    """Both notebooks' parameters checked as their notebooks will, before either runs: a
    mistyped sampling setting is not found only after the training it follows."""
    trainconfig = field_types(TrainConfig)
    TrainConfig.from_parameters({k: v for k, v in training.items() if k in trainconfig}) \
        .validate()
    LessonSwitches(**{k: v for k, v in training.items() if k not in trainconfig}).validate()
    SamplingSettings(**sampling).validate()


# Settings a resume may change that its finished model was nevertheless trained with: named
# when a finished run is reused under other values, since nothing is trained with them.
TRAINED_WITH = ("learning_rate", "lr_floor", "clip_norm", "weight_decay", "adam_beta2")


def already_trained(run_dir: Path, training: dict) -> tuple[int, int, str] | None:
    """``(saved step, max_steps, note)`` if ``run_dir`` is trained to ``max_steps`` or more;
    else None.

    Such a run has nothing to train: 04 would only say so, then fail its check that training
    reached max_steps, so it is not run again. Settings a resume could not change are still
    refused, as 04 would refuse them; ``note`` names those of ``TRAINED_WITH`` that differ
    from what the model was trained with ("" if none do).
    """
    saved = rundir.saved_step(run_dir)
    if saved is None:
        return None
    fields = field_types(TrainConfig)
    settings = TrainConfig.from_parameters({k: v for k, v in training.items() if k in fields})
    max_steps = settings.max_steps
    if settings.time_budget is not None:  # the steps its plan fixed, if it has one yet
        plan = rundir.read_plan(run_dir)
        max_steps = plan.get("max_steps") if plan else None
    if not isinstance(max_steps, int) or saved < max_steps:
        return None
    rundir.check_settings(run_dir, settings.to_json(), choose="--name")
    # A config.json written before a setting existed was trained with its default.
    saved_config = {**TrainConfig().to_json(), **(rundir.read_config(run_dir) or {})}
    differ = [f"{k} {saved_config[k]!r} (now {getattr(settings, k)!r})" for k in TRAINED_WITH
              if saved_config[k] != getattr(settings, k)]
    note = (f"; its model was trained with {', '.join(differ)}: another --name trains with "
            "the settings now") if differ else ""
    return saved, max_steps, note


def run_notebooks(run_dir: Path, parameters: dict, progress: bool = True) -> dict:
    """Train and sample into ``run_dir``; return its metrics (also written as metrics.json)."""
    training, sampling = split_parameters(parameters)
    rel = relative(run_dir)
    check_parameters(training, {**sampling, "run_dir": rel})
    # A run folder that cannot be written (or holds a planted link) is refused in one line
    # naming it, before a notebook runs: not as a temporary notebook that could not be made.
    rundir.check_writable(run_dir)
    started = time.perf_counter()
    trained = already_trained(run_dir, training)
    if trained is not None:
        kept = f"; its executed {TRAINING.name} is kept" \
            if (run_dir / TRAINING.name).exists() else ""
        print(f"    training: {rel} is already trained to step {trained[0]:,} "
              f"(max_steps={trained[1]:,}): nothing to train{kept}{trained[2]}", flush=True)
    else:
        if progress:
            print(f"    training: {relative(TRAINING)} -> {rel}", flush=True)
        _execute(TRAINING, run_dir / TRAINING.name, {**training, "output_dir": rel}, False,
                 echo=progress)
    if progress:
        print(f"    sampling: {relative(SAMPLING)} -> {rel}", flush=True)
    _execute(SAMPLING, run_dir / SAMPLING.name, {**sampling, "run_dir": rel}, False)
    metrics = collect_metrics(run_dir)
    metrics["wall_time_s"] = time.perf_counter() - started
    metrics["parameters"] = parameters
    rundir.write_metrics(run_dir, metrics)
    return metrics


def main_job(name: str, parameters: dict, outputs: Path | None = None,
             preset: str | None = "main") -> int:
    """Train and sample into ``runs/NAME`` with ``preset``'s values under ``parameters``."""
    run_dir = Path(outputs or OUTPUTS) / "runs" / check_run_name(name)
    # The main job's run is about training: 04's other trainings are for the lesson.
    parameters = {**LESSON_OFF, **with_preset(preset, parameters)}
    print(f"main job: training and sampling into {relative(run_dir)}; parameters "
          f"{parameters} over the notebooks' defaults", flush=True)
    try:
        metrics = run_notebooks(run_dir, parameters)
    except KeyboardInterrupt:
        saved = rundir.saved_step(run_dir)
        kept = (f"its last checkpoint, step {saved:,}, is kept and the same command resumes "
                "from it") if saved is not None else "no checkpoint had been saved yet"
        raise Interrupted(f"{relative(run_dir)} did not finish; {kept}") from None
    carried = metrics.get("valid_bpc_carried")
    zero_state = f"{metrics['valid_bpc']:.3f} with each section from a zero state"
    scores = (f"{carried:.3f} with the state carried through the text ({zero_state})"
              if carried is not None else zero_state)
    units = parameters.get("hidden_nodes", TrainConfig.hidden_nodes)
    print(f"\nvalid BPC {scores} after {metrics['steps']:,} steps; "
          f"{metrics['training_time_s'] / 60:.1f} min training, {units} units at "
          f"{metrics['chars_per_sec']:,.0f} chars/s, peak memory "
          f"{metrics['peak_rss_mb']:,.0f} MiB")
    print(f"sample: {detokenize(metrics['prompt'] + metrics['sample'])}")
    print(f"everything is in {relative(run_dir)}: executed notebooks, checkpoints, "
          "history.json, loss_curve.png, samples.txt, metrics.json")
    return 0


def combination_name(combo: dict) -> str:
    name = ",".join(f"{k}={_value_label(k, v)}" for k, v in combo.items())
    if "/" in name or "\\" in name or name.startswith("."):
        raise ValueError(f"the combination {name!r} cannot name a directory; sweep values "
                         "must not contain slashes or start with a dot")
    return name


def _value_label(name: str, value) -> str:
    """How a swept value appears in a run's folder name: a text file by its file name."""
    if name in PATH_PARAMETERS and value is not None:
        return Path(str(value)).name
    return str(value)


def _check_distinct_names(combos: list[dict]) -> None:
    names = [combination_name(combo) for combo in combos]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ValueError(f"several combinations would share the folder {twice[0]!r} (text "
                         "files are named by their file name): give the files distinct names")


@dataclass
class SweepResult:
    """What ``sweep`` returns: where it wrote, one summary row per combination run."""

    sweep_dir: Path
    rows: list[dict] = field(default_factory=list)

    @property
    def failures(self) -> list[dict]:
        return [row for row in self.rows if row["status"] != "ok"]


def _check_complete_runs(combos: list[dict], fixed: dict, sweep_dir: Path) -> None:
    """A complete combination is reused only if it was run with the same parameters."""
    for combo in combos:
        run_dir = sweep_dir / combination_name(combo)
        metrics = rundir.read_metrics(run_dir)
        if metrics is None:
            continue
        # The lesson switches change what 04 shows, not what it trains.
        before = _without_lesson(metrics.get("parameters"))
        now = _without_lesson({**fixed, **combo})
        if before is not None and before != now:
            def shown(values, k):
                return repr(values[k]) if k in values else "the default"

            changes = ", ".join(f"{k}: {shown(before, k)} there, {shown(now, k)} now"
                                for k in sorted(set(before) | set(now))
                                if before.get(k) != now.get(k))
            raise ValueError(f"{relative(run_dir)} was run with other parameters "
                             f"({changes}); choose another --name, or delete that folder")


def _without_lesson(parameters: dict | None) -> dict | None:
    lesson = field_types(LessonSwitches)
    return None if parameters is None else \
        {k: v for k, v in parameters.items() if k not in lesson}


def sweep(grid: dict[str, list], fixed: dict, name: str | None = None,
          fail_fast: bool = False, progress: bool = True,
          outputs: Path | None = None, preset: str | None = None) -> SweepResult:
    """One run per combination of ``grid``, then summary.csv and 06_comparing_runs.

    Every run gets ``fixed`` over ``preset``'s values (those not swept). A failing combination
    is recorded in its ``error.json`` and the others still run (with ``fail_fast``, the sweep
    stops there, writes summary.csv and skips 06). The result's ``failures`` lists the
    combinations that did not finish.
    """
    if not grid:
        raise ValueError("a sweep needs at least one --param NAME VALUE [VALUE ...]")
    both = sorted(set(grid) & set(fixed))
    if both:
        raise ValueError(f"{', '.join(both)} is both swept (--param) and fixed (-p)")
    # A sweep compares trainings: 04's other trainings are for the lesson.
    fixed = {**LESSON_OFF, **with_preset(preset, fixed, leave_out=grid)}
    split_parameters({**fixed, **grid})  # unknown names fail before anything runs
    name = check_run_name("-".join(grid) if name is None else name)
    sweep_dir = Path(outputs or OUTPUTS) / "sweeps" / name
    combos = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    _check_distinct_names(combos)
    _check_complete_runs(combos, fixed, sweep_dir)
    print(f"sweep {name}: {len(combos)} runs into {relative(sweep_dir)}", flush=True)
    result = SweepResult(sweep_dir)
    try:
        _run_combinations(combos, fixed, sweep_dir, result, fail_fast, progress)
    except KeyboardInterrupt:
        complete = [row["run"] for row in result.rows if row["status"] == "ok"]
        raise Interrupted(
            f"sweep {name} stopped with {len(complete)} of {len(combos)} runs complete"
            f"{' (' + ', '.join(complete) + ')' if complete else ''}; the same command "
            "resumes, skipping those") from None
    _write_summary(sweep_dir / "summary.csv", result.rows)
    if fail_fast and result.failures:
        print(f"sweep {name}: stopped at the first failure (--fail-fast), after "
              f"{len(result.rows)} of {len(combos)} runs; see "
              f"{relative(sweep_dir / result.failures[0]['run'] / rundir.ERROR)}", flush=True)
        return result
    try:
        _execute(COMPARING, sweep_dir / COMPARING.name, {"sweep_dir": relative(sweep_dir)},
                 progress)
    except KeyboardInterrupt:
        raise Interrupted(f"sweep {name}: all {len(combos)} runs are done, stopped while "
                          f"{COMPARING.name} compared them; the same command makes it "
                          "again") from None
    print(f"sweep {name}: {len(result.rows) - len(result.failures)} complete, "
          f"{len(result.failures)} failed; see {relative(sweep_dir / 'summary.csv')} and "
          f"{relative(sweep_dir / COMPARING.name)}", flush=True)
    return result


def _run_combinations(combos: list[dict], fixed: dict, sweep_dir: Path, result: SweepResult,
                      fail_fast: bool, progress: bool) -> None:
    for combo in combos:
        run_dir = sweep_dir / combination_name(combo)
        if (run_dir / rundir.METRICS).exists():
            print(f"  {run_dir.name}: already complete, skipped", flush=True)
        else:
            print(f"  {run_dir.name}: running", flush=True)
            (run_dir / rundir.ERROR).unlink(missing_ok=True)
            try:
                run_notebooks(run_dir, {**fixed, **combo}, progress)
            except Exception as exc:  # recorded, and the other combinations still run
                run_dir.mkdir(parents=True, exist_ok=True)
                rundir.write_error(run_dir, {"error": f"{type(exc).__name__}: {exc}",
                                             "traceback": traceback.format_exc()})
                print(f"  {run_dir.name}: FAILED: {exc}", flush=True)
        result.rows.append(_summary_row(combo, run_dir))
        if fail_fast and result.failures:
            break


SUMMARY_FIELDS = ("steps", "train_bpc", "valid_bpc", "best_valid_bpc", "valid_bpc_carried",
                  "chars_per_sec", "training_time_s", "wall_time_s", "peak_rss_mb", "sample")


def _summary_row(combo: dict, run_dir: Path) -> dict:
    row = {"run": run_dir.name, **combo}
    metrics = rundir.read_metrics(run_dir)
    if metrics is not None:
        row.update(status="ok", error="", **{k: metrics.get(k, "") for k in SUMMARY_FIELDS})
    else:
        failure = rundir.read_error(run_dir)
        error = failure.get("error", "") if failure is not None else "did not finish"
        row.update(status="failed", error=error, **dict.fromkeys(SUMMARY_FIELDS, ""))
    return row


def _write_summary(path: Path, rows: list[dict]) -> None:
    fields = list(dict.fromkeys(k for row in rows for k in row))
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, text.getvalue(), "sweep folder")


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
    for command, preset in ((main_cmd, "main"), (sweep_cmd, None)):
        add_parameter_options(command, preset, what="a notebook parameter")
        command.add_argument("--outputs", type=Path, default=None, metavar="DIR",
                             help="where runs/ and sweeps/ go (default: outputs/)")
    args = parser.parse_args(argv)
    try:
        return _command(parser, args)
    except Interrupted as exc:
        print(f"interrupted: {exc}", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr, flush=True)
    return 130  # what a shell reports for a command stopped by Ctrl-C


def _command(parser, args) -> int:
    try:
        fixed = convert_parameters(args.parameter, RUN_PARAMETERS)
        split_parameters(fixed)  # a reserved name is refused before anything runs
        if args.command == "main":
            return main_job(args.name, fixed, args.outputs, args.preset)
        grid = {}
        for name, *values in args.param:
            if not values:
                parser.error(f"--param {name} needs at least one value")
            if name in grid:
                parser.error(f"--param {name} is given twice; list all its values once")
            if name not in RUN_PARAMETERS:
                split_parameters({name: None})  # the message listing the parameters
            grid[name] = [convert(name, v, RUN_PARAMETERS[name]) for v in values]
        grid = paths_from_here(grid)
        result = sweep(grid, fixed, args.name, args.fail_fast, outputs=args.outputs,
                       preset=args.preset)
    except (RunError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a folder that cannot be written, a disk that is full
        where = f" ({relative(exc.filename)})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    if result.failures:
        print(f"error: {len(result.failures)} run(s) failed: "
              f"{', '.join(row['run'] for row in result.failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
