"""Shared fixtures: the real WikiText-2 splits (CI points WIKITEXT_DIR at a verified copy), and
a tiny committed text for fast training tests that need no dataset."""

import contextlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import data

TINY_TEXT = Path(__file__).resolve().parent / "fixtures" / "tiny.txt"
PRECIOUS = "a file outside the run folder\n"  # what a planted link points at (``victim``)
# A model trained in seconds on the tiny committed text: these tests check mechanics, not quality.
TINY_TRAINING = dict(batch_size=8, len_per_section=20, hidden_nodes=16, log_every=5,
                     save_every=10, valid_chars=2_000, learning_rate=1e-2,
                     text_file=str(TINY_TEXT), sample_chars=0)
BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def load_script(name: str):
    """A script of ``benchmarks/`` (not a package) imported as a module, for its tests; its
    folder goes on ``sys.path``, as when the script runs, for the modules beside it."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tiny(tmp_path, name="run", **overrides):
    """A ``TrainConfig`` of ``TINY_TRAINING`` into ``tmp_path / name``, with ``overrides``."""
    from helpers.config import TrainConfig

    return TrainConfig(**{**TINY_TRAINING, "output_dir": str(tmp_path / name), **overrides})


def without_timings(history):
    """History rows less what depends on the machine's speed."""
    return [{k: v for k, v in row.items() if k not in ("chars_per_sec", "elapsed", "peak_rss_mb")}
            for row in history]


@pytest.fixture(scope="session")
def test_text():
    return data.load_split("test")


@pytest.fixture(scope="session")
def valid_text():
    return data.load_split("valid")


@pytest.fixture(scope="session")
def tiny_text_file() -> Path:
    """``tests/fixtures/tiny.txt``: 4 KB of plain English prose written for these tests, for
    training with ``text_file`` (a few steps of a tiny model) without WikiText-2."""
    return TINY_TEXT


def pytest_collection_modifyitems(items):
    """A test that reads WikiText-2 through these fixtures (or test_data's ``real``) needs the
    dataset: it is ``slow``,
    outside ``make test-fast`` (which trains on the tiny committed text instead)."""
    for item in items:
        if {"test_text", "valid_text", "real"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def run_dir(tmp_path):
    """An empty run folder, ``tmp_path / "run"``."""
    folder = tmp_path / "run"
    folder.mkdir()
    return folder


@pytest.fixture
def victim(tmp_path):
    """A file outside the run folder, holding ``PRECIOUS``: where a planted link points."""
    path = tmp_path / "elsewhere" / "precious.txt"
    path.parent.mkdir()
    path.write_text(PRECIOUS, encoding="utf-8")
    return path


def _still_writable(folder: Path) -> bool:
    try:
        (folder / "probe").touch()
    except OSError:
        return False
    (folder / "probe").unlink()
    return True


@pytest.fixture
def read_only(tmp_path):
    """A folder that cannot be written, for real: chmod where it bites; as root (where it
    does not) the immutable attribute, ``chattr +i``, where the filesystem has it."""
    folder = tmp_path / "read-only"
    (folder / "run").mkdir(parents=True)
    (folder / "run" / "config.json").write_text("{}")
    made = []
    try:
        for target in (folder / "run", folder):
            target.chmod(0o555)
            if _still_writable(target):
                try:
                    subprocess.run(["chattr", "+i", str(target)], check=True, timeout=10,
                                   capture_output=True)
                except (OSError, subprocess.SubprocessError):
                    pytest.skip("neither chmod nor chattr +i makes a folder read-only here")
                made.append(target)
        assert not _still_writable(folder) and not _still_writable(folder / "run")
        yield folder
    finally:
        for target in made:
            subprocess.run(["chattr", "-i", str(target)], check=True, timeout=10)
        for target in (folder, folder / "run"):
            with contextlib.suppress(OSError):
                target.chmod(0o755)
