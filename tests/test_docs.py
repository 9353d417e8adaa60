"""The pages (README.md, CONTRIBUTING.md, docs/*.md): their links resolve, the commands they
name exist, and each headline figure is the one its record holds (docs/records/*.json for
runs, the ``Raw:`` lines of benchmarks/RESULTS.md for benchmarks)."""

import json
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
README = REPO_ROOT / "README.md"
PAGES = [README, REPO_ROOT / "CONTRIBUTING.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
RECORDS = REPO_ROOT / "docs" / "records"
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6} (.+)$", re.MULTILINE)


def _text(path: Path) -> str:
    return path.read_text("utf-8")


def _page(name: str) -> str:
    return _text(REPO_ROOT / name)


def _record(name: str) -> dict:
    return json.loads(_text(RECORDS / name))


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _relative_links(page: Path):
    for target in LINK.findall(_text(page)):
        if not re.match(r"[a-z]+:", target):
            yield target


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_relative_link_resolves(page):
    for target in _relative_links(page):
        path, _, fragment = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        assert resolved.exists(), f"{page.name}: {target} does not exist"
        if fragment and resolved.suffix == ".md":
            anchors = {_anchor(h) for h in HEADING.findall(_text(resolved))}
            assert fragment in anchors, f"{page.name}: no heading #{fragment} in {path}"


def test_the_link_pattern_finds_readmes_links():
    assert {"docs/results.md", "docs/main_run_loss_curve.png", "CONTRIBUTING.md"} <= \
        set(_relative_links(README))


def test_readme_is_short_and_its_first_screen_gives_the_two_commands():
    text = _text(README)
    assert len(text.encode("utf-8")) < 10_240, f"README.md is {len(text.encode()):,} bytes"
    first_screen = "\n".join(text.splitlines()[:30])
    for command in ("make run", "make test"):
        assert re.search(rf"^{command}\s", first_screen, re.MULTILINE), command


def test_every_make_target_the_pages_name_exists():
    targets = set(re.findall(r"^([\w-]+):", _text(REPO_ROOT / "Makefile"), re.MULTILINE))
    named = set()
    for page in PAGES:
        text = _text(page)
        named |= set(re.findall(r"`make ([\w-]+)", text))
        named |= set(re.findall(r"^make ([\w-]+)", text, re.MULTILINE))
    named -= {word for word in named if word.isupper() or "=" in word}
    assert named >= {"run", "test", "test-fast"}
    assert named <= targets, f"not in the Makefile: {sorted(named - targets)}"


def test_memory_is_in_mib_on_every_page():
    for page in PAGES:
        # A file's size is in MB (10^6 bytes, as benchmarks/corpus_setup.py writes it); a
        # process's memory is in MiB, as ru_maxrss / 1024 and VmHWM / 1024 give it.
        stray = re.findall(r"\b[\d,.]+ MB\b(?! of text| text)", _text(page))
        assert not stray, f"{page.name}: memory in MB: {stray}"


# The main run: docs/records/main_run.json


def _speed_with_size(text: str, speed: str, units: int) -> bool:
    """The speed appears in a paragraph or table row that names the model size."""
    blocks = [b for b in re.split(r"\n\s*\n|\n(?=\|)", text) if speed in b]
    return bool(blocks) and all(f"{units} units" in b for b in blocks)


def test_readme_states_the_main_runs_headline_figures_from_its_record():
    run, text = _record("main_run.json"), _text(README)
    metrics = run["metrics"]
    assert f"{metrics['steps']:,} steps" in text
    assert f"**{metrics['valid_bpc']:.3f} bits per character**" in text
    assert f"{metrics['valid_bpc_carried']:.3f} with the state carried" in text
    assert f"{metrics['train_seconds'] / 60:.1f} minutes of training" in text
    assert f"{metrics['peak_rss_mib']:,} MiB" in text
    speed = f"{metrics['chars_per_sec']:,}"
    assert _speed_with_size(text, speed, run["model"]["hidden_nodes"]), speed
    assert run["sample"]["readable"] in text and f"temperature {run['sample']['temperature']}" \
        in text
    assert f"({run['curve'].removeprefix('docs/')})" in _page("docs/results.md")
    assert f"({run['curve']})" in text


