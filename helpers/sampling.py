"""Sampling text from a trained model: the right way, and the original's bug for the lesson.

The original tutorial drew a uniform number r and walked the distribution, but forgot to
accumulate: it compared r with each probability on its own, not with the running sum. With
~260 characters no single probability beats a typical r, so it nearly always fell through to
its default, the last character. ``original_sample`` keeps that bug so the notebook can show
it; ``sample_next_char`` is the fix, with temperature, top-k and top-p.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from helpers.backend import tf
from helpers.encoding import UNKNOWN_ID, UnknownCharactersWarning, Vocabulary

DEFAULT_PROMPT = "I plan to make the world a better place"


def original_sample(prediction, rng: np.random.Generator) -> int:
    """The original tutorial's sampler, bug included (``s = p`` where it meant ``s += p``)."""
    r = rng.uniform(0, 1)
    char_id = len(prediction) - 1
    for i in range(len(prediction)):
        s = prediction[i]  # the bug: never accumulates
        if s >= r:
            char_id = i
            break
    return char_id


def check_sampling_options(temperature=1.0, top_k=None, top_p=None) -> None:
    """``ValueError`` naming the option for values that make no sense."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or not np.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be 0 (greedy) or positive, got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer))
                              or top_k < 1):
        raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, (int, float))
                              or not 0 < top_p <= 1):
        raise ValueError(f"top_p must lie in (0, 1] or be None, got {top_p!r}")


def next_char_probabilities(logits, temperature=1.0, top_k=None, top_p=None) -> np.ndarray:
    """The distribution to draw from, rows of ``[batch, vocab]``, after temperature/top-k/top-p.

    Temperature 0 puts all mass on the argmax. top-k keeps the k likeliest characters; top-p
    keeps the smallest set whose probability reaches p (always at least the likeliest one).
    """
    check_sampling_options(temperature, top_k, top_p)
    logits = np.atleast_2d(np.asarray(logits, dtype=np.float64))
    if temperature == 0:
        probs = np.zeros_like(logits)
        probs[np.arange(len(logits)), logits.argmax(axis=-1)] = 1.0
        return probs
    scaled = logits / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    probs = np.exp(scaled)
    probs /= probs.sum(axis=-1, keepdims=True)
    if top_k is not None and top_k < probs.shape[-1]:
        order = np.argsort(-probs, axis=-1, kind="stable")  # ties: the lower id wins
        keep = np.zeros_like(probs, dtype=bool)
        np.put_along_axis(keep, order[:, :top_k], True, axis=-1)
        probs = np.where(keep, probs, 0.0)
    if top_p is not None and top_p < 1:
        order = np.argsort(-probs, axis=-1, kind="stable")
        sorted_probs = np.take_along_axis(probs, order, axis=-1)
        sorted_probs = sorted_probs / sorted_probs.sum(axis=-1, keepdims=True)
        before = np.cumsum(sorted_probs, axis=-1) - sorted_probs  # mass of likelier chars
        keep_sorted = before < top_p
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=-1)
        probs = np.where(keep, probs, 0.0)
    return probs / probs.sum(axis=-1, keepdims=True)


def sample_next_char(logits, rng: np.random.Generator, temperature=1.0, top_k=None,
                     top_p=None) -> np.ndarray:
    """One id per row of ``logits`` (``[batch, vocab]``), drawn from the adjusted distribution.

    Inverse-CDF sampling, done right: the running sum of the probabilities is compared with
    one uniform draw per row.
    """
    probs = next_char_probabilities(logits, temperature, top_k, top_p)
    cumulative = np.cumsum(probs, axis=-1)
    draws = rng.uniform(size=(len(probs), 1)) * cumulative[:, -1:]
    ids = (cumulative <= draws).sum(axis=-1)
    return np.minimum(ids, probs.shape[-1] - 1)


class Generator:
    """Stateful generation: the prompt primes the LSTM state once, then one step per character.

    The original fed the whole text so far back into the network for every new character,
    so each character cost more than the last; carrying ``(h, c)`` makes each cost the same.
    """

    def __init__(self, model, vocabulary: Vocabulary):
        self.model = model
        self.vocabulary = vocabulary
        layers, units = model.num_layers, model.hidden_nodes

        def step(ids, *flat_states):
            states = [list(flat_states[2 * n : 2 * n + 2]) for n in range(layers)]
            logits, states = model(ids, states=states, return_state=True, training=False)
            return (logits[:, -1], *[t for pair in states for t in pair])

        # One concrete function with flat tensor arguments: per character, a call costs far
        # less than a tf.function call that has to inspect nested Python structures.
        state_spec = tf.TensorSpec([None, units], tf.float32)
        self._step = tf.function(step).get_concrete_function(
            tf.TensorSpec([None, 1], tf.int32), *[state_spec] * (2 * layers))

        @tf.function(reduce_retracing=True)
        def prime(ids):
            logits, states = model(ids, return_state=True, training=False)
            return (logits[:, -1], *[t for pair in states for t in pair])

        self._prime = prime

    def prompt_ids(self, prompt: str) -> np.ndarray:
        """The prompt's ids; unknown characters warn and become the unknown id."""
        if not isinstance(prompt, str):
            raise ValueError(f"prompt must be a string, got {type(prompt).__name__}")
        if prompt:
            with warnings.catch_warnings():
                warnings.simplefilter("always", UnknownCharactersWarning)
                return self.vocabulary.encode(prompt)
        # An empty prompt starts where an article does: after a line break.
        start = self.vocabulary.encode("\n", warn=False)
        return start if start[0] != UNKNOWN_ID else np.array([UNKNOWN_ID], np.int32)

    def generate(self, prompt: str = DEFAULT_PROMPT, num_chars: int = 200, temperature=1.0,
                 top_k=None, top_p=None, seed: int = 0, num_samples: int = 1) -> list[str]:
        """``num_samples`` continuations of ``prompt`` (generated together as one batch)."""
        check_sampling_options(temperature, top_k, top_p)
        for name, value in (("num_chars", num_chars), ("num_samples", num_samples)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        if num_samples == 0:
            return []
        rng = np.random.default_rng(seed)
        ids = np.repeat(self.prompt_ids(prompt)[None, :], num_samples, axis=0)
        logits, *states = self._prime(tf.constant(ids))
        out = np.zeros((num_samples, num_chars), np.int32)
        for t in range(num_chars):
            next_ids = sample_next_char(_known_only(logits), rng, temperature, top_k, top_p)
            out[:, t] = next_ids
            if t + 1 < num_chars:
                logits, *states = self._step(tf.constant(next_ids[:, None], tf.int32),
                                             *states)
        return [self.vocabulary.decode(row) for row in out]

    def generate_by_refeeding(self, prompt: str = DEFAULT_PROMPT, num_chars: int = 200,
                              temperature=1.0, top_k=None, top_p=None, seed: int = 0) -> str:
        """The slow way, for comparison: re-read the whole text for every new character."""
        check_sampling_options(temperature, top_k, top_p)
        rng = np.random.default_rng(seed)
        ids = list(self.prompt_ids(prompt))
        start = len(ids)
        for _ in range(num_chars):
            logits = self._prime(tf.constant([ids], tf.int32))[0]
            ids.append(int(sample_next_char(_known_only(logits), rng, temperature, top_k,
                                            top_p)[0]))
        return self.vocabulary.decode(ids[start:])


def _known_only(logits) -> np.ndarray:
    """Logits with the unknown id ruled out: it stands for no character we could print."""
    logits = np.array(logits, dtype=np.float64)
    logits[:, UNKNOWN_ID] = -np.inf
    return logits


def chars_per_second(generator: Generator, prompt: str, num_chars: int, stateful=True) -> float:
    """Throughput of one generation at batch 1 (after a warm-up that compiles the steps)."""
    run = generator.generate if stateful else generator.generate_by_refeeding
    run(prompt, min(num_chars, 5))  # compiles the step functions
    started = time.perf_counter()
    run(prompt, num_chars)
    return num_chars / (time.perf_counter() - started)
