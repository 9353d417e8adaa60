"""MultiWorkerMirroredStrategy: two real worker processes on 127.0.0.1, configured by TF_CONFIG.

Each worker is a ``python -m helpers.distributed worker`` subprocess on CPU;
``run_local_workers`` waits for them with a time limit and kills any that are left, whatever
happens, and its ``WorkersFailed`` error carries the end of every worker's stderr.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers.distributed import (
    WorkersFailed,
    free_ports,
    make_strategy,
    parse_tf_config,
    run_local_workers,
)
from helpers.paths import REPO_ROOT

pytestmark = pytest.mark.system

# Tiny settings, as in test_training: these tests check the mechanics, not the quality.
TINY = dict(batch_size=8, len_per_section=20, hidden_nodes=16, valid_chars=2_000,
            learning_rate=1e-2, max_steps=6, log_every=1, save_every=3)
# Same global batch, gradients summed across the workers, clipped once: the same numbers as
# one process up to float reassociation (the sum over 8 rows becomes two sums over 4, added
# by the all-reduce), measured at ~1e-7 relative. 1e-4 is the MirroredStrategy test's
# tolerance and leaves room for Adam to amplify that over a few steps, while any batch mistake
# (a worker training on the whole batch, or on another worker's rows) is off by far more.
LOSS_RTOL = 1e-4
WORKER_TIMEOUT_S = 240  # a generous bound; the two workers take ~30-50 s on 2 busy cores
CPU_ONLY = {"CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"}


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_two_workers_match_one_process_and_only_the_chief_writes(tmp_path):
    from helpers.checkpoints import load_run
    from helpers.config import TrainConfig
    from helpers.training import train

    chief_dir, other_dir = tmp_path / "run", tmp_path / "non-chief-view"
    worker_tmp = tmp_path / "worker-tmp"
    worker_tmp.mkdir()
    config = TrainConfig(**TINY, output_dir=str(chief_dir)).to_json()
    # The non-chief gets a run directory of its own, which must never come into being: so
    # anything it wrote (files, checkpoints) would show. Normally both get the same one.
    results = run_local_workers([config, {**config, "output_dir": str(other_dir)}],
                                timeout=WORKER_TIMEOUT_S,
                                env={**CPU_ONLY, "TMPDIR": str(worker_tmp)})
    chief, other = (r.last_json() for r in results)
    assert (chief["task"], chief["chief"], other["task"], other["chief"]) == \
        ("worker:0", True, "worker:1", False)

    single = train(TrainConfig(**TINY, output_dir=str(tmp_path / "single")), progress=False,
                   verbose=False)
    losses = [row["train_bpc"] for row in chief["history"]]
    expected = [row["train_bpc"] for row in single]
    assert len(losses) == len(expected) == TINY["max_steps"] + 1  # and step 0, untrained
    print(f"max relative loss difference, 2 workers vs 1 process: "
          f"{np.max(np.abs(np.array(losses) / expected - 1)):.2e}")
    np.testing.assert_allclose(losses, expected, rtol=LOSS_RTOL)
    # The all-reduce hands both workers the same sums, so they agree exactly.
    assert [row["train_bpc"] for row in other["history"]] == losses
    assert [row["valid_bpc"] for row in other["history"]] == \
        [row["valid_bpc"] for row in chief["history"]]

    # The chief wrote everything, once; the non-chief nothing, and left no scratch behind.
    assert sorted(p.name for p in chief_dir.iterdir()) == \
        ["checkpoints", "config.json", "history.json", "vocabulary.json"]
    assert sorted(p.name for p in (chief_dir / "checkpoints").iterdir()) == [
        "checkpoint", "ckpt-3.data-00000-of-00001", "ckpt-3.index",
        "ckpt-6.data-00000-of-00001", "ckpt-6.index"]
    assert json.loads((chief_dir / "history.json").read_text()) == chief["history"]
    assert not other_dir.exists()
    assert list(worker_tmp.iterdir()) == []
    run = load_run(chief_dir)
    assert run.step == TINY["max_steps"]
    for a, b in zip(run.model.get_weights(), load_run(tmp_path / "single").model.get_weights(),
                    strict=True):
        np.testing.assert_allclose(a, b, rtol=LOSS_RTOL, atol=1e-5)
    assert all(_gone(r.pid) for r in results)


def test_a_failing_worker_stops_them_all_and_says_why(tmp_path):
    from helpers.config import TrainConfig

    config = TrainConfig(**TINY, output_dir=str(tmp_path / "run")).to_json()
    # Worker 1 refuses its settings before joining the cluster; the chief would then wait for
    # it forever.
    with pytest.raises(WorkersFailed, match="not_a_field") as failure:
        run_local_workers([config, {**config, "not_a_field": 1}], timeout=WORKER_TIMEOUT_S,
                          env=CPU_ONLY)
    assert failure.value.results[1].returncode == 2
    assert all(_gone(r.pid) for r in failure.value.results)


@pytest.mark.parametrize("tf_config, message", [
    (None, "TF_CONFIG is not set"),
    ("{'cluster': 1}", "not valid JSON"),
    ('{"task": {"type": "worker", "index": 0}}', 'no "cluster"'),
    ('{"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}}', 'no "task"'),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 1}}',
     "index must be an integer from 0 to 0"),
    ('{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "chief", "index": 0}}',
     "task type 'chief' is not a job"),
    ('{"cluster": {"worker": ["127.0.0.1"]}, "task": {"type": "worker", "index": 0}}',
     "host:port"),
    ('{"cluster": {"ps": ["127.0.0.1:1"], "worker": ["127.0.0.1:2"]}, '
     '"task": {"type": "worker", "index": 0}}', "'ps' job"),
])
def test_bad_tf_config_is_explained(tf_config, message):
    with pytest.raises(ValueError, match=message):
        parse_tf_config(tf_config)


def test_a_worker_with_a_bad_tf_config_says_so_without_a_traceback():
    env = {**os.environ, **CPU_ONLY,
           "TF_CONFIG": '{"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}}'}
    result = subprocess.run([sys.executable, "-m", "helpers.distributed", "worker"],
                            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert 'TF_CONFIG has no "task"' in result.stderr and "Traceback" not in result.stderr


def run_worker(*args, tf_config=None):
    env = {**os.environ, **CPU_ONLY}
    if tf_config is not None:
        env["TF_CONFIG"] = tf_config
    return subprocess.run([sys.executable, "-m", "helpers.distributed", *args], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args, message", [
    (["-p", "hidden_nodez", "8"], "unknown parameter(s) hidden_nodez; the parameters are"),
    (["-p", "max_steps", "many"], "max_steps must be a whole number, got 'many'"),
    (["-p", "batch_size", "0"], "batch_size must be a positive integer, got 0"),
    (["--preset", "main", "-p", "learning_rate", "-1"], "learning_rate must be a positive"),
])
def test_a_worker_checks_its_settings_before_it_joins_the_cluster(args, message):
    """The same --preset and -p as helpers.runs, refused before TensorFlow is even imported
    (a good TF_CONFIG whose peer does not exist would otherwise keep it waiting)."""
    good = '{"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, ' \
           '"task": {"type": "worker", "index": 0}}'
    result = run_worker("worker", *args, tf_config=good)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_launch_reads_the_preset_and_pairs_and_checks_them_first(monkeypatch, capsys, tmp_path):
    from helpers import distributed
    from helpers.config import PRESETS, TrainConfig

    started = []
    monkeypatch.setattr(distributed, "run_local_workers",
                        lambda configs, **kwargs: started.append(configs) or
                        [distributed.WorkerResult(0, 1, 0, "chief log\n", "")])
    assert distributed.main(["launch", "--workers", "2", "--log-dir", str(tmp_path), "--preset",
                             "main", "-p", "max_steps", "30", "-p", "batch_size", "8"]) == 0
    [configs] = started
    by_steps = {k: v for k, v in PRESETS["main"].items() if k != "time_budget"}
    # "auto" reaches the workers decided, as this CPU decides it, so that every worker agrees.
    assert configs == [{**TrainConfig().to_json(), **by_steps, "max_steps": 30,
                        "warmup_steps": 2, "batch_size": 8,
                        "matmul_dtype": TrainConfig(matmul_dtype="auto").chosen_matmul_dtype}] * 2
    assert distributed.main(["launch", "-p", "batch_size", "0"]) == 2
    assert distributed.main(["launch", "--workers", "0"]) == 2
    assert len(started) == 1  # nothing started for the refused ones
    err = capsys.readouterr().err
    assert "batch_size must be a positive integer" in err
    assert "--workers must be a positive integer, got 0" in err


def test_the_strategy_must_come_before_tensorflow_is_set_up():
    import helpers.backend  # noqa: F401  (as any module using TensorFlow would)

    good = '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 0}}'
    with pytest.raises(RuntimeError, match="before helpers.backend"):
        make_strategy(good)


def test_free_ports_are_distinct():
    ports = free_ports(4)
    assert len(set(ports)) == 4 and all(0 < p < 65536 for p in ports)
