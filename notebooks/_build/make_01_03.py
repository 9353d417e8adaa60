"""Write notebooks 01-03 from the cell sources below: this file is their source.

Edit the cells here, not in Jupyter, then regenerate and execute (from the repository root)::

    .venv/bin/python notebooks/_build/make_01_03.py            # write the three notebooks
    .venv/bin/python notebooks/_build/make_01_03.py --execute  # write and run them in place

or run one written notebook by hand, from the notebooks folder::

    cd notebooks && ../.venv/bin/jupyter nbconvert --to notebook --execute --inplace NAME.ipynb

Writing replaces a notebook's stored outputs, so always execute afterwards: nbval compares the
stored outputs with a fresh run. Notebook 03 shows helpers/model.py's own source
(``inspect.getsource``), so it has to be re-executed whenever that code changes.

Cell ids are fixed (``nb01-03`` ...) so that regenerating gives a small git diff.
"""

import sys

from nbbuild import code, main, md

# ------------------------------------------------------------------------------------------
# 01: data loading
# ------------------------------------------------------------------------------------------

NB01 = [
    md("""
# 01 · Loading WikiText-2

Our character-level LSTM learns from **WikiText-2**, a collection of Wikipedia articles. In
this notebook you will find out where the dataset comes from and why the link in the original
blog tutorial no longer works, load the test split with one function call, and look at the
text the model will learn from: how long it is, which characters it uses and how often, how
articles and headings are marked, and the odd `@-@` markers you will later see the model
imitate.
"""),
    md("""
## Where the data comes from

WikiText-2 was published by Merity, Xiong, Bradbury and Socher with *Pointer Sentinel Mixture
Models* (2016, [arXiv:1609.07843](https://arxiv.org/abs/1609.07843)): 720 Good and Featured
Wikipedia articles, split 600 / 60 / 60 into train, validation and test. We use the **raw**
version, which keeps every character as it is (the other version replaces rare words by
`<unk>`). The text comes from Wikipedia, so it is licensed **CC BY-SA 3.0** (and GFDL): keep
the attribution and the share-alike terms if you pass it on.

The original tutorial downloaded it from
`https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-raw-v1.zip`. That bucket no
longer serves the file: it answers **403 AccessDenied**, and download code that does not check
the status saves the error page under the zip's name, which then fails much later as a "bad
zip file". The same bytes are still published elsewhere. `helpers.data` tries these mirrors in
order and checks every file against its published SHA-256, so a truncated or wrong file is
never used:
"""),
    code("""
from helpers.data import DEFAULT_MIRRORS, SHA256

for url in DEFAULT_MIRRORS:
    print(url)
print()
print("published SHA-256 of wiki.test.raw:", SHA256["test"])
"""),
    md("""
**Already have the files?** Point the environment variable `WIKITEXT_DIR` at the folder that
holds `wiki.test.raw` and `wiki.valid.raw` before you start Jupyter, e.g.
`export WIKITEXT_DIR=~/datasets/wikitext-2-raw`. `helpers.data` looks there first, then in the
repository's cache `data/wikitext-2-raw`, and only downloads (into that cache) when it finds
nothing. From a shell, `python -m helpers.data download` fetches the files ahead of time and
`python -m helpers.data verify DIR` checks a folder.

## Loading the test split

Like the original tutorial we train on `wiki.test.raw` (about 1.3 MB; the train split is about
eight times larger). `load_split` returns the exact text, line endings included.
"""),
    code("""
from helpers.data import find_split, load_split

text = load_split("test")
print(f"{len(text):,} characters")
print(f"{len(text.encode('utf-8')):,} bytes in UTF-8 (some characters take 2 or 3 bytes)")
"""),
    md("""
Where was the file found? That depends on your machine (`WIKITEXT_DIR`, the cache, a shared
copy), so this cell's output is not compared by the tests. Paths are always printed relative
to the repository, never as absolute paths.
"""),
    code("""
# NBVAL_IGNORE_OUTPUT
from helpers.paths import relative

location = relative(find_split("test"))
print(location)
assert location.endswith("wiki.test.raw") and not location.startswith("/")
"""),
    md("""
## The first 2000 characters

Notice the blank lines (a single space, then a newline), the headings between `=` signs, the
spaces around every punctuation mark (the text was tokenised into words), and `@-@` where the
article had a hyphen.
"""),
    code("""
print(text[:2000])
"""),
    md("""
## Which characters?

A character model predicts one of the characters it has seen. Sorted, the distinct characters
of the test split are:
"""),
    code("""
chars = sorted(set(text))
print(len(chars), "distinct characters")
ascii_chars = "".join(c for c in chars if c.isascii())
print(f"{len(ascii_chars)} of them ASCII: {ascii_chars!r}")
"""),
    md("""
The rest come from names and quotations in other scripts. Grouped by the first word of their
Unicode name:
"""),
    code("""
import unicodedata
from collections import Counter

SCRIPTS = {"LATIN", "GREEK", "CYRILLIC", "HEBREW", "ARABIC", "DEVANAGARI", "HIRAGANA",
           "KATAKANA", "CJK"}


def script(c):
    first = unicodedata.name(c).split()[0]
    return first if first in SCRIPTS else "other (punctuation, symbols, marks)"


groups = {}
for c in chars:
    if not c.isascii():
        groups.setdefault(script(c), []).append(c)
for name, members in sorted(groups.items(), key=lambda item: -len(item[1])):
    print(f"{name:<36} {len(members):>3}  {' '.join(members)}")
"""),
    md("""
## How often?

Most of those characters are rare. The plot shows the 60 most frequent ones on a log scale:
about one character in five is a space, and the long tail of rare characters is what the
model will find hardest to learn.
"""),
    code("""
import matplotlib.pyplot as plt

counts = Counter(text)
top = counts.most_common(60)
labels = [{" ": "␣", "\\n": "\\\\n"}.get(c, c) for c, _ in top]

fig, ax = plt.subplots(figsize=(10, 3.2), dpi=90)
ax.bar(range(len(top)), [n for _, n in top], color="tab:blue")
ax.set_yscale("log")
ax.set_xticks(range(len(top)), labels)
ax.set_xlim(-0.7, len(top) - 0.3)
ax.set_title(f"The {len(top)} most frequent characters of wiki.test.raw (of {len(counts)})")
ax.set_xlabel("character (␣ = space, \\\\n = newline)")
ax.set_ylabel("occurrences (log scale)")
fig.tight_layout()
plt.show()
"""),
    code("""
covered = sum(n for _, n in top) / len(text)
print(f"the {len(top)} most frequent characters make up {covered:.2%} of the text")
print(f"{sum(1 for n in counts.values() if n == 1)} characters occur exactly once,",
      f"{sum(1 for n in counts.values() if n < 10)} fewer than 10 times")
"""),
    md("""
## Articles and headings

Each article starts with a title line ` = Title = ` and its sections with ` = = Section = = `
(deeper levels add more `=`), each heading line between two blank lines. A regular
expression finds them; we require the blank lines around the heading, because a plain
"line between `=` signs" pattern also catches two lines of a formula that a line break split
in the article *Constant k filter*:
"""),
    code("""
import re

naive = re.findall(r"^ = [^=].*[^=] = $", text, flags=re.M)
print(len(naive), "lines look like ' = Title = ', among them:")
print([line for line in naive if line.startswith(" = 1 ")])


def headings(depth):
    marks = " ".join(["="] * depth)
    return re.findall(rf"^ \\n {marks} ([^=\\n].*?) {marks} \\n(?= \\n)", text, flags=re.M)


for depth in range(1, 6):
    print(f"level {depth}: {len(headings(depth)):>3} headings")
"""),
    code("""
titles = headings(1)
assert len(titles) == 60  # the 60 test articles of WikiText-2
print("first articles:", titles[:6])
first_article = text[: text.index(f" = {titles[1]} = ")]
sections = re.findall(r"^ = = ([^=\\n].*?) = = $", first_article, flags=re.M)
print(f"sections of {titles[0]!r}:", sections)
"""),
    md("""
## The `@-@`, `@,@` and `@.@` markers

WikiText was split into words with spaces around punctuation. Where a hyphen, a thousands
separator or a decimal point sat *inside* a word or number, it was kept as a marker with `@`
on both sides, so that `guest-starring` became `guest @-@ starring` and `1,000` became
`1 @,@ 000`. For a character model these are just three-character sequences it will learn
(and reproduce) like any other.
"""),
    code("""
for marker in ("@-@", "@,@", "@.@"):
    found = [m.group(0) for m in re.finditer(rf"\\S+ {re.escape(marker)} \\S+", text)]
    examples = list(dict.fromkeys(found))[:3]  # the first three different ones
    print(f"{marker}  {text.count(marker):>5,} times, e.g. {examples}")
"""),
    md("""
To show generated text to a person, undo the markers (and, if you like, the spaces before
punctuation):
"""),
    code("""
def detokenize(s):
    s = re.sub(r" @(.)@ ", r"\\1", s)
    return re.sub(r" ([,.;:)'])", r"\\1", s)


sample = text[text.index("He had a guest"):][:120]
print(sample)
print(detokenize(sample))
"""),
    md("""
## Summary

- WikiText-2 raw comes from Merity et al. (2016), CC BY-SA 3.0; the original S3 link is dead,
  `helpers.data` downloads from mirrors and verifies SHA-256, or reads `WIKITEXT_DIR`.
- The test split has 1,288,556 characters and 259 distinct characters, most of them rare.
- Articles start with ` = Title = `, sections with ` = = Section = = `; hyphens and number
  separators inside words appear as `@-@`, `@,@`, `@.@`.

Next, **02** turns these characters into numbers the model can use.
"""),
]


