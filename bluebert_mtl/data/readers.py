"""Readers and prediction writers of the BLUE task files (pure Python).

Five file formats cover the ten BLUE tasks:

  format    tasks                                         reader
  sts       clinicalsts, biosses                          read_sts
  mednli    mednli                                        read_mednli
  relation  chemprot, ddi2013-type, i2b2-2010-re          read_relation
  hoc       hoc                                           read_hoc
  ner       bc5cdr-chemical, bc5cdr-disease, shareclefe   read_ner

Every reader is `read_<format>(path, labels, split=None)`: the file, the
task's label list (the task registry's; STS has none and takes `()`) and the
split, and returns `Example`s (`TaggedExample`s for NER) in file order.
`write_predictions` writes a file that mirrors a gold file with predicted
labels in it; the same reader reads it back.

Conventions (see also the layout constants below):
  * Split: "train", "dev" or "test"; by default from the file name (see
    `SPLIT_FILE_NAMES`). Only a test file may leave out its label column; its
    examples then have label None (tags None for NER).
  * guid: the file's id column (STS: the first column; MedNLI: pairID or
    index; relation: index, repeated where a pair has several labels; HoC:
    index `<PMID>_s<N>`). NER: `<docid>.<offset of the first token>` in BLUE's
    4-column files, where a "-" docid continues the previous sentence's
    document; `<split or file stem>-<0-based sentence number>` in CoNLL files.
  * HoC labels: the caller's label list names the aspects in order, entry i
    naming aspect i (["0", ..., "9"] or the hallmark names). The field
    `0_v,1_v,...,9_v` must list every aspect once, v being 1 where the
    sentence shows the hallmark; the label is the tuple of the names of the
    aspects with v = 1, in label-list order (() for none).
  * NER tags come out typed, as the caller's tag list has them. BLUE's
    untyped B/I/O are given the one entity type of the tag list. A file's
    encoding is that of its first tag other than "O" (all "O": untyped in a
    4-column file, typed in a 2-column one).
  * Quoting: BLUE writes its TSVs with csv QUOTE_MINIMAL: a field holding a
    `"` is written in quotes with each `"` doubled. A field that starts with
    `"` and whose closing quote ends the field is unquoted to its text; a
    field whose opening quote is never closed on its line is an error (csv
    would run it on into the next rows). Any other `"` is text: TF1 reads
    quotes literally and some released files were not written with quoting
    (HoC's `" Reactive " or ...`, DDI's `are "insulin sensitizers"`).
    2-column CoNLL NER files are plain text: a `"` token is a `"`.
  * Lines end in "\\n" or "\\r\\n" (the HoC release uses "\\r\\n"); the
    writers keep every line of the gold file as it is but for the label.
  * Every problem is a `DataError` naming the file and the line; nothing is
    skipped silently but NER comment lines (`NER_COMMENT_PREFIX`), whose
    count is logged with the counts of what was read.
"""

import collections
import dataclasses
import functools
import math
import os
import re
from typing import (Callable, Dict, List, Mapping, NamedTuple, Optional,
                    Sequence, Set, Tuple)

from absl import logging

from bluebert_mtl.errors import DataError
from bluebert_mtl.data.examples import Example, Label, TaggedExample

# The names a split's file may have in a task folder: MT-BlueBERT's, then
# those of the BLUE release's NER files (devel.tsv for BC5CDR;
# Training/Development/Test.tsv for ShARe/CLEFE).
SPLIT_FILE_NAMES = {
    "train": ("train.tsv", "Training.tsv"),
    "dev": ("dev.tsv", "devel.tsv", "Development.tsv"),
    "test": ("test.tsv", "Test.tsv"),
}
UNLABELLED_SPLIT = "test"  # the only split whose files may have no labels

_SPLIT_OF_STEM = {
    os.path.splitext(name)[0].lower(): split
    for split, names in SPLIT_FILE_NAMES.items() for name in names
}

_TAB = "\t"
_QUOTE = '"'
_DOUBLED_QUOTE = '""'
_NEEDS_QUOTING = (_QUOTE, _TAB, "\n", "\r")
_NEWLINE = "\n"
_CARRIAGE_RETURN = "\r"
_UTF8_BOM = b"\xef\xbb\xbf"
_MAX_LISTED = 5  # guids listed in an error about many predictions


@dataclasses.dataclass(frozen=True)
class _Layout:
  """The columns of a header-led format, by header name.

  Attributes:
    columns: the header of a labelled file.
    guid: the column holding the guid.
    texts: the columns of text_a and (pairs) text_b.
    label: the label column; a test file may leave it out.
  """
  columns: Tuple[str, ...]
  guid: str
  texts: Tuple[str, ...]
  label: str

  @property
  def unlabelled_columns(self) -> Tuple[str, ...]:
    return tuple(c for c in self.columns if c != self.label)


