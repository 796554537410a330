"""Tests of the BLUE file readers and prediction writers (readers.py).

On the self-written samples (data/sample), on the real public files
(BLUE_PUBLIC_DIR, skipped where absent; counts checked against the files
themselves) and on tiny bad files written to tmp_path.
"""

import csv
import filecmp
import functools
import logging
import os
import re

import pytest

from bluebert_mtl.data import readers
from bluebert_mtl.errors import DataError
from bluebert_mtl.data.examples import Example, TaggedExample

from conftest import SAMPLE_DIR

SPLITS = ("train", "dev", "test")
CHEMICAL_TAGS = ("O", "B-Chemical", "I-Chemical")
DISEASE_TAGS = ("O", "B-Disease", "I-Disease")
ASPECTS = tuple(str(i) for i in range(10))
CHEMPROT_LABELS = ("CPR:3", "CPR:4", "CPR:5", "CPR:6", "CPR:9", "false")
RELATION_LABELS = ("a", "b")  # of the tiny files below
# task key -> (format, label list), as a task registry gives them.
TASKS = {
    "clinicalsts": ("sts", ()),
    "biosses": ("sts", ()),
    "mednli": ("mednli", ("contradiction", "entailment", "neutral")),
    "chemprot": ("relation", CHEMPROT_LABELS),
    "ddi2013-type": ("relation", ("DDI-advise", "DDI-effect", "DDI-int",
                                  "DDI-mechanism", "DDI-false")),
    "i2b2-2010-re": ("relation", ("PIP", "TeCP", "TeRP", "TrAP", "TrCP",
                                  "TrIP", "TrNAP", "TrWP", "false")),
    "hoc": ("hoc", ASPECTS),
    "bc5cdr-chemical": ("ner", CHEMICAL_TAGS),
    "bc5cdr-disease": ("ner", DISEASE_TAGS),
    "shareclefe": ("ner", DISEASE_TAGS),
}
REAL_TASKS = ("chemprot", "ddi2013-type", "hoc", "biosses", "bc5cdr-chemical",
              "bc5cdr-disease")
# Rows (sentences for NER and HoC) per split of the real files.
REAL_COUNTS = {
    "chemprot": (8014, 1452, 2354),
    "ddi2013-type": (4311, 2933, 5761),
    "hoc": (10527, 1496, 2896),
    "biosses": (64, 16, 20),
    "bc5cdr-chemical": (4560, 4581, 4797),
    "bc5cdr-disease": (4560, 4581, 4797),
}
HOC_ABSTRACTS = (1108, 157, 315)
REAL_MENTIONS = {  # B- tags per split
    "bc5cdr-chemical": (5203, 5347, 5385),
    "bc5cdr-disease": (4182, 4246, 4424),
}


def _read(directory: str, task: str, split: str):
  file_format, labels = TASKS[task]
  path = readers.find_split_file(os.path.join(directory, task), split)
  return readers.FORMATS[file_format].read(path, labels)


@functools.lru_cache(maxsize=None)
def _real(directory: str, task: str, split: str):
  """A real file's examples, read once for all the tests."""
  return tuple(_read(directory, task, split))


@pytest.fixture(name="real")
def fixture_real(blue_public_dir):
  """(task, split) -> the examples of that real file."""
  return functools.partial(_real, blue_public_dir)


def _sample(task: str, split: str):
  return _read(SAMPLE_DIR, task, split)


def _gold(example):
  return example.tags if isinstance(example, TaggedExample) else example.label


def _write(tmp_path, name: str, text: str) -> str:
  path = tmp_path / name
  path.write_bytes(text.encode("utf-8"))
  return str(path)


def _tsv(*rows) -> str:
  return "".join("\t".join(row) + "\n" for row in rows)


# ------------------------------------------------------------------ samples


def _label_names(examples):
  """The label names the examples use (tags and HoC aspects one by one)."""
  names = set()
  for example in examples:
    gold = _gold(example)
    names.update(gold if isinstance(gold, tuple) else (gold,))
  return names


@pytest.mark.parametrize("task", sorted(TASKS))
def test_sample_sizes(task):
  train, dev, test = (len(_sample(task, split)) for split in SPLITS)
  assert 24 <= train <= 40 and 8 <= dev <= 16 and 8 <= test <= 16


