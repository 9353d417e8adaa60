# %% [markdown]
# # 05 · Sampling text
#
# A trained model gives, for every position, a probability for each possible next character.
# Generating text means drawing a character from that distribution, feeding it back, and
# repeating. This notebook shows the original tutorial's sampling bug, the fixed sampler with
# temperature, top-k and top-p, and why carrying the LSTM's state forward makes generation fast.
#
# It samples from the run that notebook 04 wrote; run that one first. A run trained on your own
# text (04's `text_file`) works the same way; then choose a prompt written in that text's
# characters: the model only knows the characters of its training text, and a prompt character
# it has never seen is read as the unknown id, with a warning, and sampling goes on.

# %% tags=["parameters"]
run_dir = "outputs/runs/notebook"  # a run directory written by 04_training
# For a run on your own text, write the prompt in that text's characters: others warn and are
# read as the unknown id. The samples only ever contain the training text's own characters.
test_start = "I plan to make the world a better place"  # the prompt, in the run text's characters
num_chars = 200  # characters to generate
temperature = 0.8  # 0: always the likeliest; above 1: more adventurous
top_k = None  # keep only the k likeliest characters (None: all)
top_p = None  # keep the likeliest characters up to this total probability (None: all)
seed = 0

# %%
from helpers.sampling import Generator, check_sampling_options
from helpers.training import load_run

check_sampling_options(temperature, top_k, top_p)
if not isinstance(num_chars, int) or num_chars < 1:
    raise ValueError(f"num_chars must be a positive integer, got {num_chars!r}")
run = load_run(run_dir)  # says what to run first if there is no trained model yet
generator = Generator(run.model, run.vocabulary)
print(f"loaded the model of step {run.step:,}")

# %% [markdown]
# ## The original's sampler, and its bug
#
# The original drew a uniform number `r` and walked through the probabilities, meaning to stop
# where their running sum passes `r`. But it compared `r` with each probability on its own,
# never with the sum. With 260 characters few single probabilities ever beat `r`, so the walk
# mostly falls through to its default, the last character of the vocabulary. Here both
# samplers draw 2,000 times from one fixed distribution, the character frequencies of the
# training text.

# %%
import inspect

from IPython.display import Code

from helpers.sampling import original_sample

Code(inspect.getsource(original_sample), language="python")

# %%
from collections import Counter

import numpy as np

from helpers.corpus import training_text
from helpers.sampling import sample_next_char

ids = run.vocabulary.encode(training_text(run.config), warn=False)  # WikiText's or your own
frequencies = np.bincount(ids, minlength=len(run.vocabulary)) / len(ids)

rng = np.random.default_rng(0)
buggy = Counter(run.vocabulary.decode([original_sample(frequencies, rng)])
                for _ in range(2_000))
fixed = Counter(run.vocabulary.decode(sample_next_char(
    np.log(np.tile(frequencies + 1e-12, (2_000, 1))), rng)))
print("original:", buggy.most_common(3), f"({len(buggy)} distinct)")
print("fixed:   ", fixed.most_common(3), f"({len(fixed)} distinct)")
assert len(buggy) <= len(fixed)
if run.config.text_file is None:
    assert len(buggy) < 10 < len(fixed)

# %% [markdown]
# The fixed sampler's most common draws are the space and `e`, as in English text. The
# original returns the last character in sorted order (a rare CJK character) most of the
# time, and otherwise only the one or two characters frequent enough to beat `r` on their own:
# a handful of distinct characters instead of dozens.
#
# ## Temperature
#
# Dividing the logits by a temperature before the softmax sharpens the distribution (below 1)
# or flattens it (above 1). Temperature 0 always takes the likeliest character, and soon falls
# into a loop of the likeliest phrase; high temperatures invent words.
#
# Here is what temperature does to the model's distribution for the character that follows the
# prompt: the same logits, three temperatures.

# %%
import matplotlib.pyplot as plt

from helpers.sampling import next_char_probabilities

logits = run.model(run.vocabulary.encode(test_start)[None, :]).numpy()[0, -1]
likeliest = np.argsort(-logits, kind="stable")[:12]
labels = [repr(run.vocabulary.decode([i])) for i in likeliest]  # shows ' ' and '\n'
fig, ax = plt.subplots(figsize=(9, 3.2))
width = 0.27
for k, t in enumerate((0.5, 1.0, 1.5)):
    probs = next_char_probabilities(logits, temperature=t)[0]
    ax.bar(np.arange(12) + (k - 1) * width, probs[likeliest], width, label=f"temperature {t}")
    assert abs(probs.sum() - 1) < 1e-9
ax.set_xticks(np.arange(12), labels)
ax.set_ylabel("probability")
ax.set_title(f"the next character after {test_start[-20:]!r}: the 12 likeliest")
ax.legend()
plt.show()