def test_results_page_states_the_main_runs_figures_from_its_record():
    run, text = _record("main_run.json"), _page("docs/results.md")
    metrics = run["metrics"]
    rows = {
        "steps": f"{metrics['steps']:,}",
        "validation BPC, each section": f"{metrics['valid_bpc']:.3f}",
        "the state carried": f"{metrics['valid_bpc_carried']:.3f}",
        "training BPC": f"{metrics['train_bpc']:.3f}",
        "training time": f"{metrics['train_seconds']:.1f} s ({metrics['train_seconds'] / 60:.1f} "
                         "min)",
        f"training speed, {run['model']['hidden_nodes']} units":
            f"{metrics['chars_per_sec']:,} characters/s",
        "peak memory": f"{metrics['peak_rss_mib']:,} MiB",
    }
    for measure, value in rows.items():
        assert re.search(rf"^\| [^|]*{re.escape(measure)}[^|]* \| {re.escape(value)} \|$", text,
                         re.MULTILINE), (measure, value)
    assert f"{run['model']['parameters']:,} parameters" in text
    assert run["sample"]["readable"] in text
    for row in run["progression"]:
        assert f"| {row['step']:,} | {row['valid_bpc']:.2f} | {row['readable']} |" in text
    first = run["progression"][0]
    assert f"averages {first['train_bpc']:.2f} over its first {first['step']} steps" in text


def test_the_main_runs_record_is_of_the_main_preset_as_it_is():
    """A change to make run's settings needs a new record (benchmarks/main_run_record.py)."""
    import sys

    sys.path.insert(0, str(REPO_ROOT))
    from helpers.config import PRESETS

    settings = _record("main_run.json")["settings"]
    for name, value in PRESETS["main"].items():
        if name not in ("max_steps", "warmup_steps"):  # the budget's plan fixes these
            assert settings[name] == value, name
    plan = _record("main_run.json")["plan"]
    assert (settings["max_steps"], settings["warmup_steps"]) == \
        (plan["max_steps"], plan["warmup_steps"])


def _tried_row(row: dict) -> str:
    args = f"`{row['args']}`" if row["args"] else "(none: `make run`)"
    minutes = f"{row['training_minutes']:.1f} min" + ("†" if row.get("shared_cores_busy") else "")
    carried = f"{row['valid_bpc_carried']:.3f}" + \
        ("*" if row.get("carried_from_last_checkpoint") else "")
    return (f"| {row['change']} | {args} | {row['steps']:,} | {minutes} | "
            f"{row['valid_bpc']:.3f} | {carried} | {row['best_valid_bpc']:.3f} "
            f"(step {row['best_step']:,}) |")


def test_results_page_tables_of_tried_settings_are_their_record():
    tried, text = _record("tried_settings.json"), _page("docs/results.md")
    rows = tried["long"] + tried["short"]
    table_rows = [line for line in text.splitlines() if line.startswith("| ") and " min" in line
                  and "(step " in line]
    assert table_rows == [_tried_row(row) for row in rows]
    for row in rows:  # by steps: the steps asked for replace the main preset's minutes
        steps = "" if "-p max_steps" in row["args"] else " MAX_STEPS=4000"
        assert row["command"] == (f'make run RUN=NAME{steps} ARGS="{row["args"]}"'
                                  if row["args"] else f"make run{steps}")


def test_every_record_names_its_machine():
    for record in RECORDS.glob("*.json"):
        content = json.loads(_text(record))
        assert "2 CPU cores" in content["machine"] and content["sources"], record.name
    results = _text(REPO_ROOT / "benchmarks" / "RESULTS.md")
    assert results.count("with 2 cores") == len(_raw_records())


# The benchmarks: the Raw: line of each section of benchmarks/RESULTS.md


def _raw_records() -> list[dict]:
    results = _text(REPO_ROOT / "benchmarks" / "RESULTS.md")
    return [json.loads(raw) for raw in re.findall(r"^Raw: `(.+)`$", results, re.MULTILINE)]


def _raw(key: str) -> dict:
    return next(record for record in _raw_records() if key in record)


