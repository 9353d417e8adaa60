"""Sampling text from a trained model: temperature, top-k and top-p, and fast generation.

Drawing a character means walking the distribution with a running sum until it reaches a
uniform number r. The original tutorial's sampler never added anything to its sum, so it
returned its last id every time; ``helpers.original.literal_sample`` reproduces it for the
lesson. ``sample_next_char`` is the working version, with temperature, top-k and top-p.

``Generator`` carries the LSTM's state from character to character. Its ``generate`` runs the
whole loop (model step, temperature, draw) in one XLA-compiled graph, several times faster
than ``generate_stepwise``, the same loop in Python with one graph call per character
(``benchmarks/bench.py --only sampling`` measures both).
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from helpers.backend import tf
from helpers.checks import check_int
from helpers.config import DEFAULT_PROMPT, check_prompt, check_sampling_options
from helpers.encoding import UNKNOWN_ID, UnknownCharactersWarning, Vocabulary


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


def sample_one(logits, rng: np.random.Generator, temperature: float = 1.0) -> int:
    """The correct sampler written out small: one id from one row of logits.

    What ``sample_next_char`` and the compiled loop in ``Generator.generate`` do for a whole
    batch (plus top-k and top-p), here for one distribution, one line per idea.
    """
    scaled = np.asarray(logits, dtype=np.float64) / temperature  # temperature: z / T
    probs = np.exp(scaled - scaled.max())  # softmax (the max is subtracted against overflow)
    probs /= probs.sum()
    cumulative = np.cumsum(probs)  # the running sum the original never kept
    r = rng.uniform(0, cumulative[-1])  # one uniform draw
    return int(np.searchsorted(cumulative, r, side="right"))  # first index whose sum passes r


def chi_square(counts, probs) -> tuple[float, float]:
    """Pearson's chi-square of observed ``counts`` against a distribution ``probs``, and the
    value it exceeds by chance only once in a thousand (Wilson-Hilferty's approximation).

    Draws that follow ``probs`` give a statistic below the limit 999 times in 1,000; a sampler
    that favours some characters goes far above it. Characters expected fewer than 5 times are
    pooled into one category, as the test requires. Characters with probability 0 must not be
    drawn at all (any such draw makes the statistic infinite).
    """
    counts = np.asarray(counts, dtype=np.float64)
    expected = np.asarray(probs, dtype=np.float64) * counts.sum()
    if (counts[expected == 0] > 0).any():
        return float("inf"), 0.0
    # The test needs about 5 expected draws per category: the rare characters are pooled into
    # one category (a character expected 0.01 times and drawn once would count as 100).
    rare = (expected > 0) & (expected < 5)
    common = expected >= 5
    observed = np.append(counts[common], counts[rare].sum())
    wanted = np.append(expected[common], expected[rare].sum())
    keep = wanted > 0
    observed, wanted = observed[keep], wanted[keep]
    statistic = float(((observed - wanted) ** 2 / wanted).sum())
    dof = max(len(wanted) - 1, 1)
    z = 3.09  # the standard normal's 99.9th percentile
    limit = dof * (1 - 2 / (9 * dof) + z * np.sqrt(2 / (9 * dof))) ** 3
    return statistic, float(limit)


class Generator:
    """Stateful generation: the prompt primes the LSTM state once, then one step per character.

    Carrying ``(h, c)`` makes every new character cost one step; re-reading the whole text
    for each one (``generate_by_refeeding``, kept for comparison) costs more every time.

    ``generate`` runs the whole loop (step, temperature, draw) inside one compiled graph, so
    Python is visited once per call instead of once per character. ``generate_stepwise`` is
    the same loop written in Python, one graph call per character, to read and compare with.
    Both take the step from the model itself (``CharLSTM`` and its ``FourGateLSTM.step``).
    """

    #: Characters per call of the compiled loop. XLA needs a buffer of fixed size, so longer
    #: texts take several calls (each carries the state on); the loop stops early in the last.
    chunk_size = 512

    def __init__(self, model, vocabulary: Vocabulary, jit_compile: bool = True):
        self.model = model
        self.vocabulary = vocabulary
        self.jit_compile = jit_compile
        self._layers, units = model.num_layers, model.hidden_nodes
        self._state_spec = tf.TensorSpec([None, units], tf.float32)
        self._logits_spec = tf.TensorSpec([None, model.vocab_size], tf.float32)

        # One concrete function with flat tensor arguments: per character, a call costs far
        # less than a tf.function call that has to inspect nested Python structures.
        self._step = tf.function(self._model_step).get_concrete_function(
            tf.TensorSpec([None], tf.int32), *[self._state_spec] * (2 * self._layers))

        def prime(ids):
            logits, states = model(ids, return_state=True, training=False)
            return (tf.cast(logits[:, -1], tf.float32), *[t for pair in states for t in pair])

        # Any prompt length and batch size, one trace (the layer loops over the unknown length).
        self._prime = tf.function(prime, input_signature=[tf.TensorSpec([None, None], tf.int32)])
        self._loops = {}  # compiled in-graph loops, one per kind of draw

    def _model_step(self, ids, *flat_states):
        """One character through the model: ``ids [batch]`` and the state -> logits, state."""
        states = [list(flat_states[2 * n : 2 * n + 2]) for n in range(self._layers)]
        logits, states = self.model(ids[:, None], states=states, return_state=True,
                                    training=False)
        return (tf.cast(logits[:, -1], tf.float32), *[t for pair in states for t in pair])

    def prompt_ids(self, prompt: str) -> np.ndarray:
        """The ids the model reads first: the prompt's (unknown characters warn and become the
        unknown id), or for an empty prompt a line break, where articles start."""
        check_prompt(prompt)
        if prompt:
            with warnings.catch_warnings():
                warnings.simplefilter("always", UnknownCharactersWarning)
                return self.vocabulary.encode(prompt)
        # An empty prompt starts where an article does: after a line break.
        start = self.vocabulary.encode("\n", warn=False)
        return start if start[0] != UNKNOWN_ID else np.array([UNKNOWN_ID], np.int32)

    def generate(self, prompt: str = DEFAULT_PROMPT, num_chars: int = 200, temperature=1.0,
                 top_k=None, top_p=None, seed: int = 0, num_samples: int = 1) -> list[str]:
        """``num_samples`` continuations of ``prompt`` (generated together as one batch).

        The prompt is read in one call; then a compiled loop steps the model, applies
        temperature (and top-k/top-p) and draws each character with a stateless sampler
        seeded by ``(seed, position)``: the same seed gives the same text, and a shorter
        text is the start of a longer one. The first call for each kind of draw (greedy,
        temperature, top-k/top-p) and each ``num_samples`` compiles the loop, a second or
        two with XLA; ``Generator(..., jit_compile=False)`` compiles faster and runs slower.
        """
        pieces = list(self._chunks(prompt, num_chars, temperature, top_k, top_p, seed,
                                   num_samples))
        if num_samples == 0:
            return []
        if not pieces:
            return [""] * num_samples
        out = np.concatenate(pieces, axis=1)
        return [self.vocabulary.decode(row) for row in out]

    def stream(self, prompt: str = DEFAULT_PROMPT, num_chars: int = 200, temperature=1.0,
               top_k=None, top_p=None, seed: int = 0):
        """``generate``'s text for one sample, piece by piece as the compiled loop makes it
        (``chunk_size`` characters a piece): the same characters, the first ones at once."""
        for chunk in self._chunks(prompt, num_chars, temperature, top_k, top_p, seed, 1):
            yield self.vocabulary.decode(chunk[0])

    def _chunks(self, prompt, num_chars, temperature, top_k, top_p, seed, num_samples):
        """The generated ids, ``[num_samples, <= chunk_size]`` per compiled call."""
        ids = self._checked_start(prompt, num_chars, temperature, top_k, top_p, num_samples,
                                  seed)
        if num_samples == 0 or num_chars == 0:
            return
        mode = "greedy" if temperature == 0 else \
            "filtered" if top_k is not None or top_p is not None else "sample"
        loop = self._loop(mode)
        # The smallest positive float32: a tiny temperature stays a (very cold) temperature.
        options = (tf.constant(max(float(temperature), np.finfo(np.float32).tiny), tf.float32),
                   tf.constant(min(top_k or self.model.vocab_size, self.model.vocab_size),
                               tf.int32),
                   tf.constant(1.0 if top_p is None else top_p, tf.float32),
                   tf.constant(_seed_word(seed), tf.int32))
        logits, *states = self._prime(tf.constant(ids))
        for start in range(0, num_chars, self.chunk_size):
            count = min(self.chunk_size, num_chars - start)
            chunk, logits, *states = loop(logits, tf.constant(count), tf.constant(start),
                                          *options, *states)
            yield chunk.numpy()[:, :count]

    def _loop(self, mode: str):
        """The compiled generation loop for one kind of draw ("greedy", "sample", "filtered")."""
        capacity = self.chunk_size
        if (mode, capacity) in self._loops:
            return self._loops[mode, capacity]

        def loop(logits, count, start, temperature, top_k, top_p, seed, *states):
            out = tf.TensorArray(tf.int32, size=capacity, element_shape=tf.TensorShape([None]))

            def body(i, logits, out, *states):
                position_seed = tf.stack([seed, start + i])
                ids = draw_next(logits, mode, temperature, top_k, top_p, position_seed)
                logits, *states = self._model_step(ids, *states)
                return (i + 1, logits, out.write(i, ids), *states)

            _, logits, out, *states = tf.while_loop(
                lambda i, *_: i < count, body, (tf.constant(0), logits, out, *states))
            return (tf.transpose(out.stack()), logits, *states)

        scalar = tf.TensorSpec([], tf.int32)
        signature = [self._logits_spec, scalar, scalar, tf.TensorSpec([], tf.float32), scalar,
                     tf.TensorSpec([], tf.float32), scalar,
                     *[self._state_spec] * (2 * self._layers)]
        self._loops[mode, capacity] = tf.function(loop, input_signature=signature,
                                                  jit_compile=self.jit_compile)
        return self._loops[mode, capacity]

    def generate_stepwise(self, prompt: str = DEFAULT_PROMPT, num_chars: int = 200,
                          temperature=1.0, top_k=None, top_p=None, seed: int = 0,
                          num_samples: int = 1, draw=None) -> list[str]:
        """The same generation with the loop in Python: one graph call per character, drawn
        by ``sample_next_char`` (NumPy). Easier to follow, and slower: each call costs more
        than the step it runs. Its draws differ from ``generate``'s (another random stream);
        its greedy text (temperature 0) is the same.

        ``draw``, if given, replaces the sampler: ``draw(probabilities, rng) -> id`` for one
        row of next-character probabilities (after temperature, top-k and top-p), as the
        original tutorial's ``sample`` took one prediction.
        """
        ids = self._checked_start(prompt, num_chars, temperature, top_k, top_p, num_samples,
                                  seed)
        if num_samples == 0:
            return []
        rng = np.random.default_rng(seed)
        # Priming: the whole prompt in one call, which leaves the state after its last
        # character and the logits for the character that follows it.
        logits, *states = self._prime(tf.constant(ids))
        out = np.zeros((num_samples, num_chars), np.int32)
        for t in range(num_chars):
            if draw is None:
                next_ids = sample_next_char(_known_only(logits), rng, temperature, top_k, top_p)
            else:
                probs = next_char_probabilities(_known_only(logits), temperature, top_k, top_p)
                next_ids = np.array([draw(row, rng) for row in probs], np.int32)
            out[:, t] = next_ids
            # Generating: the drawn character goes in with the carried state, one step.
            if t + 1 < num_chars:
                logits, *states = self._step(tf.constant(next_ids, tf.int32), *states)
        return [self.vocabulary.decode(row) for row in out]

    def _checked_start(self, prompt, num_chars, temperature, top_k, top_p, num_samples, seed):
        """Validated options; the prompt's ids repeated for each sample."""
        check_sampling_options(temperature, top_k, top_p)
        _seed_word(seed)
        check_int("num_chars", num_chars, minimum=0)
        check_int("num_samples", num_samples, minimum=0)
        return np.repeat(self.prompt_ids(prompt)[None, :], num_samples, axis=0)

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


