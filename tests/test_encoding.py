import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from helpers import encoding
from helpers.batches import batch_dataset
from helpers.encoding import (
    UNKNOWN_CHAR,
    UNKNOWN_ID,
    UnknownCharactersWarning,
    Vocabulary,
    sections,
)


def test_ids_are_sorted_characters_after_the_unknown_id():
    vocab = Vocabulary.from_text("hello world")
    assert vocab.chars == (" ", "d", "e", "h", "l", "o", "r", "w")
    assert len(vocab) == 9
    assert vocab.encode("hello", warn=False).tolist() == [4, 3, 5, 5, 6]
    assert vocab.encode("hello").dtype == np.int32


def test_encode_decode_round_trip_on_real_text(test_text):
    vocab = Vocabulary.from_text(test_text)
    ids = vocab.encode(test_text)
    assert ids.min() >= 1 and ids.max() == len(vocab) - 1
    assert vocab.decode(ids) == test_text
    assert len(vocab) == 259 + 1  # 259 distinct characters in wiki.test.raw, plus unknown


def test_unknown_characters_map_to_id_zero_and_are_counted(test_text, valid_text):
    vocab = Vocabulary.from_text(test_text)
    with pytest.warns(UnknownCharactersWarning, match=r"150 distinct") as record:
        ids = vocab.encode(valid_text)
    unknown = vocab.unknown_counts(valid_text)
    assert len(unknown) == 150
    assert int((ids == UNKNOWN_ID).sum()) == sum(unknown.values())
    assert f"{sum(unknown.values()):,} characters" in str(record[0].message)
    decoded = vocab.decode(ids)
    assert decoded.count(UNKNOWN_CHAR) == sum(unknown.values())


def test_min_count_sends_rare_characters_to_unknown():
    vocab = Vocabulary.from_text("aaabbc", min_count=2)
    assert vocab.chars == ("a", "b")
    assert vocab.encode("abc", warn=False).tolist() == [1, 2, 0]
    with pytest.raises(ValueError, match="min_count"):
        Vocabulary.from_text("abc", min_count=0)


@pytest.mark.system
def test_vocabulary_order_does_not_depend_on_hash_seed(tmp_path):
    code = ("from helpers.encoding import Vocabulary; "
            "print(''.join(Vocabulary.from_text('the quick brown fox jumps é ü ✓').chars))")
    outputs = set()
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        outputs.add(subprocess.run([sys.executable, "-c", code], env=env, check=True,
                                   capture_output=True, text=True).stdout)
    assert len(outputs) == 1


def test_save_load_and_equality(tmp_path):
    vocab = Vocabulary.from_text("Zoë said \"hi\"\n")
    path = tmp_path / "vocabulary.json"
    vocab.save(path)
    assert json.loads(path.read_text("utf-8"))["chars"] == list(vocab.chars)
    assert Vocabulary.load(path) == vocab
    assert Vocabulary.load(path) != Vocabulary.from_text("other")


def test_one_hot():
    vocab = Vocabulary.from_text("abc")
    hot = vocab.one_hot(vocab.encode("cab"))
    assert hot.shape == (3, 4) and hot.dtype == np.float32
    assert hot.argmax(axis=1).tolist() == [3, 1, 2]
    assert hot.sum() == 3


def test_decode_rejects_ids_out_of_range():
    with pytest.raises(ValueError, match="ids must lie"):
        Vocabulary.from_text("ab").decode([5])


def test_empty_corpus_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        Vocabulary.from_text("")


def test_sections_match_the_original_loop_without_copying():
    text = "abcdefghijklmnopqrstuvwxyz" * 3
    ids = Vocabulary.from_text(text).encode(text)
    windows, targets = sections(ids, len_per_section=5, skip=2)
    expected = [(ids[i:i + 5], ids[i + 5]) for i in range(0, len(ids) - 5, 2)]
    assert len(windows) == len(expected)
    for (w, t), row, target in zip(expected, windows, targets, strict=True):
        assert row.tolist() == w.tolist() and target == t
    assert np.shares_memory(windows, ids)  # a view, not a copy


@pytest.mark.parametrize("kwargs, message", [
    ({"len_per_section": 0, "skip": 1}, "len_per_section"),
    ({"len_per_section": 3, "skip": 0}, "skip"),
    ({"len_per_section": 10, "skip": 1}, "too short"),
])
def test_sections_reject_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sections(np.arange(10), **kwargs)


