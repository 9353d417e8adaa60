"""benchmarks/same_time.py: its settings, its stopwatch and its section of RESULTS.md (the
measurement itself is a benchmark run, not a unit test)."""


from conftest import load_script

from helpers.config import PRESETS, TrainConfig


def test_ours_is_make_runs_configuration():
    same_time = load_script("same_time")
    config = same_time.main_config("outputs/x")
    expected = TrainConfig.from_parameters(preset="main")
    for name, value in PRESETS["main"].items():
        assert getattr(config, name) == value == getattr(expected, name)
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
    assert "3.00x the characters" in text and "900 of the main preset's 4,000" in text
    results_md = tmp_path / "RESULTS.md"
    results_md.write_text("# Benchmark results\n", "utf-8")
    monkeypatch.setattr(same_time, "RESULTS", results_md)
    same_time.write_section(text)
    same_time.write_section(text)
    assert results_md.read_text("utf-8").count(same_time.BEGIN) == 1
