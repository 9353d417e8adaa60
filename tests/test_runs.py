"""helpers.runs and the papermill side of notebooks 04-06, with real notebook executions.

Every notebook run costs a kernel start and a TensorFlow import (about 20 s on 2 cores), so
the runs are shared: one sweep of two tiny combinations, killed after its first run and run
again, serves the sweep, resume and comparison tests; the failing sweep reuses its finished
run. Sizes are tiny; ``max_steps`` is 100 because 04's summary cell looks for a log at step
100 or later.
"""

import contextlib
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import nbformat
import papermill
import pytest

from helpers import runs
from helpers.config import LESSON_OFF, PRESETS
from helpers.paths import REPO_ROOT, relative, resolve_from_root, write_json

pytestmark = pytest.mark.system

# 04's lesson trainings (the original's port, the overfitting runs) are not under test here.
TINY = {"hidden_nodes": 8, "batch_size": 4, "len_per_section": 16, "log_every": 50,
        "save_every": 50, "num_chars": 20, "show_original": False,
        "show_overfitting": False}
TINY_ARGS = [arg for name, value in TINY.items() for arg in ("-p", name, str(value))]
TRAINING_TINY = {k: v for k, v in TINY.items() if k != "num_chars"}
METRICS_FIELDS = {"steps", "train_bpc", "valid_bpc", "best_valid_bpc", "valid_bpc_carried",
                  "chars_per_sec",
                  "training_time_s", "wall_time_s", "peak_rss_mb", "sample", "prompt",
                  "config", "parameters"}


def sigint_as_in_a_terminal():
    """Ctrl-C's default action in the child, as a terminal gives it: a shell that started the
    tests in the background leaves SIGINT ignored, and an ignored signal is inherited, so
    Python would never raise KeyboardInterrupt there."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def read_json(path):
    return json.loads(path.read_text("utf-8"))


def read_summary(path):
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def errors_in(notebook_path):
    nb = nbformat.read(notebook_path, as_version=4)
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
            if out.output_type == "error"]


def stdout_of(notebook_path):
    nb = nbformat.read(notebook_path, as_version=4)
    return "".join(out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
                   for out in cell.outputs if out.output_type == "stream")


def sweep_command(outputs, *args):
    return [sys.executable, "-m", "helpers.runs", "sweep", "--outputs", str(outputs), *args]


def kernels_started_by(pid):
    """Jupyter kernels launched by process ``pid`` (they run in sessions of their own)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                environ = f.read().split(b"\0")
        except OSError:
            continue
        if f"JPY_PARENT_PID={pid}".encode() in environ:
            found.append(int(entry))
    return found


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    return tmp_path_factory.mktemp("outputs")


@pytest.fixture(scope="module")
def resumed_sweep(outputs):
    """A sweep killed (SIGKILL) during its second run, then run again."""
    command = sweep_command(outputs, "--name", "tiny", "--param", "max_steps", "100", "120",
                            *TINY_ARGS)
    sweep_dir = outputs / "sweeps" / "tiny"
    first, second = sweep_dir / "max_steps=100", sweep_dir / "max_steps=120"
    log_path = outputs / "killed.log"
    started = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            # Killed once the first run is complete and the second is training.
            while not (first / "metrics.json").exists() or not (second / "config.json").exists():
                assert proc.poll() is None, f"the sweep ended early:\n{log_path.read_text()}"
                assert time.perf_counter() - started < 300, "the sweep took over 5 min"
                time.sleep(0.1)
        finally:
            with contextlib.suppress(ProcessLookupError):  # it may have ended by itself
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            # A kernel runs in its own session; it would exit by itself once it notices
            # that its parent died, but it must not write into the run meanwhile.
            for pid in kernels_started_by(proc.pid):
                os.kill(pid, signal.SIGKILL)
    assert not (second / "metrics.json").exists()
    before = {name: (first / name).stat().st_mtime_ns
              for name in ("04_training.ipynb", "05_sampling.ipynb", "metrics.json")}
    rerun = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    fields, rows = read_summary(sweep_dir / "summary.csv")
    comparison = sweep_dir / runs.COMPARING.name
    return SimpleNamespace(
        dir=sweep_dir, first=first, second=second, mtimes_before=before, rerun=rerun,
        killed_log=log_path.read_text(), fields=fields, rows=rows,
        # Later tests extend this sweep: keep what it wrote now.
        comparison_errors=errors_in(comparison), comparison_text=stdout_of(comparison))