# ------------------------------------------------------------------------------------------
# 02: vocabulary, one-hot vectors, sections and batches
# ------------------------------------------------------------------------------------------

NB02 = [
    md("""
# 02 · From characters to numbers

A neural network computes with numbers, not characters. In this notebook you will build the
**vocabulary** that gives every character an id (and see why the original tutorial's
vocabulary changed from one run to the next), handle characters the vocabulary has never
seen, look at **one-hot vectors**, measure what the original's dense one-hot training arrays
would cost in memory, and replace them by the small batches of ids that we feed the model
instead.
"""),
    code("""
import numpy as np

from helpers.data import load_split
from helpers.encoding import UNKNOWN_ID, Vocabulary

text = load_split("test")
vocab = Vocabulary.from_text(text)
print(f"{len(vocab.chars)} characters + 1 unknown id = {len(vocab)} ids")
print("the first characters:", vocab.chars[:16])
"""),
    md("""
## The vocabulary: sorted, with id 0 for "unknown"

`Vocabulary.from_text` sorts the distinct characters; character `chars[i]` gets id `i + 1`,
and id `0` (`UNKNOWN_ID`) stands for any character the vocabulary does not know. Encoding a
text gives one `int32` id per character, and decoding gives the text back:
"""),
    code("""
for c in ["\\n", " ", "A", "a", "e", "z"]:
    print(f"{c!r:>5} -> id {vocab.encode(c)[0]}")

ids = vocab.encode(text)
print(ids.dtype, ids.shape, ids[:12])
print(repr(vocab.decode(ids[:12])))
assert vocab.decode(ids) == text
"""),
    md("""
### Why sorted?

The original tutorial built its vocabulary with `chars = list(set(text))`. A set's order
follows the hashes of its elements, and Python salts string hashes with a random seed chosen
when the interpreter starts (`PYTHONHASHSEED`, a defence against hash-flooding attacks). Inside
one process the order is stable, so nothing looks wrong; but a *new* process (reloading a saved
model the next day) numbers the characters differently, and the model's output 17 that meant
`e` yesterday means something else today.

Three fresh Python processes with three hash seeds show it: the first ten characters of
`list(set(text))` and the position of `'e'`. (The exact orders depend on the Python build, so
this output is not compared by the tests; the assertion checks that they differ.)
"""),
    code("""
# NBVAL_IGNORE_OUTPUT
import os
import subprocess
import sys

snippet = "import sys; order = list(set(sys.stdin.read())); print(order[:10], order.index('e'))"
orders = {}
for seed in ("0", "1", "2"):
    run = subprocess.run(
        [sys.executable, "-c", snippet], input=text, capture_output=True, check=True,
        text=True, encoding="utf-8",
        env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONIOENCODING": "utf-8"})
    orders[seed] = run.stdout.strip()
    print(f"PYTHONHASHSEED={seed}: {orders[seed]}")
assert len(set(orders.values())) > 1, "list(set(text)) should depend on the hash seed"
"""),
    md("""
`sorted(set(text))` is the same in every process, on every machine, so the vocabulary can be
rebuilt from the text (or saved as a small JSON list with `Vocabulary.save`):
"""),
    code("""
print("first ten, always:", list(vocab.chars[:10]))
print(f"position of 'e', always: {vocab.chars.index('e')} (so its id is {vocab.encode('e')[0]})")
"""),
    md("""
## Characters the vocabulary has never seen

A vocabulary built on one text meets new characters in another: the validation split, or a
prompt you type. The original's `char_to_id[c]` raised `KeyError` there. How many are there in
`wiki.valid.raw`?
"""),
    code("""
valid = load_split("valid")
unknown = vocab.unknown_counts(valid)
total = sum(unknown.values())
print(f"wiki.valid.raw: {len(valid):,} characters, {len(set(valid))} distinct")
print(f"{len(unknown)} distinct characters never occur in wiki.test.raw;",
      f"together they occur {total:,} times ({total / len(valid):.3%} of the split)")
print("the most frequent:", unknown.most_common(8))
"""),
    md("""
They are rare, so mapping them all to id 0 costs little. `encode` does that, and warns once
with a summary so that the loss is never silent (here we catch the warning to print it):
"""),
    code("""
import warnings

from helpers.encoding import UnknownCharactersWarning

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    valid_ids = vocab.encode(valid)
assert caught and issubclass(caught[0].category, UnknownCharactersWarning)
print(caught[0].message)
print(f"{int((valid_ids == UNKNOWN_ID).sum()):,} ids are {UNKNOWN_ID},",
      f"which decodes to {vocab.decode([UNKNOWN_ID])!r}")
"""),
    md("""
## One-hot vectors

The classic way to feed a character to a network is a **one-hot vector**: as long as the
vocabulary (260), all zeros except a single 1 at the character's id. Here is "hello":
"""),
    code("""
word = "hello"
word_ids = vocab.encode(word)
one_hot = vocab.one_hot(word_ids)
print("ids:", word_ids)
print("one-hot:", one_hot.shape, one_hot.dtype, "row sums", one_hot.sum(axis=1))
print("the 1 of each row sits at column", one_hot.argmax(axis=1))
"""),
    md("""
Because the vocabulary is sorted, the letters `a` to `p` have consecutive ids; the heatmap
shows those 16 of the 260 columns (the other 244 are zero in every row):
"""),
    code("""
import matplotlib.pyplot as plt

shown = vocab.encode("abcdefghijklmnop")
fig, ax = plt.subplots(figsize=(8, 2.8), dpi=90)
ax.imshow(one_hot[:, shown], cmap="Greys", vmin=0, vmax=1)
ax.set_xticks(range(len(shown)), [f"{vocab.decode([i])}\\n{i}" for i in shown])
ax.set_yticks(range(len(word)), list(word))
ax.set_xlabel(f"character and its id ({len(shown)} of the {len(vocab)} columns)")
ax.set_ylabel(f"position in {word!r}")
ax.set_title(f"One-hot vectors of {word!r}: a single 1 (black) per row")
fig.tight_layout()
plt.show()
"""),
    md("""
Multiplying a one-hot vector by a weight matrix just picks one row of the matrix. So the model
never needs the one-hot vectors themselves: it looks the row up by id (notebook 03).

## The original's sections, and what they would cost

The original cut the text into overlapping **sections** of `len_per_section = 50` characters,
one every `skip = 2` characters, each with the next character as its target:

```python
for i in range(0, len(text) - len_per_section, skip):
    sections.append(text[i: i + len_per_section])
    next_chars.append(text[i + len_per_section])
```

`helpers.encoding.sections` builds the same windows over the id array, as **views**: no
window is copied.
"""),
    code("""
from helpers.encoding import original_one_hot_bytes, sections

windows, targets = sections(ids, len_per_section=50, skip=2)
print("windows:", windows.shape, windows.dtype, "  targets:", targets.shape)
print("views into ids, not copies:", np.shares_memory(windows, ids),
      np.shares_memory(targets, ids))
assert len(windows) == len(range(0, len(text) - 50, 2))
for k in range(2):
    print(f"section {k}: {vocab.decode(windows[k])!r} -> {vocab.decode([targets[k]])!r}")
"""),
    md("""
The original then turned every section into a dense one-hot array, with `np.zeros`' default
type, float64 (8 bytes per number): `X[sections, 50, 259]` and `y[sections, 259]`, for its
259-character vocabulary.
"""),
    code("""
cost = original_one_hot_bytes(len(text), len_per_section=50, skip=2, vocab_size=259)
n = cost["sections"]
rows = [
    (f"X: {n:,} sections x 50 characters x 259 x 8 bytes", cost["X"]),
    (f"y: {n:,} sections x 259 x 8 bytes", cost["y"]),
    ("total", cost["total"]),
]
for label, size in rows:
    print(f"{label:<52} = {size:>14,} bytes = {size / 1e9:5.1f} GB")
print()
print(f"ids: {len(ids):,} characters x 4 bytes (int32) = {ids.nbytes:,} bytes"
      f" = {ids.nbytes / 1e6:.1f} MB, {cost['total'] / ids.nbytes:,.0f} times less")
print(f"(copying the id windows would take {windows.nbytes / 1e6:.1f} MB; as views: nothing)")
"""),
    md("""
About 68 GB for a 1.3 MB text: more memory than most machines have, just to hold zeros.

## What we feed instead: batches of ids

`batch_dataset(ids, batch_size, len_per_section)` is a `tf.data` pipeline that cuts windows
of `len_per_section + 1` ids (by default without overlap), shuffles them with a fixed seed and
yields `(inputs, targets)`: the targets are the inputs **shifted by one character**, so the
model learns to predict the next character at *every* position, not only after the last one.
"""),
    code("""
from helpers.encoding import batch_dataset

batches = batch_dataset(ids, batch_size=64, len_per_section=100)
inputs, targets = next(iter(batches))
print("inputs: ", inputs.shape, inputs.dtype.name)
print("targets:", targets.shape, targets.dtype.name)
assert np.array_equal(inputs[:, 1:], targets[:, :-1])  # shifted by one

batch_bytes = inputs.numpy().nbytes + targets.numpy().nbytes
dense = 64 * 100 * len(vocab) * 4
print(f"one batch of ids: 2 x 64 x 100 x 4 bytes = {batch_bytes:,} bytes")
print(f"the same inputs as float32 one-hot: 64 x 100 x {len(vocab)} x 4 bytes = {dense:,} bytes")
"""),
    md("""
One row of the batch, decoded (which window comes first depends on the seeded shuffle, so
this output is not compared; the shift by one is asserted above):
"""),
    code("""
# NBVAL_IGNORE_OUTPUT
print("input: ", repr(vocab.decode(inputs[0].numpy())))
print("target:", repr(vocab.decode(targets[0].numpy())))
"""),
    code("""
n_windows = len(sections(ids, 101, 100)[0])
print(f"{n_windows:,} windows of 101 ids -> {n_windows // 64} batches of 64 per epoch")
"""),
    md("""
## Summary

- The vocabulary is sorted (the same in every process) and reserves id 0 for unknown
  characters: 150 distinct characters of the validation split, 298 occurrences, map to it.
- One-hot vectors are a way of *thinking* about the input; the original materialised them for
  every section (about 68 GB for the test split). We keep 4 bytes per character and cut
  windows as views and batches of ids on the fly.

Next, **03** opens the LSTM that reads these ids.
"""),
]