# %%
# NBVAL_IGNORE_OUTPUT
samples = {}
for t in (0.0, 0.5, 0.8, 1.2):
    samples[t] = generator.generate(test_start, num_chars, temperature=t, seed=seed)[0]
    print(f"--- temperature {t}\n{test_start}{samples[t]}\n")

# %%
known = set(run.vocabulary.chars)
for t, text in samples.items():
    assert len(text) == num_chars
    assert set(text) <= known, f"temperature {t} produced characters outside the vocabulary"
print("every sample has", num_chars, "characters, all from the vocabulary")

# %% [markdown]
# ## The sample with this notebook's parameters
#
# Saved to the run directory as `samples.txt` (and `samples.json` for scripts).

# %%
# NBVAL_IGNORE_OUTPUT
from helpers.paths import relative, write_json

text = generator.generate(test_start, num_chars, temperature, top_k, top_p, seed)[0]
print(test_start + text)
record = {"prompt": test_start, "step": run.step,
          "samples": [{"temperature": temperature, "top_k": top_k, "top_p": top_p,
                       "seed": seed, "text": text}]
          + [{"temperature": t, "top_k": None, "top_p": None, "seed": seed, "text": s}
             for t, s in samples.items()]}
write_json(run.run_dir / "samples.json", record)
(run.run_dir / "samples.txt").write_text(test_start + text + "\n", encoding="utf-8")
print("\nsaved to", relative(run.run_dir / "samples.txt"))

# %% [markdown]
# Words the model has learnt show up even in a short training run:

# %%
# NBVAL_IGNORE_OUTPUT
common = {"the", "of", "and", "in", "to", "a", "was", "The", "is", "for", "on", "as", "his"}
found = sorted(set(samples[0.5].split()) & common)
print("common English words in the temperature-0.5 sample:", found)
if run.step >= 500 and run.config.text_file is None:  # your own text may not be English
    assert len(found) >= 3, "expected real words after a default-length training run"

# %% [markdown]
# ## Try it yourself
#
# In JupyterLab the controls below regenerate the sample whenever you move them. Where there is
# no live kernel (GitHub, or this notebook run by papermill or nbval), the controls cannot run,
# so the sample they start from is printed underneath as plain text.

# %%
# NBVAL_IGNORE_OUTPUT
import ipywidgets as widgets
from IPython.display import display


def show_sample(prompt, temperature, top_k, top_p, length, seed):
    text = generator.generate(prompt, length, temperature, top_k or None,
                              top_p if top_p < 1 else None, seed)[0]
    print(prompt + text)


controls = dict(
    prompt=widgets.Text(value=test_start, description="prompt"),
    temperature=widgets.FloatSlider(value=temperature, min=0, max=2, step=0.05,
                                    description="temperature"),
    top_k=widgets.IntSlider(value=top_k or 0, min=0, max=50, description="top-k (0: off)"),
    top_p=widgets.FloatSlider(value=top_p or 1.0, min=0.05, max=1, step=0.05,
                              description="top-p"),
    length=widgets.IntSlider(value=num_chars, min=10, max=1000, step=10, description="length"),
    seed=widgets.IntText(value=seed, description="seed"),
)
output = widgets.interactive_output(show_sample, controls)
display(widgets.VBox([widgets.VBox(list(controls.values())), output]))
print("Without a live kernel, the controls' starting sample:")
show_sample(test_start, temperature, top_k or 0, top_p or 1.0, num_chars, seed)

# %% [markdown]
# ## Stateful generation
#
# The prompt is read once to set the LSTM's memory `(h, c)`; after that each new character costs
# one step. The alternative, re-reading the whole text for every new character, costs more with
# every character. Both give the same text (here greedy, temperature 0), at different speeds.
#
# `generate` also keeps Python out of the loop: the steps, the temperature and the draws all run
# inside one compiled TensorFlow graph (XLA), so a character costs a fraction of a millisecond.
# `generate_stepwise` is the same loop written in Python, one model call per character, easier
# to read and several times slower.

# %%
stateful = generator.generate(test_start, 100, temperature=0)[0]
refed = generator.generate_by_refeeding(test_start, 100, temperature=0)
assert stateful == refed
print("same 100 characters both ways:", stateful == refed)

# %%
# NBVAL_IGNORE_OUTPUT
from helpers.sampling import chars_per_second

fast = chars_per_second(generator, test_start, 300, stateful=True)
slow = chars_per_second(generator, test_start, 300, stateful=False)
print(f"stateful: {fast:,.0f} characters/s; re-reading the prefix: {slow:,.0f} "
      f"characters/s ({fast / slow:.1f}x)")
assert fast > slow
