"""Reference solutions to the exercises at the end of notebook 01 (try them yourself first).

`helpers.exercises.check_character_shares` and `check_article_titles` accept these;
`tests/test_exercises.py` holds them to it.
"""

import re
from collections import Counter


def character_shares(text):
    """Each character of `text` and its share of the text: its count over the text's length."""
    return {char: count / len(text) for char, count in Counter(text).items()}


def article_titles(text):
    """The articles' titles in order: lines ' = Title = ' between two blank lines (' \\n')."""
    return re.findall(r"^ \n = ([^=\n].*?) = \n(?= \n)", text, flags=re.M)
