"""benchmarks/bench.py times the training step that ``train`` runs, not a copy of its own (the
measurement itself is not a unit test)."""

import math
from types import SimpleNamespace

import numpy as np
from conftest import load_script

from helpers import training


def test_bench_times_the_step_train_runs(monkeypatch):
    bench = load_script("bench")
    built = []

    def spy(model, *args):
        built.append(model)
        return training.make_train_step(model, *args)

    monkeypatch.setattr(bench, "make_train_step", spy)
    assert bench.build_training is training.build_training
    args = SimpleNamespace(hidden_nodes=8, batch_size=2, len_per_section=5, vocab_size=12)
    step = bench.training_step(args, "four_gate")
    ids = np.random.default_rng(0).integers(1, 12, (2, 5)).astype(np.int32)
    bits = float(step(ids, ids))
    assert abs(bits - math.log2(12)) < 1.0  # an untrained model: about log2 of the vocabulary
    [model] = built
    assert (model.hidden_nodes, model.vocab_size, model.cell) == (8, 12, "four_gate")
