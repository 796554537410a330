"""Tests of the in-graph tokenizer: hand-written cases, then parity with the
pure-Python reference (tests/reference_tokenizer.py) on every code point, on
random mixtures of awkward characters and on every text of the real BLUE data.
"""

import glob
import os
import random
import re
import unicodedata

import pytest

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)
import tensorflow as tf

import reference_tokenizer
from bluebert_mtl import tokenization
from bluebert_mtl.errors import DataError

UNCASED_VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]",
    "hello", "world", ",", "!", ".", "@", "$", "gene", "chemical", "binds",
    "un", "##aff", "##able",
    "5", "µ", "##m", "3", "##×", "##4", "cm", "##²", "½", "wait", "…",
    "10", "##⁻", "##³", "straße", "ﬁ", "##brin", "i", "οδος", "σ", "e",
    "中", "a", "##a", "##µ",
]
CASED_VOCAB = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]",
    "Héllo", "W", "##Ö", "##RLD", "@", "$", "GENE", "5", "µ", "##M",
    "ΟΔΟΣ", "中", "a", "b", "##b",
]

# Python 3.11's unicodedata is Unicode 14.0; TensorFlow's ICU, which
# `tf.strings.lower` uses, is Unicode 13.0 and has no lower-case mapping for
# the capitals Unicode 14 added: U+2C2F GLAGOLITIC CAPITAL LETTER CAUDATE CHRIVI,
# U+A7C0, U+A7D0, U+A7D6, U+A7D8 (Latin), and the Vithkuqi capitals
# U+10570-U+10595, of which U+1057B, U+1058B and U+10593 are unassigned.
UNICODE_14_CAPITALS = (
    {0x2C2F, 0xA7C0, 0xA7D0, 0xA7D6, 0xA7D8} |
    set(range(0x10570, 0x10596)) - {0x1057B, 0x1058B, 0x10593})

# Characters that the normalisation treats in every way it can: accents and
# lone combining marks, compatibility characters NFKC would rewrite, Greek
# sigma in final and non-final position with case-ignorable neighbours,
# characters whose NFD is punctuation (U+1FEF, U+0387, U+037E), titlecase
# digraphs, spaces, controls, format characters, CJK.
AWKWARD_ALPHABET = (
    list("AaΣσςΑωΩ'.:-·‘’ \t\nEé") +
    ["\u0301", "\u0345", "\u0313", "\u00ad", "\u200b", "\u0130", "ß", "ẞ",
     "ﬁ", "µ", "½", "²", "…", "\u2028", "\u2029", "\xa0", "\u3000", "中",
     "\uf900", "\x00", "\ufffd", "\u1fef", "\u0387", "\u037e", "Ǆ", "ǅ",
     "\u1f88", "\U0001d165", "\U0001d16d", "\U000e0001", "\ue000"])

# Pieces of valid and invalid UTF-8: stray continuation bytes, truncated and
# overlong sequences, an encoded surrogate, a code point above U+10FFFF.
BYTE_PIECES = [b"a", b" ", b"\x80", b"\xbf", b"\xc0\xaf", b"\xc2", b"\xe0",
               b"\xe2\x82", b"\xed\xa0\x80", b"\xf0", b"\xf4\x90\x80\x80",
               b"\xff", b"\xe2\x82\xac", b"\xc3\xa9", b"\xf0\x9f\x98\x80"]


def _write_vocab(directory, tokens, name="vocab.txt"):
  path = os.path.join(str(directory), name)
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(tokens) + "\n")
  return path


@pytest.fixture(scope="module")
def uncased(tmp_path_factory):
  directory = tmp_path_factory.mktemp("uncased")
  return tokenization.FullTokenizer(_write_vocab(directory, UNCASED_VOCAB))


@pytest.fixture(scope="module")
def cased(tmp_path_factory):
  directory = tmp_path_factory.mktemp("cased")
  return tokenization.FullTokenizer(_write_vocab(directory, CASED_VOCAB),
                                    do_lower_case=False)


@pytest.fixture(scope="module")
def bert_vocab_file(minilm_dir):
  return os.path.join(minilm_dir, "vocab.txt")


@pytest.fixture(scope="module")
def bert_uncased(bert_vocab_file):
  return tokenization.FullTokenizer(bert_vocab_file, do_lower_case=True)


@pytest.fixture(scope="module")
def bert_cased(bert_vocab_file):
  return tokenization.FullTokenizer(bert_vocab_file, do_lower_case=False)


def _words(tokenizer, texts):
  """basic_tokenize of `texts` (str or bytes) as lists of str."""
  words = tokenizer.basic_tokenize(tf.constant(texts, tf.string)).to_list()
  return [[w.decode("utf-8") for w in row] for row in words]


def _first_difference(texts, expected, actual):
  """Message naming the first text where `expected` and `actual` differ."""
  for text, want, got in zip(texts, expected, actual):
    if want != got:
      return f"first differing text {text!r}: reference {want}, in-graph {got}"
  return None


