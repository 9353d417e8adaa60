"""helpers.original: the original tutorial's settings, numbers and behaviour, in one place.

The figures are checked for what can be checked without the original's text (which lives
outside the repository): the constants themselves and their consistency with each other.
"""

import math
import random

import numpy as np
import pytest

from helpers.backend import tf
from helpers.encoding import Vocabulary
from helpers.original import (
    DEMO,
    ORIGINAL,
    PRINTED_LETTERS,
    PRINTED_LOSSES,
    PRINTED_TEXT_LENGTH,
    PROMPT,
    OriginalLSTM,
    batch_indices,
    chars_reached,
    checkpoint_lookup,
    generate_original,
    intended_sample,
    literal_sample,
    make_train_step,
    nats_to_bits,
    original_loss,
    position_losses,
    printed_steps,
    save_steps,
    scored_targets,
    section_arithmetic,
    train_original,
)
from helpers.sampling import DEFAULT_PROMPT

TEXT = "the cat sat on the mat. the dog sat on the log.\n" * 8


def test_settings_are_the_originals():
    assert (ORIGINAL.batch_size, ORIGINAL.hidden_nodes, ORIGINAL.max_steps) == (512, 1024, 100)
    assert (ORIGINAL.len_per_section, ORIGINAL.skip) == (174, 2)
    assert ORIGINAL.learning_rate == 10.0
    assert (ORIGINAL.init_mean, ORIGINAL.init_stddev) == (-0.1, 0.1)
    assert (ORIGINAL.print_every, ORIGINAL.log_every, ORIGINAL.save_every) == (10, 100, 6000)
    assert ORIGINAL.generate_chars == 200
    assert (PRINTED_TEXT_LENGTH, PRINTED_LETTERS) == (580_441, 174)
    assert PROMPT == DEFAULT_PROMPT == "I plan to make the world a better place"


def test_the_printed_numbers_agree_with_each_other():
    # A loss printed at every print step of its loop, and only there.
    assert sorted(PRINTED_LOSSES) == printed_steps() == list(range(0, 100, 10))
    # Step 0 is close to guessing uniformly among its 174 letters: ln 174 = 5.16 nats.
    assert abs(PRINTED_LOSSES[0] - math.log(PRINTED_LETTERS)) < 0.05
    assert round(nats_to_bits(PRINTED_LOSSES[90]), 2) == 4.63
    # The coincidence its array shapes rely on: sections as long as the vocabulary is large.
    assert ORIGINAL.len_per_section == PRINTED_LETTERS


def test_the_demo_is_the_original_scaled_down():
    same = ("max_steps", "len_per_section", "skip", "learning_rate", "init_mean", "init_stddev",
            "print_every", "save_every", "generate_chars")
    assert all(getattr(DEMO, name) == getattr(ORIGINAL, name) for name in same)
    assert DEMO.batch_size < ORIGINAL.batch_size and DEMO.hidden_nodes < ORIGINAL.hidden_nodes


def test_it_saves_only_at_step_zero():
    assert save_steps() == [0]
    assert save_steps(ORIGINAL.max_steps, ORIGINAL.print_every, ORIGINAL.save_every) == [0]
    assert save_steps(max_steps=12_001) == [0, 6000, 12000]
    assert save_steps(max_steps=100, print_every=10, save_every=30) == [0, 30, 60, 90]


def test_section_arithmetic_on_the_originals_own_figures():
    cost = section_arithmetic(PRINTED_TEXT_LENGTH, PRINTED_LETTERS)
    assert cost.sections == len(range(0, 580_441 - 174, 2)) == 290_134
    assert cost.x_shape == (290_134, 174, 174) and cost.y_shape == (290_134, 174)
    assert cost.x_bytes == 290_134 * 174 * 174 * 8 == 70_272_775_872
    assert cost.y_bytes == 290_134 * 174 * 8 == 403_866_528
    assert cost.fits_graph and cost.problem is None
    # Its 100 batches of 512 consecutive sections reach only the start of its text.
    assert chars_reached(cost.sections) == 51_199 * 2 + 174 + 1 == 102_573


def test_section_arithmetic_on_wiki_test_raw(test_text):
    cost = section_arithmetic(len(test_text), len(set(test_text)))
    assert (len(test_text), len(set(test_text))) == (1_288_556, 259)
    assert cost.sections == 644_191
    assert cost.x_bytes == 644_191 * 259 * 259 * 8
    assert not cost.fits_graph and "does not fit" in cost.problem
    assert "IndexError" in section_arithmetic(1000, 100).problem


