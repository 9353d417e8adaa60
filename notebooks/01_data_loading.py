# %% [markdown]
# # 01 · Loading WikiText-2
#
# Our character-level LSTM learns from **WikiText-2**, a collection of Wikipedia articles. In
# this notebook you will find out where the dataset comes from and where to get it today, load
# the test split with one function call, set its size beside the figures the original blog
# tutorial printed, and look at the text the model will learn from: how long it is, which
# characters it uses and how often, how articles and headings are marked, and the odd `@-@`
# markers you will later see the model imitate.

# %% [markdown]
# ## Where the data comes from
#
# WikiText-2 was published by Merity, Xiong, Bradbury and Socher with *Pointer Sentinel Mixture
# Models* (2016, [arXiv:1609.07843](https://arxiv.org/abs/1609.07843)): 720 Good and Featured
# Wikipedia articles, split 600 / 60 / 60 into train, validation and test. We use the **raw**
# version, which keeps every character as it is (the other version replaces rare words by
# `<unk>`). The text comes from Wikipedia, so it is licensed **CC BY-SA 3.0** (and GFDL): keep
# the attribution and the share-alike terms if you pass it on.
#
# The original tutorial downloaded nothing in code: it linked a page on MetaMind's website
# (metamind.io, where the dataset was first published) for the reader to fetch the files by
# hand, and its code simply opens `wiki.test.raw` in the current folder. The zip that scripts
# have long downloaded from MetaMind's storage,
# `https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-raw-v1.zip`, no longer
# serves the file: it answers **403 AccessDenied**, and download code that does not check the
# status saves the error page under the zip's name, which then fails much later as a "bad zip
# file". The same bytes are still published elsewhere. `helpers.data` tries these mirrors in
# order and checks every file against its published SHA-256, so a truncated or wrong file is
# never used:

# %%
from helpers.data import DEFAULT_MIRRORS, SHA256

for url in DEFAULT_MIRRORS:
    print(url)
print()
print("published SHA-256 of wiki.test.raw:", SHA256["test"])

# %% [markdown]
# **Already have the files?** Point the environment variable `WIKITEXT_DIR` at the folder that
# holds `wiki.test.raw` and `wiki.valid.raw` before you start Jupyter, e.g.
# `export WIKITEXT_DIR=~/datasets/wikitext-2-raw`. `helpers.data` looks there first, then in the
# repository's cache `data/wikitext-2-raw`, and only downloads (into that cache) when it finds
# nothing. From a shell, `python -m helpers.data download` fetches the files ahead of time and
# `python -m helpers.data verify DIR` checks a folder.
#
# ## Loading the test split
#
# Like the original tutorial we train on `wiki.test.raw` (about 1.3 MB; the train split is about
# eight times larger). Training on the **test** split was a methodological error in the
# original: the test split exists to measure, once and at the end, a model that has never seen
# it, and the original had no validation data at all, so every loss it printed is a loss on
# text it was training on. We keep its training text so that our numbers can be set beside
# the original's, and measure on the validation split, `wiki.valid.raw`, which we never train on.
# `load_split` returns the exact text, line endings included.

# %%
from helpers.data import find_split, load_split

text = load_split("test")
print(f"{len(text):,} characters")
print(f"{len(text.encode('utf-8')):,} bytes in UTF-8 (some characters take 2 or 3 bytes)")

# %% [markdown]
# Where was the file found? That depends on your machine (the folder `WIKITEXT_DIR` names, the
# repository's cache `data/wikitext-2-raw/`, or a fresh download into it), so this cell's output
# is not compared by the tests. Paths are printed relative to the repository, never as absolute
# paths, and a folder of your own is named by its variable.

# %%
# NBVAL_IGNORE_OUTPUT
import os
from pathlib import Path

from helpers.paths import relative

path = find_split("test")
own = os.environ.get("WIKITEXT_DIR")
if own and path.parent == Path(own).expanduser().resolve():
    print(f"{path.name} in the folder WIKITEXT_DIR names")
else:
    print(relative(path))
assert path.name == "wiki.test.raw"

