"""A run planned by minutes: how many steps fit a ``time_budget`` on this machine.

``helpers.training`` times a few steps and a validation of the run's own model first (the pace),
then ``plan`` fixes ``max_steps`` so that training with its validations ends within the budget,
the warm-up keeping its share of the steps. The plan is recorded in the run folder
(``plan.json``), so a resumed run keeps the same steps, and the same seed on the same machine
gives the same result. A slower machine gets fewer steps in the same minutes.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from helpers import rundir
from helpers.config import TrainConfig
from helpers.paths import relative

# Kept in hand for what the pace cannot foresee (a checkpoint save, another process's load).
MARGIN = 0.03


@dataclass
class Pace:
    """What the first steps cost on this machine, in seconds."""

    setup: float  # once per session: building the step, the untrained model's measurement
    per_step: float
    per_log: float  # one validation (zero-state and carried) and its bookkeeping
    measuring: float  # the time spent finding all this, already gone from the budget


def steps_that_fit(seconds: float, pace: Pace, log_every: int) -> int:
    """The most steps whose training, validations included, fit in ``seconds``."""
    available = seconds * (1 - MARGIN) - pace.measuring - pace.setup

    def cost(steps: int) -> float:
        logs = math.ceil(steps / log_every)  # every log_every steps, and at the last
        return steps * pace.per_step + logs * pace.per_log

    steps = max(0, math.floor(available / (pace.per_step + pace.per_log / log_every)))
    while steps > 0 and cost(steps) > available:
        steps -= 1
    return steps


def plan(config: TrainConfig, pace: Pace) -> dict:
    """The record of a plan: the budget, the pace it was made from, and the steps it fixes.

    A budget that leaves no room for one step and its validation is a ``ValueError`` saying
    what this machine needs.
    """
    steps = steps_that_fit(config.time_budget * 60, pace, config.log_every)
    if steps < 1:
        least = (pace.measuring + pace.setup + pace.per_step + pace.per_log) / (1 - MARGIN)
        raise ValueError(
            f"time_budget={config.time_budget:g} minutes is too short: on this machine setting "
            f"up takes {pace.setup + pace.measuring:.0f} s, one step {pace.per_step:.2f} s and "
            f"one validation {pace.per_log:.1f} s; give at least {least / 60:.1f} minutes")
    warmup = 0
    if config.warmup_steps:  # its share of the steps max_steps planned it for
        warmup = min(round(config.warmup_steps * steps / config.max_steps), steps - 1)
    return {"time_budget": config.time_budget, "pace": dataclasses.asdict(pace),
            "max_steps": steps, "warmup_steps": warmup}


def with_plan(config: TrainConfig, record: dict) -> TrainConfig:
    """``config`` with the steps ``record`` fixed."""
    return dataclasses.replace(config, max_steps=record["max_steps"],
                               warmup_steps=record["warmup_steps"])


def saved_plan(config: TrainConfig) -> dict | None:
    """The plan recorded in the run folder for this budget, or None if there is none yet; a
    plan made for another budget is refused (the run's steps are fixed)."""
    record = rundir.read_plan(config.run_dir)
    if record is None:
        return None
    if not isinstance(record.get("max_steps"), int) or \
            not isinstance(record.get("warmup_steps"), int):
        raise ValueError(f"{relative(config.run_dir / rundir.PLAN)} is damaged: it has no whole "
                         "max_steps and warmup_steps; delete it to plan again")
    if record.get("time_budget") != config.time_budget:
        raise ValueError(
            f"{relative(config.run_dir)} was planned for time_budget={record.get('time_budget')!r}"
            f" minutes ({record['max_steps']:,} steps), not {config.time_budget!r}: a resumed "
            "run keeps its steps; choose another output_dir to plan afresh")
    return record