def test_batches_are_shifted_by_one_and_deterministic():
    ids = np.arange(5000, dtype=np.int32) % 97
    first = [b for b in batch_dataset(ids, 8, 20, seed=3).take(5)]
    again = [b for b in batch_dataset(ids, 8, 20, seed=3).take(5)]
    other = [b for b in batch_dataset(ids, 8, 20, seed=4).take(5)]
    for (x, y), (x2, y2) in zip(first, again, strict=True):
        assert x.shape == (8, 20) and y.shape == (8, 20)
        np.testing.assert_array_equal(x.numpy()[:, 1:], y.numpy()[:, :-1])
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(first, other, strict=True))


def test_batches_resume_exactly_where_they_left_off():
    ids = np.arange(3000, dtype=np.int32) % 51
    straight = [x.numpy() for x, _ in batch_dataset(ids, 4, 10, seed=0).take(40)]
    resumed = [x.numpy() for x, _ in batch_dataset(ids, 4, 10, seed=0, start_step=25).take(15)]
    for a, b in zip(straight[25:], resumed, strict=True):
        np.testing.assert_array_equal(a, b)


def test_an_epoch_visits_every_window_once():
    ids = np.arange(10 * 8 * 11, dtype=np.int32)
    starts = set()
    for x, _ in batch_dataset(ids, 8, 10, skip=11, seed=1).take(9):
        starts.update(x.numpy()[:, 0].tolist())
    assert len(starts) == 72  # 9 full batches of 8 distinct windows (80 windows exist)


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 0, "len_per_section": 5}, "batch_size"),
    ({"batch_size": 4, "len_per_section": 0}, "len_per_section"),
    ({"batch_size": 100, "len_per_section": 50}, "fewer than batch_size"),
])
def test_batches_reject_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        batch_dataset(np.arange(1000) % 7, **kwargs)


def naive_ids(vocab, text):
    """Encoding as its definition says, one character at a time."""
    index = {c: i + 1 for i, c in enumerate(vocab.chars)}
    return [index.get(c, UNKNOWN_ID) for c in text]


def test_counting_and_encoding_a_block_at_a_time_match_the_definition(monkeypatch):
    from collections import Counter

    from helpers import encoding

    # Blocks of 7 characters: pure-ASCII blocks, blocks with accents, CJK and a character
    # beyond the Basic Multilingual Plane (4 bytes in UTF-32 and UTF-8 alike), a lone surrogate.
    monkeypatch.setattr(encoding, "BLOCK_CHARS", 7)
    text = "plain ascii text, then café, naïve, 東京, 𝄞 and a lone \ud800 surrogate." * 3
    assert encoding.character_counts(text) == Counter(text)
    assert encoding.character_counts(text, 5, 40) == Counter(text[5:40])
    vocab = Vocabulary.from_text(text[:60])
    assert vocab.chars == tuple(sorted(set(text[:60])))
    with pytest.warns(UnknownCharactersWarning):
        ids = vocab.encode(text)
    assert ids.tolist() == naive_ids(vocab, text)
    unknown = vocab.unknown_counts(text)
    expected = Counter(c for c in text if c not in vocab.chars)
    assert unknown == expected
    assert list(unknown) == list(expected)  # first occurrence first: most_common breaks ties so


def test_ids_take_the_smallest_type_that_holds_the_vocabulary():
    small = Vocabulary.from_text("hello world")
    assert small.id_dtype == np.uint8
    assert small.encode("hello", dtype=small.id_dtype).tolist() == [4, 3, 5, 5, 6]
    wide = Vocabulary.from_text("".join(chr(0x4E00 + i) for i in range(300)))
    assert len(wide) == 301 and wide.id_dtype == np.uint16
    text = "".join(chr(0x4E00 + i) for i in range(299, -1, -1))
    np.testing.assert_array_equal(wide.encode(text, dtype=wide.id_dtype), wide.encode(text))
    with pytest.raises(ValueError, match="uint8 cannot hold the 301 ids"):
        wide.encode(text, dtype=np.uint8)


def test_batches_of_small_ids_equal_those_of_int32_ids_and_are_int32():
    ids = (np.arange(4000) * 7 % 251).astype(np.uint8)
    small = list(batch_dataset(ids, 8, 20, skip=13, seed=5, start_step=3).take(30))
    wide = list(batch_dataset(ids.astype(np.int32), 8, 20, skip=13, seed=5, start_step=3)
                .take(30))
    for (x, y), (x2, y2) in zip(small, wide, strict=True):
        assert x.dtype == y.dtype == "int32"
        np.testing.assert_array_equal(x, x2)
        np.testing.assert_array_equal(y, y2)


