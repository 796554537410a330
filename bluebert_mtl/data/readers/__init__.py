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

import dataclasses
import functools
from typing import Callable, Dict, Mapping, Optional, Sequence

from bluebert_mtl.data.examples import Label
from bluebert_mtl.data.readers.lines import (UNLABELLED_SPLIT, find_split_file,
                                             split_of)
from bluebert_mtl.data.readers.ner import (
    match_by_position, read_ner, write_ner_predictions)
from bluebert_mtl.data.readers.tables import (
    TABLE_FORMATS, read_hoc, read_mednli, read_relation, read_sts,
    write_table_predictions)


__all__ = ["FORMATS", "FileFormat", "find_split_file", "match_by_position",
           "read_hoc", "read_mednli", "read_ner", "read_relation", "read_sts",
           "split_of", "write_predictions"]


@dataclasses.dataclass(frozen=True)
class FileFormat:
  """One BLUE file layout.

  Attributes:
    name: the format's key (a task's `file_format`).
    read: (path, labels, split=None) -> examples, in file order.
    write: (gold_path, predictions, out_path, labels, split) -> None; see
      `write_predictions`.
    pair: whether a row holds two texts (`text_a`, `text_b`).
    entities_masked: whether a row's two entities are masked in its text
      (`@CHEMICAL$`..., docs/original_system.md §1).
  """
  name: str
  read: Callable
  write: Callable
  pair: bool
  entities_masked: bool = False


def _table(name: str, read: Callable, pair: bool) -> FileFormat:
  return FileFormat(name, read, functools.partial(
      write_table_predictions, TABLE_FORMATS[name]), pair)


FORMATS: Dict[str, FileFormat] = {f.name: f for f in (
    _table("sts", read_sts, pair=True),
    _table("mednli", read_mednli, pair=True),
    dataclasses.replace(_table("relation", read_relation, pair=False),
                        entities_masked=True),
    _table("hoc", read_hoc, pair=False),
    FileFormat("ner", read_ner, write_ner_predictions, pair=False),
)}


def write_predictions(file_format: str, gold_path: str,
                      predictions: Mapping[str, Label],
                      out_path: str, labels: Sequence[str],
                      split: Optional[str] = None):
  """Writes `gold_path` again with the predicted labels in its label column.

  Every other column, the header and the line endings are kept; an
  unlabelled gold file gets the label column where a labelled one has it.
  Labels are written as the gold file writes them: a class name, a score
  (`repr` of the float), HoC's `0_v,...,9_v`, NER tags in the gold file's
  encoding (untyped B/I/O where its tags are). `FORMATS[file_format].read` reads
  the written file back to the predicted labels.

  Args:
    file_format: a key of `FORMATS`.
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
  if file_format not in FORMATS:
    raise ValueError(f"unknown format {file_format!r}; the formats are "
                     f"{', '.join(FORMATS)}")
  FORMATS[file_format].write(gold_path, predictions, out_path, labels, split)
