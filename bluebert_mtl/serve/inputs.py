"""Prediction inputs: text, JSONL and BLUE files read into checked records.

One `Record` per input line, in input order (docs/prediction.md):

  text    one text a line; a tab splits the two texts of a pair task:
            Aspirin-induced asthma in two patients.
  jsonl   one JSON object a line: {"id", "text"} or {"id", "text_a",
          "text_b"}; "id" (a string or an integer) is optional; relation
          tasks may add the two "entities" to mask, [{"start", "end",
          "type"}, {...}] (character offsets into "text"):
            {"id": "d1", "text": "Aspirin-induced asthma.", "entities":
             [{"start": 0, "end": 7, "type": "chemical"}, ...]}
  blue    a file in the task's BLUE layout (`data/readers`), read by the
          task's reader (labels, if any, are not used but for where NER
          sentences are cut, as training cuts them); one record a row or
          sentence, its id the row's guid

A record's id is the input's, else its 1-based line number. A blank line
(text and jsonl) is an empty record: it gets an empty result. Text and JSONL
files are read line by line, so `windows` streams a file of any length; a
BLUE file is read whole, as training reads it.

Every record is checked against every task it is for before anything is
predicted: a problem is a `DataError` naming the file and line.
"""

import dataclasses
import itertools
import json
import os
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from bluebert_mtl.data import readers
from bluebert_mtl.data.examples import TaggedExample
from bluebert_mtl.errors import ConfigError, DataError

from bluebert_mtl.serve import spans

INPUT_FORMATS = ("auto", "text", "jsonl", "blue")
PAIR_SEPARATOR = "\t"  # between the two texts of a text-format line
JSONL_SUFFIXES = (".jsonl", ".json")
BLUE_SUFFIX = ".tsv"
_SINGLE_KEYS, _PAIR_KEYS = ("text",), ("text_a", "text_b")
_JSONL_KEYS = ("id", "entities") + _SINGLE_KEYS + _PAIR_KEYS
_ENTITY_KEYS = ("start", "end", "type")
ITEMS = "<texts>"  # the "file" of Predictor.predict's items, in errors
_BOM = "\ufeff"  # a byte-order mark opening a file is not text


@dataclasses.dataclass(frozen=True)
class Record:
  """One input line.

  Attributes:
    id: the input's id, else the line number.
    line: 1-based line of the input (BLUE: of the row or first token).
    texts: (text,) or (text_a, text_b).
    entities: () or the two `spans.Entity`s of a relation, in texts[0].
    example: BLUE input only: the example as the task's reader gave it.
  """
  id: Union[str, int]
  line: int
  texts: Tuple[str, ...]
  entities: Tuple[spans.Entity, ...] = ()
  example: Optional[object] = None

  @property
  def is_empty(self) -> bool:
    """Whether every text is blank (the record gets an empty result)."""
    return not any(text.strip() for text in self.texts)


def resolve_format(path: str, input_format: str) -> str:
  """The format of `path`: `input_format` unless "auto", which takes
  .jsonl / .json as jsonl, .tsv as blue, and any other file as jsonl where
  its first non-blank line starts with "{", else as text."""
  if input_format not in INPUT_FORMATS:
    raise ConfigError(f"--input_format must be one of "
                      f"{', '.join(INPUT_FORMATS)}, got {input_format!r}")
  if input_format != "auto":
    return input_format
  suffix = os.path.splitext(path)[1].lower()
  if suffix in JSONL_SUFFIXES:
    return "jsonl"
  if suffix == BLUE_SUFFIX:
    return "blue"
  for _, line in _lines(path):
    if line.strip():
      return "jsonl" if line.lstrip().startswith("{") else "text"
  return "text"


def _lines(path: str) -> Iterator[Tuple[int, str]]:
  """(1-based number, text without its line ending) of each line."""
  try:
    with open(path, "rb") as f:
      for number, raw in enumerate(f, start=1):
        try:
          line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
          raise DataError(path, number, f"not UTF-8: byte 0x{raw[e.start]:02x}"
                          f" at byte {e.start + 1} of the line") from None
        if number == 1:
          line = line.removeprefix(_BOM)
        yield number, line.rstrip("\n").removesuffix("\r")
  except OSError as e:
    raise DataError(path, None, f"cannot read the input: {e.strerror}"
                    ) from None


def _text_record(path: str, number: int, line: str) -> Record:
  texts = tuple(line.split(PAIR_SEPARATOR))
  if len(texts) > 2:
    raise DataError(path, number, f"{len(texts) - 1} tabs: a text-format "
                    "line holds one text, or a pair split by one tab")
  return Record(number, number, texts)


def _jsonl_record(path: str, number: int, line: str) -> Record:
  if not line.strip():
    return Record(number, number, ("",))
  try:
    value = json.loads(line)
  except json.JSONDecodeError as e:
    raise DataError(path, number, f"not JSON: {e.msg} at column {e.colno}"
                    ) from None
  return object_record(path, number, value)


