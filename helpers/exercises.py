"""Checks for the exercises at the end of notebooks 01-05.

Each ``check_*`` runs a learner's function on a few cases built to catch the usual mistakes and
answers in a sentence or two: which case, what was expected, what came back, and a hint. It
prints that answer and returns it as a `Result`, so that tests can assert on it.

- A correct function is told so.
- An unfilled stub (it raises NotImplementedError, or returns None or ``...``) is "not attempted
  yet", which is not an error: the notebooks are stored and tested with the stubs unfilled. A
  notebook that ``helpers.runs`` executes (``make run``) keeps that sentence to itself.
- An exception raised by the learner's code is reported in one line (its type, its message and
  the case), never as a traceback.
- An answer of the wrong kind (a string where a number belongs, a list of arrays where a list of
  strings does, a value that cannot even be compared) is said plainly too, with a hint on what
  to return: nothing a learner's function returns makes a check raise.

Where the wrong answer is one a known mistake gives (a softmax without the temperature, the
natural log instead of base 2, the targets shifted twice), the hint names that mistake.

NumPy only: every expected answer is computed here from the lesson's formulas, apart from the
reference solutions in ``notebooks/solutions/`` (``tests/test_exercises.py`` holds the two
together).
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .checks import PROGRESS_VARIABLE

NOT_ATTEMPTED = "not attempted yet"


@dataclass(frozen=True)
class Result:
    """What a check found: ``passed``, and the ``message`` it printed."""

    passed: bool
    message: str
    attempted: bool = True

    def __str__(self) -> str:
        return self.message

    def _ipython_display_(self) -> None:
        """Shows nothing: the check has printed the message already, and a notebook would
        otherwise repeat it as the cell's value."""


@dataclass(frozen=True)
class Case:
    """One input to try: ``label`` says which, ``hint`` what to look at if it goes wrong.

    A ``specific`` case is built for one mistake (an overflow, temperature 0): when it is the
    first to go wrong, its own hint names the mistake, whatever else gives the same answer."""

    label: str
    args: tuple
    hint: str
    specific: bool = False


class WrongKind(str):
    """A problem with the kind of answer (not a number, not a pair, not an array of numbers),
    rather than with its values: the hint then says what to return, since the case's own hint
    and the named mistakes are about the values."""


@dataclass(frozen=True)
class Mistake:
    """A usual mistake, as the function that makes it, and the hint that names it."""

    answer: Callable
    hint: str


# --- Running a check ----------------------------------------------------------------------


def _check(name: str, learner, reference: Callable, cases: Sequence[Case],
           compare: Callable, mistakes: Sequence[Mistake] = (), returns: str = "") -> Result:
    """``returns``: the hint for an answer of the wrong kind, what the function should return."""
    result = _evaluate(name, learner, reference, cases, compare, mistakes, returns)
    # A kernel helpers.runs started (make run) relays its notebook's lines to a terminal where
    # nobody was asked to fill in a stub: there, "not attempted yet" is noise.
    if result.attempted or os.environ.get(PROGRESS_VARIABLE) != "lines":
        print(result.message)
    return result


def _evaluate(name, learner, reference, cases, compare, mistakes, returns) -> Result:
    if not callable(learner):
        return Result(False, f"{name}: give the check your function itself ({name}, "
                             f"without brackets), not {_short(learner)}.")
    answers, error = [], None
    for case in cases:
        try:
            with _quiet():
                got = learner(*copy.deepcopy(case.args))
        except NotImplementedError:
            return Result(False, f"{name}: {NOT_ATTEMPTED} (fill in the function, run its "
                                 "cell, then this one).", attempted=False)
        except Exception as exception:  # the learner's own code: reported, never re-raised
            error = exception
            break
        if got is None or got is Ellipsis:
            return Result(False, f"{name}: {NOT_ATTEMPTED} (it returned {got!r}; if you have "
                                 "filled it in, does it end with `return`?).", attempted=False)
        answers.append(got)
    wrong = [(case, got, problem) for case, got in zip(cases, answers, strict=False)
             if (problem := _compare(compare, reference(*copy.deepcopy(case.args)), got))]
    if wrong:
        case, _, problem = wrong[0]
        if isinstance(problem, WrongKind) and returns:
            hint = returns
        else:
            hint = (case.hint if case.specific else None) or _named_mistake(
                wrong, compare, mistakes) or case.hint
        return Result(False, f"Not yet: {name} {case.label}: {problem}. Hint: {hint}")
    if error is not None:
        case = cases[len(answers)]
        return Result(False, f"Not yet: {name} raised {_one_line(error)} {case.label}. "
                             f"Hint: {case.hint}")
    return Result(True, f"Correct: {name} gives the expected answer in all {len(cases)} cases.")


def _compare(compare, expected, got) -> str | None:
    """What ``compare`` finds, or a plain sentence when comparing the learner's answer raises
    (an object of the learner's own, say): never the exception itself."""
    try:
        with _quiet():
            return compare(expected, got)
    except Exception:
        return WrongKind(f"got {_short(got)}, which the check cannot compare with the expected "
                         "answer")