def test_section_arithmetic_matches_arrays_built_the_originals_way():
    settings = ORIGINAL.replace(len_per_section=5, skip=2)
    text = "abcde" * 5 + "ab"
    letters = sorted(set(text))
    ids = {c: i for i, c in enumerate(letters)}
    starts = range(0, len(text) - settings.len_per_section, settings.skip)
    x = np.zeros((len(starts), len(letters), len(letters)), dtype=int)
    y = np.zeros((len(starts), len(letters)))
    for row, start in enumerate(starts):
        for t, char in enumerate(text[start:start + settings.len_per_section]):
            x[row, t, ids[char]] = 1
        y[row, ids[text[start + settings.len_per_section]]] = 1
    cost = section_arithmetic(len(text), len(letters), settings)
    assert (cost.sections, cost.x_shape, cost.y_shape) == (len(starts), x.shape, y.shape)
    assert (cost.x_bytes, cost.y_bytes) == (x.nbytes, y.nbytes)


def test_batches_follow_the_originals_offset_and_wrap_around():
    batches = batch_indices(10, 4)
    taken = [next(batches).tolist() for _ in range(5)]
    assert taken == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1], [2, 3, 4, 5], [6, 7, 8, 9]]
    with pytest.raises(ValueError, match="batch_size"):
        next(batch_indices(3, 4))


@pytest.mark.parametrize("size", [2, 7, 174, 260])
def test_the_literal_sampler_returns_the_last_id_for_any_r_above_zero(size):
    rng = np.random.default_rng(size)
    for prediction in (rng.dirichlet(np.ones(size)), np.eye(size)[0], np.full(size, 1 / size)):
        for r in (1e-12, 0.3, 0.999, 1.0):
            assert literal_sample(prediction, r) == size - 1
        assert {literal_sample(prediction, rng) for _ in range(200)} == {size - 1}
        assert literal_sample(prediction, random.Random(0)) == size - 1
    assert literal_sample(np.full(size, 1 / size), 0.0) == 0  # r == 0 exactly: the only way out


def test_the_intended_sampler_draws_from_the_distribution():
    probs = np.array([0.5, 0.2, 0.2, 0.1])
    rng = np.random.default_rng(0)
    counts = np.bincount([intended_sample(probs, rng) for _ in range(4000)], minlength=4)
    assert np.abs(counts / 4000 - probs).max() < 0.03
    assert intended_sample(np.eye(4)[2], rng) == 2
    assert [intended_sample(probs, r) for r in (0.1, 0.5, 0.6, 0.95)] == [0, 0, 1, 3]


@pytest.fixture(scope="module")
def tiny():
    """A tiny port and one-hot batch: batch 3, 4 positions, 7 characters, 5 units."""
    model = OriginalLSTM(7, 5, seed=1)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 7, (3, 5))
    data, labels = tf.one_hot(ids[:, :4], 7), tf.one_hot(ids[:, 4], 7)
    model(data)
    return model, ids, data, labels


def test_the_port_has_the_originals_weights(tiny):
    model = tiny[0]
    assert len(model.from_input) == len(model.from_output) == len(model.biases) == 4
    assert {tuple(w.shape) for w in model.from_input.values()} == {(7, 5)}
    assert {tuple(w.shape) for w in model.from_output.values()} == {(5, 5)}
    assert tuple(model.out_weights.shape) == (5, 7)
    assert len(model.trainable_variables) == 8 + 4 + 2
    assert all(np.all(b.numpy() == 0) for b in model.biases.values())
    big = OriginalLSTM(7, 300, seed=0)
    big(tf.zeros([1, 1, 7]))
    values = big.from_output["input"].numpy()
    # A truncated normal of mean -0.1 and standard deviation 0.1: nothing beyond 2 stddev.
    assert -0.3 <= values.min() and values.max() <= 0.1
    assert abs(values.mean() + 0.1) < 0.005


def test_the_loss_scores_every_position(tiny):
    model, ids, data, labels = tiny
    targets = scored_targets(data, labels).numpy()
    np.testing.assert_array_equal(targets[:, :3], data.numpy()[:, 1:])  # the next input
    np.testing.assert_array_equal(targets[:, 3], labels.numpy())  # the label: the last only
    per_position = position_losses(model, data, labels).numpy()
    assert per_position.shape == (3, 4) and per_position.size == 3 * 4  # batch * length
    logits = model(data).numpy()
    expected = -np.sum(targets * (logits - np.log(np.exp(logits).sum(-1, keepdims=True))), -1)
    np.testing.assert_allclose(per_position, expected, rtol=1e-5)
    assert float(original_loss(model, data, labels)) == pytest.approx(per_position.mean())