# Relation extraction (ChemProt, DDI, i2b2 2010), the two entities masked:
#   index	sentence	label
#   99990001.T3.T9	@CHEMICAL$ reduced @GENE$ expression .	CPR:4
RELATION_LAYOUT = _Layout(("index", "sentence", "label"), guid="index",
                          texts=("sentence",), label="label")
# MedNLI as the released bert_data has it and TF1/MT read it, label first:
#   label	pairID	sentence1	sentence2
#   entailment	fake-0001	Patient was given IV fluids .	Patient was treated .
MEDNLI_LAYOUT = _Layout(("label", "pairID", "sentence1", "sentence2"),
                        guid="pairID", texts=("sentence1", "sentence2"),
                        label="label")
# MedNLI as BLUE's create_mednli_bert.py writes it, label last:
#   index	sentence1	sentence2	label
#   fake-0001	Patient was given IV fluids .	Patient was treated .	entailment
MEDNLI_BLUE_SCRIPT_LAYOUT = _Layout(
    ("index", "sentence1", "sentence2", "label"), guid="index",
    texts=("sentence1", "sentence2"), label="label")
# HoC, one sentence a row, every aspect listed as <aspect>_<0|1>:
#   labels	sentence	index
#   0_0,1_0,2_0,3_0,4_0,5_1,6_0,7_0,8_1,9_0	Mutant cells grew .	99990001_s3
HOC_LAYOUT = _Layout(("labels", "sentence", "index"), guid="index",
                     texts=("sentence",), label="labels")
HOC_INDEX = re.compile(r"[^_\s]+_s\d+")  # <PMID>_s<sentence number>
HOC_ITEM = re.compile(r"(?P<aspect>\d+)_(?P<value>\d+)")  # e.g. "5_1"
HOC_POSITIVE, HOC_NEGATIVE = "1", "0"
HOC_SEPARATOR = ","
# STS: guid first; sentence pair and score the last three columns, whatever
# lies between. BLUE's (GLUE STS-B) 10 columns and BIOSSES' 4:
#   index	genre	filename	year	old_index	source1	source2	sentence1	sentence2	score
#   0	clinical	x	2018	0	none	none	Patient denies pain .	No pain reported .	4.5
#   pair_id	sent1	sent2	score
#   78	GATA2 loss was lethal .	GATA2 knockdown reduced growth .	3.2
STS_TEXT_COLUMNS = (("sentence1", "sentence2"), ("sent1", "sent2"))
STS_SCORE_COLUMN = "score"


@dataclasses.dataclass(frozen=True)
class _NerLayout:
  """A token-per-line NER format.

  Attributes:
    name: for messages.
    columns: the columns of a tagged file; the tag is the last.
    quoted: whether fields are csv-quoted.
    untyped: whether an all-"O" file counts as untyped.
  """
  name: str
  columns: Tuple[str, ...]
  quoted: bool
  untyped: bool

  @functools.cached_property
  def token_index(self) -> int:
    return self.columns.index(NER_TOKEN_COLUMN)

  @functools.cached_property
  def tag_index(self) -> int:
    return self.columns.index(NER_TAG_COLUMN)


NER_TOKEN_COLUMN, NER_DOCID_COLUMN, NER_OFFSET_COLUMN, NER_TAG_COLUMN = (
    "token", "docid", "offset", "tag")
# BLUE's NER release (blue/ext/preprocessing.py): token; document id on the
# first token of a sentence, "-" on the others; character offset of the token
# in its document; untyped tag. csv-quoted; a blank line after each sentence:
#   Aspirin	99990001	0	B
#   induced	-	8	O
BLUE_NER = _NerLayout(
    "BLUE 4-column",
    (NER_TOKEN_COLUMN, NER_DOCID_COLUMN, NER_OFFSET_COLUMN, NER_TAG_COLUMN),
    quoted=True, untyped=True)
# CoNLL IOB (the public BC5CDR copies): token and typed tag, not quoted:
#   Aspirin	B-Chemical
CONLL_NER = _NerLayout("CoNLL 2-column", (NER_TOKEN_COLUMN, NER_TAG_COLUMN),
                       quoted=False, untyped=False)
NER_NO_DOCID = "-"  # docid column of a sentence continuing a document
NER_COMMENT_PREFIX = "###"  # lines skipped (ShARe/CLEFE; TF1 skips them)
BEGIN_TAG, INSIDE_TAG, OUTSIDE_TAG = "B", "I", "O"
TAG_TYPE_SEPARATOR = "-"  # "B-Chemical"


# ---------------------------------------------------------------- split files