def _named_mistake(wrong, compare, mistakes) -> str | None:
    """The hint of the first known mistake that gives the learner's answer in every case the
    learner got wrong (one case alone may not tell two mistakes apart)."""
    for mistake in mistakes:
        try:
            with _quiet():
                if all(compare(mistake.answer(*copy.deepcopy(case.args)), got, nan_equal=True)
                       is None for case, got, _ in wrong):
                    return mistake.hint
        except Exception:
            continue
    return None


@contextlib.contextmanager
def _quiet():
    """No NumPy warnings from a learner's overflow or 0/0: the answer (nan, inf) is reported
    instead, in the check's own sentence."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def _one_line(error: Exception) -> str:
    try:
        text = str(error).strip().splitlines()
    except Exception:  # an exception of the learner's own whose message cannot be shown
        text = []
    message = text[0] if text else ""
    if len(message) > 160:
        message = message[:157] + "..."
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _short(value, limit: int = 80) -> str:
    try:
        if isinstance(value, np.ndarray):
            text = np.array2string(value, precision=4, threshold=12, separator=", ")
        else:
            text = repr(value)
    except Exception:  # an object of the learner's own that cannot show itself
        text = f"an object of type {type(value).__name__}"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _number(x) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else f"{x:.6g}"


# --- Comparing answers (each returns None when they agree, else what differs) -------------


def _compare_array(expected, got, nan_equal=False, same_dtype=False, what="the result",
                   atol=1e-6, rtol=1e-5) -> str | None:
    not_numbers = WrongKind(f"expected {what} as an array of numbers, got {_short(got)}")
    try:
        array = np.asarray(got)
    except Exception:  # a ragged list, say
        return not_numbers
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number)
                                     or array.dtype == bool):
        return not_numbers
    if array.ndim == 0 and expected.ndim > 0:
        return WrongKind(f"expected {what} as an array of shape {expected.shape}, got the "
                         f"single number {_short(got)}")
    if np.iscomplexobj(array):
        return WrongKind(f"expected {what} as real numbers, got complex ones: {_short(got)}")
    if array.shape != expected.shape:
        return f"expected {what} of shape {expected.shape}, got shape {array.shape}"
    if same_dtype and array.dtype != expected.dtype:
        if not isinstance(got, np.ndarray):
            return WrongKind(f"expected {what} as a NumPy array of dtype {expected.dtype}, got "
                             f"a {type(got).__name__}")
        return f"expected {what} of dtype {expected.dtype}, got {array.dtype}"
    wrong = ~np.isclose(array.astype(np.float64), expected.astype(np.float64), rtol=rtol,
                        atol=atol, equal_nan=nan_equal)
    if not wrong.any():
        return None
    index = tuple(int(i) for i in np.argwhere(wrong)[0])
    if expected.size <= 8:
        return f"expected {what} {_short(expected)}, got {_short(array)}"
    return (f"{what} at [{', '.join(map(str, index))}]: expected {_number(expected[index])}, "
            f"got {_number(array[index])}")


def _single(got, kind=np.number) -> bool:
    """Whether ``got`` is one number of that kind (a Python or NumPy scalar, a 0-d array), not
    a string, a truth value or an array that holds one."""
    if isinstance(got, (str, bytes, bool, np.bool_)):
        return False
    try:
        array = np.asarray(got)
    except Exception:
        return False
    return array.ndim == 0 and np.issubdtype(array.dtype, kind)


def _compare_number(expected, got, nan_equal=False, unit="", of="", exact=False) -> str | None:
    """``unit`` follows a number (" bits"), ``of`` says which number it is (" for 'a'")."""
    if not _single(got) or np.iscomplexobj(got):
        return WrongKind(f"expected a single number{of}, got {_short(got)}")
    value = float(got)
    if nan_equal and np.isnan(value) and np.isnan(expected):
        return None
    if value == expected or (not exact and np.isclose(value, expected, rtol=1e-6, atol=1e-9)):
        return None
    return f"expected {_number(expected)}{unit}{of}, got {_number(value)}"


def _compare_pair(names: tuple[str, str], **options) -> Callable:
    def compare(expected, got, nan_equal=False):
        if isinstance(got, (str, bytes)) or not isinstance(got, Sequence) or len(got) != 2:
            return WrongKind(f"expected a pair ({names[0]}, {names[1]}), got {_short(got)}")
        for name, want, have in zip(names, expected, got, strict=True):
            problem = _compare_array(want, have, nan_equal, what=name, **options)
            if problem:
                return problem
        return None
    return compare


# --- 01: loading the data -----------------------------------------------------------------


def _char(c: str) -> str:
    return {" ": "' ' (a space)", "\n": "'\\n' (a line break)"}.get(c, repr(c))


def _reference_shares(text):
    return {c: n / len(text) for c, n in Counter(text).items()}


def _compare_shares(expected, got, nan_equal=False):
    if not isinstance(got, Mapping):
        return WrongKind(f"expected a dictionary from character to share, got {_short(got)}")
    missing = [c for c in expected if c not in got]
    if missing:
        return (f"expected a share for each of its {len(expected)} distinct characters, got "
                f"none for {_char(missing[0])}")
    extra = [c for c in got if c not in expected]
    if extra:
        return (f"expected shares of its {len(expected)} distinct characters only, got one "
                f"for {_char(extra[0])}")
    for c, share in expected.items():
        problem = _compare_number(share, got[c], nan_equal, of=f" for {_char(c)}")
        if problem:
            return problem
    return None


def check_character_shares(character_shares) -> Result:
    """``character_shares(text)``: each character of ``text`` and its share of the text."""
    cases = [
        Case("on 'abca'", ("abca",),
             "a share is a character's count divided by the length of the text, so the "
             "shares add up to 1"),
        Case("on 'to be\\nor not'", ("to be\nor not",),
             "every character counts, spaces and line breaks too: count over the text itself, "
             "without split() or strip()"),
    ]
    mistakes = [
        Mistake(lambda text: dict(Counter(text)),
                "those are counts: divide each by len(text), the number of characters"),
        Mistake(lambda text: {c: n / len(set(text)) for c, n in Counter(text).items()},
                "divide by the number of characters in the text, len(text), not by the "
                "number of distinct ones"),
    ]
    return _check("character_shares", character_shares, _reference_shares, cases,
                  _compare_shares, mistakes,
                  returns="return a dictionary with a key for each character and its share as "
                          "the value, such as {'a': 0.5, 'b': 0.25, 'c': 0.25} for 'abca'")


_TITLE = re.compile(r"^ \n = ([^=\n].*?) = \n(?= \n)", flags=re.M)

_ARTICLES = (" \n = Valkyria Chronicles = \n \n Senjō no Valkyria is a game . \n \n"
             " = = Gameplay = = \n \n It is played in turns . \n \n"
             " = Tower Building = \n \n The tower was built in 1 @,@ 000 days . \n")
_FORMULA = (" \n = Constant k filter = \n \n The impedance is \n"
            " = R / x = \n \n at the cut @-@ off . \n \n = Ode = \n \n A poem . \n")


def _reference_titles(text):
    return _TITLE.findall(text)


def _compare_titles(expected, got, nan_equal=False):
    if isinstance(got, (str, bytes)) or not isinstance(got, Sequence):
        return WrongKind(f"expected a list of titles, got {_short(got)}")
    titles = list(got)
    not_text = [title for title in titles if not isinstance(title, str)]
    if not_text:
        return WrongKind(f"expected each title as a string, got {_short(not_text[0])}")
    if titles != expected:
        return f"expected {expected!r}, got {_short(titles, 120)}"
    return None


def check_article_titles(article_titles) -> Result:
    """``article_titles(text)``: the titles of the articles, in order, without the marks."""
    cases = [
        Case("on two short articles with a section heading", (_ARTICLES,),
             "a title line is ' = Title = ' on a line of its own; ' = = Section = = ' is a "
             "section heading, not a title"),
        Case("on an article whose formula line looks like a title", (_FORMULA,),
             "a title line sits between two blank lines (' \\n'); the formula line ' = R / x = '"
             " follows a line of text"),
    ]
    mistakes = [
        Mistake(lambda text: re.findall(r"^ = [^=].*[^=] = $", text, flags=re.M),
                "return each title alone, without the '=' signs and the spaces around it"),
        Mistake(lambda text: re.findall(r"^ = ([^=].*[^=]) = $", text, flags=re.M),
                "a title line sits between two blank lines (' \\n'); the formula line "
                "' = R / x = ' follows a line of text"),
        Mistake(lambda text: [t.strip(" =") for t in re.findall(r"^ =.* = $", text, flags=re.M)],
                "' = = Gameplay = = ' is a section heading (two '=' signs each side), not the "
                "title of an article"),
    ]
    return _check("article_titles", article_titles, _reference_titles, cases, _compare_titles,
                  mistakes, returns="return a list of strings, one per title, in the order of "
                                    "the articles (re.findall gives such a list)")


# --- 02: characters to numbers ------------------------------------------------------------


def _reference_one_hot(text, chars):
    ids = np.array([chars.index(c) + 1 if c in chars else 0 for c in text], dtype=np.int64)
    return np.eye(len(chars) + 1, dtype=np.float32)[ids]


def _one_hot_without_unknown(text, chars):
    return np.eye(len(chars), dtype=np.float32)[[chars.index(c) for c in text]]


def _one_hot_ids_not_shifted(text, chars):
    rows = np.zeros((len(text), len(chars) + 1), np.float32)
    for t, c in enumerate(text):
        rows[t, chars.index(c) if c in chars else len(chars)] = 1
    return rows


def check_one_hot(one_hot) -> Result:
    """``one_hot(text, chars)``: float32 one-hot rows, ``(len(text), len(chars) + 1)``, where
    ``chars[i]`` has id ``i + 1`` and id 0 stands for any other character."""
    everywhere = ("a character's id is its place in chars plus 1 (id 0 is the unknown id), and "
                  "each row has a single 1, in the column of that id")
    cases = [
        Case("on 'hello' with chars ('e', 'h', 'l', 'o')", ("hello", ("e", "h", "l", "o")),
             everywhere),
        Case("on 'hi!' with chars ('h', 'i'), where '!' is unknown", ("hi!", ("h", "i")),
             "a character that is not in chars gets the unknown id 0: a 1 in column 0, "
             "not an error"),
        Case("on the empty text '' with chars ('a', 'b')", ("", ("a", "b")),
             "an empty text has no rows: shape (0, len(chars) + 1)", specific=True),
    ]
    dtype_hint = ("the model reads float32: np.zeros and np.eye give float64 unless told, so "
                  "pass dtype=np.float32")
    integer_hint = ("the model reads float32, not integers: make the rows with "
                    "dtype=np.float32 (or convert them with .astype(np.float32))")
    mistakes = [
        Mistake(_one_hot_without_unknown,
                "a row needs one place per id, len(chars) + 1 of them: column 0 belongs to "
                "the unknown id"),
        Mistake(_one_hot_ids_not_shifted,
                "the character chars[i] has id i + 1, since id 0 is the unknown id's"),
        Mistake(lambda text, chars: _reference_one_hot(text, chars).astype(np.float64),
                dtype_hint),
        Mistake(lambda text, chars: _reference_one_hot(text, chars).astype(np.int64),
                integer_hint),
    ]

    def compare(expected, got, nan_equal=False):
        return _compare_array(expected, got, nan_equal, same_dtype=True)

    return _check("one_hot", one_hot, _reference_one_hot, cases, compare, mistakes,
                  returns="return a NumPy array of float32 rows, one per character of text: "
                          "np.zeros((len(text), len(chars) + 1), dtype=np.float32) is one to "
                          "fill in")


def _windows(ids, length, stride, first, last):
    ids = np.asarray(ids)
    starts = range(0, len(ids) - length, stride)
    return (np.array([ids[s + first: s + first + length] for s in starts]).reshape(-1, length),
            np.array([ids[s + last: s + last + length] for s in starts]).reshape(-1, length))


def _reference_pairs(ids, length):
    return _windows(ids, length, length, 0, 1)


def check_inputs_and_targets(inputs_and_targets) -> Result:
    """``inputs_and_targets(ids, length)``: every complete window of ``length + 1`` ids, one
    starting every ``length`` ids; inputs its first ``length`` ids, targets its last."""
    cases = [
        Case("on ids 0 to 9 with length 3", (np.arange(10), 3),
             "the target at each position is the id that comes next in the text: the targets "
             "are the inputs shifted by one"),
        Case("on ids 0 to 8 with length 4", (np.arange(9), 4),
             "a window of length + 1 ids fits while its last id is in the text: there are "
             "(len(ids) - 1) // length of them"),
    ]
    mistakes = [
        Mistake(lambda ids, length: _windows(ids, length, length, 0, 0),
                "targets[k, t] is the id after inputs[k, t]: take a window of length + 1 ids, "
                "inputs its first length ids and targets its last length"),
        Mistake(lambda ids, length: _windows(ids, length, length, 1, 0),
                "the inputs come first: inputs = window[:-1], targets = window[1:]"),
        Mistake(lambda ids, length: _windows(ids, length, length + 1, 0, 1),
                "a window starts every length ids (neighbours share one id), else the target "
                "of every length-th position is never used"),
        Mistake(lambda ids, length: tuple(part[:-1] for part in _reference_pairs(ids, length)),
                "a window of length + 1 ids fits while its last id is in the text: there are "
                "(len(ids) - 1) // length of them"),
        Mistake(lambda ids, length: (_reference_pairs(ids, length)[0],
                                     _reference_pairs(ids, length)[1][:, -1]),
                "a target at every position, not one per window: targets has the shape of "
                "inputs"),
    ]
    return _check("inputs_and_targets", inputs_and_targets, _reference_pairs, cases,
                  _compare_pair(("inputs", "targets"), atol=0, rtol=0), mistakes,
                  returns="return the pair (inputs, targets), each a NumPy array of ids shaped "
                          "(windows, length)")


# --- 03: the four-gate LSTM ---------------------------------------------------------------


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _lstm_step(x, h, c, kernel, recurrent_kernel, bias, order="ifco", candidate=np.tanh,
               squash_c=True, new_c_in_h=True, with_bias=True):
    z = (np.asarray(x, np.float64) @ kernel + np.asarray(h, np.float64) @ recurrent_kernel
         + (bias if with_bias else 0))
    gates = dict(zip(order, np.split(z, 4, axis=-1), strict=True))
    i, f, o = _sigmoid(gates["i"]), _sigmoid(gates["f"]), _sigmoid(gates["o"])
    new_c = f * c + i * candidate(gates["c"])
    shown = new_c if new_c_in_h else np.asarray(c, np.float64)
    return o * (np.tanh(shown) if squash_c else shown), new_c


def _lstm_case(label, rng, batch, weights):
    kernel, recurrent_kernel, bias = (np.asarray(w, np.float64) for w in weights)
    units = recurrent_kernel.shape[0]
    x = np.eye(kernel.shape[0])[rng.integers(0, kernel.shape[0], batch)]
    h, c = rng.uniform(-1, 1, (2, batch, units))
    return Case(label, (x, h, c, kernel, recurrent_kernel, bias),
                "z = x @ kernel + h @ recurrent_kernel + bias, split along its last axis into "
                "i, f, g, o; g = tanh, the other three sigmoid; c = f * c + i * g; "
                "h = o * tanh(c)")


def _lstm_weights_problem(weights) -> str | None:
    try:
        kernel, recurrent_kernel, bias = (np.asarray(w) for w in weights)
    except Exception:
        return "weights must be [kernel, recurrent_kernel, bias], as layer.get_weights() gives"
    units = recurrent_kernel.shape[-1] // 4 if recurrent_kernel.ndim == 2 else -1
    if (kernel.ndim != 2 or recurrent_kernel.shape != (units, 4 * units)
            or kernel.shape[1] != 4 * units or bias.shape != (4 * units,)):
        return (f"weights must be shaped (D, 4H), (H, 4H), (4H,) like a FourGateLSTM's; got "
                f"{kernel.shape}, {recurrent_kernel.shape}, {bias.shape}")
    return None


def check_lstm_step(lstm_step, weights=None) -> Result:
    """``lstm_step(x, h, c, kernel, recurrent_kernel, bias)``: one step of FourGateLSTM in
    NumPy, returning ``(h, c)``. ``weights``: a layer's ``get_weights()``, tried as well."""
    rng = np.random.default_rng(3)
    small = (rng.normal(size=(3, 8)), rng.normal(size=(2, 8)), rng.normal(size=8))
    tiny = (rng.normal(size=(5, 12)), rng.normal(size=(3, 12)), rng.normal(size=12))
    cases = [_lstm_case("on a layer of 2 units reading 3 inputs, a batch of 2", rng, 2, small),
             _lstm_case("on a layer of 3 units reading 5 inputs, a batch of 1", rng, 1, tiny)]
    if weights is not None:
        problem = _lstm_weights_problem(weights)
        if problem:
            print(problem)
            return Result(False, problem)
        units = np.shape(weights[1])[0]
        cases.append(_lstm_case(f"on the layer's own weights ({units} units), a batch of 3",
                                rng, 3, weights))
    mistakes = [
        Mistake(lambda *a: _lstm_step(*a, candidate=_sigmoid),
                "the candidate memory g uses tanh, not a sigmoid (the original's mistake)"),
        Mistake(lambda *a: _lstm_step(*a, order="ifoc"),
                "the gates lie along the last axis in the order i, f, c, o (Keras's order, and "
                "FourGateLSTM's): the candidate comes third"),
        Mistake(lambda *a: _lstm_step(*a, order="fico"),
                "the gates lie along the last axis in the order i, f, c, o: the input gate "
                "comes first"),
        Mistake(lambda *a: _lstm_step(*a, squash_c=False),
                "h = o * tanh(c): squash the memory before the output gate scales it"),
        Mistake(lambda *a: _lstm_step(*a, new_c_in_h=False),
                "h is computed from the new memory: first c = f * c + i * g, then "
                "h = o * tanh(c)"),
        Mistake(lambda *a: _lstm_step(*a, with_bias=False),
                "add the bias: z = x @ kernel + h @ recurrent_kernel + bias"),
        Mistake(lambda *a: _lstm_step(*a)[::-1], "return (h, c), in that order"),
    ]
    return _check("lstm_step", lstm_step, _lstm_step, cases,
                  _compare_pair(("h", "c"), atol=1e-5, rtol=1e-4), mistakes,
                  returns="return the pair (h, c), each a NumPy array shaped (batch, units)")


