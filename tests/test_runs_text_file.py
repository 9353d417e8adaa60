"""``text_file`` through papermill, the main job, sweeps and ``make run TEXT=...``.

The notebook runs train a tiny model for 20 steps on a text written here: lowercase French-ish
words with accents, no capitals or digits, so that a sample holding only its characters (and
none of WikiText's) says that generation reads the run's own vocabulary.
"""

import hashlib
import json
import random
import shlex
import shutil
import subprocess
import sys

import nbformat
import pytest

from helpers import runs
from helpers.paths import REPO_ROOT, relative

TINY = {"hidden_nodes": 8, "batch_size": 4, "len_per_section": 16, "max_steps": 20,
        "log_every": 10, "save_every": 20, "learning_rate": 0.01, "show_original": False,
        "show_overfitting": False}
WORDS = ("le", "café", "des", "rêves", "sur", "la", "mer", "où", "un", "pré", "doré", "et",
         "soir", "tombe", "vent", "chante")


def write_own_text(path):
    rng = random.Random(0)
    lines = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 12))) + "."
             for _ in range(80)]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def arguments(parameters):
    return [arg for name, value in parameters.items() for arg in ("-p", name, str(value))]


def errors_in(notebook_path):
    nb = nbformat.read(notebook_path, as_version=4)
    return [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
            if out.output_type == "error"]


def read_json(path):
    return json.loads(path.read_text("utf-8"))


def training_part(path):
    text = path.read_text("utf-8")
    return text[: len(text) - -(-len(text) // 10)]


@pytest.mark.system
def test_papermill_runs_notebook_04_on_a_text_file(tmp_path):
    own = write_own_text(tmp_path / "own.txt")
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "papermill", "notebooks/04_training.ipynb",
         str(tmp_path / "04.ipynb"), *arguments({**TINY, "text_file": own}),
         "-p", "output_dir", relative(run_dir), "--no-progress-bar"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not errors_in(tmp_path / "04.ipynb")
    assert [row["step"] for row in read_json(run_dir / "history.json")] == [0, 10, 20]
    record = read_json(run_dir / "corpus.json")
    assert record["sha256"] == hashlib.sha256(own.read_bytes()).hexdigest()
    assert record["size_bytes"] == own.stat().st_size
    assert read_json(run_dir / "config.json")["text_file"] == str(own)
    chars = read_json(run_dir / "vocabulary.json")["chars"]
    assert set(chars) == set(training_part(own))


@pytest.mark.system
def test_main_job_trains_and_samples_a_text_file_given_from_another_folder(tmp_path):
    own = write_own_text(tmp_path / "own.txt")
    outputs = tmp_path / "outputs"
    # From tmp_path, as a user in the folder of their text would type it: a relative path.
    result = subprocess.run(
        [sys.executable, "-m", "helpers.runs", "main", "--outputs", str(outputs), "--name",
         "own", "-p", "text_file", "own.txt", *arguments(TINY), "-p", "num_chars", "300",
         "-p", "temperature", "1.0"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    run_dir = outputs / "runs" / "own"
    for name in ("04_training.ipynb", "05_sampling.ipynb"):
        assert not errors_in(run_dir / name), name
    metrics = read_json(run_dir / "metrics.json")
    assert metrics["parameters"]["text_file"] == str(own)  # outside the repository: absolute
    assert metrics["steps"] == 20
    assert read_json(run_dir / "corpus.json")["sha256"] == \
        hashlib.sha256(own.read_bytes()).hexdigest()
    # 05 ran with WikiText's prompt, whose capitals and "k", "w", "b", "p" this text lacks:
    # it warned and went on, and every sample holds only the text's own characters.
    own_chars = set(training_part(own))
    samples = read_json(run_dir / "samples.json")
    assert samples["prompt"] == "I plan to make the world a better place"
    for sample in samples["samples"]:
        assert sample["text"] and set(sample["text"]) <= own_chars, sample
    generated = subprocess.run(
        [sys.executable, "-m", "helpers.generate", "--run-dir", str(run_dir), "--prompt",
         "le café ", "--num-chars", "400", "--temperature", "1.5", "--num-samples", "3"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert generated.returncode == 0, generated.stderr[-2000:]
    lines = generated.stdout
    assert lines.count("le café ") >= 3 and set(lines) <= own_chars


def test_a_sweep_over_text_files_names_each_run_after_its_file(tmp_path, capsys,
                                                              tiny_text_file):
    assert runs.combination_name({"text_file": "books/notes.txt", "hidden_nodes": 8}) == \
        "text_file=notes.txt,hidden_nodes=8"
    assert runs.combination_name({"text_file": None}) == "text_file=None"
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copyfile(tiny_text_file, tmp_path / folder / "notes.txt")
    outputs = tmp_path / "outputs"
    code = runs.main(["sweep", "--outputs", str(outputs), "--param", "text_file",
                      str(tmp_path / "a/notes.txt"), str(tmp_path / "b/notes.txt")])
    assert code == 1
    assert "share the folder 'text_file=notes.txt'" in capsys.readouterr().err
    assert not outputs.exists()  # nothing ran


@pytest.mark.system
def test_make_run_passes_text_to_the_main_job():
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dry = subprocess.run(["make", "--no-print-directory", "-n", "run", "TEXT=books/notes.txt",
                          "RUN=mine"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    command = shlex.split(dry.stdout.strip().splitlines()[-1])
    assert command[-6:] == ["main", "--name", "mine", "-p", "text_file", "books/notes.txt"]


@pytest.mark.system
@pytest.mark.parametrize("path", ["my books/notes 1.txt", "Anne's notes.txt"])
def test_make_run_keeps_a_text_path_with_spaces_or_quotes_whole(path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dry = subprocess.run(["make", "--no-print-directory", "-n", "run", f"TEXT={path}"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    command = shlex.split(dry.stdout.strip().splitlines()[-1])
    assert command[-3:] == ["-p", "text_file", path]
