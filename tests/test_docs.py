"""The pages (README.md, CONTRIBUTING.md, docs/*.md): their links resolve, the commands they
name exist, and each headline figure is the one its record holds (docs/records/*.json for
runs, the ``Raw:`` lines of benchmarks/RESULTS.md for benchmarks)."""

import ast
import csv
import json
import math
import re
import statistics
from pathlib import Path

import pytest

from helpers.config import PRESETS, TrainConfig, with_preset

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


# A size in bytes, in any unit; a process's memory is in MiB on every page.
SIZE = re.compile(r"\b\d[\d,.]*\s?(?:[kKMGTP]i?B|(?:kilo|mega|giga|tera)bytes?)\b")
# The only sizes given in decimal units: (pages, pattern). Nothing else may be in kB, MB, GB.
DECIMAL_SIZES = [
    # a text file's size, as benchmarks/corpus_setup.py writes it
    (("docs/performance.md", "docs/own-text.md"), r"\d+ MB (?:of )?text\b"),
    (("CONTRIBUTING.md",), r"\d+ KB of prose"),  # tests/fixtures/tiny.txt
    # the original's dense one-hot arrays
    (("docs/original.md",), r"[\d.]+ GB (?:on its own figures|for `wiki\.test\.raw` as published)"),
    # mybinder.org's memory limit, in the unit it states it in (tests/test_binder.py)
    (("docs/binder.md", "docs/results.md"), r"mybinder\.org's 2 GB limit"),
    (("docs/performance.md",), r"mybinder\.org allows 2 GB \(2 × 10⁹ bytes, [\d,]+ MiB\)"),
]


def _prose(text: str) -> str:
    """The text with each run of white space (line breaks included) made one space."""
    return " ".join(text.split())


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_memory_is_in_mib_on_every_page(page):
    text, name = _prose(_text(page)), str(page.relative_to(REPO_ROOT))
    allowed = [m.span() for pages, pattern in DECIMAL_SIZES if name in pages
               for m in re.finditer(pattern, text)]
    stray = [m.group() for m in SIZE.finditer(text) if not m.group().endswith(" MiB")
             and not any(start <= m.start() and m.end() <= end for start, end in allowed)]
    assert not stray, f"{name}: a size not in MiB where no file, array or limit is meant: {stray}"


def test_the_size_pattern_catches_memory_in_other_units():
    for written in ("1.72 GB", "1,502 MB", "2 GiB", "900 kB", "3 gigabytes"):
        assert SIZE.search(f"the kernel peaked at {written}."), written
    assert not SIZE.search("150 units, 4 bytes a character")


def test_the_pages_say_once_which_sizes_are_in_which_unit():
    text = _prose(_page("docs/performance.md"))
    assert "a process's memory is in MiB (2^20 bytes" in text
    assert "only a file's or an array's size is in decimal MB or GB (10^6 or 10^9 bytes)" in text


# The main run: docs/records/main_run.json


def _speed_with_size(text: str, speed: str, units: int) -> bool:
    """The speed appears in a paragraph or table row that names the model size."""
    blocks = [b for b in re.split(r"\n\s*\n|\n(?=\|)", text) if speed in b]
    return bool(blocks) and all(f"{units} units" in b for b in blocks)


def test_readme_states_the_main_runs_headline_figures_from_its_record():
    run, text = _record("main_run.json"), _text(README)
    metrics = run["metrics"]
    assert f"{metrics['steps']:,} steps" in text
    # The headline is the state-carried figure, the zero-state one beside it.
    flowing = " ".join(text.split())
    assert f"with the state carried through it (as language models are usually scored), it " \
           f"scores **{metrics['valid_bpc_carried']:.3f} bits per character**" in flowing
    assert f"{metrics['valid_bpc']:.3f} with each section of" in flowing
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
        "validation BPC, the state carried": f"{metrics['valid_bpc_carried']:.3f}",
        "the same, each section": f"{metrics['valid_bpc']:.3f}",
        "training BPC": f"{metrics['train_bpc']:.3f}",
        "training time": f"{metrics['train_seconds']:.1f} s ({metrics['train_seconds'] / 60:.1f} "
                         "min)",
        f"training speed, {run['model']['hidden_nodes']} units, the steps alone":
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
    settings = _record("main_run.json")["settings"]
    for name, value in PRESETS["main"].items():
        if name not in ("max_steps", "warmup_steps"):  # the budget's plan fixes these
            # "auto" is recorded as what it chose on the run's machine
            assert settings[name] == value or value == "auto" and settings[name] in (
                "float32", "bfloat16"), name
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


def _budget_plan(what: str) -> tuple[str, str, str]:
    """The steps, warm-up and timed step of the budget that planned a group's first row, as
    the group's description states them."""
    return re.search(r"planned by its budget \(([\d,]+) steps, a warm-up of (\d+), from a "
                     r"timed step of ([\d.]+) s", what).groups()


def test_results_page_tables_of_tried_settings_are_their_record():
    tried, text = _record("tried_settings.json"), _page("docs/results.md")
    # By steps (the steps asked for replace the preset's minutes), or by its budget (None)
    groups = {"long": 4000, "short": 4000, "main_steps": tried["main_steps_max_steps"],
              "main_minutes": None, "main_now": tried["main_now_max_steps"],
              "main_levers": tried["main_levers_max_steps"], "main_widths": None,
              "main_inputs": tried["main_inputs_max_steps"], "main_sections": None,
              "main_optimiser": tried["main_optimiser_max_steps"]}
    rows = [row for group in groups for row in tried[group]]
    table_rows = [line for line in text.splitlines() if line.startswith("| ") and " min" in line
                  and "(step " in line]
    assert table_rows == [_tried_row(row) for row in rows]
    for group, max_steps in groups.items():
        for row in tried[group]:
            steps = "" if "-p max_steps" in row["args"] or max_steps is None \
                else f" MAX_STEPS={max_steps}"
            assert row["command"] == (f'make run RUN=NAME{steps} ARGS="{row["args"]}"'
                                      if row["args"] else f"make run{steps}")
    assert f"`make run RUN=NAME MAX_STEPS={groups['main_steps']} ARGS=\"...\"`" in text
    # The budgets of main_now's and main_levers' first rows and the same steps asked for
    # train alike: their plans, as the record states them, are what `MAX_STEPS=...` gives.
    for group in ("main_now", "main_levers"):
        planned, warmup, _ = _budget_plan(tried[f"{group}_what"])
        assert int(planned.replace(",", "")) == groups[group] == tried[group][0]["steps"]
        assert with_preset("main", {"max_steps": groups[group]})["warmup_steps"] == int(warmup)
        assert f"`make run RUN=NAME MAX_STEPS={groups[group]} ARGS=\"...\"`" in text
        # Each row sets every value in which the preset now differs from the one it ran at.
        assert all(_params(row).get("hidden_nodes") == "512" for row in tried[group])
    assert PRESETS["main"]["hidden_nodes"] != 512
    # The widths' first row is main_levers' first: the same run, planned by its budget.
    widths, levers = tried["main_widths"], tried["main_levers"]
    same = ("steps", "training_minutes", "valid_bpc", "valid_bpc_carried", "best_valid_bpc")
    assert [widths[0][k] for k in same] == [levers[0][k] for k in same]
    assert widths[0]["plan_step_s"] == float(_budget_plan(tried["main_levers_what"])[2])
    # The first rows of the groups at an earlier main run's steps and minutes are that run,
    # planned by its budget as main_inputs' description states.
    planned, warmup, step = _budget_plan(tried["main_inputs_what"])
    earlier = tried["main_sections"][0]
    assert int(planned.replace(",", "")) == earlier["steps"] == groups["main_inputs"]
    assert with_preset("main", {"max_steps": groups["main_inputs"]})["warmup_steps"] == \
        int(warmup)
    assert earlier == {**tried["main_inputs"][0], "change": earlier["change"],
                       "plan_step_s": float(step), "command": "make run"}
    # The optimiser's group: its first row is commit ec2c204's make run on a second machine,
    # planned by its budget; the steps asked for give the same warm-up.
    planned, warmup, _ = _budget_plan(tried["main_optimiser_what"])
    first = tried["main_optimiser"][0]
    assert int(planned.replace(",", "")) == first["steps"] == groups["main_optimiser"]
    assert with_preset("main", {"max_steps": groups["main_optimiser"]})["warmup_steps"] == \
        int(warmup)
    assert not first.get("shared_cores_busy") and \
        all(r.get("shared_cores_busy") for r in tried["main_optimiser"][1:])
    # The preset's width is the widths' row of that many units without a seed
    preset_row = _one(widths, lambda r: _params(r) == {
        "hidden_nodes": str(PRESETS["main"]["hidden_nodes"])})
    assert "the preset since" in preset_row["change"]


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
                       "keras-lstm": "`keras.layers.LSTM` of {units} units, our training",
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
        label = label.format(units=other["settings"].get("hidden_nodes"))
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