def test_sweep_writes_summary_metrics_notebooks_and_comparison(resumed_sweep):
    sweep = resumed_sweep
    assert sweep.rerun.returncode == 0, sweep.rerun.stdout + sweep.rerun.stderr
    assert sweep.fields[:4] == ["run", "max_steps", "status", "error"]
    assert set(runs.SUMMARY_FIELDS) <= set(sweep.fields)
    assert [(r["run"], r["max_steps"], r["status"]) for r in sweep.rows] == [
        ("max_steps=100", "100", "ok"), ("max_steps=120", "120", "ok")]
    for row, run_dir, steps in zip(sweep.rows, (sweep.first, sweep.second), (100, 120),
                                   strict=True):
        metrics = read_json(run_dir / "metrics.json")
        assert set(metrics) == METRICS_FIELDS
        assert metrics["steps"] == int(row["steps"]) == steps
        assert metrics["parameters"] == {**TINY, "max_steps": steps}
        assert metrics["config"]["hidden_nodes"] == 8
        assert metrics["config"]["output_dir"] == relative(run_dir)
        assert 0 < metrics["valid_bpc"] == float(row["valid_bpc"]) < 9
        assert metrics["wall_time_s"] > metrics["training_time_s"] > 0
        for notebook in ("04_training.ipynb", "05_sampling.ipynb"):
            assert (run_dir / notebook).exists() and not errors_in(run_dir / notebook)
        samples = read_json(run_dir / "samples.json")
        assert samples["step"] == steps
        assert len(samples["samples"][0]["text"]) == TINY["num_chars"]
        assert metrics["sample"] == row["sample"] == samples["samples"][0]["text"]
    assert not sweep.comparison_errors
    assert "2 finished, 0 failed" in sweep.comparison_text
    assert "no failed runs" in sweep.comparison_text


def test_killed_sweep_resumes_without_redoing_finished_runs(resumed_sweep):
    sweep = resumed_sweep
    assert "max_steps=120: running" in sweep.killed_log
    assert "sweep tiny: 2 complete" not in sweep.killed_log
    out = sweep.rerun.stdout
    assert "max_steps=100: already complete, skipped" in out
    assert "max_steps=120: running" in out
    after = {name: (sweep.first / name).stat().st_mtime_ns for name in sweep.mtimes_before}
    assert after == sweep.mtimes_before
    assert [row["step"] for row in read_json(sweep.second / "history.json")] == [0, 50, 100, 120]
    # The killed execution's temporary notebook is gone too.
    assert not list(sweep.dir.rglob("*.running.ipynb"))


def test_same_max_steps_prefix_trains_identically(resumed_sweep):
    """The claim notebook 06 makes: runs that differ in max_steps share their first steps."""
    short = read_json(resumed_sweep.first / "history.json")
    long = read_json(resumed_sweep.second / "history.json")
    for a, b in zip(short, long, strict=False):
        assert (a["step"], a["train_bpc"], a["valid_bpc"]) == \
            (b["step"], b["train_bpc"], b["valid_bpc"])


def test_complete_run_with_other_parameters_is_not_reused(resumed_sweep, outputs):
    with pytest.raises(ValueError, match=r"max_steps=100 was run with other parameters "
                                         r"\(hidden_nodes: 8 there, 16 now"):
        runs.sweep({"max_steps": [100]}, {**TINY, "hidden_nodes": 16}, name="tiny",
                   outputs=outputs, progress=False)


@pytest.fixture(scope="module")
def failing_sweep(resumed_sweep, outputs):
    """The same sweep extended by a value that fails; max_steps=100 is reused, not rerun."""
    before = resumed_sweep.first.joinpath("04_training.ipynb").stat().st_mtime_ns
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = runs.main(["sweep", "--outputs", str(outputs), "--name", "tiny",
                          "--param", "max_steps", "100", "-5", *TINY_ARGS])
    return SimpleNamespace(code=code, dir=resumed_sweep.dir, first=resumed_sweep.first,
                           mtime_before=before, out=out.getvalue(), err=err.getvalue())