@pytest.mark.parametrize(
    "task", sorted(t for t, (f, _) in TASKS.items() if f != "sts"))
def test_sample_train_has_every_label(task):
  assert _label_names(_sample(task, "train")) == set(TASKS[task][1])


@pytest.mark.parametrize("task,top", [("clinicalsts", 5), ("biosses", 4)])
def test_sample_scores_span_their_scale(task, top):
  scores = {e.label for split in SPLITS for e in _sample(task, split)}
  assert min(scores) == 0 and max(scores) <= top and len(scores) > 5


@pytest.mark.parametrize("task", ["bc5cdr-chemical", "bc5cdr-disease",
                                  "shareclefe"])
def test_sample_ner_has_a_long_sentence_and_blue_guids(task):
  train = _sample(task, "train")
  assert max(len(e.words) for e in train) > 30
  assert all(re.fullmatch(r"[\w-]+\.\d+", e.guid) for e in train)
  assert [e.sentence_index for e in train] == list(range(len(train)))


def test_sample_clefe_has_a_discontiguous_mention():
  tags = [e.tags for e in _sample("shareclefe", "train")]
  assert any(a == "O" and b == "I-Disease"
             for t in tags for a, b in zip(t, t[1:]))


def test_samples_have_quotes_in_text():
  texts = [e.text_a for task in ("clinicalsts", "chemprot", "hoc")
           for e in _sample(task, "train")]
  assert 'Patient states her "headache is much better" today .' in texts
  words = [w for e in _sample("bc5cdr-chemical", "train") for w in e.words]
  assert words.count('"') == 2


def test_sample_guids():
  assert _sample("bc5cdr-chemical", "train")[1].guid == "99100001.83"
  assert _sample("hoc", "dev")[0].guid == "99300009_s0"
  mednli = _sample("mednli", "train")[0]
  assert (mednli.guid, mednli.label) == ("sample-0001", "entailment")
  assert mednli.text_b == "The patient was hypotensive ."


# ------------------------------------------------------------------ real files


@pytest.mark.parametrize("task", REAL_TASKS)
def test_real_counts(real, task):
  assert tuple(len(real(task, s)) for s in SPLITS) == REAL_COUNTS[task]


def test_real_hoc_abstracts(real):
  abstracts = tuple(len({e.guid.split("_")[0] for e in real("hoc", s)})
                    for s in SPLITS)
  assert abstracts == HOC_ABSTRACTS
  assert all(isinstance(e.label, tuple) for e in real("hoc", "dev"))


@pytest.mark.parametrize("task", sorted(REAL_MENTIONS))
def test_real_bc5cdr_mentions(real, task):
  begin = next(tag for tag in TASKS[task][1] if tag.startswith("B-"))
  mentions = tuple(sum(e.tags.count(begin) for e in real(task, s))
                   for s in SPLITS)
  assert mentions == REAL_MENTIONS[task]


def test_real_quoting(real):
  chemprot = [e.text_a for e in real("chemprot", "train")]
  assert any(t.startswith('To probe into the "logic" of') for t in chemprot)
  ddi = [e.text_a for e in real("ddi2013-type", "train")]
  assert any(t.endswith('are "insulin sensitizers"') for t in ddi)
  hoc = [e.text_a for e in real("hoc", "train")]
  assert ('" Reactive " or activated stroma characterizes many malignancies '
          'including breast cancers .') in hoc
  words = [w for e in real("bc5cdr-chemical", "train") for w in e.words]
  assert '"' in words


def _to_blue_ner(examples, path):
  """A CoNLL NER file written again in BLUE's untyped 4-column form."""
  with open(path, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f, delimiter="\t", lineterminator="\n")
    offset = 0
    for i, e in enumerate(examples):
      for j, (word, tag) in enumerate(zip(e.words, e.tags)):
        writer.writerow([word, f"doc{i}" if j == 0 else "-", offset, tag[0]])
        offset += len(word) + 1
      f.write("\n")


def test_typed_and_untyped_ner_read_the_same(real, tmp_path):
  task = "bc5cdr-chemical"
  typed = real(task, "dev")
  path = str(tmp_path / "dev.tsv")
  _to_blue_ner(typed, path)
  untyped = readers.read_ner(path, TASKS[task][1])
  assert [(e.words, e.tags) for e in untyped] == [
      (e.words, e.tags) for e in typed]
  assert untyped[1].guid == f"doc1.{len(' '.join(typed[0].words)) + 1}"


