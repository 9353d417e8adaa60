# %% [markdown]
# # 07 · Inside the LSTM
#
# Andrej Karpathy's essay *The Unreasonable Effectiveness of Recurrent Neural Networks* (2015)
# showed single LSTM cells that switch on inside quotes, count along a line or follow the
# nesting of brackets, and Karpathy, Johnson and Fei-Fei, *Visualizing and Understanding
# Recurrent Networks* (2015), measured how often each gate is nearly shut or wide open. This
# notebook does the same for **your** model, the one notebook 04 trained:
#
# 1. record, at every character of a validation passage, the three gates, the candidate
#    memory and the memory of every unit;
# 2. see how often each of the three gates is saturated;
# 3. search the units automatically for ones that follow something a reader can name (a
#    heading, quotes, parentheses, the position in the line, WikiText's `@-@` markers,
#    numbers), check each against the obvious other explanation, and colour the text by them;
# 4. see, character by character, where the model is sure of what comes next and where not.
#
# It reads the run that notebook 04 wrote; run that one first.

# %% [markdown]
# ## Parameters
#
# The cell below is tagged `parameters`, so papermill can point the notebook at another run,
# for example a longer one from `make run`:
#
# ```bash
# papermill notebooks/07_inside_the_lstm.ipynb outputs/07_main.ipynb -p run_dir outputs/runs/main
# ```

# %% tags=["parameters"]
run_dir = "outputs/runs/notebook"  # a run directory written by 04_training or `make run`
passage_start = 0  # where the passage starts in the validation split
passage_chars = 10_000  # characters to record: more gives steadier statistics, but is slower
layer = 0  # which LSTM layer to look inside (0: the first)
excerpt_chars = 300  # characters of text shown per coloured unit

# %%
# NBVAL_IGNORE_OUTPUT
from helpers.checkpoints import load_run

for name, value, least in (("passage_start", passage_start, 0),
                           ("passage_chars", passage_chars, 100),
                           ("excerpt_chars", excerpt_chars, 1)):
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{name} must be an integer of at least {least}, got {value!r}")
run = load_run(run_dir)  # says what to run first if there is no trained model yet
print(f"loaded the model of step {run.step:,}: {run.config.num_layers} layer(s) of "
      f"{run.config.hidden_nodes} units")

# %% [markdown]
# ## Recording the gates
#
# `helpers.inspect_lstm.record` runs the model over a passage of the validation split, one
# character at a time from an empty memory, and keeps everything the chosen layer computes.
# It does not re-implement the LSTM: it calls the layer's own `step` (the code notebook 03
# shows) with `return_gates=True`, which hands back the gates it has just computed alongside
# the new `h` and `c`.

# %%
from helpers import data
from helpers.inspect_lstm import record

valid_text = data.load_split(run.config.valid_split)
passage = valid_text[passage_start : passage_start + passage_chars]
recording = record(run.model, run.vocabulary, passage, layer=layer)

print(f"{len(recording):,} characters, {recording.units} units in layer {recording.layer}")
for name, values in recording.gates.items():
    print(f"  {name:>9} {'memory' if name == 'candidate' else 'gate':<6} {values.shape}")
print(f"  {'cell state':>14} {recording.cell.shape}")
print(f"  {'output h':>14} {recording.hidden.shape}")
print(f"next-character probabilities {recording.probabilities.shape} (characters, ids)")

# %% [markdown]
# Whatever the weights, some things must hold: the recording predicts exactly what the model's
# own forward pass predicts, the sigmoid gates lie in $[0, 1]$, the candidate memory in
# $[-1, 1]$, and the memory follows $c_t = f_t c_{t-1} + i_t g_t$.

# %%
import numpy as np

from helpers.backend import tf

head = recording.ids[:1000]
logits = run.model(tf.constant(head[None]))  # the model itself, on the first 1,000 characters
difference = np.abs(tf.nn.softmax(logits[0]).numpy() - recording.probabilities[: len(head)])
assert difference.max() < 1e-4, difference.max()
for name in ("input", "forget", "output"):
    assert 0 <= recording.gates[name].min() and recording.gates[name].max() <= 1, name
assert np.abs(recording.gates["candidate"]).max() <= 1
g = recording.gates
previous = np.vstack([np.zeros((1, recording.units)), recording.cell[:-1]])
assert np.allclose(recording.cell, g["forget"] * previous + g["input"] * g["candidate"],
                   atol=1e-4)