def test_failing_combination_is_recorded_and_the_others_still_run(failing_sweep):
    sweep = failing_sweep
    assert sweep.code == 1
    assert "max_steps=100: already complete, skipped" in sweep.out
    assert "1 run(s) failed: max_steps=-5" in sweep.err
    assert sweep.first.joinpath("04_training.ipynb").stat().st_mtime_ns == sweep.mtime_before
    failed = sweep.dir / "max_steps=-5"
    error = read_json(failed / "error.json")
    assert "max_steps must be a positive integer, got -5" in error["error"] and error["traceback"]
    # Refused before its notebooks ran: nothing was trained or executed for it.
    assert not (failed / "04_training.failed.ipynb").exists()
    assert not (failed / "metrics.json").exists()
    _, rows = read_summary(sweep.dir / "summary.csv")
    assert [(r["run"], r["status"]) for r in rows] == [("max_steps=100", "ok"),
                                                      ("max_steps=-5", "failed")]
    assert "max_steps must be a positive integer" in rows[1]["error"]
    # 06 ran on the sweep anyway, and lists the failure with its message.
    comparison = sweep.dir / runs.COMPARING.name
    assert not errors_in(comparison)
    text = stdout_of(comparison)
    assert "1 finished, 1 failed" in text
    assert "max_steps=-5:\n    ValueError: max_steps must be a positive integer, got -5" in text


def test_fail_fast_stops_at_the_first_failure(outputs, capsys):
    code = runs.main(["sweep", "--outputs", str(outputs), "--name", "failfast", "--fail-fast",
                      "--param", "learning_rate", "-5", "0.01", *TINY_ARGS])
    err = capsys.readouterr().err
    assert code == 1 and "learning_rate=-5.0" in err
    sweep_dir = outputs / "sweeps" / "failfast"
    error = read_json(sweep_dir / "learning_rate=-5.0" / "error.json")["error"]
    assert "learning_rate must be a positive number, got -5.0" in error
    assert not (sweep_dir / "learning_rate=0.01").exists()
    assert not (sweep_dir / runs.COMPARING.name).exists()
    _, rows = read_summary(sweep_dir / "summary.csv")
    assert [(r["run"], r["status"]) for r in rows] == [("learning_rate=-5.0", "failed")]


def test_comparison_without_a_sweep_reads_run_directories(resumed_sweep, tmp_path):
    """06's default: the runs under a folder, as 04 and 05 leave outputs/runs/notebook (no
    metrics.json) in a fresh clone."""
    runs_dir = tmp_path / "runs"
    for run_dir in (resumed_sweep.first, resumed_sweep.second):
        shutil.copytree(run_dir, runs_dir / run_dir.name)
    (runs_dir / "max_steps=120" / "metrics.json").unlink()
    (runs_dir / "unfinished").mkdir()
    executed = tmp_path / "06.ipynb"
    papermill.execute_notebook(str(runs.COMPARING), str(executed), kernel_name="python3",
                               parameters={"sweep_dir": None, "runs_dir": str(runs_dir)},
                               cwd=str(runs.NOTEBOOKS), progress_bar=False,
                               execution_timeout=runs.CELL_TIMEOUT_S[runs.COMPARING.name])
    text = stdout_of(executed)
    assert "sweep_dir is None: comparing the runs under" in text
    assert "2 finished, 1 failed" in text
    assert "no metrics.json in max_steps=120: figures computed from history.json" in text
    assert "unfinished:\n    no history.json" in text
    # The settings in which the runs differ stand in for the swept parameters.
    assert "the runs differ in: max_steps\n" in text


def test_comparison_of_a_missing_sweep_says_how_to_make_one(tmp_path):
    with pytest.raises(papermill.PapermillExecutionError) as caught:
        papermill.execute_notebook(str(runs.COMPARING), str(tmp_path / "06.ipynb"),
                                   parameters={"sweep_dir": "outputs/sweeps/no-such-sweep"},
                                   kernel_name="python3", cwd=str(runs.NOTEBOOKS),
                                   progress_bar=False,
                                   execution_timeout=runs.CELL_TIMEOUT_S[runs.COMPARING.name])
    assert caught.value.ename == "FileNotFoundError"
    assert "'outputs/sweeps/no-such-sweep' does not exist" in caught.value.evalue
    assert "python -m helpers.runs sweep --param" in caught.value.evalue