# Figures in the pages' prose: each phrase is built from its record, so a figure that drifts
# from its record, or a record re-measured without its page, fails here. Words stand for a few
# small numbers and fractions, rounded from the records as the pages say ("about").

NUMBER_WORDS = {2: "two", 3: "three", 4: "four"}
TIMES_WORDS = {2: "twice", 3: "three times", 4: "four times"}
PART_WORDS = {2: "half", 3: "a third", 4: "a quarter", 5: "a fifth", 10: "a tenth",
              20: "a twentieth"}


def _cores(machine: str) -> int:
    return int(re.search(r"(\d+) CPU cores shared", machine).group(1))


def _params(row: dict) -> dict:
    """A tried row's arguments, ``-p name value ...``, as {name: value} (values as written)."""
    return dict(re.findall(r"-p (\w+) (\S+)", row["args"]))


def _one(rows: list[dict], test) -> dict:
    found = [row for row in rows if test(row)]
    assert len(found) == 1, [row["change"] for row in found]
    return found[0]


def _assigned(path: Path, name: str):
    """The value of a module-level assignment, read without importing the module."""
    for node in ast.parse(_text(path)).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name
                                                for t in node.targets):
            expression = compile(ast.Expression(node.value), str(path), "eval")
            return eval(expression, {"__builtins__": {}})  # a constant's arithmetic
    raise AssertionError(f"{name} is not assigned in {path.name}")


def _test_split_characters() -> int:
    """len(wiki.test.raw) as notebook 01's stored output printed it."""
    notebook = json.loads(_text(REPO_ROOT / "notebooks" / "01_data_loading.ipynb"))
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code" and 'load_split("test")' in "".join(cell["source"]):
            printed = "".join("".join(o.get("text", "")) for o in cell["outputs"])
            return int(re.search(r"^([\d,]+) characters$", printed, re.MULTILINE)
                       .group(1).replace(",", ""))
    raise AssertionError("notebook 01 prints no length of the test split")


def _readme_figures() -> list[str]:
    run = _record("main_run.json")
    settings, metrics = run["settings"], run["metrics"]
    units = run["model"]["hidden_nodes"]
    assert run["model"]["num_layers"] == 1
    return [
        f"recurrent products in {settings['matmul_dtype']}",
        f"trains the main model ({units} units) for {settings['time_budget']:g} minutes",
        f"`make run` trains for {settings['time_budget']:g} minutes by the clock",
        f"({_cores(run['machine'])} shared CPU cores, no GPU)",
        f"a one-layer LSTM of {units} units in {metrics['train_seconds'] / 60:.1f} minutes",
        f"at {metrics['chars_per_sec']:,} characters a second ({units} units, the steps "
        "alone)",
        f"On the first {settings['valid_chars']:,} characters of WikiText-2's validation text",
        f"each section of {settings['len_per_section']} characters from a zero state",
    ]


def _results_main_run_figures() -> list[str]:
    run = _record("main_run.json")
    settings, plan, metrics = run["settings"], run["plan"], run["metrics"]
    step_chars = settings["batch_size"] * settings["len_per_section"]
    # The run went over its budget: its steps were slower than the plan's timed one.
    assert metrics["train_seconds"] > settings["time_budget"] * 60
    assert step_chars / metrics["chars_per_sec"] > plan["pace"]["per_step"]
    earlier_step = _budget_plan(_record("tried_settings.json")["main_optimiser_what"])[2]
    losses = _assigned(REPO_ROOT / "helpers" / "original.py", "PRINTED_LOSSES")
    last = max(losses)
    return [
        f"one layer of {settings['hidden_nodes']} units",
        f"dropout {settings['dropout']:g} on its outputs and "
        f"{PART_WORDS[round(1 / settings['recurrent_dropout'])]} of its recurrent weights dropped",
        f"batches of {settings['batch_size']} sequences of {settings['len_per_section']} "
        f"characters, Adam at {settings['learning_rate']:g} with a beta_2 of "
        f"{settings['adam_beta2']:g}, reached over a warm-up of "
        f"{PART_WORDS[round(plan['max_steps'] / plan['warmup_steps'])]} of the steps and "
        f"decaying on a {settings['lr_schedule']} to "
        f"{'zero' if settings['lr_floor'] == 0 else settings['lr_floor']} by the end",
        f"clipping at {settings['clip_norm']:.1f}, {settings['time_budget']:g} minutes of "
        f"training, training on `wiki.{settings['train_split']}.raw`",
        f"validating on the first {settings['valid_chars']:,} characters of "
        f"`wiki.{settings['valid_split']}.raw`",
        f"the run timed {plan['pace']['per_step']:.3f} s a step and "
        f"{plan['pace']['per_log']:.1f} s a validation on this machine and planned "
        f"{plan['max_steps']:,} steps (a warm-up of {plan['warmup_steps']:,})",
        f"{metrics['chars_per_sec']:,}\ncharacters a second is "
        f"{step_chars / metrics['chars_per_sec']:.3f} s a step, so its training took "
        f"{metrics['train_seconds'] / 60:.1f} minutes and ran over its\n"
        f"{settings['time_budget']:g}-minute budget",
        f"the same model's steps had timed {earlier_step} s",
        f"printed a training loss every {sorted(losses)[1] - sorted(losses)[0]} steps",
        f"the last, at step {last}, was {losses[last]:.2f} nats, that is "
        f"{losses[last] / math.log(2):.2f} bits per character",
    ]