def draw_next(logits, mode, temperature, top_k, top_p, seed):
    """In the graph: one id per row of ``logits``, never the unknown id.

    What ``next_char_probabilities`` and ``sample_next_char`` do in NumPy: temperature 0 takes
    the argmax; otherwise the logits are divided by the temperature, top-k keeps the k
    likeliest (ties: the lower id), top-p the smallest set reaching p, and one uniform number
    per row, drawn by a stateless generator from ``seed`` (shape [2]), picks the character
    whose stretch of the running sum it falls in.
    """
    vocab_size = logits.shape[-1]
    logits = tf.where(tf.range(vocab_size) == UNKNOWN_ID, -np.inf, logits)
    if mode == "greedy":
        return tf.argmax(logits, axis=-1, output_type=tf.int32)
    # Subtracting the maximum first keeps a tiny temperature from making inf - inf.
    weights = tf.exp((logits - tf.reduce_max(logits, axis=-1, keepdims=True)) / temperature)
    if mode == "sample":
        return _inverse_cdf(weights, seed, vocab_size - 1)
    # Filtered: work in order of likelihood, draw a rank, map it back to its id.
    order = tf.argsort(weights, axis=-1, direction="DESCENDING", stable=True)
    ranked = tf.gather(weights, order, batch_dims=1)
    probs = ranked / tf.reduce_sum(ranked, axis=-1, keepdims=True)
    keep = (tf.range(vocab_size)[None, :] < top_k) & (probs > 0)
    probs = tf.where(keep, probs, 0.0)
    probs /= tf.reduce_sum(probs, axis=-1, keepdims=True)
    before = tf.cumsum(probs, axis=-1, exclusive=True)  # mass of the likelier characters
    keep &= (before < top_p) | (top_p >= 1.0)
    kept = tf.reduce_sum(tf.cast(keep, tf.int32), axis=-1)  # the kept ranks: 0 .. kept - 1
    rank = _inverse_cdf(tf.where(keep, probs, 0.0), seed, kept - 1)
    return tf.gather(order, rank[:, None], batch_dims=1)[:, 0]


