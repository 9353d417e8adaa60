# %% [markdown]
# # 02 · From characters to numbers
#
# A neural network computes with numbers, not characters. In this notebook you will build the
# **vocabulary** that gives every character an id (and see why the original tutorial's
# vocabulary changed from one run to the next), handle characters the vocabulary has never
# seen, look at **one-hot vectors**, cut the text into the original's sections and see what its
# graph learned from each, measure what its dense one-hot training arrays would cost in memory,
# and replace them by the small batches of ids that we feed the model instead.

# %%
import numpy as np

from helpers.data import load_split
from helpers.encoding import UNKNOWN_ID, Vocabulary

text = load_split("test")
vocab = Vocabulary.from_text(text)
print(f"{len(vocab.chars)} characters + 1 unknown id = {len(vocab)} ids")
print("the first characters:", vocab.chars[:16])

# %% [markdown]
# ## The vocabulary: sorted, with id 0 for "unknown"
#
# `Vocabulary.from_text` sorts the distinct characters; character `chars[i]` gets id `i + 1`,
# and id `0` (`UNKNOWN_ID`) stands for any character the vocabulary does not know. Encoding a
# text gives one `int32` id per character, and decoding gives the text back:

# %%
for c in ["\n", " ", "A", "a", "e", "z"]:
    print(f"{c!r:>5} -> id {vocab.encode(c)[0]}")

ids = vocab.encode(text)
print(ids.dtype, ids.shape, ids[:12])
print(repr(vocab.decode(ids[:12])))
assert vocab.decode(ids) == text

# %% [markdown]
# ### Why sorted?
#
# The original tutorial built its vocabulary by turning the set of the text's characters into a
# list, and numbered the characters in that list's order. A set's order follows the hashes of
# its elements, and Python salts string hashes with a random seed chosen
# when the interpreter starts (`PYTHONHASHSEED`, a defence against hash-flooding attacks). Inside
# one process the order is stable, so nothing looks wrong; but a *new* process (reloading a saved
# model the next day) numbers the characters differently, and the model's output 17 that meant
# `e` yesterday means something else today.
#
# Three fresh Python processes with three hash seeds show it: the first ten characters of the
# text's set, turned into a list, and the position of `'e'` in that list. (The exact orders depend on the Python build, so
# this output is not compared by the tests; the assertion checks that they differ.)

# %%
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

# %% [markdown]
# `sorted(set(text))` is the same in every process, on every machine, so the vocabulary can be
# rebuilt from the text (or saved as a small JSON list with `Vocabulary.save`):

# %%
print("first ten, always:", list(vocab.chars[:10]))
print(f"position of 'e', always: {vocab.chars.index('e')} (so its id is {vocab.encode('e')[0]})")

# %% [markdown]
# ## Characters the vocabulary has never seen
#
# A vocabulary built on one text meets new characters in another: the validation split, or a
# prompt you type. The original mapped characters to ids with a plain dictionary built from its
# training text, so a character missing from that text *would* raise `KeyError`. It only ever
# encoded that text and its prompt, and never read another split, so the question hardly arose
# there. We validate on another split, so it is real here. How many such characters are there
# in `wiki.valid.raw`?

# %%
valid = load_split("valid")
unknown = vocab.unknown_counts(valid)
total = sum(unknown.values())
print(f"wiki.valid.raw: {len(valid):,} characters, {len(set(valid))} distinct")
print(f"{len(unknown)} distinct characters never occur in wiki.test.raw;",
      f"together they occur {total:,} times ({total / len(valid):.3%} of the split)")
print("the most frequent:", unknown.most_common(8))

# %% [markdown]
# They are rare, so mapping them all to id 0 costs little. `encode` does that, and warns once
# with a summary so that the loss is never silent (here we catch the warning to print it):

# %%
import warnings

from helpers.encoding import UnknownCharactersWarning

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    valid_ids = vocab.encode(valid)
assert caught and issubclass(caught[0].category, UnknownCharactersWarning)
print(caught[0].message)
print(f"{int((valid_ids == UNKNOWN_ID).sum()):,} ids are {UNKNOWN_ID},",
      f"which decodes to {vocab.decode([UNKNOWN_ID])!r}")

# %% [markdown]
# ## One-hot vectors
#
# The classic way to feed a character to a network is a **one-hot vector**: as long as the
# vocabulary (260), all zeros except a single 1 at the character's id. Here is "hello":

# %%
word = "hello"
word_ids = vocab.encode(word)
one_hot = vocab.one_hot(word_ids)
print("ids:", word_ids)
print("one-hot:", one_hot.shape, one_hot.dtype, "row sums", one_hot.sum(axis=1))
print("the 1 of each row sits at column", one_hot.argmax(axis=1))

# %% [markdown]
# Because the vocabulary is sorted, the letters `a` to `p` have consecutive ids; the heatmap
# shows those 16 of the 260 columns (the other 244 are zero in every row):

# %%
import matplotlib.pyplot as plt