def _reference_parameters(input_dim, units):
    return 4 * (input_dim * units + units * units + units)


def check_lstm_parameters(lstm_parameters) -> Result:
    """``lstm_parameters(input_dim, units)``: the weights of one LSTM layer, biases included."""
    hint = "kernel D x 4H, recurrent kernel H x 4H and bias 4H"
    cases = [Case("for input_dim 3 and 2 units", (3, 2), hint),
             Case("for input_dim 260 and 256 units (notebook 03's model)", (260, 256), hint)]
    mistakes = [
        Mistake(lambda d, h: d * h + h * h + h,
                "there are four gates, each with its own input weights, recurrent weights and "
                "bias: multiply by 4"),
        Mistake(lambda d, h: 4 * (d * h + h * h),
                "count the biases too: each gate has one per unit, 4H in all"),
        Mistake(lambda d, h: 4 * (d * h + h * h) + h,
                "each of the four gates has its own bias: 4H in all, not H"),
        Mistake(lambda d, h: 4 * (d * h + h),
                "count the recurrent kernel too: H x 4H weights that read the previous output"),
    ]

    def compare(expected, got, nan_equal=False):
        return _compare_number(expected, got, nan_equal, unit=" weights", exact=True)

    return _check("lstm_parameters", lstm_parameters, _reference_parameters, cases, compare,
                  mistakes, returns="return the count as one whole number, an int")


