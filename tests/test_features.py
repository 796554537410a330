"""Feature rules: packing, longest-first truncation, NER split / re-join,
first-sub-token labels. Expected values are worked out by hand."""

import pytest

from bluebert_mtl.data import features
from bluebert_mtl.data.examples import Example, TaggedExample

CLS, SEP = 101, 102
IGN = features.IGNORE_ID


class _Ragged:
  def __init__(self, rows):
    self.rows = rows

  def to_list(self):
    return self.rows


class FakeTokenizer:
  """Word -> pieces by a fixed table; a text is split on spaces."""
  cls_id, sep_id = CLS, SEP
  pieces = {"aspirin": [1], "induced": [2, 3], "asthma": [4], ".": [5],
            "x": [6], "y": [7, 8, 9], "": []}

  def tokenize(self, texts):
    return _Ragged([[p for w in t.split(" ") for p in self.pieces[w]]
                    for t in texts])


def test_pack_single_truncates_to_max_minus_two():
  ids, types = features.pack_pair([1, 2, 3, 4, 5], None, 5, CLS, SEP)
  assert ids == [CLS, 1, 2, 3, SEP]
  assert types == [0, 0, 0, 0, 0]


def test_pack_pair_longest_first_b_on_ties():
  # 4 + 4 tokens into 8 - 3 = 5: pop b (tie), a (4>3), b (3=3 -> b).
  ids, types = features.pack_pair([1, 2, 3, 4], [5, 6, 7, 8], 8, CLS, SEP)
  assert ids == [CLS, 1, 2, 3, SEP, 5, 6, SEP]
  assert types == [0, 0, 0, 0, 0, 1, 1, 1]


def test_pack_pair_longer_side_only():
  ids, _ = features.pack_pair([1], [2, 3, 4, 5, 6, 7], 6, CLS, SEP)
  assert ids == [CLS, 1, SEP, 2, 3, SEP]


def _tagged(tags, words=None):
  words = words or tuple(f"w{i}" for i in range(len(tags)))
  return TaggedExample("s1", tuple(words), tuple(tags), sentence_index=0)


def test_split_cuts_after_last_o_within_30_words():
  tags = ["O"] * 28 + ["B", "I", "I", "O", "O"]  # 33 words
  pieces = features.split_long_sentence(_tagged(tags))
  # First 30 tags end "O B I": pop I, I, B, then O (index 27) -> cut = 27 + 1.
  assert [len(p.words) for p in pieces] == [28, 5]
  assert [p.word_start for p in pieces] == [0, 28]
  assert pieces[1].tags == ("B", "I", "I", "O", "O")
  assert pieces[1].guid == "s1.28"


def test_split_without_any_o_cuts_one_word():
  pieces = features.split_long_sentence(_tagged(["I"] * 31 + ["O"]))
  # Tags 0-29 are all I: cut after 1 word; again for words 1-30; 30 remain.
  assert [len(p.words) for p in pieces] == [1, 1, 30]


def test_split_keeps_short_sentence_and_rejoins():
  short = _tagged(["O"] * 30)
  assert features.split_long_sentence(short) == [short]
  long = _tagged(["O"] * 65)
  pieces = features.split_long_sentence(long)
  assert [len(p.words) for p in pieces] == [30, 30, 5]
  predicted = {p.guid: tuple("B" if i == 0 else "O"
                             for i in range(len(p.words))) for p in pieces}
  merged = features.merge_piece_predictions([long], pieces, predicted)
  expected = ["O"] * 65
  expected[0] = expected[30] = expected[60] = "B"
  assert merged == {"s1": tuple(expected)}


def test_split_unlabelled_every_30_words():
  ex = TaggedExample("s", tuple("w" for _ in range(61)), None, 3)
  assert [len(p.words) for p in features.split_long_sentence(ex)] == [30, 30, 1]


def test_featurize_tagged_first_subtoken_carries_tag():
  ex = TaggedExample("s", ("aspirin", "induced", "asthma", "."),
                     ("B-Chemical", "O", "O", "O"), 0)
  tag_ids = {"O": 0, "B-Chemical": 1, "I-Chemical": 2}
  (f,) = features.featurize_tagged([ex], FakeTokenizer(), 128, tag_ids)
  assert f.input_word_ids == (CLS, 1, 2, 3, 4, 5, SEP)
  assert f.label == (IGN, 1, 0, IGN, 0, 0, IGN)
  assert f.word_positions == (1, 2, 4, 5)
  assert f.input_type_ids == (0,) * 7


def test_featurize_tagged_cut_and_empty_words_get_no_position():
  ex = TaggedExample("s", ("x", "", "y", "x"), ("O", "O", "B-Chemical", "O"), 0)
  # max 6 -> 4 sub-tokens fit: x(6), y(7,8,9) ; the last x is cut.
  (f,) = features.featurize_tagged([ex], FakeTokenizer(), 6,
                                   {"O": 0, "B-Chemical": 1})
  assert f.input_word_ids == (CLS, 6, 7, 8, 9, SEP)
  assert f.word_positions == (1, -1, 2, -1)
  assert f.label == (IGN, 0, 1, IGN, IGN, IGN)


def test_featurize_sentences_pairs_and_order():
  exs = [Example("a", "aspirin induced", "asthma", "yes"),
         Example("b", "x", None, "no")]
  enc = {"yes": 1, "no": 0}.__getitem__
  f = features.featurize_sentences(exs, FakeTokenizer(), 16, enc)
  assert f[0].input_word_ids == (CLS, 1, 2, 3, SEP, 4, SEP)
  assert f[0].input_type_ids == (0, 0, 0, 0, 0, 1, 1)
  assert f[0].label == 1
  assert f[1].input_word_ids == (CLS, 6, SEP) and f[1].label == 0
  swapped = features.featurize_sentences(exs[:1], FakeTokenizer(), 16, enc,
                                         second_text_first=True)
  assert swapped[0].input_word_ids == (CLS, 4, SEP, 1, 2, 3, SEP)


def test_merge_detects_missing_words():
  ex = _tagged(["O"] * 3)
  with pytest.raises(ValueError, match="tags for"):
    features.merge_piece_predictions([ex], [ex], {"s1": ("O",)})