# ------------------------------------------------------------------ writers


def _round_trip(gold_path, file_format, labels, out_path):
  examples = readers.FORMATS[file_format].read(gold_path, labels)
  predictions = {e.guid: _gold(e) for e in examples}
  readers.write_predictions(file_format, gold_path, predictions, out_path,
                            labels)
  again = readers.FORMATS[file_format].read(out_path, labels,
                                       readers.split_of(gold_path))
  return examples, predictions, again


@pytest.mark.parametrize("task", sorted(TASKS))
@pytest.mark.parametrize("split", SPLITS)
def test_sample_round_trip_is_byte_identical(tmp_path, task, split):
  file_format, labels = TASKS[task]
  gold = readers.find_split_file(os.path.join(SAMPLE_DIR, task), split)
  examples, _, again = _round_trip(gold, file_format, labels,
                                   str(tmp_path / f"{split}.tsv"))
  assert again == examples
  assert filecmp.cmp(gold, str(tmp_path / f"{split}.tsv"), shallow=False)


@pytest.mark.parametrize("task,split", [
    ("chemprot", "dev"), ("ddi2013-type", "dev"), ("hoc", "test"),
    ("biosses", "train"), ("bc5cdr-chemical", "dev")])
def test_real_round_trip(blue_public_dir, tmp_path, task, split):
  file_format, labels = TASKS[task]
  gold = os.path.join(blue_public_dir, task, f"{split}.tsv")
  out = str(tmp_path / f"{split}.tsv")
  examples, predictions, again = _round_trip(gold, file_format, labels, out)
  assert [_gold(e) for e in again] == [predictions[e.guid] for e in examples]
  repeated = len(examples) - len({e.guid for e in examples})
  # A pair with two gold labels repeats its guid and gets one prediction.
  assert filecmp.cmp(gold, out, shallow=False) == (not repeated)


def test_predictions_replace_the_label(tmp_path):
  gold = _write(tmp_path, "dev.tsv", _tsv(("index", "sentence", "label"),
                                          ("p1", 'say "hi"', "a"),
                                          ("p2", "two", "a")))
  out = str(tmp_path / "out" / "pred.tsv")
  readers.write_predictions("relation", gold, {"p1": "b", "p2": "a"}, out,
                            RELATION_LABELS)
  with open(out, encoding="utf-8") as f:
    assert f.read() == _tsv(("index", "sentence", "label"),
                            ("p1", 'say "hi"', "b"), ("p2", "two", "a"))


def test_sts_and_hoc_predictions_in_gold_encoding(tmp_path):
  sts = _write(tmp_path, "test.tsv", _tsv(("pair_id", "sent1", "sent2",
                                           "score"), ("7", "x", "y", "4")))
  readers.write_predictions("sts", sts, {"7": 2.25}, str(tmp_path / "s.tsv"),
                            ())
  assert (tmp_path / "s.tsv").read_text().splitlines()[1] == "7\tx\ty\t2.25"
  hoc = _write(tmp_path, "dev.tsv", _tsv(("labels", "sentence", "index"),
                                         ("0_1,1_0,2_0", "s", "9_s0")))
  readers.write_predictions("hoc", hoc, {"9_s0": ("c",)},
                            str(tmp_path / "h.tsv"), ("a", "b", "c"))
  written = (tmp_path / "h.tsv").read_text().splitlines()
  assert written[1] == "0_0,1_0,2_1\ts\t9_s0"


def test_ner_predictions_keep_the_gold_encoding(tmp_path):
  gold = _write(tmp_path, "test.tsv", "Aspirin\t9\t0\tB\nhelps\t-\t8\tO\n\n")
  out = str(tmp_path / "pred.tsv")
  readers.write_predictions("ner", gold, {"9.0": ("O", "B-Chemical")}, out,
                            CHEMICAL_TAGS)
  assert (tmp_path / "pred.tsv").read_text() == (
      "Aspirin\t9\t0\tO\nhelps\t-\t8\tB\n\n")
  assert readers.read_ner(out, CHEMICAL_TAGS)[0].tags == ("O", "B-Chemical")