def find_split_file(task_dir: str, split: str) -> str:
  """The file of `split` ("train", "dev" or "test") in a task folder.

  Raises:
    ValueError: for an unknown split.
    DataError: where no file or more than one of `SPLIT_FILE_NAMES` exists.
  """
  if split not in SPLIT_FILE_NAMES:
    raise ValueError(f"unknown split {split!r}; the splits are "
                     f"{', '.join(SPLIT_FILE_NAMES)}")
  names = SPLIT_FILE_NAMES[split]
  try:
    present = set(os.listdir(task_dir))
  except OSError as e:
    raise DataError(task_dir, None,
                    f"cannot list the task folder: {e.strerror}") from None
  found = [name for name in names if name in present]
  if not found:
    raise DataError(task_dir, None,
                    f"no {split} file: looked for {', '.join(names)}")
  if len(found) > 1:
    raise DataError(task_dir, None, f"two {split} files: "
                    f"{' and '.join(found)}; keep one")
  return os.path.join(task_dir, found[0])


def split_of(path: str) -> Optional[str]:
  """The split a file name says (train.tsv -> "train", ...), else None."""
  stem = os.path.splitext(os.path.basename(path))[0]
  return _SPLIT_OF_STEM.get(stem.lower())


def _check_may_be_unlabelled(path: str, number: int, split: Optional[str],
                             column: str):
  if split != UNLABELLED_SPLIT:
    raise DataError(path, number, f"no {column!r} column: only a test file may "
                    f"leave out its labels (this file's split: {split})")


# ---------------------------------------------------------------- lines, fields


class _Line(NamedTuple):
  number: int  # 1-based
  text: str  # without the line ending
  ending: str  # "\n", "\r\n" or "" (a last line without one)


class _Row(NamedTuple):
  line: _Line
  values: Tuple[str, ...]  # the fields' texts
  raws: Tuple[str, ...]  # the fields as written (quoted or not)


def _read_lines(path: str) -> List[_Line]:
  """The file's lines, UTF-8 decoded (a leading byte-order mark dropped)."""
  with open(path, "rb") as f:
    pieces = _decode(path, f.read()).split(_NEWLINE)
  lines = [_line(i + 1, text, _NEWLINE) for i, text in enumerate(pieces[:-1])]
  if pieces[-1]:
    lines.append(_line(len(pieces), pieces[-1], ""))
  if not lines:
    raise DataError(path, None, "empty file")
  return lines


def _line(number: int, text: str, newline: str) -> _Line:
  if text.endswith(_CARRIAGE_RETURN):
    return _Line(number, text[:-1], _CARRIAGE_RETURN + newline)
  return _Line(number, text, newline)


def _decode(path: str, data: bytes) -> str:
  start = len(_UTF8_BOM) if data.startswith(_UTF8_BOM) else 0
  try:
    return data[start:].decode("utf-8")
  except UnicodeDecodeError as e:
    offset = start + e.start
    line_start = data.rfind(b"\n", 0, offset) + 1
    raise DataError(path, data.count(b"\n", 0, offset) + 1,
                    f"not UTF-8: byte 0x{data[offset]:02x} at byte offset "
                    f"{offset} of the file (byte {offset - line_start + 1} of "
                    "the line)") from None


def _split_row(path: str, line: _Line, quoted: bool) -> _Row:
  """The tab-separated fields of a line; csv-unquoted where `quoted`."""
  if not quoted:
    raws = tuple(line.text.split(_TAB))
    return _Row(line, raws, raws)
  values, raws = [], []
  start = 0
  while True:
    value, end = _quoted_field(path, line, start, len(values) + 1)
    values.append(value)
    raws.append(line.text[start:end])
    if end == len(line.text):
      return _Row(line, tuple(values), tuple(raws))
    start = end + 1


def _quoted_field(path: str, line: _Line, start: int,
                  column: int) -> Tuple[str, int]:
  """Text and end of the field at `start` of a line of a csv-quoted file."""
  text = line.text
  tab = text.find(_TAB, start)
  plain_end = len(text) if tab < 0 else tab
  if not text.startswith(_QUOTE, start):
    return text[start:plain_end], plain_end
  close = _closing_quote(text, start + 1)
  if close is None:
    raise DataError(path, line.number, f"unterminated quote in column "
                    f"{column}: a field starting with {_QUOTE} must end with "
                    f"{_QUOTE}, a {_QUOTE} inside it written {_DOUBLED_QUOTE}")
  end = close + 1
  if end == len(text) or text[end] == _TAB:
    return text[start + 1:close].replace(_DOUBLED_QUOTE, _QUOTE), end
  return text[start:plain_end], plain_end  # text after the quote: literal


def _closing_quote(text: str, start: int) -> Optional[int]:
  """Position of the first `"` from `start` that is not a doubled `""`."""
  while True:
    quote = text.find(_QUOTE, start)
    if quote < 0:
      return None
    if not text.startswith(_QUOTE, quote + 1):
      return quote
    start = quote + len(_DOUBLED_QUOTE)