@pytest.mark.parametrize("cwd", ["repo root", "notebooks"])
def test_plain_papermill_trains_from_any_working_directory(cwd, tmp_path):
    folder = REPO_ROOT if cwd == "repo root" else REPO_ROOT / "notebooks"
    notebook = os.path.relpath(runs.TRAINING, folder)
    run_dir = tmp_path / "run"
    args = [arg for name, value in {**TRAINING_TINY, "max_steps": 100}.items()
            for arg in ("-p", name, str(value))]
    # A relative output_dir means relative to the repository root, whatever the cwd.
    result = subprocess.run([sys.executable, "-m", "papermill", notebook,
                             str(tmp_path / "04.ipynb"), *args, "-p", "output_dir",
                             relative(run_dir), "--no-progress-bar"],
                            cwd=folder, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not errors_in(tmp_path / "04.ipynb")
    assert [row["step"] for row in read_json(run_dir / "history.json")] == [0, 50, 100]
    assert read_json(run_dir / "config.json")["batch_size"] == 4


def test_plain_papermill_names_a_bad_parameter(tmp_path):
    executed = tmp_path / "04.ipynb"
    result = subprocess.run(
        [sys.executable, "-m", "papermill", "notebooks/04_training.ipynb", str(executed),
         "-p", "batch_size", "0", "-p", "output_dir", str(tmp_path / "run"),
         "--no-progress-bar"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    assert "batch_size must be a positive integer, got 0" in result.stderr
    [error] = errors_in(executed)
    assert error.ename == "ValueError"
    assert error.evalue == "batch_size must be a positive integer, got 0"
    assert not (tmp_path / "run").exists()  # stopped before any work


FAKE_METRICS = {"valid_bpc": 2.5, "valid_bpc_carried": 2.4, "steps": 30,
                "training_time_s": 1.0, "chars_per_sec": 1e3, "peak_rss_mb": 100.0, "prompt": "I",
                "sample": " am well @-@ known , as ( they ) say"}



def test_main_trains_with_the_main_preset_under_the_p_values(monkeypatch, tmp_path, capsys):
    """One preset, helpers.config.PRESETS["main"]: no notebook runs here, the parameters
    handed to them are checked."""

    seen = []
    monkeypatch.setattr(runs, "run_notebooks",
                        lambda run_dir, parameters, progress=True: seen.append(parameters)
                        or FAKE_METRICS)
    assert runs.main(["main", "--outputs", str(tmp_path), "-p", "max_steps", "30"]) == 0
    assert runs.main(["main", "--outputs", str(tmp_path), "--preset", "main"]) == 0
    lesson = LESSON_OFF  # 04's lesson trainings are not the main job's
    # The preset's warm-up keeps its share of the run: 200 of 4,000 steps, 2 of 30.
    by_steps = {k: v for k, v in PRESETS["main"].items() if k != "time_budget"}
    assert seen == [{**lesson, **by_steps, "max_steps": 30, "warmup_steps": 2},
                    {**lesson, **PRESETS["main"]}]
    out = capsys.readouterr().out
    assert ("valid BPC 2.400 with the state carried through the text (2.500 with each section "
            "from a zero state) after 30 steps") in out
    assert f"{PRESETS['main']['hidden_nodes']} units at 1,000 chars/s" in out
    # The sample as a reader reads it: WikiText's spacing undone (encoding.detokenize).
    assert "sample: I am well-known, as (they) say\n" in out


def test_a_sweep_takes_a_preset_under_its_swept_values(monkeypatch, tmp_path, capsys):

    seen = []

    def fail(run_dir, parameters, progress=True):
        seen.append(parameters)
        raise ValueError("not run here")

    monkeypatch.setattr(runs, "run_notebooks", fail)
    assert runs.main(["sweep", "--outputs", str(tmp_path), "--preset", "main", "--fail-fast",
                      "--param", "max_steps", "30", "60", "-p", "hidden_nodes", "8"]) == 1
    by_steps = {k: v for k, v in PRESETS["main"].items() if k != "time_budget"}
    assert seen == [{**LESSON_OFF, **by_steps, "hidden_nodes": 8, "max_steps": 30}]
    runs.main(["sweep", "--outputs", str(tmp_path), "--name", "plain", "--fail-fast",
               "--param", "max_steps", "30"])
    assert seen[-1] == {**LESSON_OFF, "max_steps": 30}  # no preset unless asked for
    capsys.readouterr()


def test_unknown_parameter_lists_the_valid_ones(tmp_path, capsys):
    code = runs.main(["sweep", "--outputs", str(tmp_path), "--param", "hidden_nodez", "8", "16"])
    err = capsys.readouterr().err
    assert code == 1
    assert "unknown parameter(s) hidden_nodez" in err
    assert "04_training takes " in err and "batch_size, " in err and "hidden_nodes" in err
    assert "05_sampling takes" in err and "temperature" in err
    assert "output_dir" not in err and "run_dir" not in err  # set by helpers.runs itself
    assert not any(tmp_path.iterdir())  # nothing ran
    assert runs.main(["main", "--outputs", str(tmp_path), "-p", "max_step", "5"]) == 1
    assert "unknown parameter(s) max_step" in capsys.readouterr().err


def test_a_run_prints_no_kernel_transport_warning_and_still_reports_errors(tmp_path):
    """The kernel's "running over TCP without encryption" warning is not printed; a failing
    cell still is reported, and its stderr kept in the notebook. A tiny notebook, no
    TensorFlow; a process of its own, so that the kernel's stderr is what a terminal sees."""
    cells = ["import sys\nprint('a warning of ours', file=sys.stderr)", "print('fine')",
             "raise ValueError('boom')"]
    for name, sources in (("good", cells[:2]), ("bad", cells)):
        notebook = nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_code_cell(source) for source in sources],
            metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}})
        nbformat.write(notebook, tmp_path / f"{name}.ipynb")
    code = ("import sys; from pathlib import Path; from helpers import runs\n"
            "name = sys.argv[1]; here = Path(sys.argv[2])\n"
            "try:\n"
            "    runs._execute(here / f'{name}.ipynb', here / f'{name}.out.ipynb', {}, False)\n"
            "except runs.RunError as exc:\n"
            "    print(f'error: {exc}', file=sys.stderr); sys.exit(1)\n")
    done = {name: subprocess.run([sys.executable, "-c", code, name, str(tmp_path)], cwd=REPO_ROOT,
                                 capture_output=True, text=True, timeout=120)
            for name in ("good", "bad")}
    assert done["good"].returncode == 0, done["good"].stderr
    assert "a warning of ours" in stdout_of(tmp_path / "good.out.ipynb")  # kept, as stderr
    assert done["bad"].returncode == 1
    assert "bad.ipynb failed in cell 3: ValueError: boom" in done["bad"].stderr
    [error] = errors_in(tmp_path / "bad.out.failed.ipynb")
    assert error.evalue == "boom"
    for result in done.values():
        assert "running over TCP" not in result.stderr and "IPKernelApp" not in result.stderr