# --- 04: training -------------------------------------------------------------------------


def _log_softmax(logits, axis=-1):
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def _chosen(values, targets):
    return np.take_along_axis(values, np.asarray(targets)[..., None], axis=-1)[..., 0]


def _reference_bpc(logits, targets):
    return float(-_chosen(_log_softmax(logits), targets).mean() / np.log(2))


def check_bits_per_char(bits_per_char) -> Result:
    """``bits_per_char(logits, targets)``: the mean cross-entropy in bits, logits shaped
    ``[batch, length, vocabulary]`` and target ids ``[batch, length]``."""
    rng = np.random.default_rng(4)
    everywhere = ("take the softmax of the logits over the last axis (the vocabulary), pick "
                  "each target's probability, and average minus its log in base 2 over every "
                  "position")
    cases = [
        Case("on equal logits over 8 ids, batch 1 of length 5",
             (np.zeros((1, 5, 8)), rng.integers(0, 8, (1, 5))),
             "equal scores are a uniform guess among 8 ids, log2(8) = 3 bits, at every "
             "position"),
        Case("on random logits, batch 2 of length 3 over 4 ids",
             (rng.normal(0, 2, (2, 3, 4)), rng.integers(0, 4, (2, 3))), everywhere),
        Case("on large logits (around 1000)",
             (1000 + rng.normal(0, 2, (2, 3, 4)), rng.integers(0, 4, (2, 3))),
             "np.exp overflows for large scores: subtract each position's largest logit "
             "before exponentiating (the softmax does not change)", specific=True),
    ]
    mistakes = [
        Mistake(lambda lg, tg: float(-_chosen(_log_softmax(lg), tg).mean()),
                "that is in nats (natural log): divide by np.log(2), or use np.log2"),
        Mistake(lambda lg, tg: float(-_chosen(_log_softmax(lg, axis=1), tg).mean() / np.log(2)),
                "the softmax runs over the last axis, the vocabulary, so that each position's "
                "probabilities add up to 1"),
        Mistake(lambda lg, tg: float(-_chosen(_log_softmax(lg), tg).sum() / np.log(2)),
                "average over the positions (batch x length) instead of summing"),
        Mistake(lambda lg, tg: _reference_bpc(np.asarray(lg)[:, :-1], np.asarray(tg)[:, 1:]),
                "the targets are already the next characters (the batch was shifted when it "
                "was made): score logits[:, t] against targets[:, t]"),
        Mistake(lambda lg, tg: float(-np.log2(_chosen(np.asarray(lg), tg)).mean()),
                "the logits are scores, not probabilities: take their softmax first"),
    ]

    def compare(expected, got, nan_equal=False):
        return _compare_number(expected, got, nan_equal, unit=" bits")

    return _check("bits_per_char", bits_per_char, _reference_bpc, cases, compare, mistakes,
                  returns="return one number, the mean over every position: float() of a NumPy "
                          "result gives one")


