"""Token-per-line NER files (BC5CDR, ShARe/CLEFE): reader and writer.

Two layouts, told apart by the width of the first token line: BLUE's
4-column release (csv-quoted, untyped B/I/O tags, document ids and character
offsets) and CoNLL 2-column IOB (plain text, typed tags). Sentences end at a
blank line; `NER_COMMENT_PREFIX` lines are skipped and counted.
"""

import collections
import dataclasses
import functools
import os
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from absl import logging

from bluebert_mtl.data.examples import Label, TaggedExample
from bluebert_mtl.data.readers.lines import (
    TAB, Line, Row, check_all_used, check_may_be_unlabelled, listed,
    prediction, quote, read_lines, split_of, split_row, with_label,
    write_lines)
from bluebert_mtl.errors import DataError

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


# ---------------------------------------------------------------- NER


@dataclasses.dataclass(frozen=True)
class _NerFile:
  lines: List[Line]
  layout: _NerLayout
  tagged: bool
  sentences: List[List[Row]]
  comments: int  # NER_COMMENT_PREFIX lines skipped


def _is_comment(line: Line) -> bool:
  return line.text.startswith(NER_COMMENT_PREFIX)


def _is_blank(line: Line) -> bool:
  return not line.text.strip()


def _read_ner_file(path: str, split: Optional[str]) -> _NerFile:
  lines = read_lines(path)
  first = next((l for l in lines if not _is_blank(l) and not _is_comment(l)),
               None)
  if first is None:
    raise DataError(path, None, "no sentences")
  layout, tagged = _ner_layout(path, first)
  if not tagged:
    check_may_be_unlabelled(path, first.number, split, NER_TAG_COLUMN)
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


def _ner_layout(path: str, line: Line) -> Tuple[_NerLayout, bool]:
  """The layout of a file, and whether it is tagged, by its first token line."""
  width = len(line.text.split(TAB))
  for layout in (BLUE_NER, CONLL_NER):
    if width in (len(layout.columns), len(layout.columns) - 1):
      return layout, width == len(layout.columns)
  raise DataError(path, line.number, f"{width} columns; NER files have "
                  f"{_describe_ner(BLUE_NER)} or {_describe_ner(CONLL_NER)}")


def _describe_ner(layout: _NerLayout) -> str:
  return f"{len(layout.columns)} ({', '.join(layout.columns)})"


def _ner_row(path: str, line: Line, layout: _NerLayout, width: int) -> Row:
  row = split_row(path, line, layout.quoted)
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
                    f"entity type; the tags given are {listed(labels)}")
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


def _ner_ids(path: str, ner: _NerFile, split: Optional[str]
             ) -> List[Tuple[str, Optional[str]]]:
  """(guid, document id or None) of each sentence."""
  if NER_DOCID_COLUMN not in ner.layout.columns:
    prefix = split or os.path.splitext(os.path.basename(path))[0]
    return [(f"{prefix}-{i}", None) for i in range(len(ner.sentences))]
  ids, docid = [], None
  for sentence in ner.sentences:
    first = dict(zip(ner.layout.columns, sentence[0].values))
    if first[NER_DOCID_COLUMN] != NER_NO_DOCID:
      docid = first[NER_DOCID_COLUMN]
    if docid is None:
      raise DataError(path, sentence[0].line.number,
                      f"the first sentence has no document id ({NER_NO_DOCID})")
    ids.append((f"{docid}.{first[NER_OFFSET_COLUMN]}", docid))
  return ids


def _ner_examples(path: str, ner: _NerFile, labels: Sequence[str],
                  split: Optional[str]) -> List[TaggedExample]:
  ids = _ner_ids(path, ner, split)
  tag_map = _tag_map(path, ner, labels) if ner.tagged else {}
  examples, seen = [], {}
  for index, ((guid, document), sentence) in enumerate(zip(ids,
                                                           ner.sentences)):
    number = sentence[0].line.number
    if guid in seen:
      raise DataError(path, number, f"sentence id {guid!r} again (first at "
                      f"line {seen[guid]})")
    seen[guid] = number
    words = tuple(row.values[ner.layout.token_index] for row in sentence)
    tags = (tuple(_typed_tag(path, row, ner.layout, tag_map)
                  for row in sentence)
            if ner.tagged else None)
    examples.append(TaggedExample(guid, words, tags, index, 0, number,
                                  document))
  return examples


