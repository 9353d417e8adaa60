"""A run planned by minutes (``time_budget``): the steps that fit, fixed and recorded once,
kept on resume, and a budget too short for one validation refused in one line."""

import json
import shlex
import shutil
import subprocess

import pytest
from conftest import tiny

from helpers import budget
from helpers.config import TrainConfig
from helpers.paths import REPO_ROOT
from helpers.training import train

PACE = budget.Pace(setup=10.0, per_step=0.5, per_log=4.0, measuring=6.0)


def test_the_steps_that_fit_pay_for_their_validations():
    steps = budget.steps_that_fit(600, PACE, log_every=50)
    available = 600 * (1 - budget.MARGIN) - 16.0

    def cost(n):
        return n * 0.5 + -(-n // 50) * 4.0

    assert cost(steps) <= available < cost(steps + 1)
    # More validations, fewer steps; a slower machine, fewer steps in the same minutes.
    assert budget.steps_that_fit(600, PACE, log_every=10) < steps
    slower = budget.Pace(setup=20.0, per_step=1.0, per_log=8.0, measuring=12.0)
    assert budget.steps_that_fit(600, slower, log_every=50) < steps / 1.9


def test_the_warm_up_keeps_its_share_of_the_planned_steps():
    config = TrainConfig(time_budget=10, max_steps=4000, warmup_steps=200, log_every=250)
    record = budget.plan(config, PACE)
    assert record["warmup_steps"] == round(200 * record["max_steps"] / 4000)
    assert record["pace"]["per_step"] == 0.5 and record["time_budget"] == 10
    assert budget.plan(TrainConfig(time_budget=10), PACE)["warmup_steps"] == 0


def test_a_budget_too_short_for_one_validation_is_refused():
    with pytest.raises(ValueError, match=r"^time_budget=0.3 minutes is too short: on this "
                                         r"machine setting up takes 16 s, one step 0.50 s and "
                                         r"one validation 4.0 s; give at least 0.4 minutes$"):
        budget.plan(TrainConfig(time_budget=0.3), PACE)


@pytest.mark.parametrize("value", [0, -1, float("nan"), True, "15"])
def test_a_budget_is_a_positive_number_of_minutes(value):
    with pytest.raises(ValueError, match="time_budget must be a positive number of minutes"):
        TrainConfig(time_budget=value).validate()


@pytest.mark.slow  # trains for its budget
def test_a_planned_run_fits_its_budget_and_keeps_its_steps_on_resume(tmp_path):
    steps = dict(max_steps=1000, warmup_steps=100, log_every=50, save_every=100)
    config = tiny(tmp_path, time_budget=0.15, **steps)
    history = train(config, progress=False, verbose=False)
    plan = json.loads((tmp_path / "run" / "plan.json").read_text(encoding="utf-8"))
    assert history[-1]["step"] == plan["max_steps"] > 10
    assert plan["warmup_steps"] == round(100 * plan["max_steps"] / 1000)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["max_steps"] == \
        plan["max_steps"]
    # Training, validations included, within the budget (a little over, on a busy machine).
    assert history[-1]["elapsed"] < 0.15 * 60 * 1.5
    # Resumed with the same budget: the same steps, nothing more to train.
    again = train(config, progress=False, verbose=False)
    assert again == history
    with pytest.raises(ValueError, match="was planned for time_budget=0.15 minutes"):
        train(tiny(tmp_path, time_budget=0.3, **steps), progress=False, verbose=False)


@pytest.mark.slow
def test_a_budget_too_short_for_this_machine_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="time_budget=0.001 minutes is too short"):
        train(tiny(tmp_path, time_budget=0.001), progress=False, verbose=False)
    assert not (tmp_path / "run").exists()


@pytest.mark.system  # runs make
def test_make_run_passes_minutes_and_steps_to_the_main_job():
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dry = subprocess.run(["make", "--no-print-directory", "-n", "run", "MINUTES=30",
                          "MAX_STEPS=8000"], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=60)
    assert dry.returncode == 0, dry.stderr
    command = shlex.split(dry.stdout.strip().splitlines()[-1])
    assert command[command.index("main"):] == ["main", "-p", "max_steps", "8000",
                                               "-p", "time_budget", "30"]