def _quote(value: str) -> str:
  """`value` as csv QUOTE_MINIMAL writes a field."""
  if any(c in value for c in _NEEDS_QUOTING):
    return _QUOTE + value.replace(_QUOTE, _DOUBLED_QUOTE) + _QUOTE
  return value


def _with_label(raws: Tuple[str, ...], labelled: bool, position: int,
                label: str) -> str:
  """A line of fields `raws` with `label` in column `position` (replacing the
  field there where `labelled`, inserted there where not)."""
  others = raws[:position] + raws[position + 1:] if labelled else raws
  return _TAB.join(others[:position] + (label,) + others[position:])


def _write_lines(path: str, lines: Sequence[_Line], replaced: Mapping[int,
                                                                       str]):
  """Writes `lines`, the texts of those numbered in `replaced` replaced."""
  if os.path.dirname(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8", newline="") as f:
    for line in lines:
      f.write(replaced.get(line.number, line.text) + line.ending)


# ---------------------------------------------------------------- labels


def _names(labels: Sequence[str]) -> str:
  return ", ".join(labels) if labels else "(none given)"


def _parse_class(path: str, number: int, value: str,
                 labels: Sequence[str]) -> str:
  """A classification label, as read and as written (it is its own text)."""
  if value not in labels:
    raise DataError(path, number,
                    f"unknown label {value!r}; the labels are {_names(labels)}")
  return value


def _parse_score(path: str, number: int, value: str,
                 labels: Sequence[str]) -> float:
  del labels  # regression has none
  try:
    score = float(value)
  except ValueError:
    raise DataError(path, number, f"score {value!r} is not a number") from None
  if not math.isfinite(score):
    raise DataError(path, number, f"score {value!r} is not finite")
  return score


def _format_score(path: str, number: int, score: float,
                  labels: Sequence[str]) -> str:
  """A predicted score as written: the shortest text that reads back to it."""
  try:
    text = repr(float(score))
  except (TypeError, ValueError):
    raise DataError(path, number,
                    f"predicted score {score!r} is not a number") from None
  _parse_score(path, number, text, labels)  # rejects inf and nan
  return text


def _parse_aspects(path: str, number: int, value: str,
                   labels: Sequence[str]) -> Tuple[str, ...]:
  """HoC `0_v,...,9_v` -> names of the aspects with v = 1."""
  values = {}
  for item in value.split(HOC_SEPARATOR):
    aspect, flag = _parse_aspect(path, number, item, labels)
    if aspect in values:
      raise DataError(path, number, f"HoC aspect {aspect} listed twice")
    values[aspect] = flag
  missing = [str(i) for i in range(len(labels)) if i not in values]
  if missing:
    raise DataError(path, number, f"HoC labels {value!r} leave out aspect(s) "
                    f"{', '.join(missing)}; every aspect must be listed")
  return tuple(name for i, name in enumerate(labels)
               if values[i] == HOC_POSITIVE)


def _parse_aspect(path: str, number: int, item: str,
                  labels: Sequence[str]) -> Tuple[int, str]:
  match = HOC_ITEM.fullmatch(item)
  if not match or match["value"] not in (HOC_POSITIVE, HOC_NEGATIVE):
    raise DataError(path, number, f"HoC label {item!r} is not of the form "
                    f"<aspect>_<{HOC_NEGATIVE}|{HOC_POSITIVE}> (e.g. 5_1)")
  aspect = int(match["aspect"])
  if aspect >= len(labels):
    raise DataError(path, number, f"unknown HoC aspect {aspect} in {item!r}; "
                    f"the aspects are 0..{len(labels) - 1}: {_names(labels)}")
  return aspect, match["value"]


def _format_aspects(path: str, number: int, names: Sequence[str],
                    labels: Sequence[str]) -> str:
  """Names of the positive aspects -> HoC `0_v,...,9_v`."""
  unknown = ([names] if isinstance(names, str) else
             [name for name in names if name not in labels])
  if unknown:
    raise DataError(path, number, f"predicted HoC labels {names!r}: unknown "
                    f"{unknown!r}; the labels are {_names(labels)}")
  return HOC_SEPARATOR.join(
      f"{i}_{HOC_POSITIVE if name in names else HOC_NEGATIVE}"
      for i, name in enumerate(labels))


def _count_labels(labels: Sequence[Label]) -> str:
  counts = collections.Counter(labels)
  return "labels " + ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))


def _count_aspects(labels: Sequence[Tuple[str, ...]]) -> str:
  counts = collections.Counter(name for names in labels for name in names)
  none = sum(not names for names in labels)
  return (f"rows with no aspect {none}; aspects " +
          ", ".join(f"{k} {n}" for k, n in sorted(counts.items())))


def _score_range(scores: Sequence[float]) -> str:
  return (f"scores {min(scores)}..{max(scores)}, mean "
          f"{sum(scores) / len(scores):.3f}")


# ---------------------------------------------------------------- tables


