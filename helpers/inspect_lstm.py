"""Looking inside a trained LSTM: gates and memory per character, and units you can name.

Karpathy's essay "The Unreasonable Effectiveness of Recurrent Neural Networks" (2015) showed
single LSTM cells that switch on inside quotes, count the position in a line or follow the
nesting of brackets; Karpathy, Johnson and Fei-Fei, "Visualizing and Understanding Recurrent
Networks" (2015), added how often each gate sits near 0 or near 1. This module gives a
learner the same tools for their own model:

``record``
    runs a trained ``CharLSTM`` over a text with the layer's own ``step`` (nothing is
    re-implemented) and returns, per character, the four gates, the cell state ``c``, the
    output ``h`` and the distribution of the next character, as NumPy arrays.
``feature_signals``, ``find_units``, ``search_units``
    turn the text into signals a reader can name (inside a heading, inside quotes, inside
    parentheses, position in the line, inside an ``@-@`` marker, just after a digit) and find
    the unit whose activation correlates best with each.
``control``
    checks a found unit against the obvious other explanation of its feature (numbers for
    parentheses and markers, the start of a line for headings), on the characters where
    that explanation is held fixed.
``gate_saturation``, ``plot_saturation``
    how often each of the three gates of each unit is nearly closed or nearly open.
``ColouredText``, ``unit_text``, ``plot_units``
    text coloured by one value per character, as HTML (JupyterLab, GitHub) with a PNG
    fallback for viewers that drop HTML; a unit's activation against its feature.
``probability_text``, ``plot_surprise``, ``candidate_table``
    how sure the model was of each character before it came, and what it expected instead.
"""

from __future__ import annotations

import html
import io
import re
from dataclasses import dataclass

import numpy as np

from helpers.backend import keras, tf
from helpers.checks import check_int, check_number
from helpers.encoding import Vocabulary
from helpers.model import FourGateLSTM

GATES = ("input", "forget", "candidate", "output")  # the four blocks of the layer, in order
# The candidate memory is not a gate: it is what is written, in (-1, 1), and a value near -1
# is a full write of a negative value, not a shut gate. Saturation is counted for these three.
SIGMOID_GATES = ("input", "forget", "output")
SOURCES = ("cell", "hidden")
FEATURES = ("in_heading", "in_quotes", "in_parentheses", "position_in_line", "in_at_marker",
            "after_digit")
FEATURE_DESCRIPTIONS = {
    "in_heading": "inside a heading line ' = ... = '",
    "in_quotes": 'inside double quotes " ... "',
    "in_parentheses": "inside parentheses ( ... )",
    "position_in_line": "characters since the last line break",
    "in_at_marker": "inside a WikiText marker such as @-@ or @,@",
    "after_digit": "a digit among the last 10 characters (a number, its unit, a bracket)",
}
DIGIT_REACH = 10  # after_digit: a digit among this many characters, the current one included


# --------------------------------------------------------------------------------------------
# Recording


