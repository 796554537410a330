"""Lines and tab-separated fields of BLUE files, as read and as written back.

Files are UTF-8 (a leading byte-order mark is dropped); lines end in "\\n" or
"\\r\\n" and keep their ending when written back. Fields are csv-quoted
(QUOTE_MINIMAL, as BLUE writes) in header-led tables and BLUE's 4-column NER
files; the rule for what counts as a quoted field is in the readers' package
docstring (`bluebert_mtl.data.readers`). Also here: which file of a task
folder holds which split, and the checks every prediction writer shares.
"""

import os
from typing import List, Mapping, NamedTuple, Optional, Sequence, Set, Tuple

from bluebert_mtl import files
from bluebert_mtl.data.examples import Label
from bluebert_mtl.errors import DataError


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

TAB = "\t"
_QUOTE = '"'
_DOUBLED_QUOTE = '""'
_NEEDS_QUOTING = (_QUOTE, TAB, "\n", "\r")
_NEWLINE = "\n"
_CARRIAGE_RETURN = "\r"
_UTF8_BOM = b"\xef\xbb\xbf"
_MAX_LISTED = 5  # guids listed in an error about many predictions


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


def check_may_be_unlabelled(path: str, number: int, split: Optional[str],
                             column: str):
  if split != UNLABELLED_SPLIT:
    raise DataError(path, number, f"no {column!r} column: only a test file may "
                    f"leave out its labels (this file's split: {split})")


# ---------------------------------------------------------------- lines, fields


class Line(NamedTuple):
  number: int  # 1-based
  text: str  # without the line ending
  ending: str  # "\n", "\r\n" or "" (a last line without one)


class Row(NamedTuple):
  line: Line
  values: Tuple[str, ...]  # the fields' texts
  raws: Tuple[str, ...]  # the fields as written (quoted or not)


def read_lines(path: str) -> List[Line]:
  """The file's lines, UTF-8 decoded (a leading byte-order mark dropped)."""
  try:
    with open(path, "rb") as f:
      data = f.read()
  except OSError as e:
    raise DataError(path, None, f"cannot read it: {e.strerror}") from e
  pieces = _decode(path, data).split(_NEWLINE)
  lines = [_line(i + 1, text, _NEWLINE) for i, text in enumerate(pieces[:-1])]
  if pieces[-1]:
    lines.append(_line(len(pieces), pieces[-1], ""))
  if not lines:
    raise DataError(path, None, "empty file")
  return lines


def _line(number: int, text: str, newline: str) -> Line:
  if text.endswith(_CARRIAGE_RETURN):
    return Line(number, text[:-1], _CARRIAGE_RETURN + newline)
  return Line(number, text, newline)


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


def split_row(path: str, line: Line, quoted: bool) -> Row:
  """The tab-separated fields of a line; csv-unquoted where `quoted`."""
  if not quoted:
    raws = tuple(line.text.split(TAB))
    return Row(line, raws, raws)
  values, raws = [], []
  start = 0
  while True:
    value, end = _quoted_field(path, line, start, len(values) + 1)
    values.append(value)
    raws.append(line.text[start:end])
    if end == len(line.text):
      return Row(line, tuple(values), tuple(raws))
    start = end + 1


def _quoted_field(path: str, line: Line, start: int,
                  column: int) -> Tuple[str, int]:
  """Text and end of the field at `start` of a line of a csv-quoted file."""
  text = line.text
  tab = text.find(TAB, start)
  plain_end = len(text) if tab < 0 else tab
  if not text.startswith(_QUOTE, start):
    return text[start:plain_end], plain_end
  close = _closing_quote(text, start + 1)
  if close is None:
    raise DataError(path, line.number, f"unterminated quote in column "
                    f"{column}: a field starting with {_QUOTE} must end with "
                    f"{_QUOTE}, a {_QUOTE} inside it written {_DOUBLED_QUOTE}")
  end = close + 1
  if end == len(text) or text[end] == TAB:
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


def quote(value: str) -> str:
  """`value` as csv QUOTE_MINIMAL writes a field."""
  if any(c in value for c in _NEEDS_QUOTING):
    return _QUOTE + value.replace(_QUOTE, _DOUBLED_QUOTE) + _QUOTE
  return value


def with_label(raws: Tuple[str, ...], labelled: bool, position: int,
                label: str) -> str:
  """A line of fields `raws` with `label` in column `position` (replacing the
  field there where `labelled`, inserted there where not)."""
  others = raws[:position] + raws[position + 1:] if labelled else raws
  return TAB.join(others[:position] + (label,) + others[position:])


def write_lines(path: str, lines: Sequence[Line], replaced: Mapping[int,
                                                                       str]):
  """Writes `lines`, the texts of those numbered in `replaced` replaced
  (whole or not at all: `files.written_whole`)."""
  with files.written_whole(path, encoding="utf-8", newline="") as f:
    for line in lines:
      f.write(replaced.get(line.number, line.text) + line.ending)


def listed(labels: Sequence[str]) -> str:
  """Labels as a comma-separated list for messages."""
  return ", ".join(labels) if labels else "(none given)"


def prediction(path: str, number: int,
                predictions: Mapping[str, Label], guid: str):
  if guid not in predictions:
    raise DataError(path, number, f"no prediction for {guid!r}")
  return predictions[guid]


def check_all_used(path: str, predictions: Mapping[str, Label],
                    guids: Set[str]):
  extra = [guid for guid in predictions if guid not in guids]
  if extra:
    raise DataError(path, None, f"{len(extra)} predictions for guids not in "
                    f"this file, e.g. {', '.join(extra[:_MAX_LISTED])}")