def _typed_tag(path: str, row: Row, layout: _NerLayout,
               tag_map: Mapping[str, str]) -> str:
  tag = row.values[layout.tag_index]
  if tag not in tag_map:
    raise DataError(path, row.line.number, f"unknown tag {tag!r}; this file's "
                    f"tags are {listed(list(tag_map))}")
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


def write_ner_predictions(gold_path: str,
                           predictions: Mapping[str, Label],
                           out_path: str, labels: Sequence[str],
                           split: Optional[str]):
  ner, examples = _read_ner(gold_path, labels, split)
  tag_map = _tag_map(gold_path, ner, labels)
  to_file = {typed: tag for tag, typed in tag_map.items()}
  position = ner.layout.tag_index
  encode = quote if ner.layout.quoted else str
  replaced = {}
  for example, sentence in zip(examples, ner.sentences):
    tags = prediction(gold_path, example.line, predictions, example.guid)
    if not isinstance(tags, (tuple, list)) or len(tags) != len(sentence):
      raise DataError(gold_path, example.line, f"prediction for "
                      f"{example.guid!r} is not {len(sentence)} tags: {tags!r}")
    for row, tag in zip(sentence, tags):
      if tag not in to_file:
        raise DataError(gold_path, row.line.number, f"predicted tag {tag!r} "
                        f"is not one of {listed(list(to_file))}")
      replaced[row.line.number] = with_label(row.raws, ner.tagged, position,
                                              encode(to_file[tag]))
  check_all_used(gold_path, predictions, {e.guid for e in examples})
  write_lines(out_path, ner.lines, replaced)


# ---------------------------------------------------------------- scoring


def _preview(words: Sequence[str], most: int = 8) -> str:
  """The first words of a sentence, quoted, for messages."""
  more = " ..." if len(words) > most else ""
  return repr(" ".join(words[:most]) + more)


def match_by_position(gold_path: str, gold: Sequence[TaggedExample],
                      pred_path: str, predicted: Sequence[TaggedExample]
                      ) -> List[TaggedExample]:
  """A prediction file's sentences matched to a gold file's by position.

  The i-th predicted sentence is the i-th gold one, whatever either file is
  named (a CoNLL file's guids hold its name), once nothing shows otherwise.

  Args:
    gold_path: the gold file.
    gold: its sentences (`read_ner`), in file order.
    pred_path: the prediction file.
    predicted: its sentences, in file order.

  Returns:
    the predicted sentences, each with the guid of its gold sentence.

  Raises:
    DataError: naming the prediction file and line where a mismatch is
      certain: a sentence whose words are not those of the gold sentence at
      its position, another document id or offset where both files have
      document ids (BLUE 4-column), or another number of sentences.
  """
  for number, (g, p) in enumerate(zip(gold, predicted), 1):
    where = f"the gold file's sentence {number} ({gold_path}:{g.line})"
    if p.words != g.words:
      raise DataError(pred_path, p.line, f"sentence {number} "
                      f"{_preview(p.words)} is not {where} "
                      f"{_preview(g.words)}; predicted sentences are matched "
                      "to gold ones by position")
    if None not in (p.document, g.document) and p.guid != g.guid:
      raise DataError(pred_path, p.line, f"sentence {number} is document."
                      f"offset {p.guid!r}, {where} is {g.guid!r}")
  if len(predicted) > len(gold):
    raise DataError(pred_path, predicted[len(gold)].line,
                    f"sentence {len(gold) + 1}: the gold file {gold_path} "
                    f"has {len(gold)} sentences")
  if len(predicted) < len(gold):
    raise DataError(pred_path, predicted[-1].line,
                    f"the file ends with sentence {len(predicted)}; the gold "
                    f"file has {len(gold)} (sentence {len(predicted) + 1} at "
                    f"{gold_path}:{gold[len(predicted)].line})")
  return [dataclasses.replace(p, guid=g.guid) for g, p in zip(gold, predicted)]