def _global_norm(gradients):
    return np.sqrt(sum(float(np.sum(np.square(g))) for g in gradients))


def _reference_clip(gradients, clip_norm):
    scale = min(1.0, clip_norm / _global_norm(gradients))
    return [np.asarray(g, np.float64) * scale for g in gradients]


def _compare_gradients(expected, got, nan_equal=False):
    if (isinstance(got, (str, bytes, np.ndarray)) or not isinstance(got, Sequence)
            or len(got) != len(expected)):
        return WrongKind(f"expected a list of {len(expected)} arrays, one per gradient, got "
                         f"{_short(got)}")
    for k, (want, have) in enumerate(zip(expected, got, strict=True)):
        problem = _compare_array(want, have, nan_equal, what=f"gradient {k}")
        if problem:
            return problem
    return None


def check_clip_by_global_norm(clip_by_global_norm) -> Result:
    """``clip_by_global_norm(gradients, clip_norm)``: the gradients scaled together so that
    their global norm is at most ``clip_norm``."""
    rng = np.random.default_rng(5)
    cases = [
        Case("on gradients [3.] and [4.] (global norm 5) with clip_norm 1",
             ([np.array([3.0]), np.array([4.0])], 1.0),
             "the global norm is the length of all gradients as one vector, the square root "
             "of the sum of every squared entry; above clip_norm, multiply every gradient by "
             "clip_norm / norm"),
        Case("on gradients of global norm 0.5 with clip_norm 1",
             ([np.array([[0.3, 0.0], [0.0, 0.0]]), np.array([0.0, 0.4, 0.0])], 1.0),
             "below clip_norm nothing changes: gradients are only ever scaled down"),
        Case("on a 2 x 3 and a length-4 gradient with clip_norm 2",
             ([rng.normal(0, 3, (2, 3)), rng.normal(0, 3, 4)], 2.0),
             "one factor for all gradients: clip_norm / global norm, the norm of all of them "
             "together"),
    ]
    mistakes = [
        Mistake(lambda gs, c: [_reference_clip([g], c)[0] for g in gs],
                "clip by the norm of all the gradients together, with one factor for all: "
                "clipping each alone changes the direction of the step"),
        Mistake(lambda gs, c: [np.asarray(g) * c / _global_norm(gs) for g in gs],
                "scale only when the global norm is above clip_norm: below it, the gradients "
                "stay as they are"),
        Mistake(lambda gs, c: [np.clip(g, -c, c) for g in gs],
                "that clips each entry to [-clip_norm, clip_norm] (clipping by value); scale "
                "every gradient by one factor instead"),
        Mistake(lambda gs, c: [np.asarray(g) * min(1.0, c / _global_norm(gs) ** 2) for g in gs],
                "the norm is the square root of the sum of squares"),
    ]
    return _check("clip_by_global_norm", clip_by_global_norm, _reference_clip, cases,
                  _compare_gradients, mistakes,
                  returns="return a list of NumPy arrays, one per gradient, each shaped like "
                          "the gradient it scales")