# (format, labels, file name, unlabelled gold, prediction, labelled line)
UNLABELLED_CASES = [
    ("relation", RELATION_LABELS, "test.tsv",
     _tsv(("index", "sentence"), ("p1", "x")), {"p1": "b"}, "p1\tx\tb"),
    ("mednli", ("entailment",), "test.tsv",
     _tsv(("pairID", "sentence1", "sentence2"), ("m1", "x", "y")),
     {"m1": "entailment"}, "entailment\tm1\tx\ty"),
    ("hoc", ("a", "b"), "Test.tsv", _tsv(("sentence", "index"), ("x", "1_s0")),
     {"1_s0": ("b",)}, "0_0,1_1\tx\t1_s0"),
    ("sts", (), "test.tsv", _tsv(("index", "sentence1", "sentence2"),
                                 ("0", "x", "y")), {"0": 1.5}, "0\tx\ty\t1.5"),
    ("ner", CHEMICAL_TAGS, "test.tsv", "Aspirin\t9\t0\n\n",
     {"9.0": ("B-Chemical",)}, "Aspirin\t9\t0\tB"),
    ("ner", CHEMICAL_TAGS, "test.tsv", "Aspirin\n\n",
     {"test-0": ("B-Chemical",)}, "Aspirin\tB-Chemical"),
]


@pytest.mark.parametrize(
    "file_format,labels,name,text,predictions,line", UNLABELLED_CASES)
def test_unlabelled_test_file(tmp_path, file_format, labels, name, text,
                              predictions, line):
  gold = _write(tmp_path, name, text)
  examples = readers.FORMATS[file_format].read(gold, labels)
  assert [_gold(e) for e in examples] == [None]
  out = str(tmp_path / "pred" / name)
  readers.write_predictions(file_format, gold, predictions, out, labels)
  with open(out, encoding="utf-8") as f:
    assert line in f.read().splitlines()
  again = readers.FORMATS[file_format].read(out, labels)
  assert [_gold(e) for e in again] == list(predictions.values())


# ------------------------------------------------------------------ formats


def test_mednli_layouts_by_header(tmp_path):
  label_first = _write(tmp_path, "a.tsv", _tsv(
      ("label", "pairID", "sentence1", "sentence2"),
      ("neutral", "m", "p", "h")))
  label_last = _write(tmp_path, "b.tsv", _tsv(
      ("index", "sentence1", "sentence2", "label"), ("m", "p", "h", "neutral")))
  expected = [Example("m", "p", "h", "neutral", 2)]
  assert readers.read_mednli(label_first, ("neutral",)) == expected
  assert readers.read_mednli(label_last, ("neutral",)) == expected


def test_hoc_labels_are_names_in_label_list_order():
  hallmarks = tuple(f"hallmark {i}" for i in range(10))
  path = os.path.join(SAMPLE_DIR, "hoc", "train.tsv")
  by_name = readers.read_hoc(path, hallmarks)
  by_number = readers.read_hoc(path, ASPECTS)
  assert by_number[5].label == ("4", "5", "7")
  assert by_name[5].label == ("hallmark 4", "hallmark 5", "hallmark 7")
  assert by_name[3].label == ()


def test_sts_takes_the_last_three_columns(tmp_path):
  path = _write(tmp_path, "train.tsv", _tsv(
      ("index", "genre", "sentence1", "sentence2", "score"),
      ("g1", "x", "a", "b", "3.5")))
  assert readers.read_sts(path) == [Example("g1", "a", "b", 3.5, 2)]


def test_quoted_fields(tmp_path):
  text = ('index\tsentence\tlabel\n'
          'q1\t"a ""quoted"" word"\ta\n'
          'q2\t"tab\tinside"\ta\n'
          'q3\t" spaced " quote, as TF1 reads it\ta\n'
          'q4\tmid "quote\ta\n'
          '"q5"\t""\ta\n')
  path = _write(tmp_path, "train.tsv", text)
  texts = [(e.guid, e.text_a)
           for e in readers.read_relation(path, RELATION_LABELS)]
  assert texts == [("q1", 'a "quoted" word'), ("q2", "tab\tinside"),
                   ("q3", '" spaced " quote, as TF1 reads it'),
                   ("q4", 'mid "quote'), ("q5", "")]


