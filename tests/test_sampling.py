import warnings

import numpy as np
import pytest

from helpers.encoding import UNKNOWN_ID, UnknownCharactersWarning, Vocabulary
from helpers.model import CharLSTM
from helpers.sampling import (
    DEFAULT_PROMPT,
    Generator,
    _known_only,
    chars_per_second,
    check_prompt,
    next_char_probabilities,
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
    samples = generator.generate("the ", 20, temperature=1.0, seed=1, num_samples=4)
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


@pytest.mark.slow  # over 1.5 s on 2 cores: in make test, not test-fast
def test_the_unknown_id_is_never_generated():
    vocab = Vocabulary.from_text("ab")
    model = CharLSTM(len(vocab), 4).build_for()
    # Make the unknown id by far the likeliest: it must still never be drawn.
    kernel, bias = model.logits.get_weights()
    bias[0] = 50.0
    model.logits.set_weights([kernel, bias])
    generator = Generator(model, vocab)
    for options in ({"temperature": 0}, {"temperature": 1.0}, {"temperature": 1e-6},
                    {"temperature": 5.0, "top_k": 3}, {"temperature": 1.0, "top_p": 1.0}):
        texts = generator.generate("ab", 300, seed=0, num_samples=3, **options)
        assert all(len(text) == 300 and set(text) <= {"a", "b"} for text in texts), options
        assert set(generator.generate_stepwise("ab", 30, seed=0, **options)[0]) <= {"a", "b"}
    assert set(generator.generate_by_refeeding("ab", 10, temperature=0)) <= {"a", "b"}


# The loop in one graph (``generate``) against the loop in Python (``generate_stepwise``).

def _sharp_model(vocab, units=24, cell="four_gate", seed=3):
    """A random model with larger weights: well-separated logits that depend on the state,
    so greedy decoding has no near-ties and a lost or stale state changes the text."""
    rng = np.random.default_rng(seed)
    model = CharLSTM(len(vocab), units, cell=cell).build_for()
    model.set_weights([rng.normal(0, 3 / np.sqrt(w.shape[0] if w.ndim > 1 else 1), w.shape)
                       .astype(np.float32) for w in model.get_weights()])
    return model


SHARP_VOCAB = Vocabulary.from_text(DEFAULT_PROMPT + " .,\n")


@pytest.fixture(scope="module")
def sharp():
    return Generator(_sharp_model(SHARP_VOCAB), SHARP_VOCAB)


@pytest.mark.parametrize("jit_compile", [True, False], ids=["xla", "no_xla"])
def test_in_graph_greedy_equals_the_stepwise_loop_and_refeeding(jit_compile):
    sharp = Generator(_sharp_model(SHARP_VOCAB), SHARP_VOCAB, jit_compile=jit_compile)
    for prompt in ("I plan to", "", "world"):
        fast = sharp.generate(prompt, 80, temperature=0)[0]
        assert fast == sharp.generate_stepwise(prompt, 80, temperature=0)[0]
        assert fast[:40] == sharp.generate_by_refeeding(prompt, 40, temperature=0)
    # The texts depend on the prompt, so the equality above says the state was carried.
    assert len({sharp.generate(p, 30, temperature=0)[0] for p in ("I", "a", "pl")}) > 1


def test_in_graph_sampling_at_a_very_low_temperature_is_greedy(sharp):
    greedy = sharp.generate_stepwise("I plan", 80, temperature=0)[0]
    for seed in (0, 1):
        assert sharp.generate("I plan", 80, temperature=1e-4, seed=seed)[0] == greedy
        assert sharp.generate("I plan", 80, temperature=1e-4, top_k=3, seed=seed)[0] == greedy


def test_in_graph_same_seed_same_text_other_seed_other_text(sharp):
    first = sharp.generate("I plan", 120, temperature=1.5, seed=11, num_samples=2)
    assert first == sharp.generate("I plan", 120, temperature=1.5, seed=11, num_samples=2)
    assert first[0] != first[1]  # rows of a batch draw independently
    assert first != sharp.generate("I plan", 120, temperature=1.5, seed=12, num_samples=2)
    # Seeds go by position, so a shorter text is the start of a longer one.
    assert sharp.generate("I plan", 50, temperature=1.5, seed=11)[0] == first[0][:50]
    big = 2**70 + 5  # any non-negative integer, as for NumPy's generators
    assert sharp.generate("I", 20, seed=big) == sharp.generate("I", 20, seed=big)


@pytest.mark.slow  # over 1.5 s on 2 cores: in make test, not test-fast
def test_texts_longer_than_one_compiled_call_continue_seamlessly():
    generator = Generator(_sharp_model(SHARP_VOCAB), SHARP_VOCAB)
    whole = generator.generate("I plan", 45, temperature=1.0, seed=5)[0]
    generator.chunk_size = 7  # 45 = 6 calls of 7 + one of 3
    for num_chars in (0, 1, 7, 8, 45):
        texts = generator.generate("I plan", num_chars, temperature=1.0, seed=5, num_samples=2)
        assert [len(t) for t in texts] == [num_chars, num_chars]
        assert texts[0] == whole[:num_chars]
    assert generator.generate("I plan", 45, temperature=0)[0] == \
        generator.generate_stepwise("I plan", 45, temperature=0)[0]


def _chi_square_limit(dof, z=3.09):
    """Wilson-Hilferty approximation of the chi-square quantile at p = 0.001."""
    return dof * (1 - 2 / (9 * dof) + z * np.sqrt(2 / (9 * dof))) ** 3


FIXED_PROBS = np.array([0.0, 0.3, 0.2, 0.15, 0.12, 0.1, 0.08, 0.05])  # id 0: unknown


@pytest.fixture(scope="module")
def fixed():
    """A model whose logits are always log(FIXED_PROBS), plus 9 on the unknown id."""
    vocab = Vocabulary.from_text("abcdefg")
    model = CharLSTM(len(vocab), 4).build_for()
    kernel, _ = model.logits.get_weights()
    bias = np.log(np.maximum(FIXED_PROBS, 1e-30)).astype(np.float32)
    bias[UNKNOWN_ID] = 9.0  # the likeliest by far, and never to be drawn
    model.logits.set_weights([np.zeros_like(kernel), bias])
    return Generator(model, vocab), bias


@pytest.mark.parametrize("options", [
    {"temperature": 1.0}, {"temperature": 0.5}, {"temperature": 2.0, "top_k": 4},
    {"temperature": 1.0, "top_p": 0.7}, {"temperature": 0.8, "top_k": 5, "top_p": 0.9},
], ids=str)
def test_in_graph_draws_follow_the_numpy_distribution(fixed, options):
    """Many draws from the loop in the graph against ``next_char_probabilities``."""
    generator, bias = fixed
    n = 3_000  # samples, 2 characters each
    texts = generator.generate("abc", 2, seed=2, num_samples=n, **options)
    drawn = generator.vocabulary.encode("".join(texts), warn=False)
    expected = next_char_probabilities(_known_only(bias[None]), **options)[0] * len(drawn)
    counts = np.bincount(drawn, minlength=len(bias))
    assert counts[expected == 0].sum() == 0 and counts[UNKNOWN_ID] == 0
    positive = expected > 0
    assert positive.sum() >= 3  # a real distribution, not one forced character
    chi_square = ((counts[positive] - expected[positive]) ** 2 / expected[positive]).sum()
    assert chi_square < _chi_square_limit(positive.sum() - 1), (counts, expected.round())
    # Each position has a seed of its own: the second character does not repeat the first.
    pairs = drawn.reshape(n, 2)
    assert (pairs[:, 0] == pairs[:, 1]).mean() < 0.6


@pytest.mark.parametrize("prompt, message", [
    (None, r"test_start must be text \(a str\), got NoneType None; for no prompt at all use "
           r'the empty text ""'),
    (42, r"test_start must be text \(a str\), got int 42; papermill reads `-p test_start 42` "
         r"as a number, `-r test_start 42` passes it as text"),
    (b"I plan", r"test_start must be text \(a str\), got bytes"),
    ("I \udcffplan", r"test_start is not valid UTF-8: byte 0xff at character 2"),
    ("\ud800", r"half of a UTF-16 pair \(U\+D800\)"),
])
def test_a_prompt_that_is_not_text_is_named(prompt, message):
    with pytest.raises(ValueError, match=message):
        check_prompt(prompt, "test_start")


def test_notebook_05s_plot_of_an_empty_prompt(generator):
    """05's plotting cell read the prompt's last logits: an empty prompt has none."""
    model, vocabulary = generator.model, generator.vocabulary
    assert check_prompt("", "test_start") == ""
    with pytest.raises(IndexError):  # what the cell did: vocabulary.encode(test_start)
        model(vocabulary.encode("")[None, :]).numpy()[0, -1]
    logits = model(generator.prompt_ids("")[None, :]).numpy()[0, -1]  # what it should do
    assert logits.shape == (len(vocabulary),)
    assert vocabulary.decode(generator.prompt_ids("")) == "\n"  # where articles start


def test_streaming_gives_the_text_of_generate_piece_by_piece(generator):
    generator = Generator(generator.model, generator.vocabulary)
    generator.chunk_size = 16
    pieces = list(generator.stream("I plan", 40, temperature=1.0, seed=5))
    assert [len(p) for p in pieces] == [16, 16, 8]
    assert "".join(pieces) == generator.generate("I plan", 40, temperature=1.0, seed=5)[0]


def test_keras_lstm_cell_generates_in_graph_too():
    generator = Generator(_sharp_model(SHARP_VOCAB, units=8, cell="keras"), SHARP_VOCAB)
    fast = generator.generate("I plan", 40, temperature=0)[0]
    assert fast == generator.generate_stepwise("I plan", 40, temperature=0)[0]


@pytest.mark.parametrize("arguments, message", [
    ({"temperature": -1}, "temperature"), ({"temperature": "hot"}, "temperature"),
    ({"top_k": 0}, "top_k"), ({"top_p": 2.0}, "top_p"), ({"num_chars": -1}, "num_chars"),
    ({"num_chars": 2.5}, "num_chars"), ({"num_samples": -1}, "num_samples"),
    ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"), ({"prompt": None}, "prompt"),
])
def test_bad_generation_arguments_are_named(generator, arguments, message):
    for run in (generator.generate, generator.generate_stepwise):
        with pytest.raises(ValueError, match=message):
            run(**{"prompt": "I", "num_chars": 5, **arguments})


def test_chars_per_second_times_the_chosen_method_after_a_warm_up(generator, monkeypatch):
    """The figure is characters over the seconds of the timed call, the compiling call apart."""
    import helpers.sampling as sampling

    calls, clock = [], iter([100.0, 102.5])  # the timed call takes 2.5 s
    monkeypatch.setattr(sampling.time, "perf_counter", lambda: next(clock))
    for name, method in (("generate", "in_graph"), ("generate_stepwise", "stepwise"),
                         ("generate_by_refeeding", "refeed")):
        monkeypatch.setattr(generator, name,
                            lambda prompt, n, _name=name: calls.append((_name, prompt, n)))
        clock = iter([100.0, 102.5])
        assert chars_per_second(generator, "I plan", 500, method=method) == 200.0
        assert calls[-2:] == [(name, "I plan", 5), (name, "I plan", 500)]
    with pytest.raises(ValueError, match="method"):
        chars_per_second(generator, "I plan", 10, method="fast")


def test_the_small_sampler_follows_the_softmax_of_logits_over_temperature():
    from helpers.sampling import chi_square, sample_one

    logits = np.log([0.5, 0.3, 0.15, 0.05, 1e-9])
    rng = np.random.default_rng(4)
    for temperature in (1.0, 0.5, 2.0):
        drawn = np.bincount([sample_one(logits, rng, temperature) for _ in range(5_000)],
                            minlength=len(logits))
        statistic, limit = chi_square(drawn, next_char_probabilities(logits, temperature)[0])
        assert statistic < limit, (temperature, drawn)


def test_chi_square_rejects_a_sampler_that_favours_a_character():
    from helpers.sampling import chi_square

    probs = np.array([0.5, 0.3, 0.2])
    assert chi_square([500, 300, 200], probs)[0] == 0
    statistic, limit = chi_square([600, 250, 150], probs)
    assert statistic > limit  # 10 points too many on the likeliest: far beyond chance
    assert chi_square([500, 300, 200], [0.5, 0.5, 0.0])[0] == float("inf")


def test_stepwise_generation_takes_any_sampler(generator):
    last = len(generator.vocabulary) - 1
    always_last = generator.generate_stepwise("ab", 12, draw=lambda probs, rng: len(probs) - 1)
    assert always_last == [generator.vocabulary.decode([last] * 12)]
    seen = []
    generator.generate_stepwise("ab", 3, temperature=0.5,
                                draw=lambda probs, rng: seen.append(probs) or 1)
    assert len(seen) == 3 and all(abs(p.sum() - 1) < 1e-9 and p[UNKNOWN_ID] == 0 for p in seen)


def test_chi_square_pools_rare_characters():
    from helpers.sampling import chi_square

    probs = np.array([0.6, 0.39] + [0.01 / 100] * 100)  # a long tail of rare characters
    counts = np.array([600, 390] + [1] * 10 + [0] * 90)  # 10 draws from the tail, as expected
    statistic, limit = chi_square(counts, probs)
    assert statistic < limit  # unpooled, each rare draw alone would add about 1,000
    counts[2:12] = [10] + [0] * 9  # pooled, only the tail's total counts, not which one
    assert chi_square(counts, probs)[0] < limit
    counts[0], counts[1] = 700, 290  # the common characters off by 100: far beyond chance
    assert chi_square(counts, probs)[0] > limit