def test_performance_page_states_benchmark_figures_from_their_records():
    bench, text = _raw("training"), _page("docs/performance.md")
    sizes = re.search(r"hidden_nodes=(\d+)", _text(REPO_ROOT / "benchmarks" / "RESULTS.md"))
    assert f"| measure, {sizes.group(1)} units |" in text
    training, sampling = bench["training"], bench["sampling"]
    ours = training["four_gate"]
    expected = [
        f"| {ours:,.0f} characters/s |",
        f"{training['keras_lstm']:,.0f} characters/s (ours: {ours / training['keras_lstm']:.2f}x)",
        f"{training['original_port']:,.0f} characters/s (ours: "
        f"{ours / training['original_port']:.2f}x)",
        f"peak ({bench['matmul_peak'] / 1e9:.1f} GFLOP/s)",
        f"| {sampling['in_graph_xla']:,.0f} characters/s |",
        f"| {sampling['in_graph']:,.0f} characters/s |",
        f"| {sampling['stepwise']:,.0f} characters/s |",
        f"| {sampling['refeed']:,.0f} characters/s (XLA loop: "
        f"{sampling['in_graph_xla'] / sampling['refeed']:.0f}x) |",
        f"| {bench['peak_rss_mb']:,.0f} MiB |",
    ]
    for figure in expected:
        assert figure in text, figure


SAME_SECONDS_LABELS = {"tutorial": "TensorFlow's tutorial as published, `GRU(1024)`",
                       "keras-lstm": "`keras.layers.LSTM` of 512 units, our training",
                       "transformer": "a small causal Transformer, nanoGPT's hyperparameters"}


def test_performance_page_states_the_same_seconds_from_their_record():
    same_time, text = _raw("transformer"), _page("docs/performance.md")
    ours = same_time["ours"]

    def row(label, r, versus=""):
        return (f"| {label} | {r['parameters']:,} | {r['steps']:,} | {r['chars'] / 1e6:.1f} M | "
                f"{r['seconds']:.0f} | {r['valid_bpc']:.3f}{versus} |")

    assert row(f"ours, {ours['settings']['hidden_nodes']} units", ours) in text
    assert set(same_time) == {"ours", *SAME_SECONDS_LABELS}
    for name, label in SAME_SECONDS_LABELS.items():
        other = same_time[name]
        lower = other["valid_bpc"] - ours["valid_bpc"]
        versus = (f" (ours: {lower:.3f} lower, a perplexity {2 ** lower:.2f}x lower)"
                  if lower > 0 else f" (ours: {-lower:.3f} higher)")
        assert row(label, other, versus) in text, name
    seconds = re.search(r"same_time\.py --seconds (\d+)", _text(REPO_ROOT / "benchmarks" /
                                                                  "RESULTS.md")).group(1)
    assert f"| contender, about {seconds} s of training |" in text
    assert f"--seconds {seconds}`" in text


def test_performance_page_states_the_corpus_setup_from_its_record():
    setup, text = _raw("bmp"), _page("docs/performance.md")
    bmp, astral = setup["bmp"], setup["astral"]
    expected = [
        f"| {bmp['before']['total_s']:.1f} s | {bmp['stages']['total_s']:.1f} s |",
        f"TensorFlow's {bmp['stages']['after_import_mb']:,.0f} MiB included | "
        f"{bmp['before']['peak_mb']:,.0f} MiB | {bmp['stages']['peak_mb']:,.0f} MiB |",
        f"| {astral['before']['total_s']:.1f} s, {astral['before']['peak_mb']:,.0f} MiB | "
        f"{astral['stages']['total_s']:.1f} s, {astral['stages']['peak_mb']:,.0f} MiB |",
        f"| not measured | {bmp['train']['total_s']:.1f} s, {bmp['train']['peak_mb']:,.0f} MiB |",
        f"| {bmp['train']['peak_mb']:,.0f} MiB | one `train()` step",
    ]
    for figure in expected:
        assert figure in text, figure
    chars = bmp["file"]["characters"]
    for stage, column in ((bmp["before"], "before"), (bmp["stages"], "now")):
        per_char = (stage["peak_mb"] - stage["after_import_mb"]) * 2**20 / chars
        assert f"{per_char:.1f}" in text, column


def test_memory_figures_on_the_performance_page_say_what_each_measured():
    text = _page("docs/performance.md")
    run, bench = _record("main_run.json"), _raw("training")
    table = text[text.index("## Memory"):]
    for figure in (bench["peak_rss_mb"], _raw("bmp")["bmp"]["train"]["peak_mb"],
                   run["metrics"]["peak_rss_mib"]):
        assert f"| {figure:,.0f} MiB |" in table, figure
