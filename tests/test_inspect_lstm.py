import numpy as np
import pytest

from helpers.backend import keras, tf
from helpers.encoding import Vocabulary
from helpers.inspect_lstm import (
    FEATURES,
    GATES,
    ColouredText,
    Recording,
    UnitMatch,
    as_png,
    candidate_table,
    control,
    correlations,
    excerpt,
    feature_signals,
    find_units,
    first_sentence,
    gate_saturation,
    plot_saturation,
    record,
    search_units,
    unit_text,
)
from helpers.model import CharLSTM

WORDS = "the lobster is a species of crab found in sea and its shell red blue".split()


def synthetic_text(seed=0, lines=40):
    """WikiText-like lines with headings, quotes, parentheses and @-@ markers."""
    rng = np.random.default_rng(seed)
    out = []
    for n in range(lines):
        if n % 10 == 0:
            out.append(f" = = {rng.choice(WORDS)} {rng.choice(WORDS)} = = ")
            continue
        words = []
        for _ in range(rng.integers(8, 20)):
            r = rng.random()
            if r < 0.1:
                words += ['"', *rng.choice(WORDS, rng.integers(1, 5)), '"']
            elif r < 0.18:
                words += ["(", *rng.choice(WORDS, rng.integers(1, 4)), ")"]
            elif r < 0.24:
                words += [str(rng.integers(1, 99)), "@-@", str(rng.integers(1, 99))]
            else:
                words.append(str(rng.choice(WORDS)))
        out.append(" " + " ".join(words) + " . ")
    return "\n".join(out) + "\n"


# ---- feature signals ------------------------------------------------------------------------

def test_feature_signals_on_a_known_text():
    text = ' = Title = \n a " b ( c ) " 3 @-@ 4 \n " x\n'
    s = feature_signals(text)
    assert set(s) == set(FEATURES)
    assert all(v.shape == (len(text),) for v in s.values())
    heading = "".join(c for c, v in zip(text, s["in_heading"], strict=True) if v)
    assert heading == "= Title = "  # from the first "=", up to the line break
    quoted = "".join(c for c, v in zip(text, s["in_quotes"], strict=True) if v)
    assert quoted == '" b ( c ) " x'  # opening quote in, closing quote out; reset per line
    inside = "".join(c for c, v in zip(text, s["in_parentheses"], strict=True) if v)
    assert inside == "( c "
    marker = "".join(c for c, v in zip(text, s["in_at_marker"], strict=True) if v)
    assert marker == "@-@"
    newline = text.index("\n")
    assert s["position_in_line"][newline] == 0
    assert s["position_in_line"][newline + 1] == 1
    assert s["position_in_line"][newline - 1] == newline


def test_after_digit_covers_a_number_and_the_characters_after_it():
    text = "a 60 cm ( 24 in ) and words only here\n"
    after = feature_signals(text)["after_digit"]
    marked = "".join(c for c, v in zip(text, after, strict=True) if v)
    assert marked == "60 cm ( 24 in ) and"  # from "6" to the "4" and the 9 characters after
    assert feature_signals("no digits")["after_digit"].sum() == 0


def test_unbalanced_quotes_do_not_leak_into_the_next_line():
    text = 'a " b\nc d\n'
    assert feature_signals(text)["in_quotes"][text.index("c")] == 0


# ---- correlations and the unit search -------------------------------------------------------

def test_correlations_match_numpy_and_handle_constant_columns():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 4))
    a[:, 2] = 3.0  # a unit that never moves
    s = np.stack([a[:, 0] * 2 + 1, rng.normal(size=200), np.ones(200)], axis=1)
    r = correlations(a, s)
    assert r.shape == (3, 4)
    assert r[0, 0] == pytest.approx(1.0)
    assert r[1, 1] == pytest.approx(np.corrcoef(s[:, 1], a[:, 1])[0, 1])
    assert (r[:2, 2] == 0).all()  # constant unit: no correlation
    assert np.isnan(r[2]).all()  # constant feature: undefined
    assert np.nanmax(np.abs(r)) <= 1.0


def test_correlations_reject_mismatched_lengths():
    with pytest.raises(ValueError, match="same length"):
        correlations(np.zeros((10, 3)), np.zeros(9))