def test_crlf_bom_and_last_line_without_newline(tmp_path):
  gold = tmp_path / "dev.tsv"
  gold.write_bytes(b"\xef\xbb\xbfindex\tsentence\tlabel\r\np\tx\ta\r\nq\ty\tb")
  assert readers.read_relation(str(gold), RELATION_LABELS) == [
      Example("p", "x", None, "a", 2), Example("q", "y", None, "b", 3)]
  out = tmp_path / "pred.tsv"
  readers.write_predictions("relation", str(gold), {"p": "b", "q": "b"},
                            str(out), RELATION_LABELS)
  assert out.read_bytes() == b"index\tsentence\tlabel\r\np\tx\tb\r\nq\ty\tb"


def test_ner_comments_blank_lines_and_conll_guids(tmp_path):
  path = _write(tmp_path, "devel.tsv",
                "###doc1\nA\tB-Chemical\n###x\nb\tO\n\n\n \nc\tO\n")
  examples = readers.read_ner(path, CHEMICAL_TAGS)
  assert examples == [
      TaggedExample("dev-0", ("A", "b"), ("B-Chemical", "O"), 0, 0, 2),
      TaggedExample("dev-1", ("c",), ("O",), 1, 0, 8)]
  other = _write(tmp_path, "mine.tsv", "c\tO\n")
  assert readers.read_ner(other, CHEMICAL_TAGS)[0].guid == "mine-0"


def test_blue_ner_docid_continues_and_quotes(tmp_path):
  path = _write(tmp_path, "train.tsv",
                'A\t7\t0\tB\n""""\t-\t2\tO\n\nb\t-\t4\tI\n\n')
  examples = readers.read_ner(path, DISEASE_TAGS)
  assert [(e.guid, e.words, e.tags) for e in examples] == [
      ("7.0", ("A", '"'), ("B-Disease", "O")),
      ("7.4", ("b",), ("I-Disease",))]


def test_reading_logs_counts(caplog):
  caplog.set_level(logging.INFO, logger="absl")
  readers.read_relation(os.path.join(SAMPLE_DIR, "chemprot", "dev.tsv"),
                        CHEMPROT_LABELS)
  assert "10 relation rows (split dev); labels CPR:3 1, CPR:4 1" in caplog.text
  readers.read_ner(os.path.join(SAMPLE_DIR, "shareclefe", "test.tsv"),
                   DISEASE_TAGS)
  assert "8 sentences" in caplog.text and "B-Disease 7" in caplog.text


# ------------------------------------------------------------------ split files


def test_find_split_file(tmp_path):
  for name in ("Training.tsv", "devel.tsv", "test.tsv"):
    (tmp_path / name).write_text("x")
  assert [os.path.basename(readers.find_split_file(str(tmp_path), s))
          for s in SPLITS] == ["Training.tsv", "devel.tsv", "test.tsv"]
  (tmp_path / "dev.tsv").write_text("x")
  with pytest.raises(DataError, match="two dev files: dev.tsv and devel.tsv"):
    readers.find_split_file(str(tmp_path), "dev")
  with pytest.raises(ValueError, match="unknown split 'valid'"):
    readers.find_split_file(str(tmp_path), "valid")


def test_find_split_file_lists_what_it_looked_for(tmp_path):
  with pytest.raises(DataError) as error:
    readers.find_split_file(str(tmp_path), "test")
  assert str(error.value) == (f"{tmp_path}: no test file: looked for "
                              "test.tsv, Test.tsv")


@pytest.mark.parametrize("name,split", [
    ("train.tsv", "train"), ("Training.tsv", "train"), ("devel.tsv", "dev"),
    ("Development.tsv", "dev"), ("Test.tsv", "test"), ("pred.tsv", None)])
def test_split_of(name, split):
  assert readers.split_of(os.path.join("x", name)) == split


# ------------------------------------------------------------------ bad input

RELATION_HEADER = "index\tsentence\tlabel\n"
HOC_HEADER = "labels\tsentence\tindex\n"
STS_HEADER = "pair_id\tsent1\tsent2\tscore\n"
HOC_ROW = "{}\tx\t5_s0\n"
ALL_NEGATIVE = ",".join(f"{i}_0" for i in range(10))

# The label list each format's bad files below are read with.
BAD_FILE_LABELS = {"relation": RELATION_LABELS, "mednli": ("neutral",),
                   "sts": (), "hoc": ASPECTS, "ner": CHEMICAL_TAGS}


