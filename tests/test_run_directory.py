"""Runs that survive mistakes: failed starts, refused resumes, damaged checkpoints, a second
training into the same folder. Each test makes the fault happen for real (a damaged file, a
process that dies or is killed, a value the data cannot serve) and checks what is left."""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from conftest import TINY_TEXT  # noqa: E402

from helpers import rundir
from helpers.backend import tf
from helpers.checkpoints import CheckpointWarning, DamagedCheckpointError, load_run
from helpers.config import TrainConfig
from helpers.encoding import Vocabulary
from helpers.paths import REPO_ROOT, DamagedFileError, relative, write_json
from helpers.training import build_training, train

pytestmark = pytest.mark.slow  # each case trains and resumes a run

TINY = dict(batch_size=8, len_per_section=20, hidden_nodes=16, log_every=5, save_every=5,
            valid_chars=2_000, learning_rate=1e-2,
            # the committed tiny text: fast, and no dataset needed; no progression samples
            text_file=str(TINY_TEXT), sample_chars=0)


def tiny(run_dir, **overrides):
    return TrainConfig(**{**TINY, "output_dir": str(run_dir), **overrides})


def quietly(config):
    return train(config, progress=False, verbose=False)


def steps(history):
    return [row["step"] for row in history]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run trained to step 10: checkpoints ckpt-5 and ckpt-10."""
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    quietly(tiny(run_dir, max_steps=10))
    return run_dir


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """The same run trained to step 15 without a break, to compare resumed runs with."""
    run_dir = tmp_path_factory.mktemp("straight") / "run"
    quietly(tiny(run_dir, max_steps=15))
    return load_run(run_dir).model.get_weights()


@pytest.fixture
def run(trained, tmp_path):
    """A copy of the trained run, to damage."""
    return shutil.copytree(trained, tmp_path / "run")


TRAIN_SCRIPT = """
import json, sys
from helpers.config import TrainConfig
from helpers.training import train
train(TrainConfig(**json.loads(sys.argv[1])), progress=False, verbose=False)
"""


def files_of(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


# --- 1. A failed start leaves the folder to the corrected rerun ------------------------------


@pytest.mark.parametrize("overrides, message", [
    pytest.param({"batch_size": 100_000, "text_file": None},
                 r"batch_size=100,000 is more than the [\d,]+ sequences of 21 characters .* use "
                 r"a batch_size of at most", marks=pytest.mark.slow),  # reads WikiText-2
    ({"len_per_section": 3_000}, r"valid_chars=2000 must exceed len_per_section=3000: "
                                 r"validation reads at least one sequence"),
    ({"seed": 2**32}, r"seed must be an integer from 0 to 2\*\*32 - 1, got 4294967296"),
])
def test_a_start_the_data_or_numpy_cannot_serve_is_refused_before_writing(tmp_path, overrides,
                                                                          message):
    run_dir = tmp_path / "run"
    with pytest.raises(ValueError, match=message):
        quietly(tiny(run_dir, max_steps=5, **overrides))
    assert not run_dir.exists()
    assert steps(quietly(tiny(run_dir, max_steps=5))) == [0, 5]  # the corrected rerun


OUT_OF_MEMORY = textwrap.dedent("""
    import resource, sys
    from helpers.config import TrainConfig
    from helpers.training import train

    with open("/proc/self/status") as status:
        size_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize"))
    # 400 MB more address space than TensorFlow took so far: far too little for this model.
    limit = (size_kb + 400_000) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    train(TrainConfig(batch_size=256, hidden_nodes=512, max_steps=5, valid_chars=2_000,
                      output_dir=sys.argv[1]), progress=False, verbose=False)
""")


@pytest.mark.system
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="needs Linux's /proc")
def test_a_start_that_runs_out_of_memory_leaves_nothing_that_blocks_the_rerun(tmp_path):
    run_dir = tmp_path / "run"
    died = subprocess.run([sys.executable, "-c", OUT_OF_MEMORY, str(run_dir)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)
    # TensorFlow either raises ResourceExhaustedError or aborts (std::bad_alloc, or a thread
    # it cannot start): the process is gone either way, possibly holding the lock.
    assert died.returncode != 0, died.stderr[-2000:]
    assert not (run_dir / "config.json").exists() and not (run_dir / "vocabulary.json").exists()
    history = quietly(tiny(run_dir, max_steps=5))  # other settings: smaller batch and model
    assert steps(history) == [0, 5]
    assert rundir.read_config(run_dir)["batch_size"] == 8
    assert not (run_dir / ".lock").exists()


def test_a_config_left_without_a_checkpoint_binds_nothing(tmp_path):
    """What a start that failed before this fix left behind: settings, but no checkpoint."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_json(run_dir / "config.json", tiny(run_dir, batch_size=100_000).to_json())
    Vocabulary.from_text("abc").save(run_dir / "vocabulary.json")
    assert steps(quietly(tiny(run_dir, max_steps=5))) == [0, 5]
    assert rundir.read_config(run_dir)["batch_size"] == 8


