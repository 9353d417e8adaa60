"""Training on a text of your own (``text_file``): split, record, resume, errors, sampling.

These use the committed ``tests/fixtures/tiny.txt`` (or texts written here) and a tiny model
for a few steps: no WikiText-2, no papermill. The notebook and main-job runs are in
``tests/test_runs_text_file.py``.
"""

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from conftest import TINY_TEXT

from helpers import corpus, data, paths, rundir
from helpers.checkpoints import load_run
from helpers.config import TrainConfig
from helpers.encoding import UnknownCharactersWarning
from helpers.paths import REPO_ROOT, relative, resolve_from_root
from helpers.training import train

TINY = dict(batch_size=8, len_per_section=20, hidden_nodes=16, log_every=5, save_every=5,
            learning_rate=1e-2, max_steps=5, sample_chars=0)


def config_for(tmp_path, text_file, name="run", **overrides):
    return TrainConfig(**{**TINY, "text_file": str(text_file),
                          "output_dir": str(tmp_path / name), **overrides})


def training_part(path) -> str:
    """The part of the file a run with the default valid_fraction trains on."""
    text = data.load_corpus(path)
    return text[: corpus.split_sizes(len(text), TrainConfig().valid_fraction)[0]]


@pytest.fixture(scope="module")
def trained_on_own_text(tmp_path_factory):
    """``(folder, text)``: a run of ``config_for(folder, text)`` trained once on a copy of the
    fixture; a test that changes the run works on a copy of ``folder / "run"``."""
    folder = tmp_path_factory.mktemp("own-text")
    text = folder / "notes.txt"
    shutil.copyfile(TINY_TEXT, text)
    train(config_for(folder, text), progress=False, verbose=False)
    return folder, text


@pytest.fixture
def own_text(tmp_path, tiny_text_file):
    """A copy of the fixture that a test may change."""
    path = tmp_path / "notes.txt"
    shutil.copyfile(tiny_text_file, path)
    return path


