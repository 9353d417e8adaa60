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
from conftest import TINY_TRAINING, tiny, without_timings

from helpers import corpus
from helpers.backend import tf
from helpers.checkpoints import NoTrainedModelError, load_run
from helpers.config import TrainConfig
from helpers.encoding import Vocabulary
from helpers.evaluation import make_evaluator, validation_windows
from helpers.paths import REPO_ROOT
from helpers.training import train


# Tiny settings: these tests check the mechanics, not the quality.
def weights_of(run_dir):
    return load_run(run_dir).model.get_weights()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``(folder, history)``: one tiny run of 10 steps in ``folder / "run"``, trained once for
    the tests that read it; a test that trains on into it takes a copy (``copy_of``)."""
    folder = tmp_path_factory.mktemp("trained")
    return folder, train(tiny(folder, max_steps=10), progress=False, verbose=False)


def copy_of(trained, tmp_path):
    shutil.copytree(trained[0] / "run", tmp_path / "run")
    return trained[1]


def test_run_directory_holds_everything_to_continue(trained):
    folder, history = trained
    run_dir = folder / "run"
    assert [row["step"] for row in history] == [0, 5, 10]
    assert set(history[0]) == {"step", "train_bpc", "valid_bpc", "valid_bpc_carried",
                               "chars_per_sec", "elapsed", "peak_rss_mb"}
    assert json.loads((run_dir / "history.json").read_text()) == history
    assert json.loads((run_dir / "config.json").read_text())["hidden_nodes"] == 16
    assert Vocabulary.load(run_dir / "vocabulary.json") == load_run(run_dir).vocabulary
    assert tf.train.latest_checkpoint(run_dir / "checkpoints").endswith("ckpt-10")


def test_loaded_model_has_the_trained_weights(trained):
    folder, history = trained
    config = tiny(folder, max_steps=10)
    run = load_run(folder / "run")
    assert run.step == 10
    # The loaded model scores the validation text exactly as the trained one did at its last
    # measurement, and not as the untrained one did.
    valid_ids = corpus.load_training_data(config).valid_ids.astype(np.int32)
    bpc = make_evaluator(run.model, *validation_windows(valid_ids, config.len_per_section))()
    assert bpc == pytest.approx(history[-1]["valid_bpc"], rel=1e-6)
    assert bpc != pytest.approx(history[0]["valid_bpc"], rel=1e-3)
    # Every variable of the model is in the checkpoint, the LSTM's kernels included.
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(folder / "run/checkpoints"))
    names = reader.get_variable_to_shape_map()
    assert any("lstm_0/kernel" in n for n in names)
    assert any("lstm_0/recurrent_kernel" in n for n in names)


@pytest.mark.slow  # several trainings: in make test, not test-fast
def test_resuming_continues_exactly_like_an_uninterrupted_run(tmp_path):
    straight = train(tiny(tmp_path, "straight", max_steps=20), progress=False, verbose=False)
    train(tiny(tmp_path, "resumed", max_steps=10), progress=False, verbose=False)
    resumed = train(tiny(tmp_path, "resumed", max_steps=20), progress=False, verbose=False)
    assert [row["step"] for row in resumed] == [0, 5, 10, 15, 20]
    assert without_timings(resumed) == without_timings(straight)
    for a, b in zip(weights_of(tmp_path / "straight"), weights_of(tmp_path / "resumed"),
                    strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_finished_run_is_not_trained_again(trained, tmp_path, capsys):
    before = copy_of(trained, tmp_path)
    history = train(tiny(tmp_path, max_steps=10), progress=False)
    assert "nothing to do" in capsys.readouterr().out
    assert history == before


TRAIN_SCRIPT = """
import json, sys
from helpers.config import TrainConfig
from helpers.training import train
config = TrainConfig(**json.loads(sys.argv[1]))
train(config, progress=False, verbose=True)
"""


def _train_in_subprocess(config: TrainConfig, env=None, **popen):
    payload = json.dumps(config.to_json())
    return subprocess.Popen([sys.executable, "-c", TRAIN_SCRIPT, payload], cwd=REPO_ROOT,
                            env={**os.environ, **(env or {})}, **popen)


@pytest.mark.system
def test_same_seed_same_history_and_weights_across_hash_seeds(tmp_path):
    runs = []
    for hash_seed in ("1", "12345"):
        config = tiny(tmp_path, f"hash{hash_seed}", max_steps=10)
        proc = _train_in_subprocess(config, env={"PYTHONHASHSEED": hash_seed},
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        assert proc.wait(timeout=300) == 0, proc.stderr.read().decode()[-2000:]
        runs.append(config.run_dir)
    histories = [json.loads((d / "history.json").read_text()) for d in runs]
    assert without_timings(histories[0]) == without_timings(histories[1])
    assert (runs[0] / "vocabulary.json").read_bytes() == (runs[1] / "vocabulary.json").read_bytes()
    for a, b in zip(weights_of(runs[0]), weights_of(runs[1]), strict=True):
        np.testing.assert_array_equal(a, b)
    other_seed = train(tiny(tmp_path, "seed1", max_steps=10, seed=1), progress=False,
                       verbose=False)
    assert without_timings(other_seed) != without_timings(histories[0])


@pytest.mark.system
def test_a_run_killed_mid_way_resumes_from_its_last_checkpoint(tmp_path):
    config = tiny(tmp_path, max_steps=100_000, save_every=3, log_every=3)
    proc = _train_in_subprocess(config, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints = config.run_dir / "checkpoints"
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            latest = tf.train.latest_checkpoint(checkpoints) if checkpoints.exists() else None
            if latest and int(latest.rsplit("-", 1)[1]) >= 9:
                break
            assert proc.poll() is None, "training exited before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("no checkpoint past step 9 within the time limit")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    # Whatever the kill interrupted, the files on disk are whole.
    history = json.loads((config.run_dir / "history.json").read_text())
    saved_step = int(tf.train.latest_checkpoint(checkpoints).rsplit("-", 1)[1])
    assert saved_step >= 9 and history[-1]["step"] <= saved_step + 3
    resumed_to = saved_step + 6
    config.max_steps = resumed_to
    history = train(config, progress=False, verbose=False)
    steps = [row["step"] for row in history]
    assert steps == list(range(0, resumed_to + 1, 3))
    assert load_run(config.run_dir).step == resumed_to
    assert not [p for p in config.run_dir.rglob("*") if "tmp" in p.name or "temp" in p.name]


@pytest.mark.system
def test_long_sequences_train_in_bounded_time_and_memory(tmp_path):
    """len_per_section 4,000 had not finished 5 steps in 5 minutes, at 3.7 GB and growing.
    Measured with the loop form: about 6 s and 0.75 GB for these steps."""
    config = tiny(tmp_path, len_per_section=4_000, batch_size=4, max_steps=2, log_every=2,
                  save_every=2, valid_chars=8_001, text_file=None)
    proc = _train_in_subprocess(config, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    try:
        out, err = proc.communicate(timeout=180)
    finally:
        proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert "len_per_section=4,000 is above 500: the LSTM runs as a loop" in out
    untrained, row = json.loads((config.run_dir / "history.json").read_text())
    assert untrained["step"] == 0
    # Bounded: the unrolled graph had reached 3.7 GB and kept growing. (The untrained row's
    # evaluation on 4,000-character windows adds a graph of its own.)
    assert row["step"] == 2 and row["peak_rss_mb"] < 2_000


@pytest.mark.system
def test_the_peak_memory_a_run_reports_is_its_own_not_its_parents():
    """A run started from a large process (a test suite after hundreds of tests) reported the
    parent's peak: Linux carries ``ru_maxrss`` across fork and exec."""
    ballast = b"x" * (1536 * 2**20)  # the parent now peaks above 1.5 GiB
    try:
        child = subprocess.run([sys.executable, "-c", "from helpers.training import peak_rss_mb; "
                                "print(peak_rss_mb())"], cwd=REPO_ROOT, capture_output=True,
                               text=True, timeout=180)
    finally:
        del ballast
    assert child.returncode == 0, child.stderr[-2000:]
    # TensorFlow's import alone is several hundred MiB; the parent's 1.5 GiB must not show.
    assert 100 < float(child.stdout) < 1200, child.stdout