class TestHandWrittenUncased:

  @pytest.mark.parametrize("text, expected", [
      ("Héllo, WÖRLD!", ["hello", ",", "world", "!"]),
      ("@GENE$ binds @CHEMICAL$.",
       ["@", "gene", "$", "binds", "@", "chemical", "$", "."]),
      ("unaffable", ["un", "##aff", "##able"]),
      ("unaffxble", ["[UNK]"]),
      ("hello unaffxble world", ["hello", "[UNK]", "world"]),
      # MICRO SIGN U+00B5 stays itself (NFKC would make it U+03BC).
      ("5 µM", ["5", "µ", "##m"]),
      ("3×4", ["3", "##×", "##4"]),
      ("cm²", ["cm", "##²"]),
      ("½", ["½"]),
      ("wait…", ["wait", "…"]),
      ("10⁻³", ["10", "##⁻", "##³"]),
      ("Straße", ["straße"]),
      ("ﬁbrin", ["ﬁ", "##brin"]),
      ("\u0130", ["i"]),
      ("ΟΔΟΣ Σ", ["οδος", "σ"]),
      ("e\u0301 \u0301", ["e"]),
      ("hello\u00a0world\u2002hello\u3000world",
       ["hello", "world", "hello", "world"]),
      ("hello\u2028world\u2029hello\tworld\r\n",
       ["hello", "world", "hello", "world"]),
      ("hel\x00lo wor\u200bld he\ufffdllo wo\x07rld\x7f",
       ["hello", "world", "hello", "world"]),
      ("hello中world", ["hello", "中", "world"]),
      ("", []),
      (" \t\n ", []),
  ])
  def test_tokens(self, uncased, text, expected):
    assert uncased.tokenize_to_strings([text]) == [expected]

  def test_word_limit_is_200_characters_not_bytes(self, uncased):
    # 150 two-byte characters: 300 bytes, still one word of pieces.
    texts = ["a" * 200, "a" * 201, "µ" * 150, "é" * 201]
    assert uncased.tokenize_to_strings(texts) == [
        ["a"] + ["##a"] * 199, ["[UNK]"], ["µ"] + ["##µ"] * 149, ["[UNK]"]]

  def test_ids_and_special_tokens(self, uncased):
    ids = uncased.tokenize(tf.constant(["Hello, world!", "", "unaffable"]))
    assert isinstance(ids, tf.RaggedTensor)
    assert ids.dtype == tf.int32
    assert ids.to_list() == [[4, 6, 5, 7], [], [14, 15, 16]]
    assert (uncased.pad_id, uncased.unk_id, uncased.cls_id,
            uncased.sep_id) == (0, 1, 2, 3)
    assert uncased.vocab == UNCASED_VOCAB
    assert uncased.vocab_size == len(UNCASED_VOCAB)
    assert uncased.convert_ids_to_tokens([2, 14, 15, 16, 3]) == [
        "[CLS]", "un", "##aff", "##able", "[SEP]"]
    assert uncased.convert_ids_to_tokens(tf.constant([4, 5])) == [
        "hello", "world"]

  def test_empty_batch(self, uncased):
    assert uncased.tokenize([]).to_list() == []

  def test_invalid_utf8_bytes_are_dropped(self, uncased):
    texts = [b"hel\xfflo", b"wor\xc0\xafld", b"\xe2\x82hello"]
    assert uncased.tokenize(tf.constant(texts)).to_list() == [[4], [5], [4]]


class TestHandWrittenCased:

  @pytest.mark.parametrize("text, expected", [
      ("Héllo WÖRLD", ["Héllo", "W", "##Ö", "##RLD"]),
      ("héllo", ["[UNK]"]),
      ("@GENE$", ["@", "GENE", "$"]),
      ("5 µM", ["5", "µ", "##M"]),
      ("ΟΔΟΣ", ["ΟΔΟΣ"]),
      ("a\u00a0b\u2028a\x00b", ["a", "b", "a", "##b"]),
      ("a中b", ["a", "中", "b"]),
  ])
  def test_tokens(self, cased, text, expected):
    assert cased.tokenize_to_strings([text]) == [expected]