def test_batch_of_a_step_follows_its_epochs_permutation():
    """Step s is batch s % steps_per_epoch of epoch s // steps_per_epoch, whatever the start."""
    from helpers.backend import tf

    ids = np.arange(1000) % 37
    batch, length, skip = 4, 10, 9
    n_windows = (len(ids) - 1 - (length + 1)) // skip + 1
    per_epoch = n_windows // batch
    for start in (0, 5, per_epoch - 1, per_epoch + 2):
        got = [x.numpy() for x, _ in batch_dataset(ids, batch, length, skip=skip, seed=2,
                                                   start_step=start).take(per_epoch + 3)]
        for step, x in enumerate(got, start):
            epoch, k = divmod(step, per_epoch)
            order = tf.random.experimental.stateless_shuffle(
                tf.range(n_windows, dtype=tf.int64), seed=[2, epoch]).numpy()
            starts = order[k * batch : (k + 1) * batch] * skip
            np.testing.assert_array_equal(x, ids[starts[:, None] + np.arange(length)])


# ---- WikiText's tokenisation undone for reading -------------------------------------------

READABLE_PAIRS = [
    (" = = Life cycle = = ", " = = Life cycle = = "),  # headings stay as they are
    ("a 1 @,@ 000 @-@ ton ship", "a 1,000-ton ship"),
    ("it weighs 0 @.@ 7 kg ( 1 @.@ 5 lb ) .", "it weighs 0.7 kg (1.5 lb)."),
    ('a role as " Craig " in " Teddy \'s Story " ;', 'a role as "Craig" in "Teddy\'s Story";'),
    ("I don 't know , she said !", "I don't know, she said!"),
    ("costs $ 5 , or 10 % more : yes ?", "costs $5, or 10% more: yes?"),
]


@pytest.mark.parametrize("tokenised, readable", READABLE_PAIRS)
def test_detokenize_reads_like_ordinary_text(tokenised, readable):
    from helpers.encoding import detokenize

    assert detokenize(tokenised) == readable


def tokenize(text: str) -> str:
    """WikiText's tokenisation of ordinary text, for the markers ``detokenize`` handles: its
    inverse on such text, so that a round trip shows that ``detokenize`` loses nothing."""
    contractions = "|".join(map(re.escape, encoding._CONTRACTIONS))
    opening, closing = re.escape(encoding._OPENING), re.escape(encoding._CLOSING)
    lines = []
    for line in text.split("\n"):
        line = re.sub(rf" ?({contractions})(?= |$)", r" \1", line)
        line = re.sub(rf"(^| )([{opening}])(?=\S)", r"\1\2 ", line)
        while True:  # "lb)." is two closing marks: split off the last, then the one before
            split = re.sub(rf"(?<=\S)([{closing}])(?= |$)", r" \1", line)
            if split == line:
                break
            line = split
        line = re.sub(r'(^| )"(\S)', r'\1" \2', line)  # an opening quote
        line = re.sub(r'(\S)"(?= |$)', r'\1 "', line)  # a closing quote
        for marker, char in encoding._NUMBER_MARKERS:
            between = r"(?<=\w)" + re.escape(char) + r"(?=\w)"
            line = re.sub(between, f" {marker} ", line)
        lines.append(line)
    return "\n".join(lines)


@pytest.mark.parametrize("tokenised", [t for t, _ in READABLE_PAIRS] + [
    " \n = Robert Boulter = \n \n He had a guest @-@ starring role in 2000 . \n",
    ' The 1 @,@ 500 @-@ strong " Guards " ( formed 1881 ) didn \'t march ; it rained .',
])
def test_tokenize_undoes_detokenize_on_the_markers_handled(tokenised):
    from helpers.encoding import detokenize

    assert tokenize(detokenize(tokenised)) == tokenised


def test_an_unpaired_quote_is_left_alone():
    from helpers.encoding import detokenize

    assert detokenize('he said " stop and left') == 'he said " stop and left'


def test_batches_need_no_python_inside_tf_data():
    """A tf.numpy_function in the pipeline needs the GIL in tf.data's threads: deleting the
    iterator while one ran hung a notebook kernel after training. The graph must hold none."""
    dataset = batch_dataset(np.arange(5_000, dtype=np.uint8) % 40, 4, 16, seed=0)
    graph = dataset._as_serialized_graph().numpy()
    assert b"PyFunc" not in graph and b"EagerPyFunc" not in graph
    inputs, _ = next(iter(dataset))
    assert inputs.dtype.name == "int32"
