"""The exercise checks of notebooks 01-05 (`helpers.exercises`).

Every check accepts its reference solution (`notebooks/solutions/`), rejects each usual mistake
with the hint it promises (the mistakes are written out here, as a learner would write them),
says "not attempted yet" for an unfilled stub, and reports a learner's exception in one line.
An answer of an odd kind (a string, a list of arrays, the wrong shape or dtype, a value whose
comparison raises) is answered in a plain sentence naming the case, never with a traceback.
"""

import ast
import contextlib
import importlib.util
import io
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from helpers import exercises
from helpers.checks import PROGRESS_VARIABLE
from helpers.exercises import NOT_ATTEMPTED
from helpers.paths import REPO_ROOT

SOLUTIONS = REPO_ROOT / "notebooks" / "solutions"


def solutions(notebook: str):
    spec = importlib.util.spec_from_file_location(notebook, SOLUTIONS / f"{notebook}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


S01, S02, S03, S04, S05 = (solutions(name) for name in (
    "01_data_loading", "02_one_hot_encoding", "03_four_gate_lstm", "04_training",
    "05_sampling"))

# Every check, with the reference solution it must accept.
CHECKS = {
    "check_character_shares": S01.character_shares,
    "check_article_titles": S01.article_titles,
    "check_one_hot": S02.one_hot,
    "check_inputs_and_targets": S02.inputs_and_targets,
    "check_lstm_step": S03.lstm_step,
    "check_lstm_parameters": S03.lstm_parameters,
    "check_bits_per_char": S04.bits_per_char,
    "check_clip_by_global_norm": S04.clip_by_global_norm,
    "check_training_step": S04.training_step,
    "check_temperature_sampling": S05.sample,
    "check_top_p": S05.top_p_filter,
}


def run(check_name, function, capsys, **options):
    result = getattr(exercises, check_name)(function, **options)
    printed = capsys.readouterr().out
    assert printed.strip() == result.message, "a check prints the message it returns"
    assert "\n" not in result.message and "Traceback" not in result.message
    return result


def made_by(check_name):
    """The cases a check tries and the mistakes it names, recorded as it makes them."""
    made = {"cases": [], "mistakes": []}

    def recording(kind, make):
        def record(*args, **kwargs):
            made[kind].append(make(*args, **kwargs))
            return made[kind][-1]
        return record

    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(io.StringIO()):
        patch.setattr(exercises, "Case", recording("cases", exercises.Case))
        patch.setattr(exercises, "Mistake", recording("mistakes", exercises.Mistake))
        getattr(exercises, check_name)(CHECKS[check_name])
    return made["cases"], made["mistakes"]


def hint_of(message):
    return message.split(". Hint: ", 1)[1]


def test_every_check_of_the_module_is_tested_here():
    defined = {name for name in dir(exercises) if name.startswith("check_")}
    assert defined == set(CHECKS)


@pytest.mark.parametrize("check_name", CHECKS)
def test_the_reference_solution_is_correct(check_name, capsys):
    result = run(check_name, CHECKS[check_name], capsys)
    assert result.passed and result.attempted
    assert result.message.startswith("Correct:")


def test_the_lstm_step_is_also_checked_on_a_layers_own_weights(capsys):
    from helpers.backend import tf
    from helpers.model import FourGateLSTM

    layer = FourGateLSTM(4, input_dim=7)
    layer(tf.zeros([1, 1], tf.int32))
    result = run("check_lstm_step", S03.lstm_step, capsys, weights=layer.get_weights())
    assert result.passed and "all 3 cases" in result.message
    wrong = run("check_lstm_step", S03.lstm_step, capsys, weights=layer.get_weights()[:2])
    assert not wrong.passed and "weights must be" in wrong.message


def test_the_numpy_step_matches_the_layers_own_step():
    """The exercise asks for what FourGateLSTM.step computes: the check's reference agrees."""
    from helpers.backend import tf
    from helpers.model import FourGateLSTM

    layer = FourGateLSTM(3, input_dim=5)
    layer(tf.zeros([1, 1], tf.int32))
    rng = np.random.default_rng(0)
    ids = np.array([1, 4])
    h, c = rng.uniform(-1, 1, (2, 2, 3)).astype(np.float32)
    ours = layer.step(layer.project_inputs(tf.constant(ids[:, None]))[:, 0], h, c)
    kernel, recurrent_kernel, bias = layer.get_weights()
    numpy = exercises._lstm_step(np.eye(5)[ids], h, c, kernel, recurrent_kernel, bias)
    for a, b in zip(ours, numpy, strict=True):
        np.testing.assert_allclose(a.numpy(), b, atol=1e-5)


@pytest.mark.parametrize("check_name", CHECKS)
def test_an_unfilled_stub_is_not_attempted_yet(check_name, capsys):
    def stub(*args):
        raise NotImplementedError  # your code here

    for unfilled in (stub, lambda *args: None, lambda *args: ...):
        result = run(check_name, unfilled, capsys)
        assert not result.passed and not result.attempted
        assert NOT_ATTEMPTED in result.message and "Not yet" not in result.message


def test_a_kernel_make_run_started_keeps_not_attempted_to_itself(monkeypatch, capsys):
    """helpers.runs relays a notebook's lines to a terminal: an unfilled stub says nothing
    there, while an attempt's answer is still printed."""
    monkeypatch.setenv(PROGRESS_VARIABLE, "lines")

    def stub(logits, targets):
        raise NotImplementedError

    result = exercises.check_bits_per_char(stub)
    assert NOT_ATTEMPTED in result.message and capsys.readouterr().out == ""
    result = exercises.check_bits_per_char(lambda logits, targets: 0.0)
    assert not result.passed and capsys.readouterr().out.strip() == result.message


@pytest.mark.parametrize("check_name", CHECKS)
def test_a_learners_exception_is_one_line_naming_the_case(check_name, capsys):
    def broken(*args):
        return {}["no such key"]

    result = run(check_name, broken, capsys)
    assert not result.passed and result.attempted
    assert re.match(r"Not yet: \w+ raised KeyError: 'no such key' (on|from|for) ", result.message)


def test_something_other_than_a_function_is_said_plainly(capsys):
    result = run("check_one_hot", "one_hot", capsys)
    assert not result.passed and "give the check your function itself" in result.message


def test_the_result_shows_nothing_more_in_a_notebook():
    """A check cell ends with the call: its value must not repeat the printed message."""
    result = exercises.Result(True, "Correct: f")
    assert result._ipython_display_() is None and str(result) == "Correct: f"


# --- Each mistake, written as a learner would, and the hint its check promises ----------


def shares_as_counts(text):
    return Counter(text)


def shares_without_spaces(text):
    return {c: n / len(text) for c, n in Counter("".join(text.split())).items()}


def shares_over_distinct(text):
    counts = Counter(text)
    return {c: n / len(counts) for c, n in counts.items()}


def titles_with_marks(text):
    return re.findall(r"^ = [^=].*[^=] = $", text, flags=re.M)


def titles_without_blank_lines(text):
    return [line[3:-3] for line in text.split("\n")
            if line.startswith(" = ") and not line.startswith(" = = ")]


def titles_and_sections(text):
    return [line.strip(" =") for line in text.split("\n") if line.startswith(" = ")]


def one_hot_float64(text, chars):
    rows = np.zeros((len(text), len(chars) + 1))
    for t, c in enumerate(text):
        rows[t, chars.index(c) + 1 if c in chars else 0] = 1
    return rows


def one_hot_int64(text, chars):
    rows = np.zeros((len(text), len(chars) + 1), dtype=np.int64)
    for t, c in enumerate(text):
        rows[t, chars.index(c) + 1 if c in chars else 0] = 1
    return rows


def one_hot_without_unknown(text, chars):
    return np.eye(len(chars), dtype=np.float32)[[chars.index(c) for c in text]]


def one_hot_raising_on_unknown(text, chars):
    ids = {c: i + 1 for i, c in enumerate(chars)}
    return np.eye(len(chars) + 1, dtype=np.float32)[[ids[c] for c in text]]


def one_hot_not_shifted(text, chars):
    rows = np.zeros((len(text), len(chars) + 1), np.float32)
    for t, c in enumerate(text):
        rows[t, chars.index(c) if c in chars else -1] = 1
    return rows


def one_hot_of_a_list(text, chars):
    return np.array([S02.one_hot(c, chars)[0] for c in text], np.float32)


def pairs_unshifted(ids, length):
    inputs = np.stack([ids[k * length:(k + 1) * length] for k in range((len(ids) - 1) // length)])
    return inputs, inputs


def pairs_backwards(ids, length):
    inputs, targets = S02.inputs_and_targets(ids, length)
    return targets, inputs


def pairs_every_length_plus_one(ids, length):
    windows = np.stack([ids[s:s + length + 1] for s in range(0, len(ids) - length, length + 1)])
    return windows[:, :-1], windows[:, 1:]


def pairs_one_label(ids, length):
    inputs, targets = S02.inputs_and_targets(ids, length)
    return inputs, targets[:, -1]


def pairs_last_window_lost(ids, length):
    count = len(ids) // length - 1
    windows = np.stack([ids[k * length:k * length + length + 1] for k in range(count)])
    return windows[:, :-1], windows[:, 1:]


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def lstm_step_with(candidate=np.tanh, order=("i", "f", "c", "o"), squash=np.tanh, bias_on=True,
                   old_c=False, swap=False):
    def lstm_step(x, h, c, kernel, recurrent_kernel, bias):
        z = x @ kernel + h @ recurrent_kernel + (bias if bias_on else 0)
        gates = dict(zip(order, np.split(z, 4, axis=1), strict=True))
        new_c = sigmoid(gates["f"]) * c + sigmoid(gates["i"]) * candidate(gates["c"])
        new_h = sigmoid(gates["o"]) * squash(c if old_c else new_c)
        return (new_c, new_h) if swap else (new_h, new_c)
    return lstm_step


def lstm_step_split_on_batch(x, h, c, kernel, recurrent_kernel, bias):
    z = x @ kernel + h @ recurrent_kernel + bias
    z_i, z_f, z_c, z_o = np.split(z, 4, axis=0)
    return z_i, z_f


def nats(logits, targets):
    return S04.bits_per_char(logits, targets) * np.log(2)


def bits_softmax_over_time(logits, targets):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    return -np.log2(np.take_along_axis(p, targets[..., None], -1)).mean()


def bits_summed(logits, targets):
    return S04.bits_per_char(logits, targets) * targets.size


def bits_shifted_again(logits, targets):
    return S04.bits_per_char(logits[:, :-1], targets[:, 1:])


def bits_without_softmax(logits, targets):
    return -np.log2(np.take_along_axis(logits, targets[..., None], -1)).mean()


def bits_overflowing(logits, targets):
    p = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return -np.log2(np.take_along_axis(p, targets[..., None], -1)).mean()


def clip_each(gradients, clip_norm):
    return [g * min(1, clip_norm / np.linalg.norm(g)) for g in gradients]


def clip_always(gradients, clip_norm):
    norm = np.sqrt(sum((g ** 2).sum() for g in gradients))
    return [g * clip_norm / norm for g in gradients]


def clip_by_value(gradients, clip_norm):
    return [np.clip(g, -clip_norm, clip_norm) for g in gradients]


def clip_without_sqrt(gradients, clip_norm):
    norm = sum((g ** 2).sum() for g in gradients)
    return [g * min(1, clip_norm / norm) for g in gradients]


def step_with(sign=-1, mean=True, add_at=True, softmax=True):
    def training_step(weights, input_ids, target_ids, learning_rate):
        logits = weights[input_ids]
        e = np.exp(logits - logits.max(-1, keepdims=True))
        scores = e / e.sum(-1, keepdims=True) if softmax else logits
        rows = scores - np.eye(weights.shape[1])[target_ids]
        rows = rows / len(input_ids) if mean else rows
        gradient = np.zeros_like(weights)
        if add_at:
            np.add.at(gradient, input_ids, rows)
        else:
            gradient[input_ids] += rows
        return weights + sign * learning_rate * gradient
    return training_step


def sample_with(scale=lambda z, t: z / t, walk=True, greedy_at_zero=True):
    def sample(logits, temperature, r):
        if temperature == 0 and greedy_at_zero:
            return int(np.argmax(logits))
        z = scale(np.asarray(logits, float), temperature)
        p = np.exp(z - z.max())
        p /= p.sum()
        total = 0.0
        for i, q in enumerate(p):
            if walk:
                total += q
            if total >= r and total > 0:
                return i
        return len(p) - 1
    return sample


def sample_greedy(logits, temperature, r):
    return int(np.argmax(logits))


def sample_overflowing(logits, temperature, r):
    if temperature == 0:
        return int(np.argmax(logits))
    p = np.exp(logits / temperature)
    p /= p.sum()
    return int(np.searchsorted(np.cumsum(p), r))


def top_p_with(sort=True, strict=False, renormalise=True):
    def top_p(probabilities, p):
        order = np.argsort(-probabilities) if sort else np.arange(len(probabilities))
        kept = np.zeros_like(probabilities)
        total = 0.0
        for i in order:
            if (total + probabilities[i] > p) if strict else (total >= p):
                break
            kept[i] = probabilities[i]
            total += probabilities[i]
        return kept / kept.sum() if renormalise else kept
    return top_p


def top_p_skipping_a_character_above_p(probabilities, p):
    kept = np.zeros_like(probabilities)
    total = 0.0
    for i in np.argsort(-probabilities):
        if total >= p:
            break
        if probabilities[i] > p:  # a character above p on its own is skipped: the mistake
            continue
        kept[i] = probabilities[i]
        total += probabilities[i]
    return kept / kept.sum()


MISTAKES = [
    ("check_character_shares", shares_as_counts, "those are counts: divide each by len(text)"),
    ("check_character_shares", shares_without_spaces, "spaces and line breaks too"),
    ("check_character_shares", shares_over_distinct, "not by the number of distinct ones"),
    ("check_article_titles", titles_with_marks, "without the '=' signs"),
    ("check_article_titles", titles_without_blank_lines, "between two blank lines"),
    ("check_article_titles", titles_and_sections, "is a section heading"),
    ("check_one_hot", one_hot_float64, "pass dtype=np.float32"),
    ("check_one_hot", one_hot_int64, "the model reads float32, not integers"),
    ("check_one_hot", one_hot_without_unknown, "column 0 belongs to the unknown id"),
    ("check_one_hot", one_hot_raising_on_unknown, "gets the unknown id 0"),
    ("check_one_hot", one_hot_not_shifted, "has id i + 1"),
    ("check_one_hot", one_hot_of_a_list, "an empty text has no rows"),
    ("check_inputs_and_targets", pairs_unshifted, "targets[k, t] is the id after inputs[k, t]"),
    ("check_inputs_and_targets", pairs_backwards, "the inputs come first"),
    ("check_inputs_and_targets", pairs_every_length_plus_one, "a window starts every length"),
    ("check_inputs_and_targets", pairs_one_label, "a target at every position"),
    ("check_inputs_and_targets", pairs_last_window_lost, "(len(ids) - 1) // length"),
    ("check_lstm_step", lstm_step_with(candidate=sigmoid), "uses tanh, not a sigmoid"),
    ("check_lstm_step", lstm_step_with(order=("i", "f", "o", "c")), "the candidate comes third"),
    ("check_lstm_step", lstm_step_with(order=("f", "i", "c", "o")), "input gate comes first"),
    ("check_lstm_step", lstm_step_with(squash=lambda c: c), "squash the memory"),
    ("check_lstm_step", lstm_step_with(old_c=True), "from the new memory"),
    ("check_lstm_step", lstm_step_with(bias_on=False), "add the bias"),
    ("check_lstm_step", lstm_step_with(swap=True), "return (h, c), in that order"),
    ("check_lstm_step", lstm_step_split_on_batch, "split along its last axis"),
    ("check_lstm_parameters", lambda d, h: d * h + h * h + h, "multiply by 4"),
    ("check_lstm_parameters", lambda d, h: 4 * (d * h + h * h), "count the biases too"),
    ("check_lstm_parameters", lambda d, h: 4 * d * h + 4 * h * h + h, "4H in all, not H"),
    ("check_lstm_parameters", lambda d, h: 4 * (d * h + h), "count the recurrent kernel too"),
    ("check_bits_per_char", nats, "that is in nats"),
    ("check_bits_per_char", bits_softmax_over_time, "over the last axis, the vocabulary"),
    ("check_bits_per_char", bits_summed, "average over the positions"),
    ("check_bits_per_char", bits_shifted_again, "the targets are already the next characters"),
    ("check_bits_per_char", bits_without_softmax, "scores, not probabilities"),
    ("check_bits_per_char", bits_overflowing, "np.exp overflows"),
    ("check_clip_by_global_norm", clip_each, "clipping each alone"),
    ("check_clip_by_global_norm", clip_always, "scale only when the global norm is above"),
    ("check_clip_by_global_norm", clip_by_value, "clipping by value"),
    ("check_clip_by_global_norm", clip_without_sqrt, "the square root"),
    ("check_training_step", step_with(sign=+1), "step against the gradient"),
    ("check_training_step", step_with(mean=False), "divided by their number"),
    ("check_training_step", step_with(add_at=False), "np.add.at"),
    ("check_training_step", step_with(softmax=False), "probabilities, not the scores"),
    ("check_temperature_sampling", sample_with(scale=lambda z, t: z), "divide the logits by the "
     "temperature before the softmax"),
    ("check_temperature_sampling", sample_with(scale=lambda z, t: z * t), "do not multiply"),
    ("check_temperature_sampling", sample_with(walk=False), "the original's bug"),
    ("check_temperature_sampling", sample_greedy, "not the likeliest id"),
    ("check_temperature_sampling", sample_with(greedy_at_zero=False), "temperature 0 means"),
    ("check_temperature_sampling", sample_overflowing, "np.exp overflows"),
    ("check_top_p", top_p_with(sort=False), "sort the ids by probability"),
    ("check_top_p", top_p_with(strict=True), "the character that crosses p stays in"),
    ("check_top_p", top_p_with(renormalise=False), "divide by its sum"),
    ("check_top_p", top_p_skipping_a_character_above_p, "the likeliest character is always kept"),
]


@pytest.mark.parametrize(("check_name", "mistaken", "hint"), MISTAKES,
                         ids=[f"{c[6:]}-{h[:30]}" for c, _, h in MISTAKES])
def test_each_mistake_is_rejected_with_its_hint(check_name, mistaken, hint, capsys):
    result = run(check_name, mistaken, capsys)
    assert not result.passed and result.attempted
    assert result.message.startswith("Not yet:")
    assert "expected" in result.message or "raised" in result.message
    assert hint in result.message, result.message


@pytest.mark.parametrize("check_name", CHECKS)
def test_every_mistake_a_check_names_is_made_here(check_name, capsys):
    """Each hint a check gives for a named mistake (a Mistake, or a case built for one) is the
    hint some mistake of MISTAKES gets, so that none goes untested."""
    cases, mistakes = made_by(check_name)
    named = {m.hint for m in mistakes} | {case.hint for case in cases if case.specific}
    given = {hint_of(run(check_name, mistaken, capsys).message)
             for name, mistaken, _ in MISTAKES if name == check_name}
    assert named <= given, f"no mistake in MISTAKES gets: {sorted(named - given)}"


def test_a_message_says_the_case_what_was_expected_and_what_came_back(capsys):
    result = run("check_bits_per_char", nats, capsys)
    assert result.message == (
        "Not yet: bits_per_char on equal logits over 8 ids, batch 1 of length 5: expected 3 "
        "bits, got 2.07944. Hint: that is in nats (natural log): divide by np.log(2), or use "
        "np.log2")


# --- Answers of odd kinds: a plain sentence naming the case, never a traceback ----------


class Uncomparable(list):
    """A learner's own object: its length, its items, its equality and even its repr raise."""

    def _refuse(self, *args):
        raise RuntimeError("not today")

    __len__ = __iter__ = __getitem__ = __eq__ = __ne__ = __repr__ = __array__ = _refuse
    __hash__ = None


# Each made afresh for every call (a generator is used up once read).
ODD_RETURNS = [
    ("a string", lambda: "abc"),
    ("a list of NumPy arrays", lambda: [np.arange(3), np.arange(3)]),
    ("a ragged list of NumPy arrays", lambda: [np.arange(2), np.arange(3)]),
    ("a 2 x 3 array", lambda: np.zeros((2, 3))),
    ("an array of strings", lambda: np.array(["a", "b"])),
    ("an int64 array", lambda: np.arange(7)),
    ("a list of None", lambda: [None, None]),
    ("a pair of None", lambda: (None, None)),
    ("a dictionary of None", lambda: {"a": None}),
    ("a set", lambda: {1, 2}),
    ("a generator", lambda: (n for n in range(3))),
    ("a complex number", lambda: 1j),
    ("a complex array", lambda: np.ones(3, complex)),
    ("True", lambda: True),
    ("NaN", lambda: float("nan")),
    ("an array holding one number", lambda: np.array([3.0])),
    ("an object whose comparison raises", Uncomparable),
]


@pytest.mark.parametrize(("odd", "make"), ODD_RETURNS, ids=[odd for odd, _ in ODD_RETURNS])
@pytest.mark.parametrize("check_name", CHECKS)
def test_an_odd_answer_is_a_plain_sentence_naming_the_case(check_name, odd, make, capsys):
    """(None itself is "not attempted yet": test_an_unfilled_stub_is_not_attempted_yet.)"""
    cases, _ = made_by(check_name)
    result = run(check_name, lambda *args: make(), capsys)
    assert not result.passed and result.attempted
    assert result.message.startswith("Not yet:") and hint_of(result.message), result.message
    assert any(f" {case.label}: " in result.message for case in cases), result.message
    assert "got " in result.message, result.message


@pytest.mark.parametrize("check_name", CHECKS)
@pytest.mark.parametrize("make", [lambda: "abc", Uncomparable], ids=["a string", "uncomparable"])
def test_an_answer_of_the_wrong_kind_is_told_what_to_return(check_name, make, capsys):
    result = run(check_name, lambda *args: make(), capsys)
    assert hint_of(result.message).startswith("return "), result.message


def titles_as_arrays_of_characters(text):
    return [np.array(list(title)) for title in S01.article_titles(text)]


def titles_as_bytes(text):
    return [title.encode() for title in S01.article_titles(text)]


def titles_in_one_string(text):
    return "\n".join(S01.article_titles(text))


def shares_as_pairs(text):
    return list(S01.character_shares(text).items())


def shares_as_percentages(text):
    return {c: f"{share:.0%}" for c, share in S01.character_shares(text).items()}


def one_hot_as_lists(text, chars):
    return S02.one_hot(text, chars).tolist()


def one_hot_with_an_extra_axis(text, chars):
    return S02.one_hot(text, chars)[None]


def one_hot_as_booleans(text, chars):
    return S02.one_hot(text, chars).astype(bool)


def pairs_stacked(ids, length):
    return np.stack(S02.inputs_and_targets(ids, length))


def pairs_flattened(ids, length):
    return tuple(part.ravel() for part in S02.inputs_and_targets(ids, length))


def pairs_and_their_count(ids, length):
    inputs, targets = S02.inputs_and_targets(ids, length)
    return inputs, targets, len(inputs)


def lstm_step_without_c(*args):
    return S03.lstm_step(*args)[0], None


def lstm_step_stacked(*args):
    return np.stack(S03.lstm_step(*args))


def lstm_step_complex(*args):
    h, c = S03.lstm_step(*args)
    return h.astype(complex), c


def bits_at_every_position(logits, targets):
    e = np.exp(logits - logits.max(-1, keepdims=True))
    p = e / e.sum(-1, keepdims=True)
    return -np.log2(np.take_along_axis(p, targets[..., None], -1))[..., 0]


def clip_and_the_norm(gradients, clip_norm):  # what tf.clip_by_global_norm returns
    norm = np.sqrt(sum((g ** 2).sum() for g in gradients))
    return S04.clip_by_global_norm(gradients, clip_norm), norm


def clip_concatenated(gradients, clip_norm):
    return np.concatenate([g.ravel() for g in S04.clip_by_global_norm(gradients, clip_norm)])


def clip_with_a_none(gradients, clip_norm):
    return [*S04.clip_by_global_norm(gradients, clip_norm)[:-1], None]


def step_and_the_loss(weights, input_ids, target_ids, learning_rate):
    return S04.training_step(weights, input_ids, target_ids, learning_rate), 1.0


def step_flattened(*args):
    return S04.training_step(*args).ravel()


def top_p_kept_only(probabilities, p):
    filtered = S05.top_p_filter(probabilities, p)
    return filtered[filtered > 0]


def top_p_as_a_dictionary(probabilities, p):
    return dict(enumerate(S05.top_p_filter(probabilities, p)))


WRONG_KINDS = [
    ("check_character_shares", shares_as_pairs, "expected a dictionary from character"),
    ("check_character_shares", shares_as_percentages, "expected a single number for"),
    ("check_article_titles", titles_as_arrays_of_characters, "expected each title as a string"),
    ("check_article_titles", titles_as_bytes, "expected each title as a string, got b'"),
    ("check_article_titles", titles_in_one_string, "expected a list of titles"),
    ("check_one_hot", one_hot_as_lists, "as a NumPy array of dtype float32, got a list"),
    ("check_one_hot", one_hot_with_an_extra_axis, "of shape (5, 5), got shape (1, 5, 5)"),
    ("check_one_hot", one_hot_as_booleans, "of dtype float32, got bool"),
    ("check_inputs_and_targets", pairs_stacked, "expected a pair (inputs, targets)"),
    ("check_inputs_and_targets", pairs_flattened, "expected inputs of shape (3, 3)"),
    ("check_inputs_and_targets", pairs_and_their_count, "expected a pair (inputs, targets)"),
    ("check_lstm_step", lstm_step_without_c, "expected c as an array of numbers, got None"),
    ("check_lstm_step", lstm_step_stacked, "expected a pair (h, c)"),
    ("check_lstm_step", lstm_step_complex, "expected h as real numbers"),
    ("check_lstm_parameters", lambda d, h: str(4 * (d * h + h * h + h)),
     "expected a single number, got '48'"),
    ("check_lstm_parameters", lambda d, h: np.array([4 * (d * h + h * h + h)]),
     "expected a single number, got [48]"),
    ("check_lstm_parameters", lambda d, h: True, "expected a single number, got True"),
    ("check_bits_per_char", bits_at_every_position, "expected a single number"),
    ("check_bits_per_char", lambda logits, targets: "3 bits", "expected a single number"),
    ("check_clip_by_global_norm", clip_and_the_norm, "gradient 0 of shape (1,)"),
    ("check_clip_by_global_norm", clip_concatenated, "expected a list of 2 arrays"),
    ("check_clip_by_global_norm", clip_with_a_none, "gradient 1 as an array of numbers"),
    ("check_training_step", step_and_the_loss, "the new weights as an array of numbers"),
    ("check_training_step", step_flattened, "the new weights of shape (3, 3), got shape (9,)"),
    ("check_temperature_sampling", lambda logits, t, r: 1.0, "an id (an integer), got 1.0"),
    ("check_temperature_sampling", lambda logits, t, r: np.array([1]), "an id (an integer)"),
    ("check_temperature_sampling", lambda logits, t, r: "1", "an id (an integer), got '1'"),
    ("check_temperature_sampling", lambda logits, t, r: np.exp(logits) / np.exp(logits).sum(),
     "an id (an integer)"),
    ("check_top_p", top_p_kept_only, "of shape (4,), got shape (2,)"),
    ("check_top_p", top_p_as_a_dictionary, "the result as an array of numbers"),
    ("check_top_p", lambda probabilities, p: 1.0, "an array of shape (4,), got the single"),
]


def test_every_check_meets_answers_of_the_wrong_kind():
    assert {check_name for check_name, _, _ in WRONG_KINDS} == set(CHECKS)


@pytest.mark.parametrize(("check_name", "odd", "says"), WRONG_KINDS,
                         ids=[f"{c[6:]}-{s if f.__name__ == '<lambda>' else f.__name__}"
                              for c, f, s in WRONG_KINDS])
def test_a_wrong_type_shape_or_dtype_is_named(check_name, odd, says, capsys):
    cases, _ = made_by(check_name)
    result = run(check_name, odd, capsys)
    assert not result.passed and result.attempted
    assert says in result.message, result.message
    assert re.match(rf"Not yet: \w+ ({'|'.join(re.escape(c.label) for c in cases)}): ",
                    result.message), result.message


def test_comparing_an_answer_that_raises_is_a_plain_sentence(capsys):
    """The last resort: a comparison that raises, whatever the check, is one sentence."""
    result = run("check_clip_by_global_norm", lambda *args: Uncomparable(), capsys)
    assert ("got an object of type Uncomparable, which the check cannot compare with the "
            "expected answer. Hint: return a list of NumPy arrays") in result.message


def test_the_checks_import_numpy_and_no_tensorflow():
    """So that a notebook's exercise cells cost nothing to run."""
    tree = ast.parse(Path(exercises.__file__).read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert "numpy" in imported and not imported & {"tensorflow", "keras", "helpers"}


# --- The exercise cells of the notebooks --------------------------------------------------

LESSONS = ("01_data_loading", "02_one_hot_encoding", "03_four_gate_lstm", "04_training",
           "05_sampling")


def exercise_cells(lesson: str) -> list:
    import jupytext

    cells = jupytext.read(REPO_ROOT / "notebooks" / f"{lesson}.py").cells
    start = next(i for i, cell in enumerate(cells)
                 if cell.cell_type == "markdown" and cell.source.startswith("## Exercises"))
    return cells[start:]


@pytest.mark.parametrize("lesson", LESSONS)
def test_a_lessons_exercises_come_last_and_run_on_their_own_unfilled(lesson, capsys):
    """The cells from "## Exercises" on run in a namespace of their own (so nothing they use
    can go missing from the notebook), and every check says "not attempted yet"."""
    cells = exercise_cells(lesson)
    assert not any(cell.source.startswith("## ") for cell in cells[1:]), "exercises come last"
    assert f"solutions/{lesson}.py" in cells[0].source
    namespace = {}
    for cell in cells:
        if cell.cell_type == "code":
            exec(compile(cell.source, f"{lesson}.py", "exec"), namespace)
    printed = capsys.readouterr().out.strip().splitlines()
    calls = re.findall(r"^(check_\w+)\(", "\n".join(c.source for c in cells), flags=re.M)
    assert 2 <= len(calls) <= 3 and len(printed) == len(calls)
    assert all(NOT_ATTEMPTED in line for line in printed), printed


def test_every_check_is_called_by_one_notebook():
    calls = [name for lesson in LESSONS for cell in exercise_cells(lesson)
             for name in re.findall(r"^(check_\w+)\(", cell.source, flags=re.M)]
    assert sorted(calls) == sorted(CHECKS)


def test_the_solutions_hold_the_functions_the_notebooks_ask_for():
    for lesson, module in zip(LESSONS, (S01, S02, S03, S04, S05), strict=True):
        stubs = [m for cell in exercise_cells(lesson) if cell.cell_type == "code"
                 for m in re.findall(r"^def (\w+)\(", cell.source, flags=re.M)]
        assert stubs and all(callable(getattr(module, name, None)) for name in stubs), lesson
