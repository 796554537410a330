"""serve/spans.py: words with offsets as BERT splits them, BLUE's entity
masks, NER mentions from tags."""

import pytest

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)

from bluebert_mtl.serve import spans
import reference_tokenizer

# Texts that exercise every rule of the original BasicTokenizer: punctuation
# (ASCII, Unicode P*, BERT's ASCII symbols such as "$" and "`"), spaces (tab,
# newline, NBSP, U+2028, U+3000), dropped characters (U+200B, NUL, U+FFFD,
# control), accents (precomposed and combining, on their own too), CJK,
# case mappings that change length, emoji (a word character), and U+1FEF,
# whose NFD is the ASCII punctuation "`".
TEXTS = [
    "Aspirin-induced asthma.",
    "  Naloxone\treverses\u00a0the \n clonidine \u200b effect ",
    "IL-2/IL-15 (p < 0.05), 5'-UTR; t\u00e9st \u00bfqu\u00e9? \u2014 \u201cdone\u201d",
    "caf\u00e9 cafe\u0301s \u0301 x\u0301 a\u200bb c\x00d e\ufffdf g\x07h",
    "\u4e2d\u6587abc \u6587, \u3000 \u2028next\u2029line",
    "\u0130stanbul \u00d6Z \u03a3\u039f\u03a3 stra\u00dfe \ufb01ne",
    "\U0001f600ok @CHEMICAL$ x\u1fefy",
    "",
    "   ",
]


def _words(text, spans_, lower):
  """The reference tokenizer's words of each span's slice."""
  return [reference_tokenizer.basic_tokenize(text[s:e], lower)
          for s, e in spans_]


@pytest.mark.parametrize("lower", [True, False])
@pytest.mark.parametrize("text", TEXTS)
def test_words_are_the_reference_tokenizers(text, lower):
  found = spans.word_spans(text, lower)
  per_span = _words(text, found, lower)
  # Each span is one word of the original tokenizer, and together they are
  # its words of the whole text, in order.
  assert all(len(words) == 1 for words in per_span), per_span
  assert [w for words in per_span for w in words] == (
      reference_tokenizer.basic_tokenize(text, lower))
  assert all(0 <= s < e <= len(text) for s, e in found)
  assert all(a[1] <= b[0] for a, b in zip(found, found[1:]))
  assert not any(text[s].isspace() or text[e - 1].isspace() for s, e in found)


def test_words_of_a_sentence_by_hand():
  text = "Aspirin-induced asthma."
  assert spans.word_spans(text) == [(0, 7), (7, 8), (8, 15), (16, 22),
                                    (22, 23)]
  # A dropped or stripped character joins the word it stands in.
  assert spans.word_spans("as\u200bpirin cafe\u0301 \u0301x") == [
      (0, 8), (9, 14), (16, 17)]
  # U+1FEF is a symbol, but its NFD is "`", punctuation to BERT: uncased
  # only it splits.
  assert spans.word_spans("x\u1fefy", True) == [(0, 1), (1, 2), (2, 3)]
  assert spans.word_spans("x\u1fefy", False) == [(0, 3)]


def _e(start, end, kind):
  return spans.Entity(start, end, kind)


def test_masks_as_blue():
  text = "Aspirin reduced COX-2 expression in rats."
  aspirin, cox2 = _e(0, 7, "chemical"), _e(16, 21, "Gene")
  want = "@CHEMICAL$ reduced @GENE$ expression in rats."
  assert spans.mask_entities(text, [aspirin, cox2]) == want
  assert spans.mask_entities(text, [cox2, aspirin]) == want  # by position


def test_overlapping_or_touching_entities_become_one_mask():
  text = "the 5-HT receptor"
  # "5-HT receptor" (4, 17) holds "5-HT" (4, 8): the union, types in order.
  assert spans.mask_entities(text, [_e(4, 8, "chemical"), _e(4, 17, "gene")]
                             ) == "the @CHEMICAL-GENE$"
  # Touching spans (8 == 8) overlap for BLUE's `<=` test.
  assert spans.mask_entities("Aspirin-induced", [_e(0, 7, "drug"),
                                                 _e(7, 15, "group")]
                             ) == "@DRUG-GROUP$"
  assert spans.mask_entities("ab cd", [_e(0, 2, "a"), _e(3, 5, "b")]
                             ) == "@A$ @B$"


def test_mentions_follow_conlleval():
  text = "Low dose lithium carbonate and naloxone , aspirin ."
  found = spans.word_spans(text)
  tags = ["O", "O", "B-Chemical", "I-Chemical", "O", "I-Chemical", "O",
          "B-Chemical", "O"]
  assert spans.mentions(text, found, tags) == [
      {"text": "lithium carbonate", "type": "Chemical", "start": 9,
       "end": 26},
      # I after O starts a mention, as conlleval reads it.
      {"text": "naloxone", "type": "Chemical", "start": 31, "end": 39},
      {"text": "aspirin", "type": "Chemical", "start": 42, "end": 49}]
  # A type change ends a mention; untyped tags have type "".
  assert [m["type"] for m in spans.mentions(
      "a b c", [(0, 1), (2, 3), (4, 5)], ["B-X", "I-Y", "B"])] == ["X", "Y",
                                                                   ""]


def test_joined_words():
  assert spans.joined_words(("Amiodarone", "-", "induced")) == (
      "Amiodarone - induced", [(0, 10), (11, 12), (13, 20)])