def test_changing_any_target_changes_the_loss(tiny):
    model, ids, data, labels = tiny
    before = position_losses(model, data, labels).numpy()
    for t in (1, 2, 3):  # the target of position t - 1 (and the input of position t)
        changed = ids.copy()
        changed[:, t] = (changed[:, t] + 1) % 7
        after = position_losses(model, tf.one_hot(changed[:, :4], 7), labels).numpy()
        assert np.all(after[:, t - 1] != before[:, t - 1])  # its target moved
        np.testing.assert_array_equal(after[:, :t - 1], before[:, :t - 1])  # earlier: same
    after = position_losses(model, data, tf.roll(labels, 1, axis=-1)).numpy()
    assert np.all(after[:, 3] != before[:, 3])
    np.testing.assert_array_equal(after[:, :3], before[:, :3])


def test_the_candidate_option_changes_only_the_candidate():
    sigmoid, tanh = OriginalLSTM(6, 4, "sigmoid", seed=3), OriginalLSTM(6, 4, "tanh", seed=3)
    x = tf.one_hot([1, 4], 6)
    h = tf.constant(np.random.default_rng(0).uniform(-1, 1, (2, 4)), tf.float32)
    c = tf.constant(np.random.default_rng(1).uniform(-1, 1, (2, 4)), tf.float32)
    for model in (sigmoid, tanh):
        model(tf.zeros([1, 1, 6]))
    *_, gates_s = sigmoid.step(x, h, c, return_gates=True)
    *_, gates_t = tanh.step(x, h, c, return_gates=True)
    for name in ("input", "forget", "output"):
        np.testing.assert_array_equal(gates_s[name], gates_t[name])
    g_s, g_t = gates_s["candidate"].numpy(), gates_t["candidate"].numpy()
    assert g_s.min() > 0 and not np.allclose(g_s, g_t)
    np.testing.assert_allclose(np.tanh(np.log(g_s / (1 - g_s))), g_t, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="candidate"):
        OriginalLSTM(6, 4, "relu")


def test_sgd_is_plain_gradient_descent_at_ten_without_clipping(tiny):
    _, ids, _, _ = tiny
    model = OriginalLSTM(7, 5, seed=2)
    data, labels = tf.one_hot(ids[:, :4], 7), tf.one_hot(ids[:, 4], 7)
    model(data)
    with tf.GradientTape() as tape:
        loss = original_loss(model, data, labels)
    grads = tape.gradient(loss, model.trainable_variables)
    before = [v.numpy() for v in model.trainable_variables]
    step = make_train_step(model, "sgd")
    assert float(step(tf.constant(ids[:, :4]), tf.constant(ids[:, 4]))) == pytest.approx(
        float(loss))
    assert tf.linalg.global_norm(grads) > 0
    for old, grad, variable in zip(before, grads, model.trainable_variables, strict=True):
        np.testing.assert_allclose(variable.numpy(), old - 10.0 * grad.numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="optimizer"):
        make_train_step(model, "rmsprop")


@pytest.mark.slow  # over 1.5 s on 2 cores: in make test, not test-fast
def test_a_tiny_run_is_deterministic_and_reports_nats_and_bits():
    settings = DEMO.replace(batch_size=4, hidden_nodes=8, len_per_section=6)
    first = train_original(settings, steps=3, text=TEXT, seed=5)
    again = train_original(settings, steps=3, text=TEXT, seed=5)
    assert [r["step"] for r in first.history] == [0, 1, 2]
    assert [r["nats"] for r in first.history] == [r["nats"] for r in again.history]
    row = first.history[0]
    assert row["bits"] == pytest.approx(row["nats"] / math.log(2))
    assert row["nats"] == pytest.approx(math.log(len(first.vocabulary)), abs=0.5)
    assert first.printed() == [first.history[0]]
    adam = train_original(settings, steps=2, text=TEXT, seed=5, candidate="tanh",
                          optimizer="adam")
    assert (adam.candidate, adam.optimizer) == ("tanh", "adam")
    assert len(train_original(settings, steps=50, seconds=0, text=TEXT).history) == 1


def test_generation_with_the_literal_sampler_repeats_the_last_character():
    vocab = Vocabulary.from_text(TEXT + PROMPT)
    model = OriginalLSTM(len(vocab), 8, seed=0)
    model(tf.zeros([1, 1, len(vocab)]))
    literal = generate_original(model, vocab, literal_sample, num_chars=30)
    assert literal == vocab.decode([len(vocab) - 1]) * 30
    intended = generate_original(model, vocab, "intended", num_chars=30, seed=1)
    assert len(intended) == 30 and len(set(intended)) > 3
    assert intended == generate_original(model, vocab, intended_sample, num_chars=30, seed=1)


def test_the_checkpoint_lookup_is_handed_a_file_name(tmp_path):
    found = checkpoint_lookup(tmp_path)
    assert found["file name"] is None
    assert found["directory"].endswith("trained_variables.ckpt-0")
    assert (tmp_path / "checkpoint").exists()