@dataclass
class Recording:
    """What one LSTM layer did at every character of ``text``; arrays are ``[time, units]``.

    ``gates`` maps ``"input"``, ``"forget"``, ``"candidate"``, ``"output"`` to the gate
    values at each character; ``cell`` and ``hidden`` are ``c`` and ``h`` after reading it.
    ``probabilities[t]`` is the model's distribution of the character after ``text[t]``.
    """

    text: str
    ids: np.ndarray
    layer: int
    gates: dict[str, np.ndarray]
    cell: np.ndarray
    hidden: np.ndarray
    probabilities: np.ndarray
    vocabulary: Vocabulary

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def units(self) -> int:
        return self.cell.shape[1]

    def activations(self, source: str = "cell") -> np.ndarray:
        """``[time, units]`` values of ``"cell"``, ``"hidden"`` or a gate name."""
        if source == "cell":
            return self.cell
        if source == "hidden":
            return self.hidden
        if source in self.gates:
            return self.gates[source]
        raise ValueError(f"source must be one of {SOURCES + GATES}, got {source!r}")

    def char_probability(self) -> np.ndarray:
        """``[time]``: the probability the model gave each character before reading it.

        The first character has no prediction (the model reads it first): NaN.
        """
        result = np.full(len(self), np.nan)
        if len(self) > 1:
            result[1:] = self.probabilities[np.arange(len(self) - 1), self.ids[1:]]
        return result

    def candidates(self, position: int, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` likeliest characters at ``position``, as the model saw it coming."""
        if not 1 <= position < len(self):
            raise ValueError(f"position must lie in [1, {len(self) - 1}], got {position}")
        probs = self.probabilities[position - 1]
        order = np.argsort(-probs, kind="stable")[:k]
        return [(self.vocabulary.decode([i]), float(probs[i])) for i in order]


def record(model, vocabulary: Vocabulary, text: str, layer: int = 0) -> Recording:
    """Run ``model`` (a ``CharLSTM``) over ``text`` from a zero state; record ``layer``.

    Every layer runs its own ``step`` (``step(..., return_gates=True)``), so what is recorded
    is what the model computes: the recorded probabilities equal the model's own output.
    A ``cell="keras"`` model is read through a ``FourGateLSTM`` holding the same weights
    (both store them in Keras's layout).
    """
    if not isinstance(text, str) or not text:
        raise ValueError("text must be a non-empty string")
    layers = list(model.lstm_layers)
    if not isinstance(layer, int) or not -len(layers) <= layer < len(layers):
        raise ValueError(f"layer must index one of the model's {len(layers)} LSTM layers, "
                         f"got {layer!r}")
    layer = layer % len(layers)
    ids = vocabulary.encode(text, warn=False)
    x = model.first_layer_input(tf.constant(ids[None, :], tf.int32))
    recorded = None
    for n, lstm in enumerate(layers):
        values = _unroll(_as_four_gate(lstm), x)
        if n == layer:
            recorded = [v.numpy() for v in values]
        x = values[-1][None]  # h over time, the next layer's input
    probabilities = tf.nn.softmax(model.logits(x)[0], axis=-1).numpy()
    *gates, cell, hidden = recorded
    return Recording(text=text, ids=ids, layer=layer, gates=dict(zip(GATES, gates, strict=True)),
                     cell=cell, hidden=hidden, probabilities=probabilities,
                     vocabulary=vocabulary)


def _as_four_gate(layer) -> FourGateLSTM:
    if isinstance(layer, FourGateLSTM):
        return layer
    if isinstance(layer, keras.layers.LSTM):
        if not layer.use_bias or layer.activation is not keras.activations.tanh \
                or layer.recurrent_activation is not keras.activations.sigmoid:
            raise ValueError("only a keras.layers.LSTM with tanh, sigmoid and a bias can be "
                             "read as a FourGateLSTM")
        kernel, recurrent_kernel, bias = layer.get_weights()
        twin = FourGateLSTM(layer.units, return_sequences=True, return_state=True)
        twin.build((None, None, kernel.shape[0]))
        twin.set_weights([kernel, recurrent_kernel, bias])
        return twin
    raise TypeError(f"cannot record a {type(layer).__name__}")


def _unroll(layer: FourGateLSTM, x):
    """``(i, f, g, o, c, h)``, each ``[time, units]``, from the layer's own step."""
    projected = layer.project_inputs(x)[0]  # [time, 4H], batch of one

    @tf.function
    def loop(projected):
        steps = tf.shape(projected)[0]
        h, c = layer.get_initial_state(1)
        arrays = tuple(tf.TensorArray(projected.dtype, size=steps) for _ in range(6))

        def body(t, h, c, arrays):
            h, c, gates = layer.step(projected[t][None], h, c, return_gates=True)
            arrays = tuple(a.write(t, v[0])
                           for a, v in zip(arrays, (*gates, c, h), strict=True))
            return t + 1, h, c, arrays

        _, _, _, arrays = tf.while_loop(lambda t, *_: t < steps, body, (0, h, c, arrays))
        return tuple(a.stack() for a in arrays)

    return loop(projected)


# --------------------------------------------------------------------------------------------
# Features a reader can name, and the units that follow them

_HEADING = re.compile(r" *(= )+\S.*?( =)+ *")
_AT_MARKER = re.compile(r"@[^@\s]@")


def feature_signals(text: str) -> dict[str, np.ndarray]:
    """One float signal per feature of ``FEATURES``, a value per character of ``text``.

    Each value describes the text *up to and including* that character, which is all an LSTM
    reading left to right can know: an opening quote is inside the quotes, a closing one is
    not. Quotes and parentheses are counted afresh on every line (WikiText's paragraphs are
    lines), so one unbalanced quote does not flip the rest of the text.
    """
    n = len(text)
    signals = {name: np.zeros(n) for name in FEATURES}
    quotes, parens, position, start = False, 0, 0, 0
    for t, char in enumerate(text):
        if char == "\n":
            quotes, parens, position = False, 0, 0
        else:
            position += 1
            if char == '"':
                quotes = not quotes
            elif char == "(":
                parens += 1
            elif char == ")":
                parens = max(parens - 1, 0)
        signals["in_quotes"][t] = quotes
        signals["in_parentheses"][t] = parens > 0
        signals["position_in_line"][t] = position
    for line in text.split("\n"):
        end = start + len(line)
        if _HEADING.fullmatch(line):
            signals["in_heading"][start + line.index("="): end] = 1  # from the first "="
        start = end + 1
    for match in _AT_MARKER.finditer(text):
        signals["in_at_marker"][match.start(): match.end()] = 1
    for t in (t for t, char in enumerate(text) if char.isdigit()):
        signals["after_digit"][t: t + DIGIT_REACH] = 1
    return signals


def correlations(activations, signals) -> np.ndarray:
    """Pearson correlation of every signal with every unit: ``[features, units]``.

    ``activations`` is ``[time, units]``; ``signals`` ``[time, features]`` (or ``[time]``).
    A constant column (a unit that never moves, a feature absent from the text) has no
    correlation: 0 for a constant unit, NaN for a constant feature.
    """
    a = np.asarray(activations, np.float64)
    s = np.asarray(signals, np.float64)
    if s.ndim == 1:
        s = s[:, None]
    if a.ndim != 2 or s.ndim != 2 or len(a) != len(s):
        raise ValueError(f"activations [time, units] and signals [time, features] must have "
                         f"the same length, got {a.shape} and {s.shape}")
    a = a - a.mean(axis=0)
    s = s - s.mean(axis=0)
    a_norm = np.sqrt((a**2).sum(axis=0))
    s_norm = np.sqrt((s**2).sum(axis=0))
    # Constant up to rounding: a float32 column can wobble in its last bits.
    a_flat = a_norm <= 1e-6 * np.sqrt(len(a))
    s_flat = s_norm <= 1e-9
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (s.T @ a) / np.outer(s_norm, a_norm)
    r[:, a_flat] = 0.0
    r[s_flat, :] = np.nan
    return np.clip(r, -1.0, 1.0)


@dataclass(frozen=True)
class UnitMatch:
    """The unit that follows a feature best.

    ``correlation`` is Pearson's r with its sign (negative: the unit goes *down* inside the
    feature). ``chance`` is the best |r| any unit reaches with the same feature shifted by half
    the text, where no unit can truly follow it: a real match should beat it clearly.
    ``unit`` is None and ``correlation`` NaN when the feature does not occur in the text.
    """

    feature: str
    unit: int | None
    correlation: float
    chance: float
    source: str = "cell"

    @property
    def found(self) -> bool:
        return self.unit is not None

    @property
    def tracks(self) -> bool:
        """Whether the unit clearly follows the feature: ``TRACKING_CRITERION`` in code."""
        return (self.found and abs(self.correlation) >= MIN_TRACKING_R
                and abs(self.correlation) >= CHANCE_FACTOR * self.chance)


# A unit "tracks" a feature only when its |r| is at least CHANCE_FACTOR times the chance level
# and at least MIN_TRACKING_R: with hundreds of units, a best |r| of 0.08 against a chance level
# of 0.05 is what noise gives, not a finding.
CHANCE_FACTOR = 2.0
MIN_TRACKING_R = 0.2
TRACKING_CRITERION = (f"|r| at least {CHANCE_FACTOR:g} times the chance level and at least "
                      f"{MIN_TRACKING_R:g}")


def find_units(activations, signals: dict[str, np.ndarray], source: str = "cell",
               top: int = 1) -> list[UnitMatch]:
    """For each signal, the ``top`` units of ``activations`` with the largest |correlation|."""
    check_int("top", top)
    names = list(signals)
    stacked = np.stack([np.asarray(signals[name], np.float64) for name in names], axis=1)
    r = correlations(activations, stacked)
    shifted = correlations(activations, np.roll(stacked, len(stacked) // 2, axis=0))
    matches = []
    for k, name in enumerate(names):
        if np.isnan(r[k]).all():
            matches.append(UnitMatch(name, None, float("nan"), float("nan"), source))
            continue
        chance = float(np.nanmax(np.abs(shifted[k]))) if not np.isnan(shifted[k]).all() \
            else float("nan")
        for unit in np.argsort(-np.abs(r[k]), kind="stable")[:top]:
            matches.append(UnitMatch(name, int(unit), float(r[k, unit]), chance, source))
    return matches


def search_units(recording: Recording, features=FEATURES,
                 sources=SOURCES) -> dict[str, UnitMatch]:
    """The best unit per feature of ``recording.text``, over the cell state and the output."""
    all_signals = feature_signals(recording.text)
    signals = {name: all_signals[name] for name in features}
    best: dict[str, UnitMatch] = {}
    for source in sources:
        for match in find_units(recording.activations(source), signals, source=source):
            held = best.get(match.feature)
            if held is None or (match.found and (not held.found or
                                                 abs(match.correlation) > abs(held.correlation))):
                best[match.feature] = match
    return best


# The obvious other explanation of each feature, and the characters on which it is held
# fixed. In WikiText most parentheses hold a measurement ("60 cm ( 24 in )") and most @.@ and
# @,@ markers sit inside numbers, so a unit that follows numbers correlates with both; every
# heading starts a line, so a unit that follows the position in the line correlates with
# headings.
# Each description completes "the characters ...".
_NO_DIGIT = ("with no digit among the last 10", lambda s: s["after_digit"] == 0)
CONTROLS = {
    "in_heading": ("among the first 40 of every line, headings or not",
                   lambda s: s["position_in_line"] <= 40),
    "in_quotes": _NO_DIGIT,
    "in_parentheses": _NO_DIGIT,
    "position_in_line": ("outside headings", lambda s: s["in_heading"] == 0),
    "in_at_marker": _NO_DIGIT,
    "after_digit": ("outside parentheses", lambda s: s["in_parentheses"] == 0),
}


@dataclass(frozen=True)
class Control:
    """A found unit's correlation with its feature on the characters that ``CONTROLS`` keeps
    for that feature, where the feature's obvious other explanation is held fixed.

    ``characters`` is how many characters the control keeps, ``inside`` how many of them lie
    inside the feature; ``correlation`` is NaN when the feature is constant on them.
    """

    match: UnitMatch
    description: str
    correlation: float
    characters: int
    inside: int

    @property
    def holds(self) -> bool:
        """The same sign as over the whole text, and still |r| >= ``MIN_TRACKING_R``."""
        r = self.correlation
        return bool(np.isfinite(r) and np.sign(r) == np.sign(self.match.correlation)
                    and abs(r) >= MIN_TRACKING_R)


def control(recording: Recording, match: UnitMatch,
            signals: dict[str, np.ndarray] | None = None) -> Control:
    """``match``'s unit against its feature on the characters ``CONTROLS`` keeps for it."""
    if not match.found:
        raise ValueError(f"{match.feature} does not occur in the text: nothing to control")
    if match.feature not in CONTROLS:
        raise ValueError(f"no control for {match.feature!r}; CONTROLS has one for "
                         f"{', '.join(CONTROLS)}")
    signals = feature_signals(recording.text) if signals is None else signals
    description, keep = CONTROLS[match.feature]
    kept = np.asarray(keep(signals), bool)
    feature = signals[match.feature][kept]
    values = recording.activations(match.source)[kept, match.unit]
    r = float(correlations(values[:, None], feature)[0, 0]) if kept.sum() > 2 else float("nan")
    return Control(match, description, r, int(kept.sum()), int((feature != 0).sum()))


def unit_text(recording: Recording, unit: int, source: str = "cell",
              window: slice | None = None) -> ColouredText:
    """``window`` of the text coloured by one unit, on that unit's own scale.

    The colour scale runs between the unit's 2nd and 98th percentiles over the whole
    recording: a cell state can sit far from zero and move only a little, and its own range
    shows the movement that a fixed scale of -1 to 1 would hide.
    """
    values = recording.activations(source)[:, unit]
    low, high = np.percentile(values, [2, 98])
    if not high > low:
        low, high = low - 1.0, high + 1.0
    window = window or slice(0, len(recording))
    return ColouredText(recording.text[window], values[window], vmin=float(low),
                        vmax=float(high), label=f"{source} of unit {unit}")


def excerpt(signal, length: int, before: int = 40) -> slice:
    """A slice of ``length`` characters starting ``before`` characters ahead of the first
    place where ``signal`` is non-zero (the start of the text if it never is)."""
    signal = np.asarray(signal)
    hits = np.flatnonzero(signal)
    start = max(int(hits[0]) - before, 0) if len(hits) else 0
    start = max(min(start, len(signal) - length), 0)
    return slice(start, start + length)


# --------------------------------------------------------------------------------------------
# Gate saturation


def gate_saturation(recording: Recording, threshold: float = 0.1) -> dict[str, np.ndarray]:
    """How often each of the three gates of each unit is saturated: ``{gate: [2, units]}``.

    Row 0 is the fraction of characters at which the gate is nearly shut (below
    ``threshold``), row 1 nearly open (above ``1 - threshold``). The candidate memory is left
    out: it is no gate, and near -1 it writes fully, negatively.
    """
    check_number("threshold", threshold, 0, 0.5, low_open=True, high_open=True,
                 must="lie in (0, 0.5)")
    return {name: np.stack([(recording.gates[name] < threshold).mean(axis=0),
                            (recording.gates[name] > 1 - threshold).mean(axis=0)])
            for name in SIGMOID_GATES}


def plot_saturation(saturation: dict[str, np.ndarray], threshold: float = 0.1):
    """Two figures' worth in one: a heatmap of every unit's saturation per gate (units sorted
    by how often their forget gate is open), and the paper's scatter of one dot per unit."""
    import matplotlib.pyplot as plt

    order = np.argsort(-saturation["forget"][1], kind="stable")
    rows, labels = [], []
    for name in saturation:
        rows += [saturation[name][0][order], saturation[name][1][order]]
        labels += [f"{name} shut (≈ 0)", f"{name} open (≈ 1)"]
    fig = plt.figure(figsize=(11, 6.5), dpi=80)
    grid = fig.add_gridspec(2, len(saturation), height_ratios=[1, 1], hspace=0.55,
                            wspace=0.3)
    heat = fig.add_subplot(grid[0, :])
    image = heat.imshow(np.array(rows), aspect="auto", cmap="magma", vmin=0, vmax=1,
                        interpolation="nearest")
    heat.set_yticks(range(len(labels)), labels)
    heat.set_xlabel("unit (sorted by how often its forget gate is open)")
    heat.set_title(f"Fraction of characters at which each gate is saturated (within "
                   f"{threshold:g} of 0 or 1)", fontsize=10)
    fig.colorbar(image, ax=heat, fraction=0.03, pad=0.01)
    for k, name in enumerate(saturation):
        ax = fig.add_subplot(grid[1, k])
        ax.plot([0, 1], [1, 0], color="grey", lw=0.8, ls=":")
        ax.scatter(saturation[name][0], saturation[name][1], s=8, alpha=0.6)
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{name} gate")
        ax.set_xlabel("fraction shut (near 0)")
        if k == 0:
            ax.set_ylabel("fraction open (near 1)")
    return fig


# --------------------------------------------------------------------------------------------
# Text coloured by a value per character


class ColouredText:
    """``text`` with each character's background coloured by ``values`` (one per character).

    Displays as HTML in JupyterLab and on GitHub (inline styles only, and each character's
    value as its tooltip), and carries a PNG of the same picture for viewers that drop HTML.
    NaN values are left uncoloured. The colour map is mixed half and half with white, so
    that even its darkest ends stay light enough for black text to read on them.
    """

    def __init__(self, text: str, values, vmin: float = -1.0, vmax: float = 1.0,
                 cmap: str = "RdBu_r", label: str = "", columns: int = 100):
        values = np.asarray(values, np.float64)
        if values.shape != (len(text),):
            raise ValueError(f"need one value per character: {len(text)} characters, "
                             f"values of shape {values.shape}")
        if not vmin < vmax:
            raise ValueError(f"vmin must be below vmax, got {vmin} and {vmax}")
        self.text, self.values = text, values
        self.vmin, self.vmax, self.cmap, self.label, self.columns = vmin, vmax, cmap, label, columns

    def colours(self) -> np.ndarray:
        """RGBA in [0, 1] per character; NaN values are transparent."""
        import matplotlib

        scaled = (np.clip(self.values, self.vmin, self.vmax) - self.vmin) / (self.vmax - self.vmin)
        rgba = _lighter(matplotlib.colormaps[self.cmap](np.nan_to_num(scaled, nan=0.5)))
        rgba[np.isnan(self.values)] = (1.0, 1.0, 1.0, 0.0)
        return rgba

    def __repr__(self) -> str:
        label = f" by {self.label}" if self.label else ""
        return f"<{len(self.text)} characters coloured{label}>"

    def _repr_html_(self) -> str:
        spans = []
        for char, value, rgba in zip(self.text, self.values, self.colours(), strict=True):
            shown = "↵\n" if char == "\n" else html.escape(char)
            if np.isnan(value):
                spans.append(f"<span>{shown}</span>")
                continue
            ink = "" if _ink(rgba) == "black" else ";color:white"
            spans.append(f'<span style="background-color:{_hex(rgba)}{ink}" '
                         f'title="{value:.3g}">{shown}</span>')
        scale = "".join(
            f'<span style="background-color:{_hex(rgba)}">&nbsp;&nbsp;</span>'
            for rgba in self._scale_colours(11))
        legend = (f'<div style="font-size:85%;margin-bottom:4px">{html.escape(self.label)} '
                  f'{self.vmin:.3g} {scale} {self.vmax:.3g}</div>')
        body = ('<div style="font-family:monospace;white-space:pre-wrap;line-height:1.5;'
                'word-break:break-all">' + "".join(spans) + "</div>")
        return legend + body

    def _scale_colours(self, n):
        import matplotlib

        return _lighter(matplotlib.colormaps[self.cmap](np.linspace(0, 1, n)))

    def figure(self):
        """A matplotlib Figure (not registered with pyplot, so it never shows by itself)."""
        from matplotlib.figure import Figure

        lines = _wrap(self.text, self.columns)
        colours = self.colours()
        width = max((len(line) for line in lines), default=1)
        fig = Figure(figsize=(0.09 * width + 0.4, 0.24 * len(lines) + 0.7), dpi=80)
        ax = fig.add_axes([0.01, 0.02, 0.98, 0.98 - 0.4 / (0.24 * len(lines) + 0.7)])
        image = np.ones((len(lines), width, 4))
        image[..., 3] = 0
        for row, line in enumerate(lines):
            for col, (index, char) in enumerate(line):
                image[row, col] = colours[index]
                shown = "↵" if char == "\n" else char
                if not shown.isspace():
                    ax.text(col, row, shown, ha="center", va="center", family="monospace",
                            fontsize=9, color=_ink(colours[index]))
        ax.imshow(image, aspect="auto", interpolation="nearest")
        ax.set_axis_off()
        title = f"{self.label}: " if self.label else ""
        ends = {"RdBu_r": ("blue", "red"), "RdBu": ("red", "blue")}.get(self.cmap,
                                                                      ("low", "high"))
        fig.suptitle(f"{title}{self.vmin:.3g} ({ends[0]}) to {self.vmax:.3g} ({ends[1]})",
                     fontsize=9, x=0.01, ha="left")
        return fig

    def _repr_png_(self) -> bytes:
        return _png_bytes(self.figure(), colours=64)


def _png_bytes(fig, colours: int = 256) -> bytes:
    """``fig`` as a PNG with a palette of ``colours``: a third of the bytes, the same look."""
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    buffer.seek(0)
    small = io.BytesIO()
    Image.open(buffer).convert("RGB").quantize(colours).save(small, format="png", optimize=True)
    return small.getvalue()


def as_png(fig, colours: int = 256):
    """Display a matplotlib figure as a compact PNG (keeps stored notebooks small); the
    figure is closed, so the inline backend does not show it a second time."""
    import matplotlib.pyplot as plt
    from IPython.display import Image

    data = _png_bytes(fig, colours)
    plt.close(fig)
    return Image(data=data)


def _wrap(text: str, columns: int) -> list[list[tuple[int, str]]]:
    """Lines of ``(index, char)``: a new line after each newline and every ``columns``."""
    lines, line = [], []
    for index, char in enumerate(text):
        line.append((index, char))
        if char == "\n" or len(line) == columns:
            lines.append(line)
            line = []
    if line or not lines:
        lines.append(line)
    return lines


def _lighter(rgba: np.ndarray) -> np.ndarray:
    """Colours mixed half and half with white: the darkest red or blue of a diverging map
    (RdBu's ends have a luminance near 0.15) stays above 0.55, light enough for black text."""
    rgba = np.array(rgba, np.float64)
    rgba[..., :3] = 0.5 + 0.5 * rgba[..., :3]
    return rgba


def _hex(rgba) -> str:
    if rgba[3] == 0:
        return "transparent"
    r, g, b = (int(round(255 * v)) for v in rgba[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def _ink(rgba) -> str:
    """Black text on light backgrounds, white on dark ones."""
    luminance = 0.299 * rgba[0] + 0.587 * rgba[1] + 0.114 * rgba[2]
    return "black" if rgba[3] == 0 or luminance > 0.5 else "white"


def plot_units(recording: Recording, matches, window: slice | None = None):
    """One row per match: the unit's activation over ``window`` of the text, with its
    feature shaded behind it (or, for the position in the line, drawn in grey)."""
    import matplotlib.pyplot as plt

    matches = [m for m in matches if m.found]
    window = window or slice(0, len(recording))
    signals = feature_signals(recording.text)
    fig, axes = plt.subplots(len(matches), 1, figsize=(10, 1.4 * len(matches) + 0.4), dpi=72,
                             sharex=True, squeeze=False)
    for ax, match in zip(axes[:, 0], matches, strict=True):
        values = recording.activations(match.source)[window, match.unit]
        signal = signals[match.feature][window]
        x = np.arange(window.start or 0, (window.start or 0) + len(values))
        if match.feature == "position_in_line":
            twin = ax.twinx()
            twin.plot(x, signal, color="grey", lw=0.8, alpha=0.7)
            twin.set_yticks([])
        else:
            ax.fill_between(x, 0, 1, where=signal > 0, transform=ax.get_xaxis_transform(),
                            color="orange", alpha=0.3, lw=0)
        ax.plot(x, values, lw=0.9)
        ax.set_title(f"{match.feature} (shaded/grey): {match.source} of unit {match.unit}, "
                     f"r = {match.correlation:+.2f}", fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("character of the passage")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# How sure the model is, character by character


def plot_surprise(recording: Recording, window: slice, per_row: int = 60):
    """Probability of each actual character in ``window``, as the model saw it coming.

    Drawn in rows of at most ``per_row`` characters, so that every label stays readable.
    """
    import matplotlib.pyplot as plt

    probs = recording.char_probability()[window]
    chars = recording.text[window]
    rows = max(1, -(-len(chars) // per_row))
    fig, axes = plt.subplots(rows, 1, figsize=(0.16 * min(len(chars), per_row) + 1.2,
                                               1.9 * rows + 0.5), dpi=80, squeeze=False)
    for r, ax in enumerate(axes[:, 0]):
        part = slice(r * per_row, (r + 1) * per_row)
        p, c = probs[part], chars[part]
        ax.bar(range(len(c)), p, color=_probability_colours(p))
        ax.set_xticks(range(len(c)), ["␣" if ch == " " else ch for ch in c],
                      family="monospace", fontsize=8)
        ax.set_xlim(-0.6, per_row - 0.4)
        ax.set_ylim(0, 1)
        ax.set_ylabel("p(this char)", fontsize=8)
    axes[0, 0].set_title("How sure the model was of each character before it came")
    fig.tight_layout()
    return fig


def _probability_colours(probs):
    import matplotlib

    return matplotlib.colormaps["RdBu"](np.nan_to_num(probs, nan=0.5))


def probability_text(recording: Recording, window: slice) -> ColouredText:
    """``window`` coloured by the probability each character had before it came (red:
    unexpected, blue: sure)."""
    return ColouredText(recording.text[window], recording.char_probability()[window], vmin=0.0,
                        vmax=1.0, cmap="RdBu", label="p(this character)")


def first_sentence(text: str, max_chars: int = 200) -> slice:
    """The first sentence of the first line of prose (not a heading, not blank) in ``text``,
    as a slice of ``text``; a longer sentence is cut at a space within ``max_chars``."""
    start = 0
    for line in text.split("\n"):
        if line.strip() and not _HEADING.fullmatch(line):
            begin = start + len(line) - len(line.lstrip())
            body = line.lstrip()
            end = body.find(" . ")
            length = end + 2 if end >= 0 else len(body.rstrip())
            if length > max_chars:
                space = body.rfind(" ", 0, max_chars)
                length = space if space > 0 else max_chars
            return slice(begin, begin + length)
        start += len(line) + 1
    return slice(0, min(len(text), max_chars))


def candidate_table(recording: Recording, window: slice, k: int = 3) -> str:
    """A text table: each character of ``window``, the probability the model gave it, and
    the ``k`` characters it thought likeliest there."""
    def show(char):
        return {" ": "␣", "\n": "↵"}.get(char, char)

    rows = [f"{'char':>4}  {'p':>5}  model's top {k}"]
    start = max(window.start or 0, 1)
    stop = min(window.stop if window.stop is not None else len(recording), len(recording))
    probs = recording.char_probability()
    for t in range(start, stop):
        top = "  ".join(f"{show(c)} {p:.2f}" for c, p in recording.candidates(t, k))
        rows.append(f"{show(recording.text[t]):>4}  {probs[t]:5.2f}  {top}")
    return "\n".join(rows)