@pytest.mark.system
def test_a_start_stopped_before_its_first_checkpoint_takes_back_its_files(tmp_path):
    """Ctrl-C (a real SIGINT) after the first step, before the first checkpoint."""
    run_dir = tmp_path / "run"
    config = tiny(run_dir, max_steps=100_000, log_every=1, save_every=100_000)
    # SIGINT's default action in the child, as a terminal gives it (a shell that started the
    # tests in the background leaves SIGINT ignored, and that is inherited).
    proc = subprocess.Popen([sys.executable, "-c", TRAIN_SCRIPT, json.dumps(config.to_json())],
                            cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 240
        while not (run_dir / "history.json").exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "training did not start within 4 minutes"
            time.sleep(0.05)
        assert (run_dir / "config.json").exists()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) != 0
    finally:
        proc.kill()
        proc.wait()
    assert "KeyboardInterrupt" in proc.stderr.read().decode()
    assert not run_dir.exists(), f"left behind: {sorted(map(str, run_dir.rglob('*')))}"


def test_a_resume_removes_the_temporary_files_of_writes_a_kill_stopped(run, tmp_path):
    """A kill between a write's temporary file and its rename leaves ``.NAME.*.tmp``; the next
    run (holding the lock) removes them, and a link planted at such a name is removed, not
    followed."""
    outside = tmp_path / "outside.txt"
    outside.write_text("not the run's")
    (run / ".history.json.0123456789abcdef.tmp").write_text('[{"step": 0')
    (run / "checkpoints" / ".checkpoint.fedcba9876543210.tmp").write_text("model_checkpoint")
    (run / ".samples.json.00000000deadbeef.tmp").symlink_to(outside)
    history = quietly(tiny(run, max_steps=15))
    assert steps(history) == [0, 5, 10, 15]
    assert not [p.name for p in run.rglob("*.tmp")]
    assert outside.read_text() == "not the run's"


# --- 2. A refused or failed resume never rewrites config.json --------------------------------


def test_changing_lr_schedule_on_resume_is_refused_and_config_json_kept(run):
    before = files_of(run)
    with pytest.raises(ValueError, match=r"output_dir '.*run' holds a run with other settings "
                                         r"\(lr_schedule: 'constant' there, 'cosine' now\)"):
        quietly(tiny(run, max_steps=15, lr_schedule="cosine"))
    assert files_of(run) == before


def test_a_warm_up_may_change_length_on_resume_but_not_appear_or_vanish(run, tmp_path):
    with pytest.raises(ValueError, match=r"\(warmup_steps: 0 there, 3 now\)"):
        quietly(tiny(run, max_steps=15, warmup_steps=3))
    warm = tmp_path / "warm"
    quietly(tiny(warm, max_steps=6, warmup_steps=2))
    history = quietly(tiny(warm, max_steps=12, warmup_steps=4))  # longer run, longer warm-up
    assert history[-1]["step"] == 12
    with pytest.raises(ValueError, match=r"\(warmup_steps: 4 there, 0 now\)"):
        quietly(tiny(warm, max_steps=15, warmup_steps=0))


def test_a_failed_resume_leaves_config_json_as_it_was(run):
    for path in (run / "checkpoints").glob("ckpt-*.data-*"):
        path.write_bytes(b"")
    before = files_of(run)
    with pytest.raises(DamagedCheckpointError):
        quietly(tiny(run, max_steps=15, log_every=3))
    assert files_of(run) == before


def test_a_resumed_run_uses_the_learning_rate_asked_for_now(run):
    quietly(tiny(run, max_steps=15, learning_rate=1e-3))
    reader = tf.train.load_checkpoint(str(run / "checkpoints" / "ckpt-15"))
    rate = reader.get_tensor("optimizer/_learning_rate/.ATTRIBUTES/VARIABLE_VALUE")
    assert rate == pytest.approx(1e-3)
    assert rundir.read_config(run)["learning_rate"] == 1e-3


# --- 4. Damaged checkpoints ------------------------------------------------------------------


def _data(checkpoints, number=10):
    [path] = checkpoints.glob(f"ckpt-{number}.data-*")
    return path


def _cut(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _nan_weights(checkpoints, number=10):
    """What a run that diverged between logs could once save: a whole checkpoint, every
    checksum right, whose weights are NaN."""
    run_dir = checkpoints.parent
    config = TrainConfig.from_json(rundir.read_config(run_dir))
    vocabulary = Vocabulary.load(run_dir / rundir.VOCABULARY)
    model, optimizer, step = build_training(config, len(vocabulary))
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step)
    prefix = str(checkpoints / f"ckpt-{number}")
    checkpoint.restore(prefix).assert_existing_objects_matched()
    for weight in model.trainable_variables:
        weight.assign(tf.fill(weight.shape, np.nan))
    checkpoint.write(prefix)