# ------------------------------------------------------------------------------------------
# 03: the four-gate LSTM
# ------------------------------------------------------------------------------------------

NB03 = [
    md("""
# 03 · The four-gate LSTM

The model at the heart of this tutorial is a long short-term memory (LSTM) layer written out
by hand, `helpers.model.FourGateLSTM`. In this notebook you will read its equations and its
code, follow the shapes through one step, see why the candidate memory must use `tanh` (the
original tutorial used a sigmoid), check numerically that our layer computes exactly what
`keras.layers.LSTM` computes, and count the model's parameters.
"""),
    md(r"""
## The equations

At every time step the layer reads the input $x_t$ and its own previous output $h_{t-1}$ and
memory (cell state) $c_{t-1}$. Four **gates** are computed from them:

$$
\begin{aligned}
i_t &= \sigma(x_t W_i + h_{t-1} U_i + b_i) && \text{input gate: how much new memory to write}\\
f_t &= \sigma(x_t W_f + h_{t-1} U_f + b_f) && \text{forget gate: how much old memory to keep}\\
g_t &= \tanh(x_t W_c + h_{t-1} U_c + b_c) && \text{candidate memory: what to write}\\
o_t &= \sigma(x_t W_o + h_{t-1} U_o + b_o) && \text{output gate: how much memory to show}\\[4pt]
c_t &= f_t \odot c_{t-1} + i_t \odot g_t\\
h_t &= o_t \odot \tanh(c_t)
\end{aligned}
$$

$\sigma$ is the logistic sigmoid (values in $(0, 1)$), $\odot$ multiplies element by element.
With $D$ inputs and $H$ hidden units, each $W$ is $D \times H$, each $U$ is $H \times H$ and
each $b$ has $H$ entries. Instead of four small products the code does one big one: the four
$W$ side by side form the **kernel** ($D \times 4H$), the four $U$ the **recurrent kernel**
($H \times 4H$), in the order $i, f, c, o$, which is exactly how Keras stores its LSTM weights.
"""),
    code("""
import inspect
import textwrap

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Code

from helpers.backend import keras, tf
from helpers.model import CharLSTM, FourGateLSTM


def show_source(function):
    \"\"\"The code as it is in helpers/model.py, syntax-highlighted: there is only one copy.\"\"\"
    return Code(textwrap.dedent(inspect.getsource(function)), language="python")
"""),
    md("""
## The gates in code

One time step, from `helpers/model.py`. `projected_x` is $x_t W + b$ for all four gates at
once; the recurrent product is added, the result split into the four gates:
"""),
    code("""
show_source(FourGateLSTM.step)
"""),
    md("""
The input part $x_t W + b$ does not depend on the previous step, so it is computed for all
time steps in one product before the loop. With integer ids as input it is not even a
product: a one-hot vector times the kernel is one row of the kernel, so `tf.gather` looks the
rows up.
"""),
    code("""
show_source(FourGateLSTM.project_inputs)
"""),
    md("""
`call` runs the steps over time, starting from zero memory unless a state is passed in:
"""),
    code("""
show_source(FourGateLSTM.call)
"""),
    md("""
## Shapes, step by step

A small layer with $H = 8$ units reading ids from our 260-id vocabulary, on a batch of 2
sequences of 5 characters:
"""),
    code("""
keras.utils.set_random_seed(0)
batch, time_steps, vocab_size, units = 2, 5, 260, 8
ids = tf.random.uniform([batch, time_steps], 0, vocab_size, dtype=tf.int32)
layer = FourGateLSTM(units, return_sequences=True, return_state=True, input_dim=vocab_size)
sequence, h_last, c_last = layer(ids)

print("ids                 ", ids.shape, "(batch, time)")
print("kernel W            ", layer.kernel.shape, "(vocabulary, 4H)")
print("recurrent kernel U  ", layer.recurrent_kernel.shape, "(H, 4H)")
print("bias b              ", layer.bias.shape, "(4H,)")
projected = layer.project_inputs(ids)
print("projected inputs    ", projected.shape, "(batch, time, 4H): x_t W + b for every step")
h, c = layer.get_initial_state(batch)
print("h, c at the start   ", h.shape, c.shape, "(batch, H), zeros")
z = projected[:, 0] + tf.matmul(h, layer.recurrent_kernel)
print("z at t = 0          ", z.shape, "(batch, 4H)")
print("split into i, f, g, o", [tuple(part.shape) for part in tf.split(z, 4, axis=-1)])
print("output sequence     ", sequence.shape, "(batch, time, H); last h and c:",
      h_last.shape, c_last.shape)
"""),
    md("""
## The backward pass, written out

Training needs the gradient of the loss with respect to every weight. TensorFlow could derive
it from `step` by itself, and would be right, but on a CPU its version is slow: it multiplies
by the transposed recurrent kernel through a slow path of the matrix product, and builds the
kernel's gradient from one thin product per time step. So `_unrolled` runs `step` forward and
supplies the backward pass by hand: the chain rule through `step`'s lines, from the last time
step to the first, then one large product for $U$'s gradient. It makes training 1.39x as
fast as `keras.layers.LSTM` here (`benchmarks/RESULTS.md`). You can skip this code; the
check after it is what matters.
"""),
    code("""
show_source(FourGateLSTM._unrolled)
"""),
    md("""
A hand-written gradient must be checked. Here it is compared with the gradient TensorFlow
derives from a plain loop over `step`, on the small layer above:
"""),
    code("""
def plain_loop(layer, ids):
    projected = layer.project_inputs(ids)
    h, c = layer.get_initial_state(ids.shape[0])
    outputs = []
    for t in range(ids.shape[1]):
        h, c = layer.step(projected[:, t], h, c)
        outputs.append(h)
    return tf.stack(outputs, axis=1)


weights_of_outputs = tf.random.normal(sequence.shape)  # any loss that uses every output
gradients = {}
for name, forward in (("by hand", lambda: layer(ids)[0]),
                      ("TensorFlow", lambda: plain_loop(layer, ids))):
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(forward() * weights_of_outputs)
    gradients[name] = tape.gradient(loss, layer.trainable_variables)
for variable, ours, reference in zip(layer.trainable_variables, gradients["by hand"],
                                     gradients["TensorFlow"], strict=True):
    ours, reference = tf.convert_to_tensor(ours), tf.convert_to_tensor(reference)
    largest = float(tf.reduce_max(tf.abs(ours - reference)))
    assert largest < 1e-5, (variable.name, largest)
    print(f"{variable.name:17} gradient: hand-written and TensorFlow's agree to 1e-5")
"""),
    md("""
The bias starts at zero except for the forget gate, which starts at 1 (Jozefowicz et al.,
2015): $\\sigma(1) \\approx 0.73$, so a fresh layer keeps most of its memory by default.
"""),
    code("""
print(layer.bias.numpy().reshape(4, units))
"""),
    md("""
Running `step` by hand over the five time steps gives the layer's output exactly:
"""),
    code("""
h, c = layer.get_initial_state(batch)
by_hand = []
for t in range(time_steps):
    h, c = layer.step(projected[:, t], h, c)
    by_hand.append(h)
by_hand = tf.stack(by_hand, axis=1)
print("same as the layer:", bool(tf.reduce_all(by_hand == sequence)))
"""),
    md("""
## Why the candidate memory uses tanh

The original tutorial squashed the candidate memory $g_t$ with a **sigmoid** instead of
$\\tanh$. A sigmoid is always positive, so $i_t \\odot g_t > 0$: every step can only *add* to
the memory. With the forget gate open ($f_t = 1$) the cell state can never go down; with
$f_t < 1$ it can only decay towards zero, never become negative, and then $h_t = o_t \\odot
\\tanh(c_t)$ is never negative either: half of every unit's range is lost. $\\tanh$ lies in
$(-1, 1)$, so the layer can write and erase in both directions.

A small simulation of one memory cell with random gate inputs (seeded) and $f_t = 1$:
"""),
    code("""
rng = np.random.default_rng(0)
steps = 200
z_i, z_g = rng.normal(size=(2, steps))


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


i = sigmoid(z_i)
c_sigmoid = np.cumsum(i * sigmoid(z_g))  # c_t = 1 * c_{t-1} + i_t * g_t, from c_0 = 0
c_tanh = np.cumsum(i * np.tanh(z_g))
falls_sigmoid = int((np.diff(c_sigmoid) < 0).sum())
falls_tanh = int((np.diff(c_tanh) < 0).sum())
print(f"sigmoid candidate: c fell in {falls_sigmoid} of {steps - 1} steps")
print(f"tanh candidate:    c fell in some steps: {falls_tanh > 0}")
assert falls_sigmoid == 0 and falls_tanh > 0
"""),
    code("""
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2), dpi=90)
z = np.linspace(-5, 5, 201)
left.plot(z, sigmoid(z), label="sigmoid (original)")
left.plot(z, np.tanh(z), label="tanh (LSTM)")
left.axhline(0, color="grey", lw=0.5)
left.set_title("Candidate memory g: the range of each squashing")
left.set_xlabel("pre-activation z")
left.set_ylabel("g(z)")
left.legend()
right.plot(c_sigmoid, label="sigmoid candidate: only grows")
right.plot(c_tanh, label="tanh candidate: up and down")
right.set_title("Cell state with the forget gate open (f = 1)")
right.set_xlabel("time step t")
right.set_ylabel("cell state c_t")
right.legend()
fig.tight_layout()
plt.show()
"""),
    md("""
With a realistic forget gate ($f_t = \\sigma(\\cdot) < 1$), the sigmoid variant still cannot go
below zero:
"""),
    code("""
z_f, z_o = rng.normal(size=(2, steps))
f, o = sigmoid(z_f), sigmoid(z_o)
cell_sigmoid = cell_tanh = 0.0
lowest_h_sigmoid = lowest_h_tanh = np.inf
for t in range(steps):
    cell_sigmoid = f[t] * cell_sigmoid + i[t] * sigmoid(z_g[t])
    cell_tanh = f[t] * cell_tanh + i[t] * np.tanh(z_g[t])
    lowest_h_sigmoid = min(lowest_h_sigmoid, o[t] * np.tanh(cell_sigmoid))
    lowest_h_tanh = min(lowest_h_tanh, o[t] * np.tanh(cell_tanh))
print("sigmoid candidate: h ever negative:", bool(lowest_h_sigmoid < 0))
print("tanh candidate:    h ever negative:", bool(lowest_h_tanh < 0))
"""),
    md("""
## Checking against `keras.layers.LSTM`

Our layer stores its weights like Keras's LSTM (kernel, recurrent kernel, bias; gates in the
order i, f, c, o). So we can build both layers, copy our weights into the Keras layer and
compare the outputs on the same random input. If a gate were wrong (a sigmoid instead of
tanh, a swapped gate order), the outputs would differ by far more than float32 rounding.
"""),
    code("""
keras.utils.set_random_seed(42)
batch, time_steps, features, units = 4, 30, 16, 32
x = tf.random.normal([batch, time_steps, features])

ours = FourGateLSTM(units, return_sequences=True, return_state=True)
theirs = keras.layers.LSTM(units, return_sequences=True, return_state=True)
ours(x)  # the first call creates the weights
theirs(x)
theirs.set_weights(ours.get_weights())
print("ours:  ", [w.shape for w in ours.get_weights()])
print("keras: ", [w.shape for w in theirs.get_weights()])

differences = {}
for name, a, b in zip(["outputs", "last h", "last c"], ours(x), theirs(x), strict=True):
    differences[name] = float(tf.reduce_max(tf.abs(a - b)))
worst = max(differences.values())
print("max |difference| < 1e-5:", worst < 1e-5)
assert worst < 1e-5
"""),
    md("""
The differences themselves are float32 rounding noise; their exact values depend on the CPU
and on TensorFlow's kernels (oneDNN), so this output is not compared:
"""),
    code("""
# NBVAL_IGNORE_OUTPUT
for name, value in differences.items():
    print(f"{name:>8}: {value:.2e}")
"""),
    md("""
The same check for the path the character model uses: ids looked up in our layer, against
explicit one-hot vectors fed to the Keras layer.
"""),
    code("""
keras.utils.set_random_seed(7)
ids = tf.random.uniform([4, 30], 0, 260, dtype=tf.int32)
ours_ids = FourGateLSTM(units, return_sequences=True, input_dim=260)
theirs_onehot = keras.layers.LSTM(units, return_sequences=True)
ours_ids(ids)  # create the weights
theirs_onehot(tf.one_hot(ids, 260))
theirs_onehot.set_weights(ours_ids.get_weights())
gap = float(tf.reduce_max(tf.abs(ours_ids(ids) - theirs_onehot(tf.one_hot(ids, 260)))))
print("ids vs one-hot, max |difference| < 1e-5:", gap < 1e-5)
assert gap < 1e-5
"""),
    md("""
## Counting parameters

Per LSTM layer: the kernel ($D \\cdot 4H$), the recurrent kernel ($H \\cdot 4H$) and the bias
($4H$), that is $4(DH + H^2 + H)$. The character model adds a dense layer from the $H$ hidden
units to one logit per vocabulary id. For the default sizes, vocabulary 260 (one-hot input,
$D = 260$) and $H = 256$:
"""),
    code("""
vocab_size, hidden = 260, 256
model = CharLSTM(vocab_size, hidden).build_for()
lstm_formula = 4 * (vocab_size * hidden + hidden * hidden + hidden)
dense_formula = hidden * vocab_size + vocab_size
print(f"LSTM:   4 x ({vocab_size} x {hidden} + {hidden} x {hidden} + {hidden})"
      f" = {lstm_formula:,}   count_params: {model.lstm_0.count_params():,}")
print(f"logits: {hidden} x {vocab_size} + {vocab_size}"
      f" = {dense_formula:,}   count_params: {model.logits.count_params():,}")
print(f"model:  {lstm_formula + dense_formula:,}   count_params: {model.count_params():,}")
assert model.count_params() == lstm_formula + dense_formula
"""),
    md("""
The same model built on `keras.layers.LSTM` (`cell="keras"`) has exactly as many parameters,
as it should:
"""),
    code("""
keras_model = CharLSTM(vocab_size, hidden, cell="keras").build_for()
print(f"cell='keras': {keras_model.count_params():,} parameters")
assert keras_model.count_params() == model.count_params()
"""),
    md("""
## Summary

- An LSTM step is four gates from one fused product `x W + h U + b`, split in four; the memory
  is `c = f * c + i * g` and the output `h = o * tanh(c)`.
- The candidate memory `g` needs `tanh`: with a sigmoid the memory can only grow (or decay
  towards zero) and the outputs are never negative.
- `FourGateLSTM` matches `keras.layers.LSTM` to float32 rounding with the same weights, both
  for float inputs and for ids against one-hot vectors.
- With vocabulary 260 and 256 hidden units the model has 596,228 parameters.

Next, **04** trains it.
"""),
]


NOTEBOOK_CELLS = {
    "01_data_loading.ipynb": NB01,
    "02_one_hot_encoding.ipynb": NB02,
    "03_four_gate_lstm.ipynb": NB03,
}


if __name__ == "__main__":
    sys.exit(main(NOTEBOOK_CELLS))