def _check_guid(path: str, number: int, guid: str):
  if not guid:
    raise DataError(path, number, "empty id column")


def _check_hoc_index(path: str, number: int, guid: str):
  if not HOC_INDEX.fullmatch(guid):
    raise DataError(path, number,
                    f"HoC index {guid!r} is not of the form <PMID>_s<N>")


@dataclasses.dataclass(frozen=True)
class _TableFormat:
  """A header-led format.

  Attributes:
    name: the format's name (a key of `READERS`).
    layouts: header -> the layouts it may be.
    expected: the headers it takes, in words, for messages.
    parse_label: (path, line, field text, labels) -> label.
    format_label: (path, line, label, labels) -> field text.
    summarize: labels -> their counts, in words, for the log.
    check_guid: (path, line, guid) -> None; raises on a bad guid.
  """
  name: str
  layouts: Callable[[Tuple[str, ...]], Sequence[_Layout]]
  expected: str
  parse_label: Callable[[str, int, str, Sequence[str]], Label]
  format_label: Callable[[str, int, Label, Sequence[str]], str]
  summarize: Callable[[list], str]
  check_guid: Callable[[str, int, str], None] = _check_guid


def _fixed_layouts(*layouts: _Layout):
  return lambda header: layouts


def _describe(*layouts: _Layout) -> str:
  return " or ".join(repr(_TAB.join(l.columns)) for l in layouts)


def _sts_layouts(header: Tuple[str, ...]) -> List[_Layout]:
  """The STS layout of `header`, guid first, pair and score last."""
  labelled = header[-1] == STS_SCORE_COLUMN
  columns = header if labelled else header + (STS_SCORE_COLUMN,)
  if len(set(columns)) != len(columns):
    return []
  return [
      _Layout(columns, guid=columns[0], texts=texts, label=STS_SCORE_COLUMN)
      for texts in STS_TEXT_COLUMNS
      if len(columns) > len(texts) + 1 and columns[-3:-1] == texts
  ]


@dataclasses.dataclass(frozen=True)
class _Table:
  lines: List[_Line]
  header: _Row
  rows: List[_Row]
  layout: _Layout
  labelled: bool

  def fields(self, row: _Row) -> Dict[str, str]:
    return dict(zip(self.header.values, row.values))


def _read_table(path: str, table_format: _TableFormat,
                split: Optional[str]) -> _Table:
  lines = _read_lines(path)
  header = _split_row(path, lines[0], quoted=True)
  layout, labelled = _match_layout(path, table_format, header)
  if not labelled:
    _check_may_be_unlabelled(path, header.line.number, split, layout.label)
  rows = [_table_row(path, line, len(header.values)) for line in lines[1:]]
  if not rows:
    raise DataError(path, None, "no rows after the header")
  return _Table(lines, header, rows, layout, labelled)


def _match_layout(path: str, table_format: _TableFormat,
                  header: _Row) -> Tuple[_Layout, bool]:
  """The layout of a header, and whether it has the label column."""
  columns = header.values
  for layout in table_format.layouts(columns):
    if columns in (layout.columns, layout.unlabelled_columns):
      return layout, columns == layout.columns
  raise DataError(
      path, header.line.number,
      f"header {_TAB.join(columns)!r} is not a {table_format.name} header; "
      f"expected {table_format.expected} (a test file may leave out the label "
      "column)")


def _table_row(path: str, line: _Line, width: int) -> _Row:
  if not line.text:
    raise DataError(path, line.number, "blank line; every row needs its "
                    "columns")
  row = _split_row(path, line, quoted=True)
  if len(row.values) != width:
    raise DataError(path, line.number, f"{len(row.values)} columns; the "
                    f"header has {width}")
  return row


def _table_example(path: str, table: _Table, row: _Row,
                   table_format: _TableFormat,
                   labels: Sequence[str]) -> Example:
  fields = table.fields(row)
  layout = table.layout
  number = row.line.number
  guid = fields[layout.guid]
  table_format.check_guid(path, number, guid)
  text_b = fields[layout.texts[1]] if len(layout.texts) > 1 else None
  label = (table_format.parse_label(path, number, fields[layout.label], labels)
           if table.labelled else None)
  return Example(guid, fields[layout.texts[0]], text_b, label, number)


def _read_table_examples(table_format: _TableFormat, path: str,
                         labels: Sequence[str], split: Optional[str]
                         ) -> Tuple[_Table, List[Example]]:
  split = split or split_of(path)
  table = _read_table(path, table_format, split)
  examples = [_table_example(path, table, row, table_format, labels)
              for row in table.rows]
  summary = (table_format.summarize([e.label for e in examples])
             if table.labelled else "no labels")
  logging.info("%s: %d %s rows (split %s); %s", path, len(examples),
               table_format.name, split, summary)
  return table, examples


