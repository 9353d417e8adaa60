"""Setting up training on a large text of your own: time and peak memory before the first step.

    python benchmarks/corpus_setup.py [--size-mb 200] [--variants bmp astral] [--no-write]

Writes a synthetic UTF-8 text of about ``--size-mb`` MB into a temporary folder (words drawn
from a fixed list mixing ASCII, accented Latin, Greek, Cyrillic, CJK and typographic
punctuation; the ``astral`` variant adds emoji, which take 4 bytes a character in a Python
string instead of 2), then measures, each in a fresh process:

- ``stages``: what ``train`` does before its first step, one stage at a time, with the same
  functions: ``helpers.corpus.load_training_data`` (read and hash the file through
  ``load_corpus``, count the vocabulary of the training part, encode the ids) and the first
  batch of ``helpers.batches.batch_dataset``;
- ``train``: ``train()`` itself with the default model for one step on the file (setup, the
  first step, one validation and one checkpoint), end to end.

Peak memory is the process's ``VmHWM`` (its resident high-water mark, which exec resets, unlike
``ru_maxrss``), read after each stage; "after import" is the same before any text is read, so
the difference is what the text costs. ``--before REV`` measures the stages with the helpers of
git revision REV as well (the code before text files could be trained on: ``load_corpus``,
then ``Vocabulary.from_text``, ``encode`` and ``batch_dataset`` on the whole text), for
comparison; that needs about 7 GB of memory at 200 MB.

The figures go into ``benchmarks/RESULTS.md`` between the markers of their own section; the
rest of that file (written by ``bench.py``) is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import numpy as np
import results_md  # benchmarks/, beside this script

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "RESULTS.md"
BEGIN, END = results_md.markers("corpus_setup.py")

# The letters words are made of, by how often they are drawn.
ALPHABETS = {
    "etaoinshrdlucmfwypvbgkjqxz": 40.0,
    "ETAOINSHRDLUCMFWYPVBGKJQXZ": 3.0,
    "0123456789": 1.0,
    "éèàùâêîôûçëïüöäßñ": 1.5,  # Latin-1: one byte a character in a Python string
    "αβγδεζηθικλμνξοπρστυφχψω": 0.5,
    "абвгдежзийклмнопрстуфхцчшщ": 0.5,
    "東京日本語中文字漢": 0.2,
    "—–“”‘’…€": 0.3,
}
EMOJI = "😀🎉🚀🌍🐍📚"  # beyond the Basic Multilingual Plane: 4 bytes a character
SEPARATORS = {" ": 0.82, "\n": 0.06, ", ": 0.07, ". ": 0.05}


def synthetic_text(path: Path, size_mb: float, astral: bool, seed: int = 0) -> dict:
    """Write about ``size_mb`` MB of words and separators drawn at random; return its sizes."""
    rng = np.random.default_rng(seed)
    letters = "".join(ALPHABETS)
    weights = np.concatenate([np.full(len(chars), w / len(chars))
                              for chars, w in ALPHABETS.items()])
    words = ["".join(rng.choice(list(letters), size=rng.integers(1, 11), p=weights / weights.sum()))
             for _ in range(20_000)]
    if astral:
        words += [rng.choice(list(EMOJI)) * int(rng.integers(1, 3)) for _ in range(200)]
    tokens = np.array([(w + s).encode("utf-8") for w in words for s in SEPARATORS], object)
    p_words = 1.0 / np.arange(1, len(words) + 1)  # Zipf-like: a few words are frequent
    p = np.outer(p_words / p_words.sum(), list(SEPARATORS.values())).ravel()
    target, written = int(size_mb * 1e6), 0
    with open(path, "wb") as file:
        while written < target:
            piece = b"".join(tokens[rng.choice(len(tokens), size=500_000, p=p)])
            piece = piece[: target - written]
            piece = piece[: len(piece.decode("utf-8", "ignore").encode("utf-8"))]
            file.write(piece)
            written += len(piece)
    text = path.read_text("utf-8")
    return {"bytes": written, "characters": len(text), "distinct": len(set(text)),
            "max_code_point": max(map(ord, set(text)))}


# --- In the child process -----------------------------------------------------------------


def _vm_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _peak_mb() -> float:
    return _vm_kb("VmHWM") / 1024


def child_stages(text_file: str, batch_size: int, len_per_section: int) -> dict:
    from helpers.backend import tf  # noqa: F401  (TensorFlow's own memory, before the text)
    from helpers.batches import batch_dataset
    from helpers.config import TrainConfig
    from helpers.corpus import load_training_data

    figures = {"after_import_mb": _peak_mb()}
    config = TrainConfig(text_file=text_file, batch_size=batch_size,
                         len_per_section=len_per_section).validate()
    started = time.perf_counter()
    data = load_training_data(config)
    figures.update({f"{stage}_s": seconds for stage, seconds in data.seconds.items()})
    figures["after_ids_mb"] = _peak_mb()
    before_batch = time.perf_counter()
    batches = batch_dataset(data.train_ids, batch_size, len_per_section, seed=config.seed)
    inputs, _ = next(iter(batches))
    assert inputs.shape == (batch_size, len_per_section)
    figures["first_batch_s"] = time.perf_counter() - before_batch
    figures["total_s"] = time.perf_counter() - started
    figures["peak_mb"] = _peak_mb()
    figures.update(characters=data.text_file["characters"], id_dtype=str(data.train_ids.dtype),
                   vocabulary=len(data.vocabulary))
    return figures


def child_stages_before(text_file: str, batch_size: int, len_per_section: int) -> dict:
    """The same stages with the older helpers (no text_file yet): the file's whole text."""
    from helpers.backend import tf  # noqa: F401
    from helpers.batches import batch_dataset
    from helpers.data import load_corpus
    from helpers.encoding import Vocabulary

    figures = {"after_import_mb": _peak_mb()}
    started = time.perf_counter()
    text = load_corpus(text_file)
    loaded = time.perf_counter()
    vocabulary = Vocabulary.from_text(text)
    counted = time.perf_counter()
    ids = vocabulary.encode(text, warn=False)
    encoded = time.perf_counter()
    figures.update(load_s=loaded - started, vocabulary_s=counted - loaded,
                   ids_s=encoded - counted, after_ids_mb=_peak_mb())
    inputs, _ = next(iter(batch_dataset(ids, batch_size, len_per_section)))
    figures["first_batch_s"] = time.perf_counter() - encoded
    figures["total_s"] = time.perf_counter() - started
    figures["peak_mb"] = _peak_mb()
    figures.update(characters=len(text), id_dtype=str(ids.dtype), vocabulary=len(vocabulary))
    return figures