def _bigram_gradient(weights, input_ids, target_ids, probabilities=True, accumulate=True,
                     mean=True):
    weights = np.asarray(weights, np.float64)
    logits = weights[input_ids]
    scores = np.exp(_log_softmax(logits)) if probabilities else logits
    rows = scores - np.eye(weights.shape[1])[target_ids]
    if mean:
        rows = rows / len(input_ids)
    gradient = np.zeros_like(weights)
    if accumulate:
        np.add.at(gradient, np.asarray(input_ids), rows)
    else:
        gradient[np.asarray(input_ids)] += rows
    return gradient


def _reference_training_step(weights, input_ids, target_ids, learning_rate, sign=-1, **how):
    return (np.asarray(weights, np.float64)
            + sign * learning_rate * _bigram_gradient(weights, input_ids, target_ids, **how))


def check_training_step(training_step) -> Result:
    """``training_step(weights, input_ids, target_ids, learning_rate)``: the new table of
    scores after one step of gradient descent on the mean cross-entropy of a bigram model,
    where ``weights[a]`` holds the logits of the character after ``a``."""
    rng = np.random.default_rng(6)
    cases = [
        Case("from zero weights over 3 ids, inputs [0, 1] and targets [1, 2], rate 0.5",
             (np.zeros((3, 3)), np.array([0, 1]), np.array([1, 2]), 0.5),
             "at each position the gradient of the cross-entropy with respect to its logits "
             "is softmax(logits) - one_hot(target), divided by the number of positions; it "
             "goes to the row of the input id, and the step is weights - rate * gradient"),
        Case("from random weights over 4 ids, inputs [0, 0, 2] (id 0 twice), rate 0.1",
             (rng.normal(size=(4, 4)), np.array([0, 0, 2]), np.array([1, 3, 0]), 0.1),
             "an id that occurs twice gets both of its gradients added to its row"),
    ]
    mistakes = [
        Mistake(lambda *a: _reference_training_step(*a, sign=+1),
                "step against the gradient, softmax(logits) - one_hot(target): "
                "weights - learning_rate * gradient"),
        Mistake(lambda *a: _reference_training_step(*a, mean=False),
                "the loss is the mean over the positions, so its gradient is divided by their "
                "number"),
        Mistake(lambda *a: _reference_training_step(*a, accumulate=False),
                "an id that occurs twice gets both of its gradients: gradient[ids] += rows keeps "
                "only one of them, np.add.at(gradient, ids, rows) adds all"),
        Mistake(lambda *a: _reference_training_step(*a, probabilities=False),
                "the gradient with respect to the logits is softmax(logits) - one_hot(target): "
                "probabilities, not the scores themselves"),
    ]

    def compare(expected, got, nan_equal=False):
        return _compare_array(expected, got, nan_equal, what="the new weights")

    return _check("training_step", training_step, _reference_training_step, cases, compare,
                  mistakes, returns="return the new weights, a NumPy array shaped like weights")