print("the recording reproduces the model's predictions; every gate lies in its range")

# %% [markdown]
# ## How often are the gates shut or wide open?
#
# A gate near 0 blocks, a gate near 1 lets everything through; in between it mixes. Following
# Karpathy, Johnson and Fei-Fei, we count for every unit the fraction of characters at which
# each of the three gates (input, forget, output) is **saturated**: below 0.1 (shut) or above
# 0.9 (open). The candidate memory $g$ is left out: it is not a gate but the value written,
# in $(-1, 1)$, and a candidate near $-1$ is a full write of a negative value, as strong as
# one near $+1$, not a shut gate.
#
# In the heatmap each column is a unit (sorted by how often its forget gate is open), each row
# a gate and an end. Below it, the paper's view: one dot per unit, its fraction shut against
# its fraction open. A dot near the top left is a gate that is almost always open; a dot on
# the dotted diagonal is almost always at one end or the other, a switch rather than a dial.

# %%
# NBVAL_IGNORE_OUTPUT
from helpers.inspect_lstm import as_png, gate_saturation, plot_saturation

saturation = gate_saturation(recording)
as_png(plot_saturation(saturation))

# %%
# NBVAL_IGNORE_OUTPUT
units = recording.units
for name, (shut, wide_open) in saturation.items():
    assert 0 <= shut.min() and (shut + wide_open).max() <= 1
    print(f"{name:>6} gate: {(wide_open > 0.5).sum():>3} of {units} units open more than half "
          f"the time, {(shut > 0.5).sum():>3} shut more than half the time")
candidate = recording.gates["candidate"]
print(f"candidate memory: {np.mean(candidate > 0.9):.0%} of the values above +0.9, "
      f"{np.mean(candidate < -0.9):.0%} below -0.9 (full writes, positive and negative)")

# %% [markdown]
# The paper found forget gates that stay open almost all the time: units that **remember**
# over long stretches, the candidates for following quotes or brackets. Output gates, by
# contrast, spread out: a unit can keep a memory without showing it at every character.
#
# ## Features a reader can name
#
# `feature_signals` turns the text into one number per character for each feature. Each value
# describes the text *up to and including* that character, which is all a model reading left to
# right can know: an opening quote is inside the quotes, the closing one is not. Here they are
# on a made-up line (position in the line shown modulo 10):

# %%
from helpers.inspect_lstm import FEATURE_DESCRIPTIONS, FEATURES, feature_signals

example = ' = = Life cycle = = \n Mating " lobster red " ( 24 in ) 0 @.@ 7 kg \n'
signals = feature_signals(example)
print(f"{'text':>16}  {example.replace(chr(10), '↵')}")
for name in FEATURES:
    values = signals[name] % 10 if name == "position_in_line" else signals[name]
    print(f"{name:>16}  " + "".join(str(int(v)) for v in values))
print()
for name in FEATURES:
    print(f"{name:>16}: {FEATURE_DESCRIPTIONS[name]}")

# %% [markdown]
# ## Searching the units
#
# For every feature and every unit, `search_units` computes Pearson's correlation $r$ between
# the feature and the unit's activation over the whole passage, for the cell state $c$ and the
# output $h$, and keeps the unit with the largest $|r|$. A negative $r$ is as good as a positive
# one: the unit goes *down* inside the feature.
#
# With hundreds of units, one of them correlates with anything a little by chance. The column
# *chance* is the best $|r|$ any unit reaches with the same feature shifted by half the
# passage, where no unit can really follow it. We say a unit **tracks** a feature only when it
# beats that clearly: its $|r|$ is at least twice the chance level and at least 0.2
# (`helpers.inspect_lstm.TRACKING_CRITERION`). A best $|r|$ of 0.08 against a chance level of
# 0.05 is what noise gives with hundreds of units, and is reported as no finding.

# %%
# NBVAL_IGNORE_OUTPUT
from helpers.inspect_lstm import TRACKING_CRITERION, search_units

best = search_units(recording)
print(f"a unit tracks a feature when {TRACKING_CRITERION}\n")
print(f"{'feature':>16}  {'unit':>5}  {'of':<6}  {'r':>6}  {'chance':>6}  verdict")
for feature, match in best.items():
    if not match.found:
        print(f"{feature:>16}  does not occur in this passage")
        continue
    verdict = "tracks it" if match.tracks else "no better than chance: no finding"
    print(f"{feature:>16}  {match.unit:>5}  {match.source:<6}  {match.correlation:+6.2f}  "
          f"{match.chance:6.2f}  {verdict}")