def _write_table_predictions(table_format: _TableFormat, gold_path: str,
                             predictions: Mapping[str, Label],
                             out_path: str, labels: Sequence[str],
                             split: Optional[str]):
  table, examples = _read_table_examples(table_format, gold_path, labels,
                                         split)
  position = table.layout.columns.index(table.layout.label)
  header = table.header
  replaced = {header.line.number: _with_label(
      header.raws, table.labelled, position, _quote(table.layout.label))}
  for row, example in zip(table.rows, examples):
    number = row.line.number
    label = _prediction(gold_path, number, predictions, example.guid)
    text = table_format.format_label(gold_path, number, label, labels)
    replaced[number] = _with_label(row.raws, table.labelled, position,
                                   _quote(text))
  _check_all_used(gold_path, predictions, {e.guid for e in examples})
  _write_lines(out_path, table.lines, replaced)


def _prediction(path: str, number: int,
                predictions: Mapping[str, Label], guid: str):
  if guid not in predictions:
    raise DataError(path, number, f"no prediction for {guid!r}")
  return predictions[guid]


def _check_all_used(path: str, predictions: Mapping[str, Label],
                    guids: Set[str]):
  extra = [guid for guid in predictions if guid not in guids]
  if extra:
    raise DataError(path, None, f"{len(extra)} predictions for guids not in "
                    f"this file, e.g. {', '.join(extra[:_MAX_LISTED])}")


_STS = _TableFormat(
    "sts", _sts_layouts,
    "a header ending in " + " or ".join(
        repr(_TAB.join(texts + (STS_SCORE_COLUMN,)))
        for texts in STS_TEXT_COLUMNS),
    _parse_score, _format_score, _score_range)
_MEDNLI = _TableFormat(
    "mednli", _fixed_layouts(MEDNLI_LAYOUT, MEDNLI_BLUE_SCRIPT_LAYOUT),
    _describe(MEDNLI_LAYOUT, MEDNLI_BLUE_SCRIPT_LAYOUT), _parse_class,
    _parse_class, _count_labels)
_RELATION = _TableFormat("relation", _fixed_layouts(RELATION_LAYOUT),
                         _describe(RELATION_LAYOUT), _parse_class,
                         _parse_class, _count_labels)
_HOC = _TableFormat("hoc", _fixed_layouts(HOC_LAYOUT), _describe(HOC_LAYOUT),
                    _parse_aspects, _format_aspects, _count_aspects,
                    _check_hoc_index)


def read_sts(path: str, labels: Sequence[str] = (),
             split: Optional[str] = None) -> List[Example]:
  """Sentence pairs with a float score (ClinicalSTS, BIOSSES).

  Args:
    path: the file.
    labels: unused (regression has no label list); `()`.
    split: "train", "dev" or "test"; None: from the file name.
  """
  return _read_table_examples(_STS, path, labels, split)[1]


def read_mednli(path: str, labels: Sequence[str],
                split: Optional[str] = None) -> List[Example]:
  """Premise/hypothesis pairs with an inference label, label-first or
  label-last (`MEDNLI_LAYOUT`, `MEDNLI_BLUE_SCRIPT_LAYOUT`) by the header."""
  return _read_table_examples(_MEDNLI, path, labels, split)[1]


def read_relation(path: str, labels: Sequence[str],
                  split: Optional[str] = None) -> List[Example]:
  """Masked sentences with a relation label (ChemProt, DDI, i2b2 2010)."""
  return _read_table_examples(_RELATION, path, labels, split)[1]


def read_hoc(path: str, labels: Sequence[str],
             split: Optional[str] = None) -> List[Example]:
  """HoC sentences; label = names of the positive aspects (`labels[i]` names
  aspect i)."""
  return _read_table_examples(_HOC, path, labels, split)[1]


# ---------------------------------------------------------------- NER


@dataclasses.dataclass(frozen=True)
class _NerFile:
  lines: List[_Line]
  layout: _NerLayout
  tagged: bool
  sentences: List[List[_Row]]
  comments: int  # NER_COMMENT_PREFIX lines skipped


def _is_comment(line: _Line) -> bool:
  return line.text.startswith(NER_COMMENT_PREFIX)


def _is_blank(line: _Line) -> bool:
  return not line.text.strip()


def _read_ner_file(path: str, split: Optional[str]) -> _NerFile:
  lines = _read_lines(path)
  first = next((l for l in lines if not _is_blank(l) and not _is_comment(l)),
               None)
  if first is None:
    raise DataError(path, None, "no sentences")
  layout, tagged = _ner_layout(path, first)
  if not tagged:
    _check_may_be_unlabelled(path, first.number, split, NER_TAG_COLUMN)
  width = len(layout.columns) if tagged else len(layout.columns) - 1
  sentences, current = [], []
  for line in lines:
    if _is_blank(line):
      if current:
        sentences.append(current)
      current = []
    elif not _is_comment(line):
      current.append(_ner_row(path, line, layout, width))
  if current:
    sentences.append(current)
  return _NerFile(lines, layout, tagged, sentences,
                  sum(map(_is_comment, lines)))