def _bad(file_format, content, line, message, name="train.tsv", labels=None):
  """A bad file: read as `file_format`, it must raise a DataError naming
  `line` (None: the whole file) whose message contains `message`."""
  return pytest.param(
      file_format, BAD_FILE_LABELS[file_format] if labels is None else labels,
      name, content, line, message, id=f"{file_format}: {message[:40]}")


BAD_INPUTS = [
    _bad("relation", "", None, "empty file"),
    _bad("ner", "\n\n###x\n", None, "no sentences"),
    _bad("relation", RELATION_HEADER, None, "no rows after the header"),
    _bad("relation", RELATION_HEADER + "p\tx\ta\np\tx\ta\textra\n", 3,
         "4 columns; the header has 3"),
    _bad("relation", RELATION_HEADER + "p\tx\n", 2,
         "2 columns; the header has 3", name="dev.tsv"),
    _bad("relation", RELATION_HEADER + "p\tx\tc\n", 2,
         "unknown label 'c'; the labels are a, b"),
    _bad("relation", "p\tx\ta\nq\ty\tb\n", 1,
         "header 'p\\tx\\ta' is not a relation header; expected "
         "'index\\tsentence\\tlabel'"),
    _bad("relation", "index\tsentence\np\tx\n", 1,
         "no 'label' column: only a test file may leave out its labels "
         "(this file's split: train)"),
    _bad("relation", "index\tsentence\np\tx\n", 1, "no 'label' column",
         name="devel.tsv"),
    _bad("relation", RELATION_HEADER + 'p\t"open quote\ta\n', 2,
         "unterminated quote in column 2"),
    _bad("relation", RELATION_HEADER + "p\tx\ta\n\nq\tx\ta\n", 3,
         "blank line"),
    _bad("relation", RELATION_HEADER + "\tx\ta\n", 2, "empty id column"),
    _bad("relation", RELATION_HEADER + "p\tx\ta\nq\tcaf\xe9\ta\n", 3,
         "not UTF-8: byte 0xe9 at byte offset 32 of the file "
         "(byte 6 of the line)"),
    _bad("mednli", "label\tsentence1\tsentence2\n", 1,
         "is not a mednli header; expected 'label\\tpairID"),
    _bad("sts", STS_HEADER + "1\ta\tb\tfour\n", 2,
         "score 'four' is not a number"),
    _bad("sts", STS_HEADER + "1\ta\tb\tnan\n", 2, "score 'nan' is not finite"),
    _bad("sts", "a\tb\tc\n1\t2\t3\n", 1, "not a sts header"),
    _bad("sts", "pair_id\tsent1\tsent2\n1\ta\tb\n", 1, "no 'score' column"),
    _bad("hoc", HOC_HEADER + HOC_ROW.format("0_1"), 2, "leave out aspect"),
    _bad("hoc", HOC_HEADER + HOC_ROW.format(ALL_NEGATIVE.replace("3_0", "3_x")),
         2, "HoC label '3_x' is not of the form <aspect>_<0|1>"),
    _bad("hoc", HOC_HEADER + HOC_ROW.format(ALL_NEGATIVE.replace("3_0", "3_2")),
         2, "HoC label '3_2' is not of the form"),
    _bad("hoc", HOC_HEADER + HOC_ROW.format("cancer"), 2,
         "HoC label 'cancer' is not of the form"),
    _bad("hoc", HOC_HEADER + HOC_ROW.format(ALL_NEGATIVE + ",3_1"), 2,
         "HoC aspect 3 listed twice"),
    _bad("hoc", HOC_HEADER + HOC_ROW.format(ALL_NEGATIVE + ",10_1"), 2,
         "unknown HoC aspect 10 in '10_1'; the aspects are 0..9"),
    _bad("hoc", HOC_HEADER + f"{ALL_NEGATIVE}\tx\tpmid5\n", 2,
         "HoC index 'pmid5' is not of the form <PMID>_s<N>"),
    _bad("ner", "A\t1\t0\tB\nb\t-\t2\n", 2,
         "3 columns; this BLUE 4-column file's first token line has 4"),
    _bad("ner", "A\t1\t0\tB\tx\n", 1,
         "5 columns; NER files have 4 (token, docid, offset, tag) or 2"),
    _bad("ner", "A\tB-Chemical\nb\tB-Gene\n", 2,
         "unknown tag 'B-Gene'; this file's tags are O, B-Chemical, "
         "I-Chemical"),
    _bad("ner", "A\tB-Chemical\nb\tB\n", 2, "unknown tag 'B'"),
    _bad("ner", "A\t1\t0\tB\nb\t-\t2\tB-Chemical\n", 2,
         "unknown tag 'B-Chemical'; this file's tags are B, I, O"),
    _bad("ner", "A\t1\t0\tB\n", None,
         "untyped B/I/O tags need a tag list of one entity type",
         labels=CHEMICAL_TAGS + ("B-Disease",)),
    _bad("ner", "A\t1\tx\tB\n", 1, "offset 'x' is not a non-negative integer"),
    _bad("ner", "A\t-\t0\tB\n", 1, "the first sentence has no document id (-)"),
    _bad("ner", "A\t1\t0\tB\n\nb\t1\t0\tO\n", 3, "sentence id '1.0' again"),
    _bad("ner", '"\t1\t0\tB\n', 1, "unterminated quote in column 1"),
    _bad("ner", "A\t1\t0\tB\n\t-\t2\tO\n", 2, "empty token"),
    _bad("ner", "A\t1\t0\n", 1, "no 'tag' column", name="dev.tsv"),
]