def object_record(path: str, number: int, value) -> Record:
  """The record of one JSON object (module docstring)."""
  if not isinstance(value, dict):
    raise DataError(path, number, "a JSON object {...} expected, got "
                    f"{type(value).__name__}")
  unknown = sorted(set(value) - set(_JSONL_KEYS))
  if unknown:
    raise DataError(path, number, f"unknown keys {unknown}; the keys are "
                    f"{', '.join(_JSONL_KEYS)}")
  keys = tuple(k for k in _SINGLE_KEYS + _PAIR_KEYS if k in value)
  if keys not in (_SINGLE_KEYS, _PAIR_KEYS):
    raise DataError(path, number, 'give "text", or "text_a" and "text_b" '
                    f"(given: {', '.join(keys) or 'none'})")
  texts = tuple(value[k] for k in keys)
  if not all(isinstance(text, str) for text in texts):
    raise DataError(path, number, f"{' and '.join(keys)} must be strings")
  id_ = value.get("id", number)
  if isinstance(id_, bool) or not isinstance(id_, (str, int)):
    raise DataError(path, number, f'"id" must be a string or an integer, '
                    f"got {id_!r}")
  entities = ()
  if "entities" in value:
    entities = _entities(path, number, value["entities"], texts)
  return Record(id_, number, texts, entities)


def _entities(path: str, number: int, value,
              texts: Tuple[str, ...]) -> Tuple[spans.Entity, ...]:
  """The two entities of a relation, checked against the text."""
  if len(texts) != 1:
    raise DataError(path, number, '"entities" go with "text": relation tasks '
                    "take one text")
  if not isinstance(value, list) or len(value) != 2:
    raise DataError(path, number, '"entities" must list the two entities of '
                    'the relation, [{"start", "end", "type"}, {...}]')
  entities = []
  for i, entity in enumerate(value, start=1):
    if not isinstance(entity, dict) or sorted(entity) != sorted(_ENTITY_KEYS):
      raise DataError(path, number, f"entity {i} must be an object with "
                      f"exactly the keys {', '.join(_ENTITY_KEYS)}")
    start, end, kind = (entity[k] for k in _ENTITY_KEYS)
    if not all(isinstance(x, int) and not isinstance(x, bool)
               for x in (start, end)) or not 0 <= start < end <= len(texts[0]):
      raise DataError(path, number, f"entity {i}: start {start!r}, end "
                      f"{end!r} is not a span of the text (0 <= start < end "
                      f"<= {len(texts[0])} characters)")
    if not isinstance(kind, str) or not kind.strip():
      raise DataError(path, number, f"entity {i}: type must be a non-empty "
                      "string")
    entities.append(spans.Entity(start, end, kind))
  return tuple(entities)


def check_fits(path: str, record: Record, task) -> None:
  """Raises a `DataError` where a record does not fit a task: a pair for a
  single-text task or the reverse (an empty record fits every task)."""
  if record.is_empty:
    return
  pair = task.is_pair
  if pair and len(record.texts) != 2:
    raise DataError(path, record.line, f"task {task.name} takes a pair of "
                    'texts (text input: two texts split by a tab; jsonl: '
                    '"text_a" and "text_b")')
  if not pair and len(record.texts) != 1:
    raise DataError(path, record.line, f"task {task.name} takes one text, "
                    'not a pair (text input: no tab; jsonl: "text")')


def _blue_records(path: str, tasks: Sequence) -> List[Record]:
  if len(tasks) != 1:
    raise ConfigError(f"{path}: a BLUE file is the input of one task; name "
                      f"it with --tasks (one of {', '.join(t.name for t in tasks)})")
  (task,) = tasks
  split = readers.split_of(path) or readers.UNLABELLED_SPLIT
  examples = readers.FORMATS[task.file_format].read(path, task.labels, split)
  records = []
  for example in examples:
    if isinstance(example, TaggedExample):
      texts = (spans.joined_words(example.words)[0],)
    else:
      texts = tuple(t for t in (example.text_a, example.text_b)
                    if t is not None)
    records.append(Record(example.guid, example.line, texts, (), example))
  return records


def read_records(path: str, input_format: str,
                 tasks: Sequence) -> Iterator[Record]:
  """Every record of a file, checked against every task, in input order.

  Args:
    path: the input file.
    input_format: "text", "jsonl" or "blue" (see `resolve_format`).
    tasks: the `TaskSpec`s the records are for.

  Raises:
    DataError: naming the file and line of a record that cannot be read or
      does not fit a task.
    ConfigError: BLUE input for more than one task.
  """
  if not os.path.isfile(path):
    raise DataError(path, None, "cannot read the input: no such file")
  if input_format == "blue":
    records = iter(_blue_records(path, tasks))
  else:
    make = _text_record if input_format == "text" else _jsonl_record
    records = (make(path, number, line) for number, line in _lines(path))
  for record in records:
    for task in tasks:
      check_fits(path, record, task)
    yield record


def windows(records: Iterable[Record],
            size: Optional[int]) -> Iterator[List[Record]]:
  """Consecutive lists of `size` records (None: one list of them all)."""
  records = iter(records)
  while True:
    window = list(itertools.islice(records, size))
    if not window:
      return
    yield window


def item_records(items: Sequence, task) -> List[Record]:
  """Records of `Predictor.predict`'s items: a text, a (text_a, text_b)
  pair, or a JSONL-style object; errors name the item's 1-based position."""
  if isinstance(items, (str, dict)):
    raise DataError(ITEMS, None, "give a list of texts (or pairs, or dicts), "
                    f"not one {type(items).__name__}")
  records = []
  for number, item in enumerate(items, start=1):
    if isinstance(item, str):
      record = Record(number, number, (item,))
    elif (isinstance(item, (tuple, list)) and len(item) == 2 and
          all(isinstance(text, str) for text in item)):
      record = Record(number, number, tuple(item))
    elif isinstance(item, dict):
      record = object_record(ITEMS, number, item)
    else:
      raise DataError(ITEMS, number, "an item is a text, a (text_a, text_b) "
                      f"pair or a dict like a JSONL line, got {item!r:.80}")
    check_fits(ITEMS, record, task)
    records.append(record)
  return records