def _ner_layout(path: str, line: _Line) -> Tuple[_NerLayout, bool]:
  """The layout of a file, and whether it is tagged, by its first token line."""
  width = len(line.text.split(_TAB))
  for layout in (BLUE_NER, CONLL_NER):
    if width in (len(layout.columns), len(layout.columns) - 1):
      return layout, width == len(layout.columns)
  raise DataError(path, line.number, f"{width} columns; NER files have "
                  f"{_describe_ner(BLUE_NER)} or {_describe_ner(CONLL_NER)}")


def _describe_ner(layout: _NerLayout) -> str:
  return f"{len(layout.columns)} ({', '.join(layout.columns)})"


def _ner_row(path: str, line: _Line, layout: _NerLayout, width: int) -> _Row:
  row = _split_row(path, line, layout.quoted)
  if len(row.values) != width:
    raise DataError(path, line.number, f"{len(row.values)} columns; this "
                    f"{layout.name} file's first token line has {width}")
  if not row.values[layout.token_index]:
    raise DataError(path, line.number, "empty token")
  if NER_OFFSET_COLUMN in layout.columns:
    offset = row.values[layout.columns.index(NER_OFFSET_COLUMN)]
    if not offset.isdigit():
      raise DataError(path, line.number,
                      f"offset {offset!r} is not a non-negative integer")
  return row


def _tag_map(path: str, ner: _NerFile, labels: Sequence[str]) -> Dict[str, str]:
  """File tag -> typed tag of the caller's tag list."""
  if not _is_untyped(ner):
    return {tag: tag for tag in labels}
  types = sorted({tag.split(TAG_TYPE_SEPARATOR, 1)[1] for tag in labels
                  if tag.startswith((BEGIN_TAG + TAG_TYPE_SEPARATOR,
                                     INSIDE_TAG + TAG_TYPE_SEPARATOR))})
  if len(types) != 1:
    raise DataError(path, None, "untyped B/I/O tags need a tag list of one "
                    f"entity type; the tags given are {_names(labels)}")
  return {BEGIN_TAG: f"{BEGIN_TAG}{TAG_TYPE_SEPARATOR}{types[0]}",
          INSIDE_TAG: f"{INSIDE_TAG}{TAG_TYPE_SEPARATOR}{types[0]}",
          OUTSIDE_TAG: OUTSIDE_TAG}


def _is_untyped(ner: _NerFile) -> bool:
  """Whether a file's tags are untyped, by its first tag other than "O"."""
  tags = (row.values[ner.layout.tag_index] for sentence in ner.sentences
          for row in sentence) if ner.tagged else ()
  first = next((tag for tag in tags if tag != OUTSIDE_TAG), None)
  if first is None:
    return ner.layout.untyped
  return first in (BEGIN_TAG, INSIDE_TAG)


def _ner_guids(path: str, ner: _NerFile, split: Optional[str]) -> List[str]:
  if NER_DOCID_COLUMN not in ner.layout.columns:
    prefix = split or os.path.splitext(os.path.basename(path))[0]
    return [f"{prefix}-{i}" for i in range(len(ner.sentences))]
  guids, docid = [], None
  for sentence in ner.sentences:
    first = dict(zip(ner.layout.columns, sentence[0].values))
    if first[NER_DOCID_COLUMN] != NER_NO_DOCID:
      docid = first[NER_DOCID_COLUMN]
    if docid is None:
      raise DataError(path, sentence[0].line.number,
                      f"the first sentence has no document id ({NER_NO_DOCID})")
    guids.append(f"{docid}.{first[NER_OFFSET_COLUMN]}")
  return guids


def _ner_examples(path: str, ner: _NerFile, labels: Sequence[str],
                  split: Optional[str]) -> List[TaggedExample]:
  guids = _ner_guids(path, ner, split)
  tag_map = _tag_map(path, ner, labels) if ner.tagged else {}
  examples, seen = [], {}
  for index, (guid, sentence) in enumerate(zip(guids, ner.sentences)):
    number = sentence[0].line.number
    if guid in seen:
      raise DataError(path, number, f"sentence id {guid!r} again (first at "
                      f"line {seen[guid]})")
    seen[guid] = number
    words = tuple(row.values[ner.layout.token_index] for row in sentence)
    tags = (tuple(_typed_tag(path, row, ner.layout, tag_map)
                  for row in sentence)
            if ner.tagged else None)
    examples.append(TaggedExample(guid, words, tags, index, 0, number))
  return examples