# %% [markdown]
# ## The first 2000 characters
#
# Notice the blank lines (a single space, then a newline), the headings between `=` signs, the
# spaces around every punctuation mark (the text was tokenised into words), and `@-@` where the
# article had a hyphen.

# %%
print(text[:2000])

# %% [markdown]
# ## Which characters?
#
# A character model predicts one of the characters it has seen. Sorted, the distinct characters
# of the test split are:

# %%
chars = sorted(set(text))
print(len(chars), "distinct characters")
ascii_chars = "".join(c for c in chars if c.isascii())
print(f"{len(ascii_chars)} of them ASCII: {ascii_chars!r}")

# %% [markdown]
# ### The original's figures, beside ours
#
# The original printed the length of its text and the number of distinct characters in it (its
# vocabulary). Neither matches the published `wiki.test.raw`, whose SHA-256 `helpers.data`
# checked before loading it. Nor is its text simply the start of ours: our first 580,441
# characters hold a different number of distinct characters. The tutorial says nothing more
# about its file, so **we cannot reproduce its figures**; we use ours, and show both
# (`helpers.original` holds the figures the original printed: its text's length, its number of
# distinct characters and its losses):

# %%
from helpers.original import PRINTED_LETTERS, PRINTED_TEXT_LENGTH

print(f"{'':34}{'the original printed':>21}{'ours':>11}")
print(f"{'characters of wiki.test.raw':34}{PRINTED_TEXT_LENGTH:>21,}{len(text):>11,}")
print(f"{'distinct characters (vocabulary)':34}{PRINTED_LETTERS:>21}{len(chars):>11}")
print(f"distinct characters in our first {PRINTED_TEXT_LENGTH:,}:",
      len(set(text[:PRINTED_TEXT_LENGTH])))
assert (len(text), len(chars)) != (PRINTED_TEXT_LENGTH, PRINTED_LETTERS)

# %% [markdown]
# Our characters beyond ASCII come from names and quotations in other scripts. Grouped by the first word of their
# Unicode name:

# %%
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

# %% [markdown]
# ## How often?
#
# Most of those characters are rare. The plot shows the 60 most frequent ones on a log scale:
# about one character in five is a space, and the long tail of rare characters is what the
# model will find hardest to learn.

# %%
import matplotlib.pyplot as plt

counts = Counter(text)
top = counts.most_common(60)
labels = [{" ": "␣", "\n": "\\n"}.get(c, c) for c, _ in top]

fig, ax = plt.subplots(figsize=(10, 3.2), dpi=90)
ax.bar(range(len(top)), [n for _, n in top], color="tab:blue")
ax.set_yscale("log")
ax.set_xticks(range(len(top)), labels)
ax.set_xlim(-0.7, len(top) - 0.3)
ax.set_title(f"The {len(top)} most frequent characters of wiki.test.raw (of {len(counts)})")
ax.set_xlabel("character (␣ = space, \\n = newline)")
ax.set_ylabel("occurrences (log scale)")
fig.tight_layout()
plt.show()

# %%
covered = sum(n for _, n in top) / len(text)
print(f"the {len(top)} most frequent characters make up {covered:.2%} of the text")
print(f"{sum(1 for n in counts.values() if n == 1)} characters occur exactly once,",
      f"{sum(1 for n in counts.values() if n < 10)} fewer than 10 times")

# %% [markdown]
# ## Articles and headings
#
# Each article starts with a title line ` = Title = ` and its sections with ` = = Section = = `
# (deeper levels add more `=`), each heading line between two blank lines. A regular
# expression finds them; we require the blank lines around the heading, because a plain
# "line between `=` signs" pattern also catches two lines of a formula that a line break split
# in the article *Constant k filter*:

# %%
import re

naive = re.findall(r"^ = [^=].*[^=] = $", text, flags=re.M)
print(len(naive), "lines look like ' = Title = ', among them:")
print([line for line in naive if line.startswith(" = 1 ")])