def _inverse_cdf(weights, seed, last):
    """Inverse-CDF sampling, as ``sample_next_char``: the number of running sums at or below
    a uniform draw is the id. An id of weight 0 adds nothing to the sum, so it is never
    picked (``last``, the highest id allowed, only guards against rounding at the top).

    ``tf.random.stateless_categorical`` would do too, but under XLA on a CPU it costs ~100 us
    a draw at 260 characters (one random number per character), this one ~7 us.
    """
    cumulative = tf.cumsum(weights, axis=-1)
    draws = tf.random.stateless_uniform([tf.shape(weights)[0], 1], seed) * cumulative[:, -1:]
    ids = tf.reduce_sum(tf.cast(cumulative <= draws, tf.int32), axis=-1)
    return tf.minimum(ids, last)


def _seed_word(seed) -> int:
    """A well-mixed int32 from any non-negative integer seed (the sampler's seeds are int32)."""
    check_int("seed", seed, minimum=0)
    return int(np.random.SeedSequence(int(seed)).generate_state(1).view(np.int32)[0])


def _known_only(logits) -> np.ndarray:
    """Logits with the unknown id ruled out: it stands for no character we could print."""
    logits = np.array(logits, dtype=np.float64)
    logits[:, UNKNOWN_ID] = -np.inf
    return logits


def chars_per_second(generator: Generator, prompt: str, num_chars: int, stateful=True,
                     method: str | None = None) -> float:
    """Throughput of one generation at batch 1, after a warm-up call that compiles.

    ``method`` is "in_graph" (``generate``), "stepwise" (``generate_stepwise``) or "refeed"
    (``generate_by_refeeding``); without it, ``stateful`` picks the first or the last.
    """
    if method is None:
        method = "in_graph" if stateful else "refeed"
    runs = {"in_graph": generator.generate, "stepwise": generator.generate_stepwise,
            "refeed": generator.generate_by_refeeding}
    if method not in runs:
        raise ValueError(f"method must be one of {sorted(runs)}, got {method!r}")
    run = runs[method]
    run(prompt, min(num_chars, 5))  # compiles (the in-graph loop compiles whatever the length)
    started = time.perf_counter()
    run(prompt, num_chars)
    return num_chars / (time.perf_counter() - started)