class TestLoadVocab:

  def test_reads_tokens_in_order_stripped(self, tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[PAD]\r\n[UNK]\n [CLS] \n[SEP]\nhello\n", encoding="utf-8")
    assert tokenization.load_vocab(str(path)) == [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"]

  @pytest.mark.parametrize("content, line, words", [
      (b"", None, "empty"),
      (b"[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nhello\n", 6, "duplicate"),
      (b"[PAD]\n[UNK]\n\n[CLS]\n[SEP]\n", 3, "blank"),
      (b"[PAD]\n[UNK]\n[CLS]\n[SEP]\nh\xe9llo\n", 5, "not UTF-8"),
      (b"[PAD]\n[UNK]\nhello\n", None, "[CLS] [SEP]"),
  ])
  def test_bad_files(self, tmp_path, content, line, words):
    path = tmp_path / "vocab.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=re.escape(words)) as info:
      tokenization.load_vocab(str(path))
    assert info.value.path == str(path)
    assert info.value.line == line

  def test_missing_file(self, tmp_path):
    path = str(tmp_path / "absent.txt")
    with pytest.raises(DataError, match="cannot read") as info:
      tokenization.FullTokenizer(path)
    assert info.value.path == path


class TestGraph:

  def test_inside_tf_function(self, uncased):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def pad_ids(texts):
      return uncased.tokenize(texts).to_tensor(uncased.pad_id)

    ids = pad_ids(tf.constant(["unaffable @GENE$", "Hello"]))
    assert ids.numpy().tolist() == [[14, 15, 16, 9, 11, 10], [4, 0, 0, 0, 0, 0]]

  def test_saved_model_round_trip(self, uncased, tmp_path):
    tf.saved_model.save(uncased, str(tmp_path / "tokenizer"))
    loaded = tf.saved_model.load(str(tmp_path / "tokenizer"))
    ids = loaded.tokenize(tf.constant(["Héllo, 5 µM…", "unaffable"]))
    assert ids.to_list() == [[4, 6, 17, 18, 19, 27], [14, 15, 16]]


class TestParityWithReference:
  """The in-graph tokenizer against tests/reference_tokenizer.py."""

  def test_every_code_point_uncased(self, bert_uncased):
    code_points = [cp for cp in range(0x110000)
                   if not 0xD800 <= cp <= 0xDFFF]
    texts = [f"A{chr(cp)}a" for cp in code_points]
    got = _words(bert_uncased, texts)
    differing = set()
    for cp, text, words in zip(code_points, texts, got):
      if words != reference_tokenizer.basic_tokenize(text, True):
        differing.add(cp)
        # The known difference: the capital is kept, the rest is equal.
        assert words == [f"a{chr(cp)}a"], hex(cp)
    if unicodedata.unidata_version == "14.0.0":
      assert differing == UNICODE_14_CAPITALS
    else:
      assert all(chr(cp).lower() != chr(cp) for cp in differing)

  def test_every_assigned_code_point_cased(self, bert_cased):
    # Unassigned and private-use characters are dropped by the same class in
    # both modes; the uncased test above covers them.
    code_points = [cp for cp in range(0x110000)
                   if unicodedata.category(chr(cp)) not in ("Cn", "Co", "Cs")]
    texts = [f"A{chr(cp)}a" for cp in code_points]
    expected = [reference_tokenizer.basic_tokenize(t, False) for t in texts]
    got = _words(bert_cased, texts)
    assert expected == got, _first_difference(texts, expected, got)

  @pytest.mark.parametrize("do_lower_case", [True, False])
  def test_random_awkward_texts(self, bert_vocab_file, do_lower_case):
    tokenizer = tokenization.FullTokenizer(bert_vocab_file, do_lower_case)
    rng = random.Random(20190605)
    texts = ["".join(rng.choice(AWKWARD_ALPHABET)
                     for _ in range(rng.randint(1, 10)))
             for _ in range(50000)]
    expected = [reference_tokenizer.basic_tokenize(t, do_lower_case)
                for t in texts]
    got = _words(tokenizer, texts)
    assert expected == got, _first_difference(texts, expected, got)

  def test_random_invalid_utf8(self, bert_uncased):
    rng = random.Random(7)
    texts = [b"".join(rng.choice(BYTE_PIECES)
                      for _ in range(rng.randint(1, 8)))
             for _ in range(10000)]
    expected = [reference_tokenizer.basic_tokenize(t, True) for t in texts]
    got = _words(bert_uncased, texts)
    assert expected == got, _first_difference(texts, expected, got)

  def test_every_blue_text(self, bert_uncased, blue_public_dir):
    texts = sorted(_blue_texts(blue_public_dir))
    assert len(texts) > 50000
    reference = reference_tokenizer.ReferenceTokenizer(bert_uncased.vocab)
    expected = [reference.tokenize_to_ids(text) for text in texts]
    got = []
    for start in range(0, len(texts), 4096):
      got.extend(bert_uncased.tokenize(texts[start:start + 4096]).to_list())
    assert expected == got, _first_difference(texts, expected, got)


# Text columns of the sentence tasks, by header name.
TEXT_COLUMNS = {"chemprot": ["sentence"], "ddi2013-type": ["sentence"],
                "hoc": ["sentence"], "biosses": ["sent1", "sent2"]}
NER_TASKS = ("bc5cdr-chemical", "bc5cdr-disease")


def _blue_texts(blue_public_dir):
  """Every distinct text of the BLUE files: sentences, and NER words."""
  texts = set()
  for task, columns in TEXT_COLUMNS.items():
    for path in sorted(glob.glob(os.path.join(blue_public_dir, task, "*.tsv"))):
      with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        indexes = [header.index(column) for column in columns]
        for line in f:
          fields = line.rstrip("\n").split("\t")
          texts.update(fields[i] for i in indexes)
  for task in NER_TASKS:
    for path in sorted(glob.glob(os.path.join(blue_public_dir, task, "*.tsv"))):
      with open(path, encoding="utf-8") as f:
        texts.update(line.split("\t")[0] for line in f if line.strip())
  return texts
