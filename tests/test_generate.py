"""python -m helpers.generate: which run it samples from, streaming, and its messages."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import TINY_TEXT  # noqa: E402

from helpers import generate as generate_module
from helpers.config import TrainConfig
from helpers.paths import REPO_ROOT
from helpers.training import train

pytestmark = pytest.mark.system  # each test runs the command line in a process

TINY = dict(batch_size=8, len_per_section=20, hidden_nodes=16, log_every=5, save_every=5,
            max_steps=5, valid_chars=2_000, learning_rate=1e-2,
            # the committed tiny text: fast, and no dataset needed; no progression samples
            text_file=str(TINY_TEXT), sample_chars=0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    train(TrainConfig(**TINY, output_dir=str(run_dir)), progress=False, verbose=False)
    return run_dir


def generate(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "helpers.generate", *args], cwd=REPO_ROOT,
                          capture_output=True, timeout=300, **kwargs)


def test_without_run_dir_the_main_run_else_the_newest_and_it_says_which(trained, tmp_path):
    outputs = tmp_path / "outputs"
    nothing = generate("--outputs", str(outputs), text=True)
    assert nothing.returncode == 1 and "Traceback" not in nothing.stderr
    assert "no run under" in nothing.stderr and "Train first: `make run`" in nothing.stderr

    shutil.copytree(trained, outputs / "runs" / "notebook")  # what 04 writes
    (outputs / "runs" / "unfinished").mkdir()
    newest = generate("--outputs", str(outputs), "--num-chars", "10", text=True)
    assert newest.returncode == 0, newest.stderr[-2000:]
    assert "sampling from" in newest.stderr
    assert "runs/notebook (the most recently trained run;" in newest.stderr
    assert "runs/main holds none)" in newest.stderr

    shutil.copytree(trained, outputs / "runs" / "main")  # what `make run` writes
    main = generate("--outputs", str(outputs), "--num-chars", "10", text=True)
    assert main.returncode == 0, main.stderr[-2000:]
    assert "runs/main (the main job's run)" in main.stderr


def test_a_long_sample_is_printed_as_it_is_generated(trained):
    """1,000,000 characters printed nothing for 15 s, then everything at once."""
    proc = subprocess.Popen([sys.executable, "-m", "helpers.generate", "--run-dir",
                             str(trained), "--prompt", "The ", "--num-chars", "1000000"],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    arrivals, received = [], 0
    try:
        while chunk := os.read(proc.stdout.fileno(), 1 << 16):
            arrivals.append(time.monotonic())
            received += len(chunk)
        assert proc.wait(timeout=300) == 0
    finally:
        proc.kill()
        proc.wait()
    assert received >= 1_000_000
    # Generating takes seconds here (about 100,000 characters/s); printed at the end, all of
    # it would arrive within a few milliseconds.
    assert arrivals[-1] - arrivals[0] > 1.0, f"{len(arrivals)} reads"


def test_a_prompt_that_is_not_utf8_is_named(trained):
    bad = generate("--run-dir", str(trained), "--prompt", b"caf\xe9", "--num-chars", "5")
    err = bad.stderr.decode()
    assert bad.returncode == 1
    assert "error: prompt is not valid UTF-8: byte 0xe9 at character 3" in err
    assert "codec" not in err and "Traceback" not in err


def test_damaged_files_are_named_and_a_damaged_checkpoint_skipped(trained, tmp_path):
    run_dir = shutil.copytree(trained, tmp_path / "run")
    train(TrainConfig(**{**TINY, "max_steps": 10}, output_dir=str(run_dir)), progress=False,
          verbose=False)
    [data] = (run_dir / "checkpoints").glob("ckpt-10.data-*")
    data.write_bytes(data.read_bytes()[:100])
    fallback = generate("--run-dir", str(run_dir), "--num-chars", "10", text=True)
    assert fallback.returncode == 0, fallback.stderr[-2000:]
    assert "warning: checkpoint ckpt-10 in" in fallback.stderr
    assert "using ckpt-5, the newest intact one, instead" in fallback.stderr
    assert "Traceback" not in fallback.stderr

    (run_dir / "config.json").write_text("{not json")
    damaged = generate("--run-dir", str(run_dir), "--num-chars", "10", text=True)
    assert damaged.returncode == 1
    assert "run/config.json is damaged: it is not valid JSON" in damaged.stderr
    assert "Traceback" not in damaged.stderr


def test_ctrl_c_while_generating_is_one_line(trained):
    proc = subprocess.Popen([sys.executable, "-m", "helpers.generate", "--run-dir",
                             str(trained), "--num-chars", "9000000"], cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert os.read(proc.stdout.fileno(), 1 << 16)  # generating: the first piece is out
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == 130
    assert err.decode().strip().splitlines() == ["interrupted"]


def test_ctrl_c_while_streaming_is_noted_where_no_finaliser_can_drop_it():
    """Raised by Python's own handler inside a finaliser, KeyboardInterrupt would be printed
    and dropped, and the stream would run on to its end: while streaming it is only noted."""
    before = signal.getsignal(signal.SIGINT)
    with generate_module._ctrl_c_between_pieces() as interrupted:
        assert not interrupted()
        signal.raise_signal(signal.SIGINT)  # noted, not raised
        assert interrupted()
    assert signal.getsignal(signal.SIGINT) is before


@pytest.mark.parametrize("args, message", [
    (["--temperature", "1e300"], "temperature must be at most 3.403e+38"),
    (["--num-samples", "100000000"], "--num-samples must be at most 10,000"),
    (["--num-samples", "5000", "--num-chars", "100000"], "is more than 10,000,000 characters"),
    (["--num-samples", "0"], "--num-samples must be a positive integer, got 0"),
])
def test_options_that_cannot_work_are_refused_before_any_model_is_loaded(trained, args, message):
    done = generate("--run-dir", str(trained), *args, text=True)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip() == f"error: {message}" or message in done.stderr
    assert "Traceback" not in done.stderr