tracking = {feature: match for feature, match in best.items() if match.tracks}

# %%
assert set(best) == set(FEATURES)
for match in best.values():
    if match.found:
        assert 0 <= match.unit < recording.units
        assert -1 <= match.correlation <= 1 and 0 <= match.chance <= 1
        assert match.source in ("cell", "hidden")
print("one unit per feature, with a correlation in [-1, 1]")

# %% [markdown]
# ## What each finding rests on
#
# Beating chance says a unit follows *something* that goes with the feature, not that it
# follows the feature. In WikiText most parentheses hold a measurement, "60 cm ( 24 in )", and
# most `@.@` and `@,@` markers sit inside numbers, "0 @.@ 7 kg": a unit that follows numbers
# correlates with both. Every heading starts a line, so a unit that follows the position in
# the line correlates with headings, and one unit can come out best for both. So each finding
# is checked again on the characters where its obvious other explanation is held fixed
# (`helpers.inspect_lstm.CONTROLS`):
#
# - parentheses, quotes and markers: only characters with no digit among the last 10
#   (there, a parenthesis holds words, "( moulting )", and a marker joins words, "Milne @-@
#   Edwards");
# - headings: only the first 40 characters of every line, so that headings are compared with
#   the starts of ordinary lines;
# - the position in the line: only characters outside headings;
# - numbers (`after_digit`): only characters outside parentheses.
#
# A finding **holds** when, on those characters, the correlation keeps its sign and $|r|$ stays
# at least 0.2. One that does not is a finding about the other explanation.

# %%
# NBVAL_IGNORE_OUTPUT
import textwrap

from helpers.inspect_lstm import control

signals = feature_signals(passage)
controls = {feature: control(recording, match, signals) for feature, match in tracking.items()}


def rests_on(checked):
    """One plain sentence: the correlation overall, then where the other explanation is
    held fixed, and what that leaves of the finding."""
    m = checked.match
    held = ("the finding holds" if checked.holds else
            "the finding does not hold: the unit follows what the control removed")
    return (f"{m.feature}: {m.source} of unit {m.unit}, r = {m.correlation:+.2f} over the "
            f"passage; r = {checked.correlation:+.2f} on the {checked.characters:,} characters "
            f"{checked.description} ({checked.inside:,} of them inside the feature): {held}.")


if not controls:
    print("no unit tracks any feature in this passage: nothing to check")
for checked in controls.values():
    print(textwrap.fill(rests_on(checked), 96, subsequent_indent="    "))
by_unit = {}
for feature, match in tracking.items():
    by_unit.setdefault((match.source, match.unit), []).append(feature)
for (source, unit), features in by_unit.items():
    if len(features) > 1:
        surviving = [feature for feature in features if controls[feature].holds]
        verdict = ("every name survives its check: one behaviour that each name describes "
                   "only in part" if len(surviving) == len(features) else
                   f"only {' and '.join(surviving)} survives its check" if surviving else
                   "no name survives its check")
        print(textwrap.fill(f"{source} of unit {unit} is the best unit for "
                            f"{' and '.join(features)}: {verdict}.", 96))

# %%
for checked in controls.values():
    assert 0 < checked.characters < len(passage) and checked.inside <= checked.characters
    assert np.isnan(checked.correlation) or -1 <= checked.correlation <= 1
print("every tracking unit has been checked against its feature's other explanation")

# %% [markdown]
# ## Seeing a unit at work
#
# Each excerpt below is coloured by a unit that tracks a feature by the criterion above (the
# others are left out: colouring noise would only invite a story), with the check of the
# previous section in its caption, so a unit whose finding did not hold can be seen doing what
# it really does. The colour is on that unit's own scale (from its 2nd to its 98th percentile
# over the passage): red high, blue low, in light shades so that the text stays readable.
# Hover over a character in JupyterLab to read the value. The output carries a PNG of the
# same picture, for viewers that do not show HTML.

# %%
# NBVAL_IGNORE_OUTPUT
from IPython.display import Markdown, display

from helpers.inspect_lstm import excerpt, unit_text

shown = set()
if not tracking:
    print("no unit tracks any of the features in this passage: nothing to show")