def child_train(text_file: str, output_dir: str) -> dict:
    from helpers.backend import tf  # noqa: F401
    from helpers.config import TrainConfig
    from helpers.training import train

    figures = {"after_import_mb": _peak_mb()}
    started = time.perf_counter()
    history = train(TrainConfig(text_file=text_file, max_steps=1, log_every=1, save_every=1,
                                output_dir=output_dir), progress=False, verbose=False)
    figures["total_s"] = time.perf_counter() - started
    figures["first_step_and_validation_s"] = history[-1]["elapsed"]
    figures["peak_mb"] = _peak_mb()
    return figures


# --- In the parent ------------------------------------------------------------------------


def run_child(kind: str, args: list[str], pythonpath: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, __file__, "--child", kind, *args], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise RuntimeError(f"the {kind} child failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def export_helpers(rev: str, dest: Path) -> Path:
    """The ``helpers`` package of git revision ``rev``, unpacked into ``dest``."""
    archive = subprocess.run(["git", "archive", rev, "helpers"], cwd=REPO, check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def section(results: dict, size_mb: float, batch_size: int, len_per_section: int) -> str:
    lines = [
        BEGIN, "", "## Training on your own text: setting up on a large file", "",
        f"Written by `python benchmarks/corpus_setup.py` (size {size_mb:g} MB) on "
        f"{platform.machine()} with {os.cpu_count()} cores, {platform.system()}, Python "
        f"{platform.python_version()}, NumPy {np.__version__}; load average when it started: "
        f"{results['load_before']} (1, 5, 15 min), when it ended: {results['load_after']}. "
        f"Batches of {batch_size} sequences of {len_per_section} characters (the defaults); "
        "each measurement a fresh process. Peak "
        "memory is the process's resident high-water mark (VmHWM), TensorFlow's own included; "
        "bytes per character count only what the text adds to it. Two texts: `bmp` mixes ASCII "
        "with accented Latin, Greek, Cyrillic, CJK and typographic punctuation; `astral` adds "
        "a few emoji, which make CPython store every character of the text in 4 bytes "
        "instead of 2.", "",
        "| measure | " + " | ".join(results["variants"]) + " |",
        "| --- |" + " --- |" * len(results["variants"]),
    ]
    rows = [
        ("file size", lambda v: f"{v['file']['bytes'] / 1e6:,.0f} MB"),
        ("characters", lambda v: f"{v['file']['characters'] / 1e6:,.1f} million"),
        ("distinct characters (vocabulary)", lambda v: f"{v['file']['distinct']}"),
        ("bytes a character in the Python string", lambda v: _str_width(v["file"])),
        ("ids", lambda v: v["stages"]["id_dtype"]),
        ("read, hash and decode (`load_corpus`)", lambda v: f"{v['stages']['load_s']:.1f} s"),
        ("vocabulary of the training part", lambda v: f"{v['stages']['vocabulary_s']:.1f} s"),
        ("ids", lambda v: f"{v['stages']['ids_s']:.1f} s"),
        ("first batch", lambda v: f"{v['stages']['first_batch_s']:.2f} s"),
        ("setup in all, load to first batch", lambda v: f"{v['stages']['total_s']:.1f} s"),
        ("peak memory after importing TensorFlow",
         lambda v: f"{v['stages']['after_import_mb']:,.0f} MiB"),
        ("peak memory, load to first batch", lambda v: f"{v['stages']['peak_mb']:,.0f} MiB"),
        ("bytes per character over TensorFlow's own",
         lambda v: f"{_per_char(v['stages'], v['file']):.1f}"),
        ("`train()`, one step of the default model: wall time",
         lambda v: f"{v['train']['total_s']:.1f} s"),
        ("`train()`, one step of the default model: peak memory",
         lambda v: f"{v['train']['peak_mb']:,.0f} MiB"),
    ]
    if all("before" in results["by_variant"][v] for v in results["variants"]):
        rev = results["before_rev"]
        rows += [
            (f"before (`{rev}`): setup, load to first batch",
             lambda v: f"{v['before']['total_s']:.1f} s"),
            (f"before (`{rev}`): peak memory", lambda v: f"{v['before']['peak_mb']:,.0f} MiB"),
            (f"before (`{rev}`): bytes per character over TensorFlow's own",
             lambda v: f"{_per_char(v['before'], v['file']):.1f}"),
        ]
    for name, cell in rows:
        lines.append(f"| {name} | " + " | ".join(cell(results["by_variant"][v])
                                                 for v in results["variants"]) + " |")
    lines += ["", "Raw: `" + json.dumps(results["by_variant"]) + "`", "", END]
    return "\n".join(lines) + "\n"


def _str_width(file: dict) -> str:
    """Bytes a character in CPython's string of this text (its widest character decides)."""
    return "1" if file["max_code_point"] <= 0xFF else "2" if file["max_code_point"] <= 0xFFFF \
        else "4"


def _per_char(stages: dict, file: dict) -> float:
    return (stages["peak_mb"] - stages["after_import_mb"]) * 2**20 / file["characters"]


def write_section(text: str) -> None:
    """Put ``text`` (BEGIN..END) into RESULTS.md in place of the old section, or at its end."""
    results_md.write_section(RESULTS, text, BEGIN, END)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=float, default=200)
    parser.add_argument("--variants", nargs="+", choices=["bmp", "astral"],
                        default=["bmp", "astral"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--len-per-section", type=int, default=100)
    parser.add_argument("--no-train", action="store_true", help="skip the train() column")
    parser.add_argument("--before", metavar="REV",
                        help="also measure the stages with the helpers of git revision REV")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.child:
        child = {"stages": child_stages, "stages_before": child_stages_before,
                 "train": child_train}[args.child]
        extra = [int(a) for a in rest[1:]] if args.child.startswith("stages") else rest[1:]
        print(json.dumps(child(rest[0], *extra)))
        return

    results = {"variants": args.variants, "by_variant": {}, "load_before": load_average(),
               "before_rev": args.before}
    sizes = [str(args.batch_size), str(args.len_per_section)]
    with tempfile.TemporaryDirectory(prefix="corpus-setup-") as tmp:
        tmp = Path(tmp)
        old_helpers = export_helpers(args.before, tmp / "before") if args.before else None
        for variant in args.variants:
            path = tmp / f"{variant}.txt"
            print(f"{variant}: writing {args.size_mb:g} MB of synthetic text", flush=True)
            figures = {"file": synthetic_text(path, args.size_mb, astral=variant == "astral")}
            print(f"  {figures['file']}", flush=True)
            figures["stages"] = run_child("stages", [str(path), *sizes], REPO)
            print(f"  stages: {figures['stages']}", flush=True)
            if not args.no_train:
                figures["train"] = run_child("train", [str(path), str(tmp / f"run-{variant}")],
                                             REPO)
                print(f"  train(): {figures['train']}", flush=True)
            if old_helpers:
                figures["before"] = run_child("stages_before", [str(path), *sizes], old_helpers)
                print(f"  before ({args.before}): {figures['before']}", flush=True)
            results["by_variant"][variant] = figures
            path.unlink()
    results["load_after"] = load_average()
    if args.no_write or args.no_train:
        return
    text = section(results, args.size_mb, args.batch_size, args.len_per_section)
    print(text)
    write_section(text)
    print(f"wrote {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