def _typed_tag(path: str, row: _Row, layout: _NerLayout,
               tag_map: Mapping[str, str]) -> str:
  tag = row.values[layout.tag_index]
  if tag not in tag_map:
    raise DataError(path, row.line.number, f"unknown tag {tag!r}; this file's "
                    f"tags are {_names(list(tag_map))}")
  return tag_map[tag]


def _summarize_tags(ner: _NerFile, examples: Sequence[TaggedExample]) -> str:
  if not ner.tagged:
    return "no tags"
  counts = collections.Counter(t for e in examples for t in e.tags)
  return "tags " + ", ".join(f"{k} {n}" for k, n in sorted(counts.items()))


def _read_ner(path: str, labels: Sequence[str], split: Optional[str]
              ) -> Tuple[_NerFile, List[TaggedExample]]:
  split = split or split_of(path)
  ner = _read_ner_file(path, split)
  examples = _ner_examples(path, ner, labels, split)
  logging.info(
      "%s: %d sentences, %d tokens, longest %d (%s, %s tags, split %s, %d "
      "comment lines skipped); %s", path, len(examples),
      sum(len(e.words) for e in examples),
      max(len(e.words) for e in examples), ner.layout.name,
      "untyped" if ner.tagged and _is_untyped(ner) else "typed", split,
      ner.comments, _summarize_tags(ner, examples))
  return ner, examples


def read_ner(path: str, labels: Sequence[str],
             split: Optional[str] = None) -> List[TaggedExample]:
  """Token-per-line NER sentences (BC5CDR, ShARe/CLEFE), BLUE 4-column or
  CoNLL 2-column by the file; tags typed as in `labels` (the tag list, e.g.
  ["O", "B-Chemical", "I-Chemical"]). Long sentences are not split here."""
  return _read_ner(path, labels, split)[1]


def _write_ner_predictions(gold_path: str,
                           predictions: Mapping[str, Label],
                           out_path: str, labels: Sequence[str],
                           split: Optional[str]):
  ner, examples = _read_ner(gold_path, labels, split)
  tag_map = _tag_map(gold_path, ner, labels)
  to_file = {typed: tag for tag, typed in tag_map.items()}
  position = ner.layout.tag_index
  encode = _quote if ner.layout.quoted else str
  replaced = {}
  for example, sentence in zip(examples, ner.sentences):
    tags = _prediction(gold_path, example.line, predictions, example.guid)
    if not isinstance(tags, (tuple, list)) or len(tags) != len(sentence):
      raise DataError(gold_path, example.line, f"prediction for "
                      f"{example.guid!r} is not {len(sentence)} tags: {tags!r}")
    for row, tag in zip(sentence, tags):
      if tag not in to_file:
        raise DataError(gold_path, row.line.number, f"predicted tag {tag!r} "
                        f"is not one of {_names(list(to_file))}")
      replaced[row.line.number] = _with_label(row.raws, ner.tagged, position,
                                              encode(to_file[tag]))
  _check_all_used(gold_path, predictions, {e.guid for e in examples})
  _write_lines(out_path, ner.lines, replaced)


# ---------------------------------------------------------------- public


READERS = {
    "sts": read_sts,
    "mednli": read_mednli,
    "relation": read_relation,
    "hoc": read_hoc,
    "ner": read_ner,
}
_TABLE_FORMATS = {f.name: f for f in (_STS, _MEDNLI, _RELATION, _HOC)}


def write_predictions(file_format: str, gold_path: str,
                      predictions: Mapping[str, Label],
                      out_path: str, labels: Sequence[str],
                      split: Optional[str] = None):
  """Writes `gold_path` again with the predicted labels in its label column.

  Every other column, the header and the line endings are kept; an
  unlabelled gold file gets the label column where a labelled one has it.
  Labels are written as the gold file writes them: a class name, a score
  (`repr` of the float), HoC's `0_v,...,9_v`, NER tags in the gold file's
  encoding (untyped B/I/O where its tags are). `READERS[file_format]` reads
  the written file back to the predicted labels.

  Args:
    file_format: a key of `READERS`.
    gold_path: the file the predictions are for.
    predictions: guid -> label, in the form the reader gives gold labels
      (str; float; tuple of label names; NER: tuple of typed tags, one per
      word). Every guid of the gold file must have one, and no other guid;
      rows that repeat a guid (a relation pair with several gold labels) all
      get its one prediction.
    out_path: the file to write (its folder is made).
    labels: the task's label (tag) list; `()` for STS.
    split: the gold file's split; None: from its file name.

  Raises:
    DataError: a bad gold file, a missing, extra or malformed prediction.
  """
  if file_format == "ner":
    _write_ner_predictions(gold_path, predictions, out_path, labels, split)
  elif file_format in _TABLE_FORMATS:
    _write_table_predictions(_TABLE_FORMATS[file_format], gold_path,
                             predictions, out_path, labels, split)
  else:
    raise ValueError(f"unknown format {file_format!r}; the formats are "
                     f"{', '.join(READERS)}")