def test_a_unit_made_to_follow_quotes_is_found():
    text = synthetic_text()
    signals = feature_signals(text)
    rng = np.random.default_rng(1)
    activations = rng.normal(size=(len(text), 64)).astype(np.float32)
    activations[:, 17] = signals["in_quotes"] + 0.3 * rng.normal(size=len(text))
    activations[:, 5] = -signals["in_parentheses"] + 0.3 * rng.normal(size=len(text))
    matches = {m.feature: m for m in find_units(activations, signals)}
    quotes = matches["in_quotes"]
    assert quotes.unit == 17 and quotes.correlation > 0.6
    assert quotes.chance < 0.3 < abs(quotes.correlation)
    parens = matches["in_parentheses"]
    assert parens.unit == 5 and parens.correlation < -0.6  # the sign is kept
    for m in matches.values():
        assert -1 <= m.correlation <= 1


def test_control_tells_a_number_unit_from_a_parenthesis_unit():
    # Parentheses that hold measurements, and parentheses that hold words.
    lines = [f" about {n} cm ( {n // 2} in ) long , a ( small ) crab and more words here ."
             for n in range(10, 90, 3)]
    text = "\n".join(lines) + "\n"
    signals = feature_signals(text)
    rng = np.random.default_rng(0)
    activations = 0.1 * rng.normal(size=(len(text), 3))
    activations[:, 0] += signals["after_digit"]  # follows numbers
    activations[:, 1] += signals["in_parentheses"]  # follows parentheses
    rec = _recording({name: np.zeros((len(text), 3)) for name in GATES}, text)
    rec.cell[:] = activations
    for unit, holds in ((0, False), (1, True)):
        match = UnitMatch("in_parentheses", unit, 0.5, 0.1)
        checked = control(rec, match, signals)
        assert checked.description.startswith("with no digit")
        assert checked.inside > 0 and checked.characters < len(text)
        assert checked.holds is holds, (unit, checked.correlation)
    with pytest.raises(ValueError, match="nothing to control"):
        control(rec, UnitMatch("in_quotes", None, float("nan"), float("nan")))


def test_find_units_reports_absent_features_and_top_k():
    text = "no quotes here at all\n" * 5
    signals = feature_signals(text)
    activations = np.random.default_rng(0).normal(size=(len(text), 8))
    matches = find_units(activations, signals, top=3)
    quotes = [m for m in matches if m.feature == "in_quotes"]
    assert len(quotes) == 1 and not quotes[0].found and np.isnan(quotes[0].correlation)
    position = [m for m in matches if m.feature == "position_in_line"]
    assert len(position) == 3 and len({m.unit for m in position}) == 3
    assert abs(position[0].correlation) >= abs(position[1].correlation)
    with pytest.raises(ValueError, match="top"):
        find_units(activations, signals, top=0)


# ---- recording a model ----------------------------------------------------------------------

def _model(text, cell="four_gate", num_layers=1, embedding_dim=None, units=8, seed=0):
    keras.utils.set_random_seed(seed)
    vocabulary = Vocabulary.from_text(text)
    model = CharLSTM(len(vocabulary), units, num_layers=num_layers,
                     embedding_dim=embedding_dim, cell=cell).build_for(1, 1)
    # Larger weights than the initialisers give, so the gates really move.
    model.set_weights([w * 3 for w in model.get_weights()])
    return model, vocabulary


@pytest.mark.parametrize("options", [
    {}, {"num_layers": 2}, {"embedding_dim": 5}, {"cell": "keras"}])
def test_recording_matches_the_model(options):
    text = synthetic_text(lines=4)
    model, vocabulary = _model(text, **options)
    rec = record(model, vocabulary, text, layer=-1)
    logits = model(tf.constant(vocabulary.encode(text)[None]))
    np.testing.assert_allclose(rec.probabilities, tf.nn.softmax(logits[0]).numpy(), atol=1e-5)
    assert rec.layer == model.num_layers - 1
    assert len(rec) == len(text) and rec.units == 8
    for name in GATES:
        assert rec.gates[name].shape == (len(text), 8)
    for name in ("input", "forget", "output"):
        assert rec.gates[name].min() >= 0 and rec.gates[name].max() <= 1
    assert np.abs(rec.gates["candidate"]).max() <= 1
    # The recorded values obey the LSTM's equations from one character to the next.
    g = rec.gates
    previous = np.vstack([np.zeros((1, 8)), rec.cell[:-1]])
    np.testing.assert_allclose(rec.cell, g["forget"] * previous + g["input"] * g["candidate"],
                               atol=1e-5)
    np.testing.assert_allclose(rec.hidden, g["output"] * np.tanh(rec.cell), atol=1e-5)