@pytest.mark.system
def test_mirrored_strategy_on_two_devices_matches_one_device(tmp_path):
    script = textwrap.dedent("""
        import json, sys
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from helpers.config import TrainConfig
        from helpers.training import train
        out = {}
        for name, strategy in [("one", None),
                               ("mirrored", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))]:
            config = TrainConfig(**json.loads(sys.argv[1]))
            config.output_dir = config.output_dir + "-" + name
            out[name] = [r["train_bpc"] for r in train(config, strategy=strategy,
                                                      progress=False, verbose=False)]
        print(json.dumps(out))
    """)
    config = tiny(tmp_path, max_steps=6, log_every=1, save_every=6)
    result = subprocess.run([sys.executable, "-c", script, json.dumps(config.to_json())],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    losses = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(losses["one"]) == len(losses["mirrored"]) == 7  # the untrained row, 6 steps
    # Same global batch, gradients summed across replicas then clipped once: the same
    # numbers up to float reassociation. Stated tolerance: 1e-4 relative.
    np.testing.assert_allclose(losses["mirrored"], losses["one"], rtol=1e-4)


@pytest.mark.parametrize("overrides, name", [
    ({"batch_size": 0}, "batch_size"), ({"max_steps": -5}, "max_steps"),
    ({"hidden_nodes": 0}, "hidden_nodes"), ({"len_per_section": 0}, "len_per_section"),
    ({"skip": 0}, "skip"), ({"log_every": 0}, "log_every"), ({"save_every": 0}, "save_every"),
    ({"learning_rate": 0.0}, "learning_rate"), ({"learning_rate": -1e-3}, "learning_rate"),
    ({"learning_rate": float("nan")}, "learning_rate"), ({"train_split": "tset"}, "train_split"),
    ({"cell": "gru"}, "cell"), ({"dropout": 1.0}, "dropout"), ({"seed": -1}, "seed"),
    ({"batch_size": 2.5}, "batch_size"),
])
def test_bad_parameters_are_named_before_any_work(tmp_path, overrides, name):
    config = tiny(tmp_path, **overrides)
    with pytest.raises(ValueError, match=name):
        train(config, progress=False, verbose=False)
    assert not (tmp_path / "run").exists()


def test_a_run_directory_of_another_corpus_is_refused(trained, tmp_path):
    copy_of(trained, tmp_path)
    Vocabulary.from_text("abc").save(tmp_path / "run" / "vocabulary.json")
    with pytest.raises(ValueError, match="vocabulary"):
        train(tiny(tmp_path, max_steps=20), progress=False, verbose=False)


def test_changed_model_settings_in_an_existing_run_are_refused(trained, tmp_path):
    copy_of(trained, tmp_path)
    with pytest.raises(ValueError, match="hidden_nodes"):
        train(tiny(tmp_path, max_steps=20, hidden_nodes=32), progress=False, verbose=False)


def test_an_output_directory_that_cannot_be_written_is_refused(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    config = TrainConfig(**{**TINY_TRAINING, "output_dir": str(blocker / "run"), "max_steps": 1})
    with pytest.raises(ValueError, match="output_dir .* cannot be written"):
        train(config, progress=False, verbose=False)


def test_loading_a_directory_without_a_model_says_what_to_do(tmp_path):
    with pytest.raises(NoTrainedModelError, match="Train first"):
        load_run(tmp_path)


@pytest.mark.system
def test_generate_command_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "helpers.generate", "--run-dir",
                             str(tmp_path / "empty")], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1
    assert "holds no trained model" in result.stderr and "Traceback" not in result.stderr
    train(tiny(tmp_path, max_steps=5, save_every=5), progress=False, verbose=False)
    args = [sys.executable, "-m", "helpers.generate", "--run-dir", str(tmp_path / "run"),
            "--prompt", "The ", "--num-chars", "40", "--temperature", "0.5", "--seed", "3"]
    first = subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    again = subprocess.run(args, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.stdout == again.stdout
    assert first.stdout.startswith("The ") and len(first.stdout.rstrip("\n")) == 44
    bad = subprocess.run(args[:-2] + ["--temperature", "-1"], cwd=REPO_ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "temperature" in bad.stderr


@pytest.mark.slow
def test_a_short_run_visibly_learns_and_writes_real_words(tmp_path):
    """A few hundred steps on the test split, as the original trained, but correctly."""
    from helpers.sampling import Generator

    config = TrainConfig(batch_size=32, len_per_section=64, hidden_nodes=128,
                         learning_rate=1e-2, max_steps=400, log_every=100, save_every=400,
                         valid_chars=20_000, output_dir=str(tmp_path / "learns"))
    history = train(config, progress=False, verbose=False)
    valid = [row["valid_bpc"] for row in history]
    # The original's last printed training loss, step 90, was 3.21 nats = 4.63 bits per
    # character; uniform guessing over 260 ids costs 8.0. Measured here: ~2.83 after 400 steps.
    assert valid[-1] < 3.3
    assert valid == sorted(valid, reverse=True)
    run = load_run(config.run_dir)
    text = Generator(run.model, run.vocabulary).generate(num_chars=400, temperature=0.5)[0]
    words = set(text.split())
    common = {"the", "of", "and", "in", "to", "a", "was", "The", "is", "for", "on", "as"}
    assert len(words & common) >= 4, text


def test_cosine_schedule_decays_to_its_floor_by_max_steps_and_constant_stays():
    from helpers.step import learning_rate_schedule

    cosine = learning_rate_schedule(TrainConfig(learning_rate=0.004, max_steps=200,
                                                lr_schedule="cosine"))
    rates = [float(cosine(step)) for step in (0, 100, 200, 400)]
    assert rates[0] == pytest.approx(0.004)
    assert rates[1] == pytest.approx(0.004 * (0.1 + 0.9 * 0.5))  # halfway down the cosine
    assert rates[2] == pytest.approx(0.0004) and rates[3] == pytest.approx(0.0004)
    to_zero = learning_rate_schedule(TrainConfig(learning_rate=0.004, max_steps=200,
                                                 lr_schedule="cosine", lr_floor=0.0))
    assert float(to_zero(100)) == pytest.approx(0.002) and float(to_zero(200)) == 0.0
    assert learning_rate_schedule(TrainConfig(learning_rate=0.004)) == 0.004
    for bad in (1.0, -0.1, None):
        with pytest.raises(ValueError, match="lr_floor"):
            TrainConfig(lr_floor=bad).validate()
    with pytest.raises(ValueError, match="lr_schedule must be one of"):
        TrainConfig(lr_schedule="linear").validate()


def test_history_starts_with_the_untrained_model_near_uniform_guessing(trained):
    """Step 0 measures the model before any update: about log2(vocabulary size) bits."""
    folder, history = trained
    first = history[0]
    assert first["step"] == 0 and first["chars_per_sec"] is None and first["elapsed"] == 0
    vocab_size = len(load_run(folder / "run").vocabulary)
    for key in ("train_bpc", "valid_bpc"):
        assert abs(first[key] - np.log2(vocab_size)) < 0.5, (key, first[key], vocab_size)
    assert history[-1]["train_bpc"] < first["train_bpc"]


@pytest.mark.slow  # several trainings: in make test, not test-fast
def test_progression_keeps_a_sample_per_log_and_resumes_with_the_history(tmp_path):
    train(tiny(tmp_path, max_steps=5, save_every=5, sample_chars=200), progress=False,
          verbose=False)
    path = tmp_path / "run" / "progression.json"
    rows = json.loads(path.read_text())
    assert [r["step"] for r in rows] == [0, 5]
    assert all(len(r["text"]) == 200 and r["temperature"] == 0.8 for r in rows)
    train(tiny(tmp_path, max_steps=10, save_every=5, sample_chars=200), progress=False,
          verbose=False)
    again = json.loads(path.read_text())
    assert [r["step"] for r in again] == [0, 5, 10] and again[:2] == rows
    train(tiny(tmp_path, "quiet", max_steps=5, sample_chars=0), progress=False, verbose=False)
    assert not (tmp_path / "quiet" / "progression.json").exists()


@pytest.mark.slow  # trains: in make test, not test-fast
def test_a_windows_speed_is_its_steps_not_the_validation_after_them(tmp_path, monkeypatch):
    """A run's chars_per_sec is the steps' own speed; its elapsed counts everything. On a clock
    that jumps an hour in every carried validation, the speed stays what the steps made it."""
    from types import SimpleNamespace

    from helpers import training

    hour = [0.0]
    monkeypatch.setattr(training, "time",
                        SimpleNamespace(perf_counter=lambda: time.perf_counter() + hour[0]))
    real = training.make_carried_evaluator

    def an_hour_long(*args, **kwargs):
        evaluate = real(*args, **kwargs)

        def evaluate_for_an_hour():
            hour[0] += 3600.0
            return evaluate()
        return evaluate_for_an_hour

    monkeypatch.setattr(training, "make_carried_evaluator", an_hour_long)
    history = train(tiny(tmp_path, max_steps=10), progress=False, verbose=False)
    chars_per_window = 5 * TINY_TRAINING["batch_size"] * TINY_TRAINING["len_per_section"]
    for row in history[1:]:
        assert row["chars_per_sec"] > chars_per_window / 60, row  # not over an hour
    assert history[-1]["elapsed"] > 2 * 3600  # the validations at steps 5 and 10
