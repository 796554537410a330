"""Header-led table formats: STS, MedNLI, relation, HoC (readers and writers).

Each format is a `_TableFormat`: the layouts its header may have, how a label
field is parsed and written, and what the log says about the labels read.
Layout constants below show one sample row each.
"""

import collections
import dataclasses
import math
import re
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from absl import logging

from bluebert_mtl.data.examples import Example, Label
from bluebert_mtl.data.readers.lines import (
    TAB, Line, Row, check_all_used, check_may_be_unlabelled, listed,
    prediction, quote, read_lines, split_of, split_row, with_label,
    write_lines)
from bluebert_mtl.errors import DataError

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


# ---------------------------------------------------------------- labels


def _parse_class(path: str, number: int, value: str,
                 labels: Sequence[str]) -> str:
  """A classification label, as read and as written (it is its own text)."""
  if value not in labels:
    raise DataError(path, number,
                    f"unknown label {value!r}; the labels are {listed(labels)}")
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
                    f"the aspects are 0..{len(labels) - 1}: {listed(labels)}")
  return aspect, match["value"]


def _format_aspects(path: str, number: int, names: Sequence[str],
                    labels: Sequence[str]) -> str:
  """Names of the positive aspects -> HoC `0_v,...,9_v`."""
  unknown = ([names] if isinstance(names, str) else
             [name for name in names if name not in labels])
  if unknown:
    raise DataError(path, number, f"predicted HoC labels {names!r}: unknown "
                    f"{unknown!r}; the labels are {listed(labels)}")
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
  return " or ".join(repr(TAB.join(l.columns)) for l in layouts)


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
  lines: List[Line]
  header: Row
  rows: List[Row]
  layout: _Layout
  labelled: bool

  def fields(self, row: Row) -> Dict[str, str]:
    return dict(zip(self.header.values, row.values))


def _read_table(path: str, table_format: _TableFormat,
                split: Optional[str]) -> _Table:
  lines = read_lines(path)
  header = split_row(path, lines[0], quoted=True)
  layout, labelled = _match_layout(path, table_format, header)
  if not labelled:
    check_may_be_unlabelled(path, header.line.number, split, layout.label)
  rows = [_table_row(path, line, len(header.values)) for line in lines[1:]]
  if not rows:
    raise DataError(path, None, "no rows after the header")
  return _Table(lines, header, rows, layout, labelled)


def _match_layout(path: str, table_format: _TableFormat,
                  header: Row) -> Tuple[_Layout, bool]:
  """The layout of a header, and whether it has the label column."""
  columns = header.values
  for layout in table_format.layouts(columns):
    if columns in (layout.columns, layout.unlabelled_columns):
      return layout, columns == layout.columns
  raise DataError(
      path, header.line.number,
      f"header {TAB.join(columns)!r} is not a {table_format.name} header; "
      f"expected {table_format.expected} (a test file may leave out the label "
      "column)")


def _table_row(path: str, line: Line, width: int) -> Row:
  if not line.text:
    raise DataError(path, line.number, "blank line; every row needs its "
                    "columns")
  row = split_row(path, line, quoted=True)
  if len(row.values) != width:
    raise DataError(path, line.number, f"{len(row.values)} columns; the "
                    f"header has {width}")
  return row


def _table_example(path: str, table: _Table, row: Row,
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


def write_table_predictions(table_format: _TableFormat, gold_path: str,
                             predictions: Mapping[str, Label],
                             out_path: str, labels: Sequence[str],
                             split: Optional[str]):
  table, examples = _read_table_examples(table_format, gold_path, labels,
                                         split)
  position = table.layout.columns.index(table.layout.label)
  header = table.header
  replaced = {header.line.number: with_label(
      header.raws, table.labelled, position, quote(table.layout.label))}
  for row, example in zip(table.rows, examples):
    number = row.line.number
    label = prediction(gold_path, number, predictions, example.guid)
    text = table_format.format_label(gold_path, number, label, labels)
    replaced[number] = with_label(row.raws, table.labelled, position,
                                   quote(text))
  check_all_used(gold_path, predictions, {e.guid for e in examples})
  write_lines(out_path, table.lines, replaced)


_STS = _TableFormat(
    "sts", _sts_layouts,
    "a header ending in " + " or ".join(
        repr(TAB.join(texts + (STS_SCORE_COLUMN,)))
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


TABLE_FORMATS = {f.name: f for f in (_STS, _MEDNLI, _RELATION, _HOC)}