@pytest.mark.parametrize("file_format,labels,name,content,line,message",
                         BAD_INPUTS)
def test_bad_input(tmp_path, file_format, labels, name, content, line,
                   message):
  path = tmp_path / name
  path.write_bytes(content.encode("latin-1" if "\xe9" in content else "utf-8"))
  with pytest.raises(DataError, match=re.escape(message)) as error:
    readers.FORMATS[file_format].read(str(path), labels)
  assert (error.value.path, error.value.line) == (str(path), line)


GOLD_RELATION = RELATION_HEADER + "p1\tx\ta\np2\ty\tb\n"
GOLD_NER = "A\t1\t0\tB\nb\t-\t2\tO\n\n"

# (format, labels, gold, predictions, line named or None, message part)
BAD_PREDICTIONS = [
    ("relation", RELATION_LABELS, GOLD_RELATION, {"p1": "a"}, 3,
     "no prediction for 'p2'"),
    ("relation", RELATION_LABELS, GOLD_RELATION,
     {"p1": "a", "p2": "b", "p9": "a"}, None,
     "1 predictions for guids not in this file, e.g. p9"),
    ("relation", RELATION_LABELS, GOLD_RELATION, {"p1": "a", "p2": "z"}, 3,
     "unknown label 'z'"),
    ("sts", (), STS_HEADER + "1\ta\tb\t2.0\n", {"1": "high"}, 2,
     "predicted score 'high' is not a number"),
    ("sts", (), STS_HEADER + "1\ta\tb\t2.0\n", {"1": float("inf")}, 2,
     "not finite"),
    ("hoc", ("a", "b"), HOC_HEADER + "0_0,1_1\tx\t5_s0\n", {"5_s0": ("z",)}, 2,
     "predicted HoC labels ('z',): unknown ['z']"),
    ("ner", CHEMICAL_TAGS, GOLD_NER, {"1.0": ("O",)}, 1,
     "prediction for '1.0' is not 2 tags"),
    ("ner", CHEMICAL_TAGS, GOLD_NER, {"1.0": ("O", "B")}, 2,
     "predicted tag 'B' is not one of B-Chemical, I-Chemical, O"),
]


@pytest.mark.parametrize("file_format,labels,gold,predictions,line,message",
                         BAD_PREDICTIONS)
def test_bad_predictions(tmp_path, file_format, labels, gold, predictions,
                         line, message):
  gold_path = _write(tmp_path, "dev.tsv", gold)
  out = tmp_path / "pred.tsv"
  with pytest.raises(DataError, match=re.escape(message)) as error:
    readers.write_predictions(file_format, gold_path, predictions, str(out),
                              labels)
  assert (error.value.path, error.value.line) == (gold_path, line)
  assert not out.exists()


def test_unknown_format(tmp_path):
  with pytest.raises(ValueError, match="unknown format 'csv'"):
    readers.write_predictions("csv", "x", {}, str(tmp_path / "y"), ())
