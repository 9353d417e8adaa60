"""benchmarks/same_time.py: its settings, its stopwatch and its section of RESULTS.md (the
measurement itself is a benchmark run, not a unit test)."""


import numpy as np
from conftest import load_script

from helpers.config import PRESETS, TrainConfig
from helpers.model import build_model


def test_ours_is_make_runs_configuration():
    same_time = load_script("same_time")
    config = same_time.main_config("outputs/x")
    expected = TrainConfig.from_parameters(preset="main").validate()
    for name, value in PRESETS["main"].items():
        assert getattr(config, name) == getattr(expected, name)
        assert getattr(config, name) == value or value == "auto"  # "auto": this CPU's choice
    assert config.sample_chars == 0


def test_ours_cut_to_fewer_steps_keeps_the_shape_of_its_schedule():
    same_time = load_script("same_time")
    planned = same_time.main_config("outputs/x")
    short = same_time.main_config("outputs/x", 737)
    assert (short.max_steps, short.log_every, short.save_every) == (737, 737, 737)
    assert short.warmup_steps == round(PRESETS["main"]["warmup_steps"] * 737 /
                                       PRESETS["main"]["max_steps"]) > 0
    assert short.lr_schedule == planned.lr_schedule and planned.max_steps != 737
    assert same_time.main_config("outputs/x", 0).warmup_steps == 0  # one step, no warm-up


def test_our_seconds_leave_out_the_final_validation_as_the_tutorials_do():
    same_time = load_script("same_time")
    # 883 steps of 6,400 characters at 32,000 chars/s trained for 176.6 s; the row was
    # written 6 s later, after validating.
    last = {"step": 883, "chars_per_sec": 32_000.0, "elapsed": 182.6}
    assert abs(same_time.training_seconds(last, 6_400) - 176.6) < 1e-9


def test_fit_stops_once_the_seconds_have_passed(monkeypatch):
    same_time = load_script("same_time")
    clock = iter(0.01 * n for n in range(1000))  # a batch takes 10 ms of this clock
    monkeypatch.setattr(same_time.time, "perf_counter", lambda: next(clock))

    class Model:
        stop_training = False

    stop = same_time._StopAfter(0.05)
    stop.set_model(Model())
    for batch in range(1000):
        stop.on_train_batch_begin(batch)
        stop.on_train_batch_end(batch)
        if stop.model.stop_training:
            break
    # Started at 0.00 (first begin); the ends read 0.01, 0.02, ...: the fifth reaches 0.05.
    assert stop.model.stop_training and stop.steps == 5
    assert abs(stop.elapsed - 0.05) < 1e-9


def test_the_section_states_the_difference_in_bits_and_of_perplexity(tmp_path, monkeypatch):
    same_time = load_script("same_time")
    results = {"ours": {"steps": 900, "planned_steps": 4000, "seconds": 300.0, "chars": 5.76e6,
                        "valid_bpc": 2.2, "parameters": 10},
               "tutorial": {"steps": 300, "seconds": 301.0, "chars": 1.92e6, "valid_bpc": 2.75,
                            "parameters": 20}}
    text = same_time.section(results, 300)
    assert "0.550 BPC lower for ours" in text and "a perplexity 1.46x lower" in text
    assert "3.01x the characters a second" in text and "900 of the main preset's 4,000" in text
    results_md = tmp_path / "RESULTS.md"
    results_md.write_text("# Benchmark results\n", "utf-8")
    monkeypatch.setattr(same_time, "RESULTS", results_md)
    same_time.write_section(text)
    same_time.write_section(text)
    assert results_md.read_text("utf-8").count(same_time.BEGIN) == 1


def test_a_recipe_that_beats_ours_is_said_to():
    same_time = load_script("same_time")
    results = {"ours": {"steps": 900, "planned_steps": 900, "seconds": 180.0, "chars": 5.76e6,
                        "valid_bpc": 2.4, "parameters": 10},
               "transformer": {"steps": 800, "seconds": 181.0, "chars": 5.12e6,
                               "valid_bpc": 2.3, "parameters": 11}}
    text = same_time.section(results, 180)
    assert "0.100 BPC higher for ours" in text and "lower for ours" not in text
    assert "a small causal Transformer" in text and "of the main preset" not in text


def test_the_transformer_is_causal_and_about_our_size():
    same_time = load_script("same_time")
    settings = same_time.TRANSFORMER
    vocab_size, context = 283, 100
    model = same_time.CharTransformer(vocab_size, context, settings["width"], settings["blocks"],
                                      settings["heads"], dropout=0.0)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, vocab_size, size=(2, context)).astype(np.int32)
    changed = ids.copy()
    changed[:, 60:] = rng.integers(0, vocab_size, size=(2, context - 60))
    before, after = model(ids).numpy(), model(changed).numpy()
    assert before.shape == (2, context, vocab_size)
    # A position sees only the characters up to it: changing the later ones changes nothing
    # before them, and does change what follows.
    np.testing.assert_allclose(before[:, :60], after[:, :60], rtol=1e-5, atol=1e-5)
    assert not np.allclose(before[:, 60:], after[:, 60:])
    logits, states = model(ids, states=None, return_state=True)  # called as train_step calls
    assert states is None and logits.shape == before.shape
    ours = build_model(TrainConfig.from_parameters(preset="main"), vocab_size).build_for(1, 1)
    assert abs(model.count_params() / ours.count_params() - 1) < 0.1


def test_the_transformers_rate_warms_up_then_decays_to_a_tenth():
    same_time = load_script("same_time")
    schedule = same_time.transformer_optimizer(1000)._learning_rate
    assert float(schedule(0)) == 0.0
    peak = same_time.TRANSFORMER["learning_rate"]
    assert float(schedule(10)) < peak  # nanoGPT's share: 20 of 1,000 steps warm up
    assert abs(float(schedule(20)) - peak) < 1e-9
    assert abs(float(schedule(1000)) - peak / 10) < 1e-9


def test_every_contender_trains_on_make_runs_batches():
    same_time = load_script("same_time")
    preset = TrainConfig.from_parameters(preset="main")
    assert same_time.batch_shape() == (preset.batch_size, preset.len_per_section)
    results = {"ours": {"steps": 9, "planned_steps": 9, "seconds": 1.0, "chars": 9.0,
                        "valid_bpc": 2.4, "parameters": 10}}
    assert f"batches of {preset.batch_size} x {preset.len_per_section} characters" in \
        same_time.section(results, 1)
