import warnings

import numpy as np
import pytest

from helpers.encoding import UnknownCharactersWarning, Vocabulary
from helpers.model import CharLSTM
from helpers.sampling import (
    DEFAULT_PROMPT,
    Generator,
    next_char_probabilities,
    original_sample,
    sample_next_char,
)

PROBS = np.array([0.5, 0.2, 0.15, 0.1, 0.05])
LOGITS = np.log(PROBS)


def draw(n, **options):
    rng = np.random.default_rng(0)
    return sample_next_char(np.tile(LOGITS, (n, 1)), rng, **options)


def test_draws_follow_the_distribution():
    n = 20_000
    counts = np.bincount(draw(n), minlength=5)
    expected = PROBS * n
    chi_square = ((counts - expected) ** 2 / expected).sum()
    assert chi_square < 18.47  # 4 degrees of freedom, p = 0.001


def test_temperature_sharpens_and_flattens():
    cold = next_char_probabilities(LOGITS, temperature=0.5)[0]
    hot = next_char_probabilities(LOGITS, temperature=2.0)[0]
    np.testing.assert_allclose(cold, PROBS ** 2 / (PROBS ** 2).sum())
    assert hot.max() < PROBS.max() < cold.max()


def test_temperature_zero_is_argmax():
    logits = np.random.default_rng(1).normal(size=(50, 30))
    ids = sample_next_char(logits, np.random.default_rng(2), temperature=0)
    np.testing.assert_array_equal(ids, logits.argmax(axis=1))


@pytest.mark.parametrize("options, message", [
    ({"temperature": -0.1}, "temperature"), ({"temperature": float("nan")}, "temperature"),
    ({"top_k": 0}, "top_k"), ({"top_p": 0.0}, "top_p"), ({"top_p": 1.5}, "top_p"),
])
def test_bad_options_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        draw(1, **options)


def test_top_k_never_emits_excluded_characters():
    counts = np.bincount(draw(5_000, top_k=2), minlength=5)
    assert counts[2:].sum() == 0 and counts[:2].min() > 0
    assert abs(counts[0] / counts[:2].sum() - 0.5 / 0.7) < 0.03


def test_top_p_keeps_the_smallest_set_reaching_p():
    kept = next_char_probabilities(LOGITS, top_p=0.8)[0] > 0
    assert kept.tolist() == [True, True, True, False, False]  # 0.5 + 0.2 < 0.8 <= 0.85
    counts = np.bincount(draw(5_000, top_p=0.8), minlength=5)
    assert counts[3:].sum() == 0 and counts[:3].min() > 0
    only_top = next_char_probabilities(LOGITS, top_p=0.3)[0]
    assert only_top.tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]


def test_the_original_sampler_always_returns_the_same_character():
    uniform = np.full(260, 1 / 260)
    rng = np.random.default_rng(0)
    picks = np.array([original_sample(uniform, rng) for _ in range(2_000)])
    # Only a draw r below 1/260 ever stops the walk (at id 0); everything else falls through.
    assert (picks == 259).mean() > 0.98
    assert set(picks.tolist()) <= {0, 259}
    fixed = sample_next_char(np.log(np.tile(uniform, (2_000, 1))), rng)
    assert len(set(fixed.tolist())) > 200


@pytest.fixture(scope="module")
def generator():
    vocab = Vocabulary.from_text(DEFAULT_PROMPT + " .,\n")
    model = CharLSTM(len(vocab), 32).build_for()
    return Generator(model, vocab)


def test_same_seed_same_text(generator):
    first = generator.generate("I plan", 50, temperature=1.0, seed=7)
    assert first == generator.generate("I plan", 50, temperature=1.0, seed=7)
    assert first != generator.generate("I plan", 50, temperature=1.0, seed=8)
    assert len(first) == 1 and len(first[0]) == 50


def test_stateful_generation_equals_refeeding_the_prefix(generator):
    stateful = generator.generate("I plan to", 30, temperature=0)[0]
    refed = generator.generate_by_refeeding("I plan to", 30, temperature=0)
    assert stateful == refed


def test_several_samples_in_one_batch(generator):
    samples = generator.generate("The ", 20, temperature=1.0, seed=1, num_samples=4)
    assert len(samples) == 4 and all(len(s) == 20 for s in samples)
    assert len(set(samples)) > 1


def test_unknown_prompt_characters_warn_instead_of_failing(generator):
    with pytest.warns(UnknownCharactersWarning, match="2 characters"):
        text = generator.generate("Zü plan", 10, seed=0)[0]
    assert len(text) == 10


def test_empty_prompt_is_allowed(generator):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(generator.generate("", 15, seed=0)[0]) == 15


def test_the_unknown_id_is_never_generated():
    vocab = Vocabulary.from_text("ab")
    model = CharLSTM(len(vocab), 4).build_for()
    # Make the unknown id by far the likeliest: it must still never be drawn.
    kernel, bias = model.logits.get_weights()
    bias[0] = 50.0
    model.logits.set_weights([kernel, bias])
    generator = Generator(model, vocab)
    for temperature in (0, 1.0):
        text = generator.generate("ab", 30, temperature=temperature, seed=0)[0]
        assert set(text) <= {"a", "b"}
    assert set(generator.generate_by_refeeding("ab", 10, temperature=0)) <= {"a", "b"}