def test_record_checks_its_arguments():
    model, vocabulary = _model("abc")
    with pytest.raises(ValueError, match="layer"):
        record(model, vocabulary, "abc", layer=1)
    with pytest.raises(ValueError, match="non-empty"):
        record(model, vocabulary, "")


def _quote_tracking_model(text, unit=2, units=6):
    """A CharLSTM whose ``unit`` is wired by hand to flip its memory at every quote.

    On a quote the forget gate closes and the input gate opens, and the candidate is
    tanh(3 - 30 h): +1 when the unit was off (h <= 0), -1 when it was on, so c flips between
    +1 (inside quotes) and -1. On any other character the gates hold c unchanged.
    """
    model, vocabulary = _model(text, units=units, seed=3)
    lstm = model.lstm_layers[0]
    kernel, recurrent, bias = (w.copy() for w in lstm.get_weights())
    quote = vocabulary.encode('"')[0]
    i, f, g, o = (k * units + unit for k in range(4))
    for column in (i, f, g, o):
        kernel[:, column] = 0
        recurrent[:, column] = 0
        bias[column] = 0
    kernel[:, i], kernel[quote, i] = -20, 20
    kernel[:, f], kernel[quote, f] = 20, -20
    kernel[quote, g] = 3
    recurrent[unit, g] = -30
    kernel[:, o] = 20
    lstm.set_weights([kernel, recurrent, bias])
    return model, vocabulary


def test_a_hand_wired_quote_unit_is_found_in_a_real_layer():
    text = synthetic_text(seed=4)
    model, vocabulary = _quote_tracking_model(text, unit=2)
    rec = record(model, vocabulary, text)
    best = search_units(rec, features=("in_quotes",), sources=("cell",))
    assert best["in_quotes"].unit == 2
    assert best["in_quotes"].correlation > 0.9


# ---- saturation, display and uncertainty ----------------------------------------------------

def _recording(gates, text="abcd", probabilities=None):
    vocabulary = Vocabulary.from_text("abcd")
    units = next(iter(gates.values())).shape[1]
    zeros = np.zeros((len(text), units))
    if probabilities is None:
        probabilities = np.full((len(text), len(vocabulary)), 1 / len(vocabulary))
    # Characters outside "abcd" read as the unknown id: these tests need no predictions.
    return Recording(text, vocabulary.encode(text, warn=False), 0, gates, zeros, zeros,
                     probabilities, vocabulary)


def test_gate_saturation_counts_shut_and_open_for_the_three_gates():
    column = np.array([[0.01], [0.5], [0.95], [0.99]])
    gates = {name: column for name in ("input", "forget", "output")}
    gates["candidate"] = -np.ones((4, 1))  # a full negative write at every step, not a gate
    saturation = gate_saturation(_recording(gates))
    assert set(saturation) == {"input", "forget", "output"}
    for name in saturation:
        np.testing.assert_allclose(saturation[name], [[0.25], [0.5]])
    with pytest.raises(ValueError, match="threshold"):
        gate_saturation(_recording(gates), threshold=0.6)


def test_saturation_plot_displays_as_a_compact_png():
    gates = {name: np.random.default_rng(0).random((50, 6)) for name in GATES}
    image = as_png(plot_saturation(gate_saturation(_recording(gates, "ab" * 25))))
    assert image.data.startswith(b"\x89PNG")


def test_char_probability_and_candidates():
    vocabulary = Vocabulary.from_text("abcd")
    probs = np.zeros((4, len(vocabulary)))
    probs[:, vocabulary.encode("b")[0]] = 0.7
    probs[:, vocabulary.encode("c")[0]] = 0.2
    probs[:, vocabulary.encode("a")[0]] = 0.1
    gates = {name: np.zeros((4, 1)) for name in GATES}
    rec = _recording(gates, "abca", probs)
    p = rec.char_probability()
    assert np.isnan(p[0])
    np.testing.assert_allclose(p[1:], [0.7, 0.2, 0.1])
    assert rec.candidates(1, k=2) == [("b", pytest.approx(0.7)), ("c", pytest.approx(0.2))]
    table = candidate_table(rec, slice(0, 4), k=2).splitlines()
    assert len(table) == 4 and table[1].split()[:2] == ["b", "0.70"]
    with pytest.raises(ValueError, match="position"):
        rec.candidates(0)