@pytest.mark.parametrize("argv, message", [
    (["-p", "output_dir", "x", "--param", "max_steps", "1"], "helpers.runs chooses the run"),
    (["-p", "max_steps", "5", "--param", "max_steps", "1", "2"], "both swept (--param) and "
                                                                  "fixed (-p)"),
    (["--param", "train_split", "../x"], "cannot name a directory"),
])
def test_sweep_rejects_inconsistent_requests(argv, message, tmp_path, capsys):
    assert runs.main(["sweep", "--outputs", str(tmp_path), *argv]) == 1
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_parameter_given_twice_is_a_usage_error(tmp_path):
    with pytest.raises(SystemExit) as caught:
        runs.main(["sweep", "--outputs", str(tmp_path), "--param", "max_steps", "1",
                   "--param", "max_steps", "2"])
    assert caught.value.code == 2


@pytest.mark.parametrize("command, name", [
    ("main", "../x"), ("main", ""), ("main", "a/b"), ("main", "."), ("main", ".."),
    ("sweep", "../x"), ("sweep", ""),
])
def test_a_run_name_must_be_one_folder_under_outputs(command, name, tmp_path, capsys):
    outputs = tmp_path / "outputs"
    sweep = ["--param", "max_steps", "1"] if command == "sweep" else []
    assert runs.main([command, "--outputs", str(outputs), "--name", name, *sweep]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --name ") and "Traceback" not in err
    assert not any(tmp_path.iterdir())  # nothing written, inside outputs/ or beside it


def run_main(outputs, name, *args):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = runs.main(["main", "--outputs", str(outputs), "--name", name, *TINY_ARGS, *args])
    return SimpleNamespace(code=code, out=out.getvalue(), err=err.getvalue())


@pytest.fixture(scope="module")
def finished_main(outputs):
    """The main job with tiny settings, trained to step 100."""
    done = run_main(outputs, "good", "-p", "max_steps", "100")
    assert done.code == 0, done.out + done.err
    return outputs / "runs" / "good"


def contents(run_dir, *names):
    return {name: (run_dir / name).read_bytes() for name in names}


def test_a_lower_max_steps_on_a_finished_run_says_so_and_ends_calmly(finished_main, outputs):
    """`make run MAX_STEPS=100` after more steps failed on a bare AssertionError in 04."""
    before = contents(finished_main, "04_training.ipynb", "history.json")
    done = run_main(outputs, "good", "-p", "max_steps", "50")
    assert done.code == 0, done.out + done.err
    assert "is already trained to step 100 (max_steps=50): nothing to train; its executed " \
           "04_training.ipynb is kept" in done.out
    assert "valid BPC" in done.out and "after 100 steps" in done.out
    assert contents(finished_main, "04_training.ipynb", "history.json") == before
    assert not errors_in(finished_main / "05_sampling.ipynb")
    assert "trained with" not in done.out
    # A rate a resume may change is named, since the finished model was not trained with it.
    rate = read_json(finished_main / "config.json")["learning_rate"]
    faster = run_main(outputs, "good", "-p", "max_steps", "50", "-p", "learning_rate",
                      str(rate * 2))
    assert faster.code == 0, faster.out + faster.err
    assert (f"nothing to train; its executed 04_training.ipynb is kept; its model was trained "
            f"with learning_rate {rate!r} (now {rate * 2!r}): another --name trains with the "
            "settings now") in faster.out
    assert contents(finished_main, "04_training.ipynb", "history.json") == before
    # A run from before adam_beta2 existed (no such key in its config.json) was trained with
    # the default, and is named as such.
    config = read_json(finished_main / "config.json")
    del config["adam_beta2"]
    (finished_main / "config.json").write_text(json.dumps(config), encoding="utf-8")
    older = run_main(outputs, "good", "-p", "max_steps", "50", "-p", "adam_beta2", "0.95")
    assert older.code == 0, older.out + older.err
    assert "its model was trained with adam_beta2 0.999 (now 0.95)" in older.out
    # Settings a resume cannot change are still refused, as 04 would refuse them.
    other = run_main(outputs, "good", "-p", "max_steps", "50", "-p", "hidden_nodes", "16")
    assert other.code == 1 and "hidden_nodes: 8 there, 16 now" in other.err


def test_a_failed_rerun_never_replaces_the_executed_notebooks_of_a_good_one(finished_main,
                                                                         outputs):
    kept = ("04_training.ipynb", "05_sampling.ipynb", "metrics.json")
    before = contents(finished_main, *kept)
    # 04 fails as it trains: no batch of that size fits the text.
    training = run_main(outputs, "good", "-p", "max_steps", "150", "-p", "batch_size", "100000")
    assert training.code == 1
    assert "04_training.ipynb failed in cell" in training.err
    assert "good/04_training.failed.ipynb)" in training.err
    [error] = errors_in(finished_main / "04_training.failed.ipynb")
    assert error.ename == "ValueError" and "batch_size=100,000" in error.evalue
    assert contents(finished_main, *kept) == before


def test_both_notebooks_parameters_are_checked_before_either_runs(finished_main, outputs):
    kept = ("04_training.ipynb", "05_sampling.ipynb", "metrics.json", "history.json")
    before = contents(finished_main, *kept)
    for name, value, message in (("temperature", "-1", "temperature must be 0 (greedy) or "
                                                       "positive, got -1.0"),
                                 ("learning_rate", "-1", "learning_rate must be a positive"),
                                 ("num_chars", "0", "num_chars must be a positive integer")):
        done = run_main(outputs, "good", "-p", "max_steps", "150", "-p", name, value)
        assert done.code == 1 and message in done.err and "Traceback" not in done.err
        assert "training:" not in done.out  # refused before 04 ran
    assert contents(finished_main, *kept) == before
    assert not list(finished_main.glob(".*.running.ipynb"))


def test_ctrl_c_during_a_sweep_says_in_one_line_what_was_finished(finished_main, outputs):
    sweep_dir = outputs / "sweeps" / "ctrl-c"
    first = shutil.copytree(finished_main, sweep_dir / "max_steps=100")
    metrics = read_json(first / "metrics.json")  # as the sweep would have run it
    write_json(first / "metrics.json", {**metrics, "parameters": {**TINY, "max_steps": 100}})
    second = sweep_dir / "max_steps=100000"
    proc = subprocess.Popen(sweep_command(outputs, "--name", "ctrl-c", "--param", "max_steps",
                                          "100", "100000", *TINY_ARGS),
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True,
                            preexec_fn=sigint_as_in_a_terminal)
    try:
        started = time.perf_counter()
        while not (second / "history.json").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.perf_counter() - started < 300, "the second run did not start in 5 min"
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130
    assert "max_steps=100: already complete, skipped" in out
    assert err.strip().splitlines()[-1] == (
        "interrupted: sweep ctrl-c stopped with 1 of 2 runs complete (max_steps=100); the "
        "same command resumes, skipping those")
    assert "Traceback" not in err
    assert not list(sweep_dir.rglob("*.running.ipynb"))
    deadline = time.monotonic() + 30
    while kernels_started_by(proc.pid):
        assert time.monotonic() < deadline, "the kernel outlived the sweep"
        time.sleep(0.2)


def test_make_run_over_a_damaged_checkpoint_says_which_it_used(finished_main, outputs):
    """The kernel's warning reaches the terminal. (Runs last: it trains finished_main on.)"""
    [data] = (finished_main / "checkpoints").glob("ckpt-100.data-*")
    data.write_bytes(data.read_bytes()[:50])  # a disk that filled up, a kill mid-write
    done = run_main(outputs, "good", "-p", "max_steps", "150")
    assert done.code == 0, done.out + done.err
    assert "    helpers.checkpoints:0: CheckpointWarning: checkpoint ckpt-100 in " in done.err
    assert "using ckpt-50, the newest intact one, instead; its files are now in" in done.err
    steps = [row["step"] for row in read_json(finished_main / "history.json")]
    assert steps == [0, 50, 100, 150]


def test_the_command_line_reaches_04s_parameters_typed_by_their_fields(monkeypatch, tmp_path,
                                                                       capsys):
    """`-p show_original false` reaches 04 as False (the string 'false' would be true and run
    the port), `-p text_file 1984` as the name of a file (not the number 1984), and a value that
    does not convert is refused naming its field before any notebook runs. papermill does not
    start here: what it would inject into each notebook is recorded."""
    executed = []

    def execute_notebook(input_path, output_path, parameters=None, **options):
        executed.append((os.path.basename(input_path), dict(parameters or {})))
        nbformat.write(nbformat.v4.new_notebook(), output_path)

    monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)
    monkeypatch.setattr(runs, "collect_metrics", lambda run_dir: dict(FAKE_METRICS))
    monkeypatch.chdir(tmp_path)  # a relative text_file names a file of the current folder
    (tmp_path / "1984").write_text("It was a bright cold day in April. " * 300, "utf-8")
    outputs = ["--outputs", str(tmp_path / "outputs")]

    assert runs.main(["main", "-p", "show_original", "false", "-p", "text_file", "1984",
                      *outputs]) == 0
    [(first, training), (second, sampling)] = executed
    assert (first, second) == ("04_training.ipynb", "05_sampling.ipynb")
    assert training["show_original"] is False
    assert type(training["text_file"]) is str
    assert resolve_from_root(training["text_file"]) == tmp_path / "1984"
    assert "text_file" not in sampling and "show_original" not in sampling
    # The lesson's port is off in the main job anyway: asked for, it is True, not a string.
    executed.clear()
    assert runs.main(["main", "--name", "port", "-p", "show_original", "TRUE", *outputs]) == 0
    assert executed[0][1]["show_original"] is True

    executed.clear()
    capsys.readouterr()
    assert runs.main(["main", "-p", "max_steps", "1.5", *outputs]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: max_steps must be ") and "'1.5'" in line
    assert not executed
