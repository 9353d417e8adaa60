"""Write notebooks 04 and 05 from the cell sources below: this file is their source.

    .venv/bin/python notebooks/_build/make_04_05.py            # write the two notebooks
    .venv/bin/python notebooks/_build/make_04_05.py --execute  # write and run them in place
    .venv/bin/python notebooks/_build/make_04_05.py 05_sampling.ipynb --execute  # just one

Writing replaces the stored outputs, so always execute afterwards (04 before 05: 05 samples
from the run 04 writes). Cell ids are fixed so that regenerating gives a small git diff.
"""

import sys

from nbbuild import code, main, md

NB04 = [
    md("""
# 04 · Training the LSTM

Time to learn. This notebook trains the character model of notebook 03 on the test split of
WikiText-2 (as the original tutorial did) and measures it on the validation split, in **bits
per character** (BPC): how many yes/no questions the model needs, on average, to pin down the
next character. Guessing blindly among our 260 ids costs log2(260) ≈ 8 bits; English text
written by a good model costs around 1.

Everything below comes from `helpers.training`; the run directory it writes holds the
checkpoints, the vocabulary, the configuration and the history, so training can be resumed
(run this notebook again with a larger `max_steps`) and notebook 05 can sample from it.
"""),
    md("""
## Parameters

The cell below is tagged `parameters`: papermill replaces these values when it runs the
notebook from the command line, for example

```bash
papermill notebooks/04_training.ipynb outputs/04_3000.ipynb -p max_steps 3000
```

The names are the original tutorial's where they mean the same thing. The defaults are sized
to finish in a few minutes on a laptop CPU and still produce real words; `make run` trains
longer.
"""),
    code("""
batch_size = 64  # sequences per step
max_steps = 500  # training steps in total (a resumed run continues up to this)
log_every = 50  # steps between validation measurements
save_every = 250  # steps between checkpoints
hidden_nodes = 256  # LSTM units
len_per_section = 100  # characters per training sequence
skip = None  # stride between sequences; None: len_per_section (no overlap)
learning_rate = 0.005  # Adam's step size
lr_schedule = "constant"  # or "cosine": decays to a tenth of learning_rate by max_steps
seed = 0
train_split = "test"
valid_split = "valid"
output_dir = "outputs/runs/notebook"  # relative to the repository root""", "parameters"),
    md("""
Derived values are computed here, after the parameters, so that papermill's overrides reach
them. A mistyped value stops the notebook right here, with a message naming the parameter,
before TensorFlow does any work.
"""),
    code("""
from helpers.training import TrainConfig

config = TrainConfig(
    batch_size=batch_size, max_steps=max_steps, log_every=log_every, save_every=save_every,
    hidden_nodes=hidden_nodes, len_per_section=len_per_section, skip=skip,
    learning_rate=learning_rate, lr_schedule=lr_schedule, seed=seed, train_split=train_split,
    valid_split=valid_split,
    output_dir=output_dir,
).validate()
print("parameters are valid")"""),
    md("""
## Why not the original's settings?

The original trained 1024 hidden units on batches of 512 sections of 50 characters, fed as
dense one-hot vectors, with plain SGD at learning rate 10. Counting the matrix products of one
training step (forward, plus about twice that backward) shows what that costs on a laptop.
"""),
    code("""
from helpers.model import lstm_training_flops

vocab_size = 260
original = lstm_training_flops(512, 50, 1024, vocab_size, input_matmul=True)
ours = lstm_training_flops(config.batch_size, config.len_per_section, config.hidden_nodes,
                           vocab_size)
print(f"original: {original / 1e9:,.0f} GFLOP per training step")
print(f"ours:     {ours / 1e9:,.1f} GFLOP per training step ({original / ours:,.0f}x less)")"""),
    md("""
How fast is this machine at matrix products? We time one at the size of the original's
recurrent product, then turn FLOPs into seconds.
"""),
    code("""
# NBVAL_IGNORE_OUTPUT
import time

from helpers.backend import tf

a = tf.random.normal([512, 1024])
b = tf.random.normal([1024, 4096])
tf.matmul(a, b)  # warm-up
started = time.perf_counter()
for _ in range(10):
    tf.matmul(a, b).numpy()
flops_per_s = 10 * 2 * 512 * 1024 * 4096 / (time.perf_counter() - started)
print(f"this machine: {flops_per_s / 1e9:,.0f} GFLOP/s at the original's recurrent shape")
print(f"original: ~{original / flops_per_s:,.1f} s per step, "
      f"~{original / flops_per_s * 72_001 / 3600:,.0f} hours for its 72,001 steps")
print(f"ours:     ~{ours / flops_per_s:,.2f} s per step at best")"""),
    md("""
So we train a smaller model on longer sequences, with a loss at *every* character of a
sequence instead of only after the last one, using Adam with gradient clipping instead of plain
SGD at learning rate 10.

## Train

The progress bar shows the training and validation BPC as they are measured. If the run
directory already holds a checkpoint, training resumes from it.
"""),
    code("""
# NBVAL_IGNORE_OUTPUT
from helpers.training import train

history = train(config)"""),
    md("""
What must hold, whatever the machine: the loss fell, and a default-length run is far below
the ~4.6 bits per character that the original reported after 100 steps.
"""),
    code("""
valid = [row["valid_bpc"] for row in history]
assert history[-1]["step"] == config.max_steps
if len(valid) > 1:
    assert valid[-1] < valid[0], "validation BPC did not fall"
if config.max_steps >= 500:
    assert valid[-1] < 3.2, f"validation BPC {valid[-1]:.2f} is higher than expected"
print("training checks passed")"""),
    md("""
## The learning curves

Training BPC is averaged over the steps since the last measurement; validation BPC is measured
on the same fixed first 100,000 characters of the validation split every time.
"""),
    code("""
# NBVAL_IGNORE_OUTPUT
import matplotlib.pyplot as plt

from helpers.plots import plot_history, save_figure

ax = plot_history(history)
ax.axhline(4.6, color="grey", linestyle=":", label="original after 100 steps (~4.6)")
ax.legend()
save_figure(ax, config.run_dir / "loss_curve.png")
plt.show()"""),
    code("""
# NBVAL_IGNORE_OUTPUT
at_100 = next((row for row in history if row["step"] >= 100), history[-1])
last = history[-1]
print(f"after {at_100['step']} steps: {at_100['valid_bpc']:.2f} BPC (the original: ~4.6)")
print(f"after {last['step']} steps: {last['valid_bpc']:.2f} BPC, "
      f"{last['chars_per_sec']:,.0f} characters/s, {last['elapsed'] / 60:.1f} minutes")"""),
    md("""
## Where the run is

Everything is in the run directory, relative to the repository root. Notebook 05 samples from
it; `python -m helpers.generate --run-dir DIR` does the same from a terminal.
"""),
    code("""
from helpers.paths import relative

print(relative(config.run_dir))
for name in ("config.json", "vocabulary.json", "history.json", "loss_curve.png",
             "checkpoints"):
    assert (config.run_dir / name).exists(), name
    print("  ", name)"""),
]