for feature, match in tracking.items():
    checked = controls[feature]
    caption = (f"**{feature}** ({FEATURE_DESCRIPTIONS[feature]}): {match.source} of unit "
               f"{match.unit}, r = {match.correlation:+.2f}; on the characters "
               f"{checked.description}, r = {checked.correlation:+.2f}: "
               f"{'holds' if checked.holds else 'does not hold'}")
    if (match.unit, match.source) in shown:
        display(Markdown(caption + ", the same unit as above"))
        continue
    shown.add((match.unit, match.source))
    display(Markdown(caption))
    display(unit_text(recording, match.unit, match.source,
                      excerpt(signals[feature], excerpt_chars)))

# %% [markdown]
# The same units over the first 1,200 characters, with their feature shaded behind them (the
# position in the line drawn in grey):

# %%
# NBVAL_IGNORE_OUTPUT
from helpers.inspect_lstm import plot_units

if tracking:
    display(as_png(plot_units(recording, tracking.values(), window=slice(0, 1200))))

# %% [markdown]
# A correlation that survives its control is still a hint, not a meaning: each control
# removes one other explanation, not every one (a heading unit may still be reacting to the
# `=` signs themselves), and one passage of 10,000 characters holds only a few dozen
# parentheses and markers. Two things limit what a small run can show. The
# default run trained for only a few hundred steps, and on windows of 100 characters that each
# started from an empty memory, so it never learnt to count further than that. Karpathy's
# cells came from larger models trained for days. Train longer (`make run MAX_STEPS=8000`), run
# this notebook on that run directory, and compare the table above.
#
# ## Where the model is sure, and where not
#
# Every character of the passage was predicted before it was read. Colouring the first
# sentence by the probability the model gave each actual character shows where it knew (blue)
# and where it was guessing (red): the start of a word is hard, its end is often easy.

# %%
# NBVAL_IGNORE_OUTPUT
from helpers.inspect_lstm import first_sentence, probability_text

sentence = first_sentence(passage)
probability_text(recording, sentence)

# %%
# NBVAL_IGNORE_OUTPUT
from helpers.inspect_lstm import plot_surprise

as_png(plot_surprise(recording, sentence))

# %% [markdown]
# What it expected instead, character by character (`␣` is a space), for the first 40
# characters of the sentence:

# %%
# NBVAL_IGNORE_OUTPUT
from helpers.inspect_lstm import candidate_table

print(candidate_table(recording, slice(sentence.start, sentence.start + 40)))

# %% [markdown]
# And the five biggest surprises of the sentence:

# %%
# NBVAL_IGNORE_OUTPUT
probability = recording.char_probability()
positions = np.arange(sentence.start, sentence.stop)
for t in positions[np.argsort(probability[positions], kind="stable")[:5]]:
    guesses = ", ".join(f"{c!r} {p:.2f}" for c, p in recording.candidates(int(t)))
    before = passage[max(t - 25, sentence.start) : t]
    print(f"{before:>25}[{passage[t]}]  p = {probability[t]:.3f}; expected {guesses}")

# %% [markdown]
# Averaged over the whole passage, the surprise in bits is the model's bits per character,
# close to the validation BPC that training measured (which read windows of
# `len_per_section` characters instead of one long passage):

# %%
bits = -np.log2(np.maximum(probability[1:], 1e-30))  # 1e-30: a probability that underflowed
assert (bits >= 0).all()
assert np.allclose(recording.probabilities.sum(axis=1), 1, atol=1e-4)
print("every prediction is a probability distribution")

# %%
# NBVAL_IGNORE_OUTPUT
valid_bpc = run.history[-1]["valid_bpc"] if run.history else float("nan")
print(f"this passage: {bits.mean():.2f} bits per character; "
      f"validation BPC at step {run.step:,}: {valid_bpc:.2f}")

# %% [markdown]
# ## What you have seen
#
# - `record` reads the three gates, the candidate memory and the memory of every unit,
#   character by character, with the layer's own `step`; the recording reproduces the
#   model's predictions exactly.
# - Saturation of the three gates shows which units keep their memory (forget gate open) and
#   which switch; the candidate memory is no gate, and near -1 it writes fully, negatively.
# - `search_units` ranks units by their correlation with features you can name; only a unit
#   that clearly beats the *chance* column counts as tracking its feature, and only one that
#   still does where the obvious other explanation is held fixed (`control`) is a finding
#   about that feature.
# - The per-character probability shows where the model is sure: inside words more than at
#   their start.
#
# Try: another `passage_start`, `layer = 1` for a two-layer run, your own features (any array
# of one value per character works with `helpers.inspect_lstm.find_units`), or a run trained
# ten times longer.