def _results_tried_figures() -> list[str]:
    tried, run = _record("tried_settings.json"), _record("main_run.json")
    long, short = tried["long"], tried["short"]
    p = _params
    new = _one(long, lambda r: r["args"] == "")
    new_1 = _one(long, lambda r: r["args"] == "-p seed 1")
    old = _one(long, lambda r: p(r).get("max_steps") == "2000")
    d25 = _one(long, lambda r: p(r).get("dropout") == "0.25")
    d50 = _one(long, lambda r: r["args"] == "-p recurrent_dropout 0.0 -p learning_rate 0.005 "
                                           "-p warmup_steps 0")
    carried = _one(long, lambda r: p(r).get("carry_state") == "True")
    r005 = _one(long, lambda r: r["args"] == "-p learning_rate 0.005 -p warmup_steps 0")
    r005_1 = _one(long, lambda r: r["args"] == "-p seed 1 -p learning_rate 0.005 -p warmup_steps 0")
    deep = _one(long, lambda r: "num_layers" in p(r))
    wide = _one(long, lambda r: "batch_size" in p(r))
    decay = _one(long, lambda r: "weight_decay" in p(r))
    embedded = _one(long, lambda r: "embedding_dim" in p(r))
    rd40 = _one(long, lambda r: p(r).get("recurrent_dropout") == "0.4")
    warm = _one(long, lambda r: r["args"] == "-p learning_rate 0.005")
    rate = _one(long, lambda r: r["args"] == "-p warmup_steps 0")
    short_ = {(int(p(r)["hidden_nodes"]) if "hidden_nodes" in p(r) else 512,
               p(r).get("lr_schedule", "cosine")): r for r in short}
    # the main preset at the tried rows' commit, as the record states it
    preset_rate, preset_warmup = re.search(r"Adam at ([\d.]+) after a (\d+)-step warm-up",
                                           tried["what"]).groups()
    preset_recurrent = float(re.search(r"recurrent_dropout ([\d.]+)", tried["what"]).group(1))

    def bpc(row, key="valid_bpc"):
        return f"{row[key]:.3f}"

    def gained(base, row):
        return f"{base['valid_bpc'] - row['valid_bpc']:.3f}"

    full = [r for r in long if not r.get("shared_cores_busy") and r["steps"] == new["steps"]]
    minutes = round(statistics.median(r["training_minutes"] for r in full))
    carry_gains = [r["valid_bpc"] - r["valid_bpc_carried"] for r in long
                   if r not in (old, carried)]
    short_gains = [r["valid_bpc"] - r["valid_bpc_carried"] for r in short]
    # The tried rows' batches: the preset of their commit left TrainConfig's
    batch, length = TrainConfig().batch_size, run["settings"]["len_per_section"]
    assert not any("batch_size" in p(r) for r in long if r is not wide)
    text_chars = _test_split_characters()
    wide_batch = int(p(wide)["batch_size"])
    # the qualitative words of the page
    assert wide_batch * wide["steps"] / wide["training_minutes"] > \
        batch * r005["steps"] / r005["training_minutes"]  # "more characters in each minute"
    assert decay["valid_bpc"] > r005["valid_bpc"] and rd40["valid_bpc"] > r005["valid_bpc"]
    assert r005["valid_bpc"] - new["valid_bpc"] > \
        (r005["valid_bpc"] - warm["valid_bpc"]) + (r005["valid_bpc"] - rate["valid_bpc"])
    assert abs(r005["valid_bpc"] - embedded["valid_bpc"]) <= \
        abs(new["valid_bpc"] - new_1["valid_bpc"])  # "within what a seed changes"
    # Faster steps and an averaged model
    f32, bf16, averaged, faster, faster_1 = tried["main_steps"]
    assert "ema_decay" in averaged["args"] and "float32" in f32["args"]
    assert averaged["valid_bpc"] >= bf16["valid_bpc"]  # "gained nothing"
    assert p(faster)["learning_rate"] == "0.012" and p(faster)["matmul_dtype"] == "bfloat16"
    faster_gain = bf16["valid_bpc"] - faster["valid_bpc"]
    assert faster_gain > abs(new["valid_bpc"] - new_1["valid_bpc"])  # "more than the two seeds"
    assert p(faster_1) == {**p(faster), "seed": "1"}
    assert bf16["valid_bpc"] > faster_1["valid_bpc"]
    speed = _raw("cpu_bf16")["steps"]
    # Smaller batches in the same 15 minutes
    by_minutes = tried["main_minutes"]
    b64, b32, b16 = (_one(by_minutes, lambda r, n=n: p(r) == {"batch_size": str(n)})
                     for n in (64, 32, 16))
    b32_1 = _one(by_minutes, lambda r: p(r).get("seed") == "1")
    assert p(b32_1) == {**p(b32), "seed": "1", "max_steps": str(b32["steps"])}
    assert PRESETS["main"]["batch_size"] == 32  # "the main preset now trains on batches of 32"
    assert max(b32["valid_bpc_carried"], b32_1["valid_bpc_carried"]) < b64["valid_bpc_carried"]
    assert b16["valid_bpc_carried"] > b32["valid_bpc_carried"]
    assert not any(k in p(r) for r in (b64, b32, b16) for k in ("matmul_dtype", "seed"))
    assert "bfloat16 products on this machine" in tried["main_minutes_what"]

    def millions(r):  # of characters read
        size = p(r).get("batch_size", run["settings"]["batch_size"])
        return f"{r['steps'] * int(size) * length / 1e6:.1f}"

    def below(r):
        return f"{b64['valid_bpc_carried'] - r['valid_bpc_carried']:.3f} below"

    minutes_figures = [
        f"took {b32['plan_step_s']:.3f} s a step where 64 took {b64['plan_step_s']:.3f} s: "
        f"{b32['steps']:,} steps fitted instead of {b64['steps']:,}, reading {millions(b32)} "
        f"million characters instead of {millions(b64)} million",
        f"Seed 0 ended at {bpc(b32, 'valid_bpc_carried')} with the state carried "
        f"({bpc(b32)} from a zero state), {below(b32)} batches of 64; seed 1 at "
        f"{bpc(b32_1, 'valid_bpc_carried')} ({bpc(b32_1)}), {below(b32_1)}",
        "The two seeds differ by "
        f"{abs(b32['valid_bpc_carried'] - b32_1['valid_bpc_carried']):.3f}",
        f"**Batches of 16**: {b16['plan_step_s']:.3f} s a step, {b16['steps']:,} steps, "
        f"{millions(b16)} million characters, and {bpc(b16, 'valid_bpc_carried')} ({bpc(b16)})",
    ]
    # Less recurrent dropout, at 4,385 steps: every row sets the share, the first is the main
    # run of the preset before (a quarter), and the preset is the share both seeds of which ran
    rows = tried["main_now"]
    shares = [float(p(r)["recurrent_dropout"]) for r in rows]
    before, rd15, rd15_1, rd10, rd10_1, rd05 = rows
    assert shares == [0.25, 0.15, 0.15, 0.1, 0.1, 0.05]
    assert [p(r).get("seed") for r in rows] == [None, None, "1", None, "1", None]
    assert run["settings"]["recurrent_dropout"] == shares[3] == \
        PRESETS["main"]["recurrent_dropout"]
    assert max(r["valid_bpc_carried"] for r in rows[1:]) < before["valid_bpc_carried"]
    spread = max(r["valid_bpc_carried"] for r in rows[1:]) - \
        min(r["valid_bpc_carried"] for r in rows[1:])
    seed_gap = abs(rd15["valid_bpc_carried"] - rd15_1["valid_bpc_carried"])
    assert spread <= seed_gap
    mean = {k: (a["valid_bpc_carried"] + b["valid_bpc_carried"]) / 2
            for k, a, b in (("15", rd15, rd15_1), ("10", rd10, rd10_1))}
    read_now = before["steps"] * run["settings"]["batch_size"] * length / 1e6
    per_step = float(_budget_plan(tried["main_now_what"])[2])
    main = tried["main_levers"][0]  # the next main run, at 512 units
    next_step = float(_budget_plan(tried["main_levers_what"])[2])
    assert main["steps"] > before["steps"] and next_step < per_step
    minutes_figures += [
        f"its budget planned {main['steps']:,} steps, from a timed step of "
        f"{next_step:.3f} s against {per_step:.3f} s for the run before, and it "
        f"ended at {main['valid_bpc_carried']:.3f} with the state carried",
        f"15% ended at {bpc(rd15, 'valid_bpc_carried')} and {bpc(rd15_1, 'valid_bpc_carried')} "
        f"(seeds 0 and 1), a tenth at {bpc(rd10, 'valid_bpc_carried')} and "
        f"{bpc(rd10_1, 'valid_bpc_carried')}, 5% at {bpc(rd05, 'valid_bpc_carried')} (seed 0), "
        f"against {bpc(before, 'valid_bpc_carried')} for a quarter",
        f"The two seeds of 15% average {mean['15']:.3f}, those of a tenth {mean['10']:.3f}",
        f"from a zero state: {bpc(rd15)} and {bpc(rd15_1)}, {bpc(rd10)} and {bpc(rd10_1)}, "
        f"{bpc(rd05)}, against {bpc(before)}",
        f"the five runs lie within {spread:.3f} of each other, and the two seeds of 15% differ by "
        f"{seed_gap:.3f}",
        f"at {new['steps']:,} steps of {batch} ({new['steps'] * batch * length / 1e6:.1f} "
        f"million characters read), {float(p(rd40)['recurrent_dropout']):.0%} cost against "
        f"{shares[0]:.0%}; here the run reads {read_now:.1f} million",
    ]
    # The rate, the output dropout and a carried state, at 4,690 steps (512 units)
    main, slower, lighter, higher, streamed = tried["main_levers"]
    narrow = {"hidden_nodes": "512"}
    assert p(slower) == {**narrow, "learning_rate": "0.008"} and \
        p(higher) == {**narrow, "learning_rate": "0.016"}
    assert slower["valid_bpc_carried"] > main["valid_bpc_carried"]  # "does not gain"
    assert main["valid_bpc_carried"] <= lighter["valid_bpc_carried"] < \
        main["valid_bpc_carried"] + seed_gap  # "above the main run, within a seed"
    assert abs(higher["valid_bpc_carried"] - main["valid_bpc_carried"]) < seed_gap
    minutes_figures += [
        f"about what two seeds differed by in the table above ({seed_gap:.3f})",
        f"**Adam at {p(slower)['learning_rate']}** instead of "
        f"{run['settings']['learning_rate']:g} ended at {bpc(slower, 'valid_bpc_carried')} with "
        f"the state carried ({bpc(slower)} from a zero state), "
        f"{slower['valid_bpc_carried'] - main['valid_bpc_carried']:.3f} above the 512-unit main "
        "run",
    ]
    assert p(lighter) == {**narrow, "dropout": "0.4"}
    minutes_figures += [
        f"**Dropout {p(lighter)['dropout']}** on the outputs instead of "
        f"{run['settings']['dropout']:g} ended at {bpc(lighter, 'valid_bpc_carried')} "
        f"({bpc(lighter)}), {lighter['valid_bpc_carried'] - main['valid_bpc_carried']:.3f} "
        "above the main run",
        f"**Adam at {p(higher)['learning_rate']}** ended at {bpc(higher, 'valid_bpc_carried')} "
        f"({bpc(higher)}), {main['valid_bpc_carried'] - higher['valid_bpc_carried']:.3f} below "
        "the main run",
    ]
    assert p(streamed) == {**narrow, "carry_state": "True"}
    streamed_gap = streamed["valid_bpc_carried"] - main["valid_bpc_carried"]
    assert 0 <= streamed_gap < seed_gap  # "above the main run, within a seed"
    minutes_figures += [
        f"ended at {bpc(streamed, 'valid_bpc_carried')} with the state carried "
        f"({bpc(streamed)} from a zero state), {streamed_gap:.3f} above the main run",
        f"from a zero state it scores {streamed['valid_bpc'] - main['valid_bpc']:.3f} worse",
    ]
    # Wider, in the same 15 minutes
    w512, w512_1, w768, w768_1, w1024 = tried["main_widths"]
    assert [p(r).get("hidden_nodes") for r in tried["main_widths"]] == \
        ["512", "512", "768", "768", "1024"]
    assert [p(r).get("seed") for r in tried["main_widths"]] == [None, "1", None, "1", None]
    assert p(w512_1)["max_steps"] == str(w512["steps"]) and \
        p(w768_1)["max_steps"] == str(w768["steps"])
    assert max(w768["valid_bpc_carried"], w768_1["valid_bpc_carried"]) < \
        min(w512["valid_bpc_carried"], w512_1["valid_bpc_carried"])  # "both seeds ... below"
    assert abs(w1024["valid_bpc_carried"] - w512["valid_bpc_carried"]) < seed_gap and \
        abs(w1024["valid_bpc_carried"] - w768["valid_bpc_carried"]) < seed_gap
    earlier = tried["main_sections"][0]  # the main run of the preset at 768 units, then
    assert earlier["steps"] != w768["steps"]  # "over other steps"
    assert w768["valid_bpc_carried"] < earlier["valid_bpc_carried"] < \
        min(w512["valid_bpc_carried"], w512_1["valid_bpc_carried"])  # "still below both"

    def means(a, b):
        return f"{(a['valid_bpc_carried'] + b['valid_bpc_carried']) / 2:.3f}"

    mean_gain = (w512["valid_bpc_carried"] + w512_1["valid_bpc_carried"]
                 - w768["valid_bpc_carried"] - w768_1["valid_bpc_carried"]) / 2
    minutes_figures += [
        f"**768 units** took {w768['plan_step_s']:.3f} s a step where 512 took "
        f"{w512['plan_step_s']:.3f} s: {w768['steps']:,} steps fitted instead of "
        f"{w512['steps']:,}, reading {millions(w768)} million characters instead of "
        f"{millions(w512)} million",
        f"Seed 0 ended at {bpc(w768, 'valid_bpc_carried')} with the state carried "
        f"({bpc(w768)} from a zero state), "
        f"{w512['valid_bpc_carried'] - w768['valid_bpc_carried']:.3f} below 512 units; seed 1 at "
        f"{bpc(w768_1, 'valid_bpc_carried')} ({bpc(w768_1)}), where 512's seed 1 ended at "
        f"{bpc(w512_1, 'valid_bpc_carried')} ({bpc(w512_1)})",
        f"the two seeds' means by {mean_gain:.3f} ({means(w768, w768_1)} against "
        f"{means(w512, w512_1)})",
        f"**1,024 units**: {w1024['plan_step_s']:.3f} s a step, {w1024['steps']:,} steps, "
        f"{millions(w1024)} million characters, and {bpc(w1024, 'valid_bpc_carried')} "
        f"({bpc(w1024)}): "
        f"{w512['valid_bpc_carried'] - w1024['valid_bpc_carried']:.3f} below 512 and "
        f"{w1024['valid_bpc_carried'] - w768['valid_bpc_carried']:.3f} above 768",
        f"its own budget planned {earlier['steps']:,} steps, from a timed step of "
        f"{earlier['plan_step_s']:.3f} s, and",
        f"it ended at {earlier['valid_bpc_carried']:.3f} with the state carried: "
        f"{earlier['valid_bpc_carried'] - w768['valid_bpc_carried']:.3f} above the "
        "seed-0 row here",
        f"The 2.0 of the project's target was then still "
        f"{earlier['valid_bpc_carried'] - 2.0:.2f} away",
    ]
    # Other windows, an embedding, more dropout and longer sections, at the main run's steps
    base, windows, embedded_, heavier, longer = tried["main_inputs"]  # base: the main run
    assert (p(windows), p(embedded_), p(heavier), p(longer)) == (
        {"skip": "1"}, {"embedding_dim": "64"}, {"dropout": "0.6"},
        {"len_per_section": "200", "batch_size": "16"})
    assert int(p(longer)["batch_size"]) * 200 == run["settings"]["batch_size"] * length
    reads = base["steps"] * run["settings"]["batch_size"] * length / text_chars
    assert round(reads) == 7  # "read each 100-character window about seven times"
    for r in (windows, embedded_):  # "within a seed"
        assert 0 <= r["valid_bpc_carried"] - base["valid_bpc_carried"] < seed_gap
    assert heavier["valid_bpc_carried"] > base["valid_bpc_carried"] and \
        float(p(heavier)["dropout"]) > PRESETS["main"]["dropout"]  # "the preset keeps 0.5"
    longer_gain = base["valid_bpc_carried"] - longer["valid_bpc_carried"]
    assert longer_gain > 2 * seed_gap  # "the largest gain ... beyond what two seeds differed by"

    def above(r):
        return f"{r['valid_bpc_carried'] - base['valid_bpc_carried']:.3f} above"

    minutes_figures += [
        f"ended at {bpc(windows, 'valid_bpc_carried')} with the state carried "
        f"({bpc(windows)} from a zero state), {above(windows)} the main run",
        f"one-hot input: {bpc(embedded_, 'valid_bpc_carried')} ({bpc(embedded_)}), "
        f"{above(embedded_)}",
        f"**Dropout {p(heavier)['dropout']}** on the outputs: "
        f"{bpc(heavier, 'valid_bpc_carried')} ({bpc(heavier)}), {above(heavier)}",
        f"{bpc(longer, 'valid_bpc_carried')} ({bpc(longer)}), {longer_gain:.3f} below the main "
        f"run with the state carried and {base['valid_bpc'] - longer['valid_bpc']:.3f} below "
        "from a zero state",
    ]
    # Longer sections, in the same 15 minutes
    timed, b16_200, b32_200 = tried["main_sections"]  # timed: the main run, with its plan
    assert (p(b16_200), p(b32_200)) == ({"len_per_section": "200", "batch_size": "16"},
                                        {"len_per_section": "200"})
    assert timed["valid_bpc_carried"] < min(b16_200["valid_bpc_carried"],
                                           b32_200["valid_bpc_carried"])  # "does not pay"
    assert (PRESETS["main"].get("len_per_section", TrainConfig().len_per_section),
            PRESETS["main"]["batch_size"]) == (length, 32)  # "keeps sections of 100 in 32"
    assert b16_200["plan_step_s"] > timed["plan_step_s"] * 1.5 and \
        b16_200["plan_step_s"] / b32_200["plan_step_s"] > 0.75  # "most of what one for 32"

    def read(r):
        size = int(p(r).get("batch_size", run["settings"]["batch_size"]))
        return f"{r['steps'] * size * int(p(r).get('len_per_section', length)) / 1e6:.1f}"

    minutes_figures += [
        f"took {b16_200['plan_step_s']:.3f} s a step where 32 sections of 100 took "
        f"{timed['plan_step_s']:.3f} s: {b16_200['steps']:,} steps fitted instead of "
        f"{timed['steps']:,}, reading {read(b16_200)} million characters instead of "
        f"{read(timed)} million, and it ended at {bpc(b16_200, 'valid_bpc_carried')} with the "
        f"state carried ({bpc(b16_200)} from a zero state), {above(b16_200)} the main run",
        f"({b16_200['training_minutes']:.1f} minutes of training)",
        f"{b32_200['plan_step_s']:.3f} s a step, {b32_200['steps']:,} steps, {read(b32_200)} "
        f"million characters, and {bpc(b32_200, 'valid_bpc_carried')} ({bpc(b32_200)}), "
        f"{above(b32_200)} the main run",
    ]
    # Adam's beta_2 and the cosine's floor, at 4,361 steps, on a second machine
    rows = tried["main_optimiser"]
    ec2c204, floor0, b099, b099_0, b095_0, rd20, d60 = rows
    assert [p(r) for r in rows] == [
        {"adam_beta2": "0.999", "lr_floor": "0.1"}, {"adam_beta2": "0.999"},
        {"adam_beta2": "0.99", "lr_floor": "0.1"}, {"adam_beta2": "0.99"}, {},
        {"recurrent_dropout": "0.2"}, {"dropout": "0.6"}]
    old_optimiser = {"adam_beta2": TrainConfig().adam_beta2, "lr_floor": TrainConfig().lr_floor}
    assert {k: str(v) for k, v in old_optimiser.items()} == p(ec2c204)  # "to repeat one now"
    assert {k: PRESETS["main"][k] for k in old_optimiser} == {"adam_beta2": 0.95, "lr_floor": 0}
    assert float(p(rd20)["recurrent_dropout"]) == 2 * PRESETS["main"]["recurrent_dropout"]
    assert b095_0["valid_bpc_carried"] == min(r["valid_bpc_carried"] for r in rows)  # lowest
    for r in (b099_0, rd20, d60):  # "within a seed"
        assert abs(r["valid_bpc_carried"] - b095_0["valid_bpc_carried"]) < seed_gap
    assert all(round(r["valid_bpc"] - r["best_valid_bpc"], 3) <= 0.002 for r in rows)
    # "about what two seeds have differed by", "a little more than", "within a seed either way"
    assert abs(ec2c204["valid_bpc_carried"] - b099["valid_bpc_carried"] - seed_gap) < 0.002
    assert seed_gap < ec2c204["valid_bpc_carried"] - b095_0["valid_bpc_carried"] < 2 * seed_gap
    assert ec2c204["valid_bpc_carried"] - floor0["valid_bpc_carried"] < seed_gap
    reads = tried["main_optimiser_max_steps"] * PRESETS["main"]["batch_size"] * length / text_chars
    assert round(reads) == 11  # "read the training text about eleven times"
    _, _, step_then = _budget_plan(tried["main_inputs_what"])
    _, _, step_here = _budget_plan(tried["main_optimiser_what"])

    def below(r, base=ec2c204):
        return f"{base['valid_bpc_carried'] - r['valid_bpc_carried']:.3f} below"

    minutes_figures += [
        f"a step of {step_here} s and planned {ec2c204['steps']:,} steps (a warm-up of "
        f"{_budget_plan(tried['main_optimiser_what'])[1]})",
        f"planned {ec2c204['steps']:,} steps here, from a timed step of {step_here} s, where the "
        f"machine of the tables above timed {step_then} s and planned {earlier['steps']:,}",
        f"It ended at {bpc(ec2c204, 'valid_bpc_carried')} with the state carried "
        f"({bpc(ec2c204)} from a zero state), against {bpc(earlier, 'valid_bpc_carried')} "
        f"({bpc(earlier)}) there",
        f"**Adam's beta_2 {p(b099)['adam_beta2']}** instead of Keras's "
        f"{p(ec2c204)['adam_beta2']} ended at {bpc(b099, 'valid_bpc_carried')} ({bpc(b099)}), "
        f"{below(b099)}, about what two seeds have differed by ({seed_gap:.3f}, [above]",
        f"to a tenth: {below(floor0)} with beta_2 {p(floor0)['adam_beta2']}, nothing with "
        f"{p(b099_0)['adam_beta2']} ({bpc(b099_0, 'valid_bpc_carried')} both)",
        f"{bpc(b095_0, 'valid_bpc_carried')} ({bpc(b095_0)}), {below(b095_0)} the first row",
        f"its lead over {p(b099_0)['adam_beta2']} "
        f"({b099_0['valid_bpc_carried'] - b095_0['valid_bpc_carried']:.3f}) is within a seed",
        f"recurrent weights dropped ended at {bpc(rd20, 'valid_bpc_carried')} ({bpc(rd20)}), "
        f"dropout {p(d60)['dropout']} on the outputs at {bpc(d60, 'valid_bpc_carried')}",
        f"({bpc(d60)}), within a seed of the preset",
        f"add `-p adam_beta2 {p(ec2c204)['adam_beta2']} -p lr_floor {p(ec2c204)['lr_floor']}`",
    ]
    assert b099["valid_bpc_carried"] == b099_0["valid_bpc_carried"]  # "2.007 both"
    lowest = min(r["valid_bpc_carried"] for group in tried.values() if isinstance(group, list)
                 for r in group)
    assert lowest == b095_0["valid_bpc_carried"] > 2.0  # "It is not reached"
    return minutes_figures + [
        f"the same steps end at {bpc(bf16)} in bfloat16 against {bpc(f32)}",
        "seeds of the 4,000-step default differ by "
        f"{abs(new['valid_bpc'] - new_1['valid_bpc']):.3f}",
        f"the step is {speed['float32']['step_s'] / speed['bfloat16']['step_s']:.2f}x as fast on "
        "this machine",
        f"the same run's own weights score {bpc(bf16)} as well",
        f"from a moving average of the weights ({p(averaged)['ema_decay']})",
        f"planned its steps from a step of {b64['plan_step_s']:.3f} s in bfloat16",
        f"had timed {f32['plan_step_s']:.3f} s a step",
        f"the two plans ({b64['steps']:,} and {f32['steps']:,} steps)",
        f"{p(faster)['learning_rate']} instead of {preset_rate} with bfloat16 products, ended at "
        f"{bpc(faster)} ({bpc(faster, 'valid_bpc_carried')} with the state carried): "
        f"{faster_gain:.3f} below the same steps at {preset_rate}",
        f"seed 1 ended at {bpc(faster_1)}",
        # What was tried to get there
        f"the main run above, with every change below that helped, ends at "
        f"{run['metrics']['valid_bpc_carried']:.3f}, and the lowest of all the runs below at "
        f"{lowest:.3f}",
        f"within {run['settings']['time_budget']:g} minutes of `make run` on "
        f"{_cores(tried['machine'])} cores",
        f"give {bpc(new)} in {new['steps']:,} steps (seeds 0 and 1: {bpc(new)} and "
        f"{bpc(new_1)}), against {bpc(old)} for the old default ({p(old)['hidden_nodes']} units, "
        f"constant rate, no dropout, {old['steps']:,} steps in {old['training_minutes']:.1f} "
        "minutes)",
        f"trained {new['steps']:,} steps in about {minutes} minutes (the table's times)",
        f"as it was at commit `{tried['commit']}`",
        # What the runs say
        f"by step {d25['best_step']:,} (about "
        f"{d25['training_minutes'] * d25['best_step'] / d25['steps']:.0f} minutes) the 512-unit "
        f"run with dropout {p(d25)['dropout']} was at {bpc(d25, 'best_valid_bpc')}, where the "
        f"old 256-unit default ended at {bpc(old)} after {old['training_minutes']:.1f} minutes",
        f"The training text is {text_chars / 1e6:.1f} million characters; {new['steps']:,} steps "
        f"of {batch} × {length} characters read it about "
        f"{round(new['steps'] * batch * length / text_chars)} times",
        f"({bpc(d25, 'best_valid_bpc')} at step {d25['best_step']:,} with {p(d25)['dropout']}, "
        f"{bpc(d50, 'best_valid_bpc')} at {d50['best_step']:,} with "
        f"{run['settings']['dropout']:g}) and rises again by the end ({bpc(d25)} and "
        f"{bpc(d50)})",
        f"{d50['valid_bpc'] - r005['valid_bpc']:.2f} below dropout alone at the end "
        f"({d50['best_valid_bpc'] - r005['valid_bpc']:.2f} below its best along the way)",
        f"ends behind on validation ({bpc(carried)} against {bpc(d50)})",
        f"the two are about even ({bpc(carried, 'valid_bpc_carried')} and "
        f"{bpc(d50, 'valid_bpc_carried')})",
        f"every {minutes}-minute run by {min(carry_gains):.2f} to {max(carry_gains):.2f} "
        f"({carried['valid_bpc'] - carried['valid_bpc_carried']:.2f} for the run trained that "
        f"way; {min(short_gains):.2f} to {max(short_gains):.2f} after {short[0]['steps']:,} "
        "steps)",
        f"two layers of {p(deep)['hidden_nodes']} end at {bpc(deep)} after {deep['steps']:,} "
        f"steps in {deep['training_minutes']:.1f} minutes; the {p(r005)['learning_rate']} row "
        f"ends at {bpc(r005)} after {r005['training_minutes']:.1f}",
        f"batches of {wide_batch} at a rate of {p(wide)['learning_rate']} read more characters",
        f"({wide['steps']:,} steps of {wide_batch} sequences in {wide['training_minutes']:.1f} "
        f"minutes, against {r005['steps']:,} of {batch} in {r005['training_minutes']:.1f}) but "
        f"take about {PART_WORDS[round(r005['steps'] / wide['steps'])]} as many steps, and end "
        f"at {bpc(wide)} against {bpc(r005)}",
        f"(AdamW at {p(decay)['weight_decay']}, `weight_decay`, biases spared) cost: "
        f"{bpc(decay)} against {bpc(r005)}",
        f"({float(p(rd40)['recurrent_dropout']):.0%} of the recurrent weights instead of "
        f"{preset_recurrent:.0%}) cost too: {bpc(rd40)}",
        f"embedding** of {p(embedded)['embedding_dim']} (`embedding_dim`) instead of "
        f"one-hot input: {bpc(embedded)} against {bpc(r005)}",
        f"Two seeds of the {p(r005)['learning_rate']} row differ by about "
        f"{abs(r005['valid_bpc'] - r005_1['valid_bpc']):.3f}, two of the new default by "
        f"{abs(new['valid_bpc'] - new_1['valid_bpc']):.3f}: "
        f"{abs(r005['valid_bpc'] - embedded['valid_bpc']):.3f} is within what a seed changes",
        f"A warm-up of {preset_warmup} steps alone gained {gained(r005, warm)} ({bpc(warm)}), a "
        f"rate of {preset_rate} alone {gained(r005, rate)} ({bpc(rate)}); together they gained "
        f"{gained(r005, new)} ({bpc(new)}, seed 1: {bpc(new_1)}), more than the two apart",
        f"costs at {short[0]['steps']}, notebook 04's length ({bpc(short_[256, 'cosine'])} "
        f"against {bpc(short_[256, 'constant'])} for a constant rate at 256 units, "
        f"{bpc(short_[512, 'cosine'])} against {bpc(short_[512, 'constant'])} at 512)",
        f"({bpc(short_[512, 'constant'])} in {short_[512, 'constant']['training_minutes']:.1f} "
        f"minutes, against {bpc(short_[256, 'constant'])} in "
        f"{short_[256, 'constant']['training_minutes']:.1f} minutes for 256 units",
    ]