shown = vocab.encode("abcdefghijklmnop")
fig, ax = plt.subplots(figsize=(8, 2.8), dpi=90)
ax.imshow(one_hot[:, shown], cmap="Greys", vmin=0, vmax=1)
ax.set_xticks(range(len(shown)), [f"{vocab.decode([i])}\n{i}" for i in shown])
ax.set_yticks(range(len(word)), list(word))
ax.set_xlabel(f"character and its id ({len(shown)} of the {len(vocab)} columns)")
ax.set_ylabel(f"position in {word!r}")
ax.set_title(f"One-hot vectors of {word!r}: a single 1 (black) per row")
fig.tight_layout()
plt.show()

# %% [markdown]
# Multiplying a one-hot vector by a weight matrix just picks one row of the matrix. So the model
# never needs the one-hot vectors themselves: it looks the row up by id (notebook 03).
#
# ## The original's sections
#
# The original cut its text into overlapping **sections** of 174 characters, a new one every 2
# characters, and kept the character that follows each section as its **label**
# (`helpers.original.ORIGINAL` holds its settings). `helpers.encoding.sections` builds the same
# sections over our id array, as **views**: no section is copied.

# %%
from helpers.encoding import sections
from helpers.original import ORIGINAL

windows, labels = sections(ids, ORIGINAL.len_per_section, ORIGINAL.skip)
print(f"len_per_section = {ORIGINAL.len_per_section}, skip = {ORIGINAL.skip}")
print("sections:", windows.shape, windows.dtype, "  labels:", labels.shape)
print("views into ids, not copies:", np.shares_memory(windows, ids),
      np.shares_memory(labels, ids))
assert len(windows) == len(range(0, len(text) - ORIGINAL.len_per_section, ORIGINAL.skip))
for k in range(3):
    print(f"section {k}: {vocab.decode(windows[k, :24])!r} ... "
          f"{vocab.decode(windows[k, -12:])!r} -> label {vocab.decode([labels[k]])!r}")

# %% [markdown]
# ### What its graph learned from each section
#
# One label per section looks like one target per 174 characters, but that is not what the
# original's graph trained on. It ran the LSTM over the section and scored the output of
# **every** step: step $t$'s output against the input character of step $t + 1$, and only the
# last step's output against the label. So a section's targets are the section shifted by one
# character, 174 of them; the label only supplies the last. `helpers.original.scored_targets`
# pairs them the way its graph did (on one-hot vectors, as it fed them):

# %%
from helpers.original import scored_targets

one_section = vocab.one_hot(windows[:1])  # (1, 174, vocabulary): one section, one-hot
its_label = vocab.one_hot(labels[:1])  # (1, vocabulary)
scored = np.argmax(scored_targets(one_section, its_label).numpy(), axis=-1)[0]
print(f"{len(scored)} scored positions in one section")
for t in (0, 1, 2, ORIGINAL.len_per_section - 2, ORIGINAL.len_per_section - 1):
    print(f"step {t:>3} reads {vocab.decode([windows[0, t]])!r:>5} and is scored on predicting "
          f"{vocab.decode([scored[t]])!r}")
assert np.array_equal(scored, ids[1:ORIGINAL.len_per_section + 1])  # the text, shifted by one

# %% [markdown]
# ## What its dense arrays would cost
#
# To train on them, the original turned all sections into one dense one-hot array `X` and all
# labels into another, `y` (as published, that cell, `In [31]`, is numbered after the training
# cell that uses `X`, `In [21]`). `X` was made with NumPy's default integer type (8 bytes on
# 64-bit Linux and macOS; 4 on Windows with the NumPy of its time), `y` with `np.zeros`'
# default, float64 (8 bytes). The figures below take the 8 bytes. And `X` is shaped
# (sections, vocabulary, vocabulary): its time axis is sized by the **vocabulary**, not by the
# section length. That only worked because its sections (174 characters) happened to be as
# long as its vocabulary was large (174 characters).
#
# `helpers.original.section_arithmetic` computes the shapes and bytes, on the figures the
# original printed and on the published `wiki.test.raw`:

# %%
from helpers.original import (
    PRINTED_LETTERS,
    PRINTED_TEXT_LENGTH,
    X_ITEMSIZE,
    Y_ITEMSIZE,
    section_arithmetic,
)

costs = {
    "on its own figures": section_arithmetic(PRINTED_TEXT_LENGTH, PRINTED_LETTERS),
    "on the published wiki.test.raw": section_arithmetic(len(text), len(set(text))),
}
for name, cost in costs.items():
    print(f"{name}: {cost.n_chars:,} characters, {cost.vocab_size} distinct,"
          f" {cost.sections:,} sections")
    print(f"  X {str(cost.x_shape):<20} x {X_ITEMSIZE} bytes = {cost.x_bytes / 1e9:6.1f} GB")
    print(f"  y {str(cost.y_shape):<20} x {Y_ITEMSIZE} bytes = {cost.y_bytes / 1e9:6.2f} GB")
    print(f"  together {cost.total_bytes / 1e9:.1f} GB;",
          cost.problem or "the shapes fit its graph")
assert costs["on the published wiki.test.raw"].sections == len(windows)