# --- 05: sampling -------------------------------------------------------------------------


def _draw(probabilities, r):
    cumulative = np.cumsum(probabilities)
    return int(min(np.searchsorted(cumulative, r * cumulative[-1], side="right"),
                   len(cumulative) - 1))


def _reference_sample(logits, temperature, r):
    logits = np.asarray(logits, np.float64)
    if temperature == 0:
        return int(np.argmax(logits))
    return _draw(np.exp(_log_softmax(logits / temperature)), r)


def check_temperature_sampling(sample) -> Result:
    """``sample(logits, temperature, r)``: the id drawn for the uniform number ``r`` in [0, 1):
    the first id whose running sum of probabilities passes ``r``, after the temperature."""
    logits = np.array([2.0, 1.0, 0.5, 0.0])
    everywhere = ("divide the logits by the temperature, take the softmax, and return the "
                  "first id whose running sum of probabilities is above r")
    cases = [
        Case(f"on logits {logits.tolist()} at temperature 0.5 with r = 0.7",
             (logits, 0.5, 0.7), everywhere),
        Case(f"on logits {logits.tolist()} at temperature 2 with r = 0.75",
             (logits, 2.0, 0.75), everywhere),
        Case("on logits [0.5, 3.0, 1.0, -1.0] at temperature 0",
             (np.array([0.5, 3.0, 1.0, -1.0]), 0.0, 0.2),
             "temperature 0 means always the likeliest id (np.argmax): handle it before "
             "dividing by the temperature", specific=True),
        Case("on large logits [1000, 999, 0, 0] at temperature 1 with r = 0.8",
             (np.array([1000.0, 999.0, 0.0, 0.0]), 1.0, 0.8),
             "np.exp overflows for large scores: subtract the largest logit before "
             "exponentiating (the softmax does not change)", specific=True),
    ]
    mistakes = [
        Mistake(lambda lg, t, r: _reference_sample(lg, 1.0 if t else 0, r),
                "divide the logits by the temperature before the softmax"),
        Mistake(lambda lg, t, r: _draw(np.exp(_log_softmax(np.asarray(lg) * t)), r),
                "divide the logits by the temperature, do not multiply them"),
        Mistake(lambda lg, t, r: len(lg) - 1,
                "add each probability to the running sum as you walk the ids: without that the "
                "walk falls through to the last id, the original's bug"),
        Mistake(lambda lg, t, r: int(np.argmax(lg)),
                "draw from the distribution: the first id whose running sum passes r, not the "
                "likeliest id"),
    ]

    def compare(expected, got, nan_equal=False):
        if not _single(got, np.integer):
            return WrongKind(f"expected an id (an integer), got {_short(got)}")
        return None if int(got) == expected else f"expected id {expected}, got {int(got)}"

    return _check("sample", sample, _reference_sample, cases, compare, mistakes,
                  returns="return one id as an integer: int(i) makes one, and np.argmax and "
                          "np.searchsorted give one")


