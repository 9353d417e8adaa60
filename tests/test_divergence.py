"""A run whose loss stops being a finite number (a rate far too large) stops with a message
naming the step, saves nothing of that state, stays resumable, and is listed as failed; the
files it leaves are strict JSON, and what reads runs back names a damaged one in one line."""

import json
import math
import re

import numpy as np
import pytest
from conftest import tiny

from helpers import comparing, rundir
from helpers.backend import tf
from helpers.checkpoints import DamagedCheckpointError, checkpoint_problem, load_run
from helpers.config import check_sampling_options
from helpers.paths import DamagedFileError, write_json
from helpers.training import TrainingDiverged, train


def strict_json(path):
    """The file's JSON, refusing NaN and Infinity, which JSON has no spelling for."""
    def refuse(constant):
        raise ValueError(f"{path.name} holds {constant}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


@pytest.mark.slow  # trains
@pytest.mark.parametrize("rate, finite", [
    (1e30, True),  # a finite loss, far above blind guessing
    (1e300, False),  # beyond float32: the rate is infinite, the loss not a number
], ids=["1e30", "1e300"])
def test_a_diverging_rate_stops_the_run_before_anything_is_saved(tmp_path, rate, finite):
    with pytest.raises(TrainingDiverged, match=r"training diverged at step \d+: the training "
                                               r"loss is \S+ bits per character .* Lower "
                                               + re.escape(f"learning_rate (now {rate:g})")) \
            as caught:
        train(tiny(tmp_path, max_steps=20, learning_rate=rate), progress=False, verbose=False)
    loss = float(re.search(r"the training loss is (\S+) bits", str(caught.value))[1])
    assert math.isfinite(loss) == finite, loss
    # Diverged before its first checkpoint: nothing of the failed start is left.
    assert not (tmp_path / "run").exists()


@pytest.mark.slow  # trains
def test_a_state_saved_between_logs_is_checked_before_it_is_saved(tmp_path):
    """With save_every=1, step 6 is saved before step 7's loss can show that it diverged: its
    weights near 1e30 are finite, so a checkpoint of them would be taken as good, and every
    resume would start from it and diverge again."""
    run_dir = tmp_path / "run"
    train(tiny(tmp_path, max_steps=5, save_every=1), progress=False, verbose=False)
    with pytest.raises(TrainingDiverged, match=r"training diverged at step 6: the validation "
                                               r"loss is .* keeps its last checkpoint, step 5"):
        train(tiny(tmp_path, max_steps=20, save_every=1, learning_rate=1e30),
              progress=False, verbose=False)
    assert sorted(rundir.checkpoint_files(run_dir / "checkpoints")) == [4, 5]
    assert all(checkpoint_problem(run_dir / "checkpoints" / f"ckpt-{number}") is None
               for number in (4, 5))
    # A sane rate resumes from step 5 and trains, rather than diverging again.
    again = train(tiny(tmp_path, max_steps=10, save_every=1), progress=False, verbose=False)
    assert [row["step"] for row in again] == [0, 5, 10]
    assert all(math.isfinite(row["valid_bpc"]) for row in strict_json(run_dir / "history.json"))
    # A fresh start at that rate saves nothing at all.
    with pytest.raises(TrainingDiverged, match=r"training diverged at step 1: the validation "
                                               r"loss .* no checkpoint was saved"):
        train(tiny(tmp_path, "fresh", max_steps=20, save_every=1, learning_rate=1e30),
              progress=False, verbose=False)
    assert not (tmp_path / "fresh").exists()


@pytest.mark.slow  # trains
def test_a_run_that_diverges_on_resume_keeps_its_last_good_checkpoint(tmp_path):
    good = train(tiny(tmp_path, max_steps=10), progress=False, verbose=False)
    with pytest.raises(TrainingDiverged, match="keeps its last checkpoint, step 10"):
        train(tiny(tmp_path, max_steps=30, learning_rate=1e30, lr_schedule="constant"),
              progress=False, verbose=False)
    run_dir = tmp_path / "run"
    assert rundir.saved_step(run_dir) == 10
    assert checkpoint_problem(run_dir / "checkpoints" / "ckpt-10") is None  # finite weights
    history = strict_json(run_dir / "history.json")
    assert all(math.isfinite(row["train_bpc"]) for row in history)
    assert "TrainingDiverged" in strict_json(run_dir / "error.json")["error"]
    # A sane rate resumes from step 10, as if the diverged attempt had never been.
    again = train(tiny(tmp_path, max_steps=20), progress=False, verbose=False)
    assert [row["step"] for row in again] == [0, 5, 10, 15, 20]
    assert [row["train_bpc"] for row in again[:3]] == [row["train_bpc"] for row in good]
    assert not (run_dir / "error.json").exists()


@pytest.mark.slow  # trains
def test_a_diverged_run_is_listed_as_failed_and_the_rest_compared(tmp_path):
    runs_dir = tmp_path / "runs"
    train(tiny(runs_dir, "good", max_steps=10), progress=False, verbose=False)
    train(tiny(runs_dir, "diverged", max_steps=10), progress=False, verbose=False)
    with pytest.raises(TrainingDiverged):
        train(tiny(runs_dir, "diverged", max_steps=20, learning_rate=1e30),
              progress=False, verbose=False)
    comparison = comparing.read_runs(runs_dir)
    assert [run.name for run in comparison.finished] == ["good"]
    [failed] = comparison.failed
    assert failed.name == "diverged" and "training diverged at step" in failed.error
    assert "failed" in comparison.table()


@pytest.mark.slow  # trains
def test_a_checkpoint_holding_nan_weights_is_damaged(tmp_path):
    train(tiny(tmp_path, max_steps=10), progress=False, verbose=False)
    run = load_run(tmp_path / "run")
    kernel = run.model.trainable_variables[0]
    kernel.assign(tf.fill(kernel.shape, np.nan))
    prefix = tmp_path / "nan" / "ckpt-1"
    tf.train.Checkpoint(model=run.model).write(str(prefix))
    assert "not finite numbers (the run diverged)" in checkpoint_problem(prefix)
    checkpoints = tmp_path / "run" / "checkpoints"
    for path in checkpoints.glob("ckpt-10.*"):  # the run's only checkpoint, now all NaN
        path.write_bytes((tmp_path / "nan" / path.name.replace("ckpt-10", "ckpt-1"))
                         .read_bytes())
    with pytest.raises(DamagedCheckpointError, match="not finite numbers"):
        load_run(tmp_path / "run")


def test_files_are_strict_json():
    with pytest.raises(ValueError, match="not JSON compliant"):
        write_json("/nonexistent/never-written.json", {"valid_bpc": float("nan")})


@pytest.mark.parametrize("rows, message", [
    ([1, 2], "row 0 is int 1, not an object"),
    ([{"train_bpc": 1.0, "valid_bpc": 1.0}], "row 0 has no whole step number"),
    ([{"step": 0, "train_bpc": 1.0, "valid_bpc": None}], "row 0 (step 0) has no number for "
                                                         "valid_bpc"),
    # Resuming reads the last row's elapsed, and collect_metrics the training time from it.
    ([{"step": 0, "train_bpc": 1.0, "valid_bpc": 1.0}], "row 0 (step 0) has no number for "
                                                        "elapsed (None)"),
    ([{"step": 0, "train_bpc": 1.0, "valid_bpc": 1.0, "elapsed": 0.0},
      {"step": 5, "train_bpc": 1.0, "valid_bpc": 1.0, "elapsed": "3 s"}],
     "row 1 (step 5) has no number for elapsed ('3 s')"),
    ([{"step": 0, "train_bpc": 1.0, "valid_bpc": 1.0, "elapsed": 0.0, "chars_per_sec": "fast"}],
     "row 0 (step 0) has 'fast' for chars_per_sec, not a number"),
    ([{"step": 0, "train_bpc": 1.0, "valid_bpc": 1.0, "elapsed": 0.0, "peak_rss_mb": None}],
     "row 0 (step 0) has None for peak_rss_mb, not a number"),
], ids=["not objects", "no step", "no valid_bpc", "no elapsed", "elapsed not a number",
        "chars_per_sec not a number", "peak_rss_mb None"])
def test_history_rows_that_are_not_rows_are_named(tmp_path, rows, message):
    (tmp_path / "history.json").write_text(json.dumps(rows), encoding="utf-8")
    with pytest.raises(DamagedFileError, match=f"history.json is damaged: {re.escape(message)}"):
        rundir.read_history(tmp_path)
    with pytest.raises(DamagedFileError, match="history.json is damaged"):
        comparing.collect_metrics(tmp_path)


@pytest.mark.parametrize("temperature", [1e300, float("inf"), 3.5e38])
def test_a_temperature_beyond_float32_is_refused(temperature):
    with pytest.raises(ValueError, match="temperature must be"):
        check_sampling_options(temperature)
    check_sampling_options(3.4e38)  # the largest float32 still works