# %% [markdown]
# About 70 GB on its own figures, about 347 GB for the published test split, with 8-byte
# integers (on Windows then, `X` would take half as much): more memory than most machines
# have, to hold zeros. On the published text the arrays would not even be usable: with 259
# distinct characters, `X`'s time axis has 259 rows where the graph expects 174. Our ids, and
# the sections as views over them:

# %%
published = costs["on the published wiki.test.raw"]
print(f"ids: {len(ids):,} characters x 4 bytes (int32) = {ids.nbytes / 1e6:.1f} MB,"
      f" {published.total_bytes / ids.nbytes:,.0f} times less than its X and y for this text")
print(f"(copying the id sections would take {windows.nbytes / 1e6:,.0f} MB; as views: nothing)")

# %% [markdown]
# ## What we feed instead: batches of ids
#
# `batch_dataset(ids, batch_size, len_per_section)` is a `tf.data` pipeline that cuts windows
# of `len_per_section + 1` ids (by default without overlap), shuffles them with a fixed seed and
# yields `(inputs, targets)`: the targets are the inputs **shifted by one character**, so the
# model learns to predict the next character at every position, as the original's graph did,
# without a dense array and without overlapping sections.

# %%
from helpers.batches import batch_dataset

batches = batch_dataset(ids, batch_size=64, len_per_section=100)
inputs, targets = next(iter(batches))
print("inputs: ", inputs.shape, inputs.dtype.name)
print("targets:", targets.shape, targets.dtype.name)
assert np.array_equal(inputs[:, 1:], targets[:, :-1])  # shifted by one

batch_bytes = inputs.numpy().nbytes + targets.numpy().nbytes
dense = 64 * 100 * len(vocab) * 4
print(f"one batch of ids: 2 x 64 x 100 x 4 bytes = {batch_bytes:,} bytes")
print(f"the same inputs as float32 one-hot: 64 x 100 x {len(vocab)} x 4 bytes = {dense:,} bytes")

# %% [markdown]
# One row of the batch, decoded (which window comes first depends on the seeded shuffle, so
# this output is not compared; the shift by one is asserted above):

# %%
# NBVAL_IGNORE_OUTPUT
print("input: ", repr(vocab.decode(inputs[0].numpy())))
print("target:", repr(vocab.decode(targets[0].numpy())))

# %%
n_windows = len(sections(ids, 101, 100)[0])
print(f"{n_windows:,} windows of 101 ids -> {n_windows // 64} batches of 64 per epoch")

# %% [markdown]
# ## Summary
#
# - The vocabulary is sorted (the same in every process) and reserves id 0 for unknown
#   characters: 150 distinct characters of the validation split, 298 occurrences, map to it.
# - The original trained on sections of 174 characters, one every 2, and its graph scored the
#   next character at every position of a section, not only after the last one.
# - One-hot vectors are a way of *thinking* about the input; the original materialised them for
#   every section, in an array shaped (sections, vocabulary, vocabulary): about 70 GB on its
#   own figures, about 347 GB for the published test split (where the shapes no longer fit
#   its graph), with NumPy's 8-byte integers of Linux and macOS. We keep 4 bytes per
#   character and cut windows as views and batches of ids on the fly.
#
# Next, **03** opens the LSTM that reads these ids.

# %% [markdown]
# ## Exercises
#
# Two short exercises on this notebook. Fill in each function and run its cell, then run the
# cell below it: a check tries your function on a few cases chosen to catch the usual mistakes
# and tells you what it found. Left as they are, the checks say "not attempted yet". Reference
# solutions, for after you have tried:
# [`solutions/02_one_hot_encoding.py`](solutions/02_one_hot_encoding.py).
#
# ### 1. One-hot vectors, by hand
#
# Write `one_hot(text, chars)` without `Vocabulary`'s methods. `chars` is a sorted tuple of
# characters, like `vocab.chars`: the character `chars[i]` has id `i + 1`, and any other
# character the unknown id 0. Return a float32 array with one row per character of `text` and
# one column per id, `len(chars) + 1` of them, holding a single 1 per row, in the column of the
# character's id. Once the check passes, `one_hot("hello", vocab.chars)` equals
# `vocab.one_hot(vocab.encode("hello"))`.

# %%
def one_hot(text, chars):
    """float32 one-hot rows of `text`, shape (len(text), len(chars) + 1)."""
    raise NotImplementedError  # your code here


# %%
from helpers.exercises import check_one_hot

check_one_hot(one_hot)


# %% [markdown]
# ### 2. Inputs and their targets
#
# Write `inputs_and_targets(ids, length)`: cut `ids` into windows of `length + 1` ids, a new one
# every `length` ids (so neighbours share one id), as many as fit whole. Return the pair
# `(inputs, targets)`, each shaped (windows, `length`): every window's first `length` ids, and
# its last `length`. The targets are the inputs shifted by one character, the shift the batches
# of `batch_dataset` have.

# %%
def inputs_and_targets(ids, length):
    """Windows of length + 1 ids, one every length ids: (inputs, targets)."""
    raise NotImplementedError  # your code here


# %%
from helpers.exercises import check_inputs_and_targets

check_inputs_and_targets(inputs_and_targets)