def _performance_figures() -> list[str]:
    results = _text(REPO_ROOT / "benchmarks" / "RESULTS.md")
    bench, same_time, setup = _raw("training"), _raw("transformer"), _raw("bmp")
    run = _record("main_run.json")
    # The FLOP count: bench.py writes the sizes and the formula, not the count, in its record.
    sizes = dict(re.findall(r"(\w+)=(\d+)", re.search(r"^Sizes: (.+)$", results,
                                                       re.MULTILINE).group(1)))
    b, t, h, v = (int(sizes[k]) for k in ("batch_size", "len_per_section", "hidden_nodes",
                                           "vocabulary"))
    assert "`3 * 2 * B * T * (H*4H + H*V)`" in results
    flops = 3 * 2 * b * t * (h * 4 * h + h * v)
    assert f"lookup: {flops / 1e9:,.2f} GFLOP here." in results
    achieved = flops * bench["training"]["four_gate"] / (b * t)
    assert run["model"]["hidden_nodes"] > h  # the main run's is "a wider model"
    # The main run's speed against the benchmark's step
    steps = run["settings"]["batch_size"] * run["settings"]["len_per_section"]
    per_step = run["plan"]["pace"]["per_step"]
    by_minutes = _record("tried_settings.json")["main_minutes"]
    at_64 = _one(by_minutes, lambda r: r["args"] == f"-p batch_size {TrainConfig().batch_size}")
    batch = run["settings"]["batch_size"]
    at_32 = _one(by_minutes, lambda r: r["args"] == f"-p batch_size {batch}")
    # "A batch of 32 reads fewer characters a second than one of 64", both timed by a plan, at
    # the same width
    assert batch / at_32["plan_step_s"] < TrainConfig().batch_size / at_64["plan_step_s"]
    assert TrainConfig().dropout == TrainConfig().recurrent_dropout == 0  # "without dropout"
    assert run["settings"]["dropout"] > 0  # "with the main preset's dropout on"
    # The same seconds
    ours, tutorial = same_time["ours"], same_time["tutorial"]
    keras, transformer = same_time["keras-lstm"], same_time["transformer"]

    def step_s(r):
        return r["seconds"] / r["steps"]

    assert max(same_time.values(), key=lambda r: r["valid_bpc"]) is transformer  # "furthest"
    assert step_s(transformer) > step_s(ours)  # "its step took longer here than ours"
    seconds = int(re.search(r"same_time\.py --seconds (\d+)", results).group(1))
    assert seconds % 60 == 0
    minutes = NUMBER_WORDS[seconds // 60]
    tr = transformer["settings"]
    # Memory: the benchmark's process, corpus_setup's train(), the main run
    units, memory_steps = re.search(r"peak RSS, TrainConfig\(\)'s run \((\d+) units, (\d+) "
                                    r"steps\)", results).groups()
    assert int(units) == TrainConfig().hidden_nodes
    text_mb = f"{setup['bmp']['file']['bytes'] / 1e6:.0f} MB"
    limit = _assigned(REPO_ROOT / "tests" / "test_binder.py", "BINDER_MEMORY_LIMIT")
    # step_speed.py: bfloat16 products and XLA
    speed = _raw("cpu_bf16")
    step, product = speed["steps"], speed["products"]
    assert speed["cpu_bf16"] == ["avx512_bf16", "amx_bf16"]  # "has AVX512-BF16 and AMX"
    assert "hidden_nodes=512, batch_size=64" in results  # "64 × 512 times 512 × 2,048"

    def ratio(of, to):
        return f"{of / to:.2f}x"

    return [
        f"{ratio(product['step']['float32'], product['step']['bfloat16'])} as fast "
        "in bfloat16 as in float32",
        f"(2048³) {ratio(product['2048^3']['float32'], product['2048^3']['bfloat16'])}",
        f"the whole training step {ratio(step['float32']['step_s'], step['bfloat16']['step_s'])} "
        f"({step['bfloat16']['step_s'] * 1e3:,.0f} ms against "
        f"{step['float32']['step_s'] * 1e3:,.0f} ms",
        f"{step['float32_xla']['first_call_s']:.1f} s to compile, then "
        f"{step['float32_xla']['step_s'] * 1e3:,.0f} ms a step, "
        f"{step['float32']['step_s'] / step['float32_xla']['step_s']:.2f}x the float32 step",
        f"| {achieved / 1e9:.1f} GFLOP/s, {achieved / bench['matmul_peak']:.0%} |",
        f"The main run's {run['metrics']['chars_per_sec']:,} characters a second",
        f"its products in {run['settings']['matmul_dtype']} and batches of "
        f"{run['settings']['batch_size']}",
        f"are those of a wider model, {run['model']['hidden_nodes']} units",
        f"this benchmark's step runs at {h} units and otherwise `TrainConfig`'s defaults, "
        f"batches of {TrainConfig().batch_size}",
        f"A batch of {run['settings']['batch_size']} reads fewer characters a second than one of "
        f"{TrainConfig().batch_size}",
        f"timed its own step alone at {per_step:.3f} s, that is {steps / per_step:,.0f} "
        "characters a second",
        f"The tutorial's `GRU({tutorial['settings']['units']})` has "
        f"{tutorial['parameters'] / ours['parameters']:.1f} times our parameters and took about "
        f"{TIMES_WORDS[round(step_s(tutorial) / step_s(ours))]} as long a step here, and ours "
        f"ran {ours['seconds'] - seconds:.0f} s over its {seconds}, so the GRU saw "
        f"{PART_WORDS[round(ours['chars'] / tutorial['chars'])]} of the characters ours did",
        f"Adam's default rate, {tutorial['settings']['learning_rate']:g} against our "
        f"{ours['settings']['learning_rate']:g}",
        f"an embedding of {tutorial['settings']['embedding_dim']}, a "
        f"`GRU({tutorial['settings']['units']})`",
        f"`keras.layers.LSTM` of {keras['settings']['hidden_nodes']} units, our training",
        f"so {keras['settings']['recurrent_dropout']:g} here",
        f"The Keras LSTM took {keras['steps']:,} steps in {keras['seconds']:.0f} s to our "
        f"{ours['steps']:,} in {ours['seconds']:.0f} (each planned for {seconds} s, its "
        f"schedule fitted to its own steps) and ended "
        f"{keras['valid_bpc'] - ours['valid_bpc']:.2f} bits higher",
        f"{NUMBER_WORDS[tr['blocks']]} pre-norm blocks of width {tr['width']} with "
        f"{NUMBER_WORDS[tr['heads']]} heads",
        f"(dropout {tr['dropout']:g}; AdamW at {tr['learning_rate']:g} with weight decay "
        f"{tr['weight_decay']:g}",
        f"the gradient norm clipped at {tr['clip_norm']:.1f})",
        f"the {minutes} minutes were {transformer['steps']:,} steps",
        f"here they took {ours['seconds']:.0f}, {keras['seconds']:.0f} and "
        f"{transformer['seconds']:.0f} of the",
        f"about {minutes} minutes on {NUMBER_WORDS[_cores(run['machine'])]} CPU cores",
        f"{minutes.capitalize()} minutes is far from the {run['settings']['time_budget']:g} of "
        "`make run`",
        # Setting up a large text
        f"| {text_mb} of text ({setup['bmp']['file']['characters'] / 1e6:.1f} million "
        "characters), default batches |",
        f"`train()` to its first step, validation and checkpoint ({units} units)",
        # Memory
        f"{memory_steps} steps of `TrainConfig()`'s model ({units} units)",
        f"one `train()` step of the same model after loading a {text_mb} text",
        f"({run['model']['hidden_nodes']} units, {run['metrics']['steps']:,} steps planned for "
        f"its {run['settings']['time_budget']:g} minutes, its validations and plots)",
        f"mybinder.org allows {limit / 1e9:g} GB ({limit / 1e9:g} × 10⁹ bytes, "
        f"{limit / 2**20:,.0f} MiB)",
    ]


def _notebook_06_figures() -> list[str]:
    with open(REPO_ROOT / "notebooks" / "records" / "hidden_nodes" / "summary.csv",
              encoding="utf-8", newline="") as summary:
        rows = list(csv.DictReader(summary))
    minutes, seconds = divmod(round(sum(float(row["wall_time_s"]) for row in rows)), 60)
    return [f"({minutes} minutes {seconds} seconds for the {NUMBER_WORDS[len(rows)]}, on 2 "
            "shared CPU cores)"]


PROSE_FIGURES = {
    "README.md": _readme_figures,
    "docs/results.md (the main run)": _results_main_run_figures,
    "docs/results.md (what was tried)": _results_tried_figures,
    "docs/performance.md": _performance_figures,
    "notebooks/06_comparing_runs.py": _notebook_06_figures,  # its markdown; the .ipynb follows
}


@pytest.mark.parametrize("where", PROSE_FIGURES)
def test_prose_figures_are_read_from_their_records(where):
    page = where.split(" (")[0]
    text = _page(page)
    if page.endswith(".py"):  # a notebook's markdown cells, without their comment marks
        text = re.sub(r"^# ?", "", text, flags=re.MULTILINE)
    text = _prose(text)
    missing = [phrase for phrase in PROSE_FIGURES[where]() if _prose(phrase) not in text]
    assert not missing, f"{where}: not as its record has it: {missing}"


def test_readme_lesson_map_names_exercises_where_a_notebook_has_them():
    """Exercises are where notebooks/solutions/ has a solution: 01 to 05, not 06 and 07."""
    solved = {path.stem for path in (REPO_ROOT / "notebooks" / "solutions").glob("[0-9]*.py")}
    text = _text(README)
    rows = dict(re.findall(r"^\| \[`(\d\d_\w+)`\]\([^)]+\) \| (.+) \|$", text, re.MULTILINE))
    assert sorted(rows) == sorted(p.stem for p in (REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
    assert {name for name, lesson in rows.items() if "exercises" in lesson} == solved
    assert {name[:2] for name in solved} == {"01", "02", "03", "04", "05"}
    first, last = min(solved)[:2], max(solved)[:2]
    assert f"Notebooks {first} to {last} end with exercises" in text


def test_the_binder_page_says_what_a_fork_changes_in_the_badge():
    badge = re.search(r"\(https://mybinder\.org/v2/gh/([^/]+/[^/]+)/", _text(README)).group(1)
    if badge == "ORG/REPO":
        assert "a fork replaces `ORG/REPO` with its own" in _prose(_page("docs/binder.md"))
