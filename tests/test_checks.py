"""helpers.checks: the one whole-number check and the one "is a person watching?" answer, and
the modules that ask them."""

import io
import sys
import types

import numpy as np
import pytest

from helpers import checks


@pytest.mark.parametrize("value", [1, 7, np.int64(3), np.uint8(1), 2**70])
def test_positive_integers_pass(value):
    assert checks.check_int("n", value) is value


@pytest.mark.parametrize("value", [0, -1, True, False, 3.0, "3", None, np.float32(2)])
def test_anything_else_is_named(value):
    with pytest.raises(ValueError) as bad:
        checks.check_int("batch_size", value)
    assert str(bad.value) == f"batch_size must be a positive integer, got {value!r}"


def test_non_negative_and_none():
    assert checks.check_int("num_chars", 0, minimum=0) == 0
    with pytest.raises(ValueError, match=r"^num_chars must be a non-negative integer, got -1$"):
        checks.check_int("num_chars", -1, minimum=0)
    assert checks.check_int("top_k", None, none_ok=True) is None
    with pytest.raises(ValueError, match=r"^top_k must be a positive integer or None, got 0$"):
        checks.check_int("top_k", 0, none_ok=True)
    with pytest.raises(ValueError, match="minimum must be 0 or 1"):
        checks.check_int("n", 5, minimum=2)


def test_every_module_asks_the_same_check():
    """The copies that were (training, encoding, sampling, model, original, inspect_lstm) now
    all give its message, bools refused everywhere."""
    from helpers import batches, config, encoding, inspect_lstm, original, sampling
    from helpers.config import TrainConfig
    from helpers.model import CharLSTM, FourGateLSTM

    cases = [
        (lambda: TrainConfig(batch_size=0).validate(), "batch_size must be a positive integer"),
        (lambda: TrainConfig(skip=0).validate(), "skip must be a positive integer, got 0"),
        (lambda: TrainConfig(sample_chars=-1).validate(),
         "sample_chars must be a non-negative integer"),
        (lambda: encoding.sections(np.arange(10), True, 1),
         "len_per_section must be a positive integer, got True"),
        (lambda: batches.batch_dataset(np.arange(100), 0, 5), "batch_size must be a positive"),
        (lambda: encoding.Vocabulary.from_text("abc", min_count=0),
         "min_count must be a positive integer, got 0"),
        (lambda: config.check_sampling_options(1.0, top_k=0),
         "top_k must be a positive integer or None, got 0"),
        (lambda: sampling._seed_word(-1), "seed must be a non-negative integer, got -1"),
        (lambda: CharLSTM(10, hidden_nodes=True), "hidden_nodes must be a positive integer"),
        (lambda: FourGateLSTM(0), "units must be a positive integer, got 0"),
        (lambda: original.section_arithmetic(0, 5), "n_chars must be a positive integer"),
        (lambda: inspect_lstm.find_units(np.zeros((4, 2)), {"x": np.zeros(4)}, top=0),
         "top must be a positive integer, got 0"),
    ]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()


class Terminal(io.StringIO):
    def isatty(self):
        return True


def fake_ipython(monkeypatch, config):
    shell = types.SimpleNamespace(config=config)
    monkeypatch.setitem(sys.modules, "IPython",
                        types.SimpleNamespace(get_ipython=lambda: shell))


def test_a_person_watches_a_terminal_or_a_kernel_not_a_capture(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    assert not checks.person_watching()  # captured output, though ipykernel is imported
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert checks.person_watching()
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    fake_ipython(monkeypatch, {"IPKernelApp": {}})  # a Jupyter kernel (papermill, nbval)
    assert checks.person_watching()
    fake_ipython(monkeypatch, {})  # IPython in a plain shell, output captured
    assert not checks.person_watching()
    monkeypatch.setattr(sys, "stderr", None)  # pythonw, or stderr closed
    assert not checks.person_watching()
