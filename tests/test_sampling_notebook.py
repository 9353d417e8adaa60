"""Notebook 05 executed over and over by papermill never hangs: its interactive sampler builds
its widgets without generating anything while the notebook is executed (papermill issue #723:
a widget whose output is produced during execution could leave the executor waiting for ever).
"""

import time

import papermill
import pytest
from conftest import tiny

from helpers import runs
from helpers.training import train

pytestmark = [pytest.mark.system, pytest.mark.slow]

RUNS = 20
CELL_TIMEOUT_S = 120  # a cell of 05 on a tiny model takes seconds; a hung one, for ever


def test_twenty_executions_of_05_in_a_row_all_finish(tmp_path):
    run_dir = tmp_path / "run"
    train(tiny(tmp_path, max_steps=10), progress=False, verbose=False)
    seconds = []
    for attempt in range(RUNS):
        started = time.perf_counter()
        papermill.execute_notebook(
            str(runs.SAMPLING), str(tmp_path / f"05-{attempt}.ipynb"), kernel_name="python3",
            parameters={"run_dir": str(run_dir), "num_chars": 20, "seed": attempt},
            cwd=str(runs.NOTEBOOKS), progress_bar=False, execution_timeout=CELL_TIMEOUT_S,
            shutdown_kernel="immediate")
        seconds.append(time.perf_counter() - started)
    assert len(seconds) == RUNS
    print(f"\n{RUNS} executions of 05: {min(seconds):.0f} to {max(seconds):.0f} s each")