def _top_p(probabilities, p, sort=True, keep_crossing=True, renormalise=True):
    probabilities = np.asarray(probabilities, np.float64)
    order = np.argsort(-probabilities, kind="stable") if sort else np.arange(len(probabilities))
    in_order = probabilities[order]
    before = np.cumsum(in_order) - in_order  # the mass of the likelier characters
    kept = before < p if keep_crossing else np.cumsum(in_order) <= p
    keep = np.zeros(len(probabilities), bool)
    keep[order] = kept
    filtered = np.where(keep, probabilities, 0.0)
    return filtered / filtered.sum() if renormalise else filtered


def check_top_p(top_p_filter) -> Result:
    """``top_p_filter(probabilities, p)``: the distribution over the likeliest characters whose
    probabilities reach ``p`` together, the others set to 0, shared out again to sum to 1."""
    probabilities = np.array([0.1, 0.5, 0.15, 0.25])
    cases = [
        Case(f"on probabilities {probabilities.tolist()} with p = 0.7", (probabilities, 0.7),
             "keep the likeliest characters until their probabilities reach p, set the others "
             "to 0, then divide by the sum kept"),
        Case(f"on probabilities {probabilities.tolist()} with p = 0.05",
             (probabilities, 0.05),
             "the likeliest character is always kept, even when it alone is above p",
             specific=True),
        Case(f"on probabilities {probabilities.tolist()} with p = 1", (probabilities, 1.0),
             "p = 1 keeps every character"),
    ]
    mistakes = [
        Mistake(lambda pr, p: _top_p(pr, p, sort=False),
                "add up the likeliest characters first: sort the ids by probability, "
                "np.argsort(-probabilities), before the running sum"),
        Mistake(lambda pr, p: _top_p(pr, p, keep_crossing=False),
                "keep each character while the likelier ones hold less than p, so the character "
                "that crosses p stays in"),
        Mistake(lambda pr, p: _top_p(pr, p, renormalise=False),
                "share the kept probability out again: divide by its sum, so that the result "
                "adds up to 1"),
    ]
    return _check("top_p_filter", top_p_filter, _top_p, cases, _compare_array, mistakes,
                  returns="return a NumPy array with a probability for every id, shaped like "
                          "probabilities")