DAMAGE = {
    "nan weights": _nan_weights,
    "truncated data": lambda c: _cut(_data(c)),
    "empty data": lambda c: _data(c).write_bytes(b""),
    "zeroed data": lambda c: _data(c).write_bytes(bytes(_data(c).stat().st_size)),
    "missing index": lambda c: (c / "ckpt-10.index").unlink(),
    "truncated index": lambda c: _cut(c / "ckpt-10.index"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(run, straight, damage):
    checkpoints = run / "checkpoints"
    DAMAGE[damage](checkpoints)
    with pytest.warns(CheckpointWarning, match=r"checkpoint ckpt-10 in .*run/checkpoints is "
                                               r"damaged \(.+\); using ckpt-5, the newest intact "
                                               r"one, instead; its files are now in "
                                               r".*run/checkpoints/damaged") as warned:
        history = quietly(tiny(run, max_steps=15))
    if damage == "nan weights":  # found by its weights: every file and checksum is whole
        [skipped] = [w for w in warned if issubclass(w.category, CheckpointWarning)]
        assert "not finite numbers (the run diverged)" in str(skipped.message)
    assert steps(history) == [0, 5, 10, 15]  # steps 6-10 trained again, not restarted from 0
    assert sorted(rundir.checkpoint_files(checkpoints)) == [10, 15]
    assert all(name.startswith("ckpt-10.") for name in os.listdir(checkpoints / "damaged"))
    # Resumed exactly: the same weights as a run that was never interrupted.
    for a, b in zip(load_run(run).model.get_weights(), straight, strict=True):
        np.testing.assert_array_equal(a, b)


def test_an_unreadable_checkpoint_state_file_does_not_restart_from_zero(run):
    (run / "checkpoints" / "checkpoint").write_text("garbage {{{")
    assert steps(quietly(tiny(run, max_steps=15))) == [0, 5, 10, 15]
    assert tf.train.latest_checkpoint(run / "checkpoints").endswith("ckpt-15")


def test_no_readable_checkpoint_is_an_error_never_a_restart(run):
    _cut(_data(run / "checkpoints", 10))
    (run / "checkpoints" / "ckpt-5.index").unlink()
    before = files_of(run)
    with pytest.raises(DamagedCheckpointError, match=r"no checkpoint in .*run/checkpoints can be "
                                                     r"read \(ckpt-10: .+; ckpt-5: ckpt-5.index "
                                                     r"is missing\)"):
        quietly(tiny(run, max_steps=15))
    assert files_of(run) == before
    with pytest.raises(DamagedCheckpointError):
        load_run(run)


def test_load_run_falls_back_too_and_changes_nothing(run):
    _cut(_data(run / "checkpoints"))
    before = files_of(run)
    with pytest.warns(CheckpointWarning, match=r"ckpt-10 .* is damaged .*using ckpt-5"):
        loaded = load_run(run)
    assert loaded.step == 5
    assert files_of(run) == before


# --- 5. One training per folder --------------------------------------------------------------

@pytest.mark.system
def test_a_second_training_is_refused_and_a_killed_ones_lock_blocks_nothing(tmp_path):
    run_dir = tmp_path / "run"
    config = tiny(run_dir, max_steps=100_000, log_every=3, save_every=3)
    first = subprocess.Popen([sys.executable, "-c", TRAIN_SCRIPT, json.dumps(config.to_json())],
                             cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while rundir.saved_step(run_dir) is None:
            assert first.poll() is None, "the first training ended early"
            assert time.monotonic() < deadline, "no checkpoint within 4 minutes"
            time.sleep(0.05)
        with pytest.raises(rundir.RunDirectoryInUseError,
                           match=rf"output_dir '{relative(run_dir)}' is in use: process "
                                 rf"{first.pid} \(started .*\) is training into it"):
            quietly(tiny(run_dir, max_steps=100_000, log_every=3, save_every=3))
        assert (run_dir / "config.json").exists()  # the refused one took nothing away
        first.send_signal(signal.SIGKILL)
    finally:
        first.kill()
        first.wait()
    assert (run_dir / ".lock").exists()  # left by the killed run, its process gone
    saved = rundir.saved_step(run_dir)
    history = quietly(tiny(run_dir, max_steps=saved + 3, log_every=3, save_every=3))
    assert steps(history)[-1] == saved + 3
    assert not (run_dir / ".lock").exists()


# --- 8. A damaged file is named --------------------------------------------------------------


@pytest.mark.parametrize("name", ["config.json", "vocabulary.json", "history.json"])
def test_a_damaged_run_file_is_named(run, name):
    (run / name).write_text("")  # what a full disk can leave
    message = rf"run/{name} is damaged: it is not valid JSON \(Expecting value at line 1, " \
              r"column 1\)"
    with pytest.raises(DamagedFileError, match=message):
        quietly(tiny(run, max_steps=15))
    with pytest.raises(DamagedFileError, match=message):
        load_run(run)
