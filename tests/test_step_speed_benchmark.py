"""benchmarks/step_speed.py times train's own step in each dtype, and XLA's compiling of it
(the measurement itself is not a unit test)."""

from types import SimpleNamespace

import numpy as np
from conftest import load_script

from helpers import training


def test_each_variant_is_trains_step_with_its_matmul_dtype(monkeypatch, tmp_path):
    bench = load_script("step_speed")
    built = []

    def spy(config, vocab_size):
        built.append(config.matmul_dtype)
        return training.build_training(config, vocab_size)

    monkeypatch.setattr(bench, "build_training", spy)
    assert bench.make_train_step is training.make_train_step
    args = SimpleNamespace(hidden_nodes=8, batch_size=2, len_per_section=5, vocab_size=12,
                           repeats=1, steps=1, xla=True)
    steps = bench.measure_steps(args)
    assert built == ["float32", "bfloat16", "float32"]
    assert set(steps) == {"float32", "bfloat16", "float32_xla"}
    assert all(v["step_s"] > 0 and v["first_call_s"] > 0 for v in steps.values())
    products = bench.measure_products(args)
    table = dict(bench.rows(steps, products, chars_per_step=10))
    assert "training step, float32, xla" in table and "training step, bfloat16" in table
    assert table["training step, float32"].endswith(
        f"1.00x float32; first call {steps['float32']['first_call_s']:.1f} s")
    assert set(products) == {"step", "2048^3"}

    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmark results\n\nkept\n")
    monkeypatch.setattr(bench, "RESULTS", results)
    monkeypatch.setattr(bench, "measure_steps", lambda args: steps)
    monkeypatch.setattr(bench, "measure_products", lambda args: products)
    monkeypatch.setattr("sys.argv", ["step_speed.py", "--hidden-nodes", "8"])
    bench.main()
    text = results.read_text()
    assert text.startswith("# Benchmark results\n\nkept\n") and bench.BEGIN in text
    assert "hidden_nodes=8" in text and np.isfinite(steps["bfloat16"]["step_s"])