NB05 = [
    md("""
# 05 · Sampling text

A trained model gives, for every position, a probability for each possible next character.
Generating text means drawing a character from that distribution, feeding it back, and
repeating. This notebook shows the original tutorial's sampling bug, the fixed sampler with
temperature, top-k and top-p, and why carrying the LSTM's state forward makes generation fast.

It samples from the run that notebook 04 wrote; run that one first.
"""),
    code("""
run_dir = "outputs/runs/notebook"  # a run directory written by 04_training
test_start = "I plan to make the world a better place"  # the prompt
num_chars = 200  # characters to generate
temperature = 0.8  # 0: always the likeliest; above 1: more adventurous
top_k = None  # keep only the k likeliest characters (None: all)
top_p = None  # keep the likeliest characters up to this total probability (None: all)
seed = 0""", "parameters"),
    code("""
from helpers.sampling import Generator, check_sampling_options
from helpers.training import load_run

check_sampling_options(temperature, top_k, top_p)
if not isinstance(num_chars, int) or num_chars < 1:
    raise ValueError(f"num_chars must be a positive integer, got {num_chars!r}")
run = load_run(run_dir)  # says what to run first if there is no trained model yet
generator = Generator(run.model, run.vocabulary)
print(f"loaded the model of step {run.step:,}")"""),
    md("""
## The original's sampler, and its bug

The original drew a uniform number `r` and walked through the probabilities, meaning to stop
where their running sum passes `r`. But it compared `r` with each probability on its own,
never with the sum. With 260 characters few single probabilities ever beat `r`, so the walk
mostly falls through to its default, the last character of the vocabulary. Here both
samplers draw 2,000 times from one fixed distribution, the character frequencies of the
training text.
"""),
    code("""
import inspect

from IPython.display import Code

from helpers.sampling import original_sample

Code(inspect.getsource(original_sample), language="python")"""),
    code("""
from collections import Counter

import numpy as np

from helpers import data
from helpers.sampling import sample_next_char

ids = run.vocabulary.encode(data.load_split(run.config.train_split), warn=False)
frequencies = np.bincount(ids, minlength=len(run.vocabulary)) / len(ids)

rng = np.random.default_rng(0)
buggy = Counter(run.vocabulary.decode([original_sample(frequencies, rng)])
                for _ in range(2_000))
fixed = Counter(run.vocabulary.decode(sample_next_char(
    np.log(np.tile(frequencies + 1e-12, (2_000, 1))), rng)))
print("original:", buggy.most_common(3), f"({len(buggy)} distinct)")
print("fixed:   ", fixed.most_common(3), f"({len(fixed)} distinct)")
assert len(buggy) < 10 < len(fixed)"""),
    md("""
The fixed sampler's most common draws are the space and `e`, as in English text. The
original returns the last character in sorted order (a rare CJK character) most of the
time, and otherwise only the one or two characters frequent enough to beat `r` on their own:
a handful of distinct characters instead of dozens.

## Temperature

Dividing the logits by a temperature before the softmax sharpens the distribution (below 1)
or flattens it (above 1). Temperature 0 always takes the likeliest character, and soon falls
into a loop of the likeliest phrase; high temperatures invent words.

Here is what temperature does to the model's distribution for the character that follows the
prompt: the same logits, three temperatures.
"""),
    code("""
import matplotlib.pyplot as plt

from helpers.sampling import next_char_probabilities

logits = run.model(run.vocabulary.encode(test_start)[None, :]).numpy()[0, -1]
likeliest = np.argsort(-logits, kind="stable")[:12]
labels = [repr(run.vocabulary.decode([i])) for i in likeliest]  # shows ' ' and '\\n'
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
plt.show()"""),
    code("""
# NBVAL_IGNORE_OUTPUT
samples = {}
for t in (0.0, 0.5, 0.8, 1.2):
    samples[t] = generator.generate(test_start, num_chars, temperature=t, seed=seed)[0]
    print(f"--- temperature {t}\\n{test_start}{samples[t]}\\n")"""),
    code("""
known = set(run.vocabulary.chars)
for t, text in samples.items():
    assert len(text) == num_chars
    assert set(text) <= known, f"temperature {t} produced characters outside the vocabulary"
print("every sample has", num_chars, "characters, all from the vocabulary")"""),
    md("""
## The sample with this notebook's parameters

Saved to the run directory as `samples.txt` (and `samples.json` for scripts).
"""),
    code("""
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
(run.run_dir / "samples.txt").write_text(test_start + text + "\\n", encoding="utf-8")
print("\\nsaved to", relative(run.run_dir / "samples.txt"))"""),
    md("""
Words the model has learnt show up even in a short training run:
"""),
    code("""
# NBVAL_IGNORE_OUTPUT
common = {"the", "of", "and", "in", "to", "a", "was", "The", "is", "for", "on", "as", "his"}
found = sorted(set(samples[0.5].split()) & common)
print("common English words in the temperature-0.5 sample:", found)
if run.step >= 500:
    assert len(found) >= 3, "expected real words after a default-length training run"
"""),
    md("""
## Try it yourself

In JupyterLab the controls below regenerate the sample whenever you move them. Where there is
no live kernel (GitHub, or this notebook run by papermill or nbval), the controls cannot run,
so the sample they start from is printed underneath as plain text.
"""),
    code("""
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
show_sample(test_start, temperature, top_k or 0, top_p or 1.0, num_chars, seed)"""),
    md("""
## Stateful generation

The prompt is read once to set the LSTM's memory `(h, c)`; after that each new character costs
one step. The alternative, re-reading the whole text for every new character, costs more with
every character. Both give the same text (here greedy, temperature 0), at different speeds.

`generate` also keeps Python out of the loop: the steps, the temperature and the draws all run
inside one compiled TensorFlow graph (XLA), so a character costs a fraction of a millisecond.
`generate_stepwise` is the same loop written in Python, one model call per character, easier
to read and several times slower.
"""),
    code("""
stateful = generator.generate(test_start, 100, temperature=0)[0]
refed = generator.generate_by_refeeding(test_start, 100, temperature=0)
assert stateful == refed
print("same 100 characters both ways:", stateful == refed)"""),
    code("""
# NBVAL_IGNORE_OUTPUT
from helpers.sampling import chars_per_second

fast = chars_per_second(generator, test_start, 300, stateful=True)
slow = chars_per_second(generator, test_start, 300, stateful=False)
print(f"stateful: {fast:,.0f} characters/s; re-reading the prefix: {slow:,.0f} "
      f"characters/s ({fast / slow:.1f}x)")
assert fast > slow"""),
]


if __name__ == "__main__":
    sys.exit(main({"04_training.ipynb": NB04, "05_sampling.ipynb": NB05}))