def test_coloured_text_html_and_png():
    text = 'a<b "\nc'
    shown = ColouredText(text, [-1, 0, 1, np.nan, 0.5, 0.2, 0.9], label="unit 3")
    page = shown._repr_html_()
    assert "&lt;" in page and "&quot;" in page and "↵" in page
    assert page.count("background-color:#") == 6 + 11  # six coloured characters and the scale
    assert shown._repr_png_().startswith(b"\x89PNG")
    assert repr(shown) == "<7 characters coloured by unit 3>"
    with pytest.raises(ValueError, match="one value per character"):
        ColouredText("abc", [1, 2])


def test_coloured_text_keeps_every_background_light_enough_for_black_text():
    for cmap in ("RdBu_r", "RdBu"):
        shown = ColouredText("x" * 101, np.linspace(-1, 1, 101), cmap=cmap)
        rgb = shown.colours()[:, :3]
        luminance = rgb @ np.array([0.299, 0.587, 0.114])
        assert luminance.min() > 0.55, (cmap, luminance.min())
        assert ";color:white" not in shown._repr_html_()  # black ink on every character


def test_unit_text_uses_the_units_own_range():
    gates = {name: np.zeros((4, 2)) for name in GATES}
    rec = _recording(gates)
    rec.cell[:, 1] = [5.0, 5.2, 5.4, 5.6]
    shown = unit_text(rec, 1)
    assert 5.0 <= shown.vmin < shown.vmax <= 5.6
    flat = unit_text(rec, 0)  # a unit that never moves still gets a scale
    assert flat.vmin < flat.vmax


def test_excerpt_and_first_sentence():
    assert excerpt(np.r_[np.zeros(100), np.ones(5), np.zeros(100)], 50, before=10) \
        == slice(90, 140)
    assert excerpt(np.zeros(30), 50) == slice(0, 50)
    text = " \n = Title = \n \n The lobster is blue . It is red .\n"
    sentence = text[first_sentence(text)]
    assert sentence == "The lobster is blue ."
    assert text[first_sentence(text, max_chars=14)] == "The lobster"  # cut at a space
    assert first_sentence(" = A =\n") == slice(0, 7)  # no prose at all: the start


def test_a_unit_tracks_a_feature_only_well_above_chance():
    assert not UnitMatch("in_quotes", 3, -0.08, 0.05).tracks  # the old "finding": noise
    assert not UnitMatch("in_quotes", 3, 0.15, 0.05).tracks  # 3x chance, but too weak
    assert not UnitMatch("in_quotes", 3, 0.5, 0.3).tracks  # strong, but chance is near
    assert UnitMatch("in_quotes", 3, -0.5, 0.1).tracks
    assert not UnitMatch("in_quotes", None, float("nan"), float("nan")).tracks


def test_saturation_plot_states_each_cut_off():
    gates = {name: np.random.default_rng(0).random((50, 6)) for name in GATES}
    fig = plot_saturation(gate_saturation(_recording(gates, "ab" * 25)), threshold=0.1)
    title = fig.axes[0].get_title()
    assert "within 0.1 of 0 or 1" in title and "candidate" not in title
    assert [ax.get_title() for ax in fig.axes[2:]] == ["input gate", "forget gate",
                                                      "output gate"]


def test_surprise_plot_wraps_long_passages_into_readable_rows():
    from helpers.inspect_lstm import plot_surprise

    text = "abcd" * 45  # 180 characters
    gates = {name: np.zeros((len(text), 2)) for name in GATES}
    fig = plot_surprise(_recording(gates, text), slice(0, 180), per_row=60)
    rows = [ax for ax in fig.axes if ax.get_xticklabels()]
    assert len(rows) == 3 and all(len(ax.get_xticklabels()) == 60 for ax in rows)