def headings(depth):
    marks = " ".join(["="] * depth)
    return re.findall(rf"^ \n {marks} ([^=\n].*?) {marks} \n(?= \n)", text, flags=re.M)


for depth in range(1, 6):
    print(f"level {depth}: {len(headings(depth)):>3} headings")

# %%
titles = headings(1)
assert len(titles) == 60  # the 60 test articles of WikiText-2
print("first articles:", titles[:6])
first_article = text[: text.index(f" = {titles[1]} = ")]
sections = re.findall(r"^ = = ([^=\n].*?) = = $", first_article, flags=re.M)
print(f"sections of {titles[0]!r}:", sections)

# %% [markdown]
# ## The `@-@`, `@,@` and `@.@` markers
#
# WikiText was split into words with spaces around punctuation. Where a hyphen, a thousands
# separator or a decimal point sat *inside* a word or number, it was kept as a marker with `@`
# on both sides, so that `guest-starring` became `guest @-@ starring` and `1,000` became
# `1 @,@ 000`. For a character model these are just three-character sequences it will learn
# (and reproduce) like any other.

# %%
for marker in ("@-@", "@,@", "@.@"):
    found = [m.group(0) for m in re.finditer(rf"\S+ {re.escape(marker)} \S+", text)]
    examples = list(dict.fromkeys(found))[:3]  # the first three different ones
    print(f"{marker}  {text.count(marker):>5,} times, e.g. {examples}")


# %% [markdown]
# To show generated text to a person, undo the markers and the spaces around punctuation:
# `helpers.encoding.detokenize` does it for every sample the later notebooks print (the raw
# form is what the model reads and writes).

# %%
from helpers.encoding import detokenize

sample = text[text.index("He had a guest"):][:120]
print(sample)
print(detokenize(sample))

# %% [markdown]
# ## Summary
#
# - WikiText-2 raw comes from Merity et al. (2016), CC BY-SA 3.0. The original sent readers to
#   a page on metamind.io; MetaMind's S3 zip answers 403. `helpers.data` downloads from
#   mirrors and verifies SHA-256, or reads `WIKITEXT_DIR`.
# - We train on the test split, as the original did (a methodological error we keep only for
#   comparison), and validate on `wiki.valid.raw`, which the original never had.
# - The test split has 1,288,556 characters and 259 distinct characters, most of them rare.
#   The original printed 580,441 and 174 for its `wiki.test.raw`; we cannot reproduce them.
# - Articles start with ` = Title = `, sections with ` = = Section = = `; hyphens and number
#   separators inside words appear as `@-@`, `@,@`, `@.@`.
#
# Next, **02** turns these characters into numbers the model can use.

# %% [markdown]
# ## Exercises
#
# Two short exercises on this notebook. Fill in each function and run its cell, then run the
# cell below it: a check tries your function on a few cases chosen to catch the usual mistakes
# and tells you what it found. Left as they are, the checks say "not attempted yet". Reference
# solutions, for after you have tried: [`solutions/01_data_loading.py`](solutions/01_data_loading.py).
#
# ### 1. The share of each character
#
# Write `character_shares(text)`: a dictionary from each character of `text` to its share of
# the text, its count divided by the text's length, so that the shares add up to 1. Once the
# check passes, `character_shares(text)[" "]` tells you how much of the test split is spaces.

# %%
def character_shares(text):
    """Each character of `text` and its share of the text."""
    raise NotImplementedError  # your code here


# %%
from helpers.exercises import check_character_shares

check_character_shares(character_shares)


# %% [markdown]
# ### 2. The articles' titles
#
# Write `article_titles(text)`: the titles of the articles of `text`, in order, each without
# its `=` signs and spaces (`'Robert Boulter'` for the line ` = Robert Boulter = `). A section
# heading is not a title, and neither is a line of a formula that happens to lie between two
# `=` signs: "Articles and headings" above shows what tells them apart. On the test split your
# function should find the 60 articles.

# %%
def article_titles(text):
    """The titles of the articles of `text`, in order."""
    raise NotImplementedError  # your code here


# %%
from helpers.exercises import check_article_titles

check_article_titles(article_titles)