@pytest.mark.slow  # over 1.5 s on 2 cores: in make test, not test-fast
def test_the_run_records_the_file_its_hash_and_size(tmp_path, own_text):
    config = config_for(tmp_path, own_text)
    history = train(config, progress=False, verbose=False)
    assert [row["step"] for row in history] == [0, 5]
    record = json.loads((config.run_dir / "corpus.json").read_text("utf-8"))
    raw = own_text.read_bytes()
    text = raw.decode("utf-8")
    n_valid = -(-len(text) // 10)  # the last tenth, rounded up
    assert record == {
        "text_file": str(own_text), "sha256": hashlib.sha256(raw).hexdigest(),
        "size_bytes": len(raw), "characters": len(text), "valid_fraction": 0.1,
        "train_characters": len(text) - n_valid, "valid_characters": n_valid}
    saved = json.loads((config.run_dir / "config.json").read_text("utf-8"))
    assert saved["text_file"] == str(own_text) and saved["valid_fraction"] == 0.1


def test_validation_is_the_last_part_and_never_trained_on(tmp_path):
    # Characters that occur only in the last part (digits, Z) are unknown to the vocabulary.
    path = tmp_path / "split.txt"
    path.write_text("abc de fgh, " * 200 + "Z 0123456789 " * 30, "utf-8")
    text = path.read_text("utf-8")
    config = config_for(tmp_path, path, valid_fraction=0.25, valid_chars=50)
    loaded = corpus.load_training_data(config.validate())
    n_train = len(text) - -(-len(text) // 4)
    vocabulary = loaded.vocabulary
    assert vocabulary.chars == tuple(sorted(set(text[:n_train])))
    assert "Z" not in vocabulary.chars and "0" not in vocabulary.chars
    assert vocabulary.decode(loaded.train_ids) == text[:n_train]
    assert len(loaded.valid_ids) == 50  # valid_chars caps what validation reads
    assert vocabulary.decode(loaded.valid_ids) == "".join(
        c if c in vocabulary.chars else "\ufffd" for c in text[n_train:n_train + 50])
    assert loaded.train_ids.dtype == "uint8"
    assert loaded.train_ids.base is loaded.valid_ids.base  # views of one array, no copies


@pytest.mark.slow  # several trainings: in make test, not test-fast
def test_resuming_with_a_changed_file_is_refused_and_a_moved_one_continues(tmp_path,
                                                                          own_text):
    train(config_for(tmp_path, own_text), progress=False, verbose=False)
    # The same bytes under another name: the same text, so the run continues.
    moved = tmp_path / "moved.txt"
    shutil.copyfile(own_text, moved)
    history = train(config_for(tmp_path, moved, max_steps=10), progress=False, verbose=False)
    assert [row["step"] for row in history] == [0, 5, 10]
    assert json.loads((tmp_path / "run/corpus.json").read_text())["text_file"] == str(moved)
    # One character changed: refused, naming text_file, and nothing is trained or written.
    moved.write_text(moved.read_text("utf-8").replace("keeper", "Keeper", 1), "utf-8")
    before = (tmp_path / "run/history.json").read_text()
    with pytest.raises(ValueError, match="text_file") as refused:
        train(config_for(tmp_path, moved, max_steps=15), progress=False, verbose=False)
    message = str(refused.value)
    assert "trained on other text" in message and "SHA-256" in message
    assert "choose another output_dir" in message
    assert (tmp_path / "run/history.json").read_text() == before
    # Another valid_fraction would validate on text the run has trained on: refused too.
    with pytest.raises(ValueError, match="valid_fraction: 0.1 there, 0.2 now"):
        train(config_for(tmp_path, own_text, max_steps=15, valid_fraction=0.2),
              progress=False, verbose=False)


@pytest.mark.slow  # over 1.5 s on 2 cores: in make test, not test-fast
def test_a_wikitext_run_is_not_continued_on_a_file_nor_the_other_way(tmp_path, own_text):
    wikitext_run = tmp_path / "wikitext"
    wikitext_run.mkdir()
    (wikitext_run / "config.json").write_text(json.dumps({"text_file": None}))
    record = {"text_file": "notes.txt", "sha256": "ab" * 32, "size_bytes": 10,
              "valid_fraction": 0.1}
    with pytest.raises(ValueError, match=r"text_file: None \(WikiText-2\) there, 'notes.txt'"):
        rundir.check_same_text(wikitext_run, record)
    rundir.check_same_text(wikitext_run, None)
    train(config_for(tmp_path, own_text), progress=False, verbose=False)
    with pytest.raises(ValueError, match=r"text_file: .*notes.txt.* there, None \(WikiText-2\)"):
        rundir.check_same_text(tmp_path / "run", None)


def test_a_file_too_short_names_both_sizes_and_what_to_lower(tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("A short note, far too short for a batch of 64 sequences.\n" * 20, "utf-8")
    config = TrainConfig(text_file=str(path), output_dir=str(tmp_path / "run"), max_steps=5)
    with pytest.raises(ValueError) as short:
        train(config, progress=False, verbose=False)
    message = str(short.value)
    assert "has 1,140 characters, too few for one batch plus validation" in message
    assert "one training batch needs 6,402 characters" in message  # 63 * 100 + 100 + 2
    assert "validation (the last valid_fraction=0.1 of the file) needs 101" in message
    assert "this file gives 1,026 and 114" in message
    assert "at least 7,114 characters" in message
    assert "lower batch_size or len_per_section (or skip)" in message
    assert not (tmp_path / "run").exists()
    # The size it asks for is enough, and one character fewer is not.
    for n, enough in ((7_114, True), (7_113, False)):
        path.write_text("x" * n, "utf-8")
        if enough:
            corpus.load_training_data(config)
        else:
            with pytest.raises(ValueError, match="too few"):
                corpus.load_training_data(config)


def test_a_validation_part_too_short_asks_for_a_larger_valid_fraction(tmp_path, own_text):
    config = config_for(tmp_path, own_text, valid_fraction=0.004)  # 18 characters
    with pytest.raises(ValueError, match="raise valid_fraction"):
        train(config, progress=False, verbose=False)


@pytest.mark.parametrize("name, content, message", [
    ("missing.txt", None, "text_file: no such file: "),
    ("folder", "dir", "text_file: .*folder is a folder: give the path of one text file"),
    ("latin1.txt", "Kénig\n".encode("latin-1"), "latin1.txt is not valid UTF-8: .* byte offset 1"),
    ("empty.txt", b"", "empty.txt is empty"),
])
def test_bad_files_keep_load_corpus_messages(tmp_path, name, content, message):
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        train(config_for(tmp_path, path), progress=False, verbose=False)
    assert not (tmp_path / "run").exists()


@contextlib.contextmanager
def time_limit(seconds: int):
    """A TimeoutError if the body runs past ``seconds``: SIGALRM interrupts even an ``open``
    blocked on a named pipe."""
    def expired(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "pipe.txt"
    os.mkfifo(path)
    return path


def test_the_time_limit_catches_an_open_blocked_on_a_pipe(fifo):
    with pytest.raises(TimeoutError), time_limit(1):
        open(fifo, "rb")  # no writer ever comes: without the limit this waits forever


@pytest.mark.parametrize("special, kind", [
    ("fifo", "a named pipe (FIFO)"), ("/dev/zero", "a character device")])
def test_a_pipe_or_a_device_is_named_for_what_it_is_and_never_read(tmp_path, fifo, special,
                                                                   kind):
    path = fifo if special == "fifo" else Path(special)
    with time_limit(20):
        with pytest.raises(ValueError, match=f"text_file: .*{path.name} is not a regular file"):
            train(config_for(tmp_path, path), progress=False, verbose=False)
        # load_corpus reads a file whole: on /dev/zero, were it not refused, until memory ran out
        reads = (paths.check_regular_file, data.file_sha256) + (
            (data.load_corpus,) if special == "fifo" else ())
        for read in reads:
            with pytest.raises(paths.NotARegularFileError, match=rf"{path.name} is not a regular "
                               rf"file \(it is {re.escape(kind)}\)"):
                read(path)
    assert not (tmp_path / "run").exists()


def test_a_pipe_put_in_place_after_the_check_is_refused_without_blocking(monkeypatch, tmp_path,
                                                                         fifo):
    """Reading opens without blocking and checks what it opened, not only what stat saw."""
    monkeypatch.setattr(data, "check_regular_file", Path)  # as if it had been a file then
    with time_limit(5), pytest.raises(paths.NotARegularFileError, match="a named pipe"):
        data.load_corpus(fifo)


@pytest.mark.parametrize("record, problem", [
    ({"text_file": "notes.txt", "size_bytes": 10}, '"sha256" is missing'),
    ({"text_file": "notes.txt", "sha256": 7, "size_bytes": 10}, '"sha256" is 7, not a string'),
    ({"text_file": None, "sha256": "ab", "size_bytes": "10"},
     '"text_file" is None, not a string; "size_bytes" is \'10\', not an integer'),
    ({"text_file": "notes.txt", "sha256": "ab", "size_bytes": 10, "valid_fraction": "0.1"},
     '"valid_fraction" is \'0.1\', not a number'),
    (["notes.txt"], "it should hold an object, not list"),
])
def test_a_damaged_corpus_record_is_named_in_one_line(tmp_path, trained_on_own_text, record,
                                                     problem):
    folder, own_text = trained_on_own_text
    shutil.copytree(folder / "run", tmp_path / "run")
    config = config_for(tmp_path, own_text)
    (config.run_dir / "corpus.json").write_text(json.dumps(record), "utf-8")
    before = (config.run_dir / "history.json").read_bytes()
    with pytest.raises(ValueError) as damaged:
        train(config_for(tmp_path, own_text, max_steps=10), progress=False, verbose=False)
    message = str(damaged.value)
    assert message.startswith(f"{relative(config.run_dir / 'corpus.json')} is damaged: ")
    assert problem in message and "\n" not in message
    assert (config.run_dir / "history.json").read_bytes() == before


@pytest.mark.parametrize("overrides, message", [
    ({"valid_fraction": 0.0}, "valid_fraction must lie strictly between 0 and 1"),
    ({"valid_fraction": 1}, "valid_fraction"),
    ({"valid_fraction": "0.1"}, "valid_fraction"),
    ({"text_file": 3}, "text_file must be the path of a text file or None"),
    ({"data_dir": "somewhere"}, "text_file and data_dir are both set"),
    ({"valid_chars": 20}, "valid_chars=20 must exceed len_per_section=20"),
])
def test_bad_text_file_settings_are_named_before_any_work(tmp_path, tiny_text_file,
                                                          overrides, message):
    config = config_for(tmp_path, tiny_text_file)
    for name, value in overrides.items():
        setattr(config, name, value)
    with pytest.raises(ValueError, match=message):
        config.validate()


def test_a_relative_text_file_is_read_from_the_repository_root(tmp_path, tiny_text_file):
    config = config_for(tmp_path, relative(tiny_text_file)).validate()
    assert config.text_file == "tests/fixtures/tiny.txt"
    assert resolve_from_root(config.text_file) == REPO_ROOT / "tests/fixtures/tiny.txt"
    path_config = config_for(tmp_path, "x")
    path_config.text_file = tiny_text_file
    assert path_config.validate().text_file == str(tiny_text_file)  # a str, for config.json


@pytest.mark.slow  # several trainings: in make test, not test-fast
def test_sampling_from_a_text_file_run_uses_only_its_characters(tmp_path, own_text):
    from helpers.sampling import Generator

    config = config_for(tmp_path, own_text, max_steps=10, save_every=10)
    train(config, progress=False, verbose=False)
    run = load_run(config.run_dir)
    assert run.config.text_file == str(own_text)
    train_part = training_part(own_text)
    assert set(run.vocabulary.chars) == set(train_part)
    generator = Generator(run.model, run.vocabulary)
    texts = generator.generate("The keeper ", 300, temperature=1.5, seed=1, num_samples=4)
    assert set("".join(texts)) <= set(train_part)
    # A prompt with characters the text never had ("Z", "ë"): a warning, then sampling goes on.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        text = generator.generate("Zoë ", 50, temperature=1.0)[0]
    assert any(issubclass(w.category, UnknownCharactersWarning) for w in caught)
    assert len(text) == 50 and set(text) <= set(train_part)


@pytest.mark.system
@pytest.mark.system
def test_generate_command_samples_a_text_file_run(tmp_path, own_text):
    config = config_for(tmp_path, own_text)
    train(config, progress=False, verbose=False)
    result = subprocess.run(
        [sys.executable, "-m", "helpers.generate", "--run-dir", str(config.run_dir),
         "--prompt", "The light ", "--num-chars", "200", "--temperature", "1.2"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    sample = result.stdout.rstrip("\n")
    assert sample.startswith("The light ") and len(sample) == 210
    assert set(sample) <= set(training_part(own_text))
