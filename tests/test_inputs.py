"""serve/inputs.py: text, JSONL and BLUE inputs as records; every bad line
named by file and line."""

import os

import pytest

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)

from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl.errors import ConfigError, DataError
from bluebert_mtl.serve import inputs
from bluebert_mtl.serve import spans
from conftest import SAMPLE_DIR

CHEMPROT = tasks_lib.TASKS["chemprot"]
BIOSSES = tasks_lib.TASKS["biosses"]
NER = tasks_lib.TASKS["bc5cdr-chemical"]


def _file(tmp_path, name, content):
  path = tmp_path / name
  path.write_bytes(content if isinstance(content, bytes)
                   else content.encode("utf-8"))
  return str(path)


def _read(path, input_format, tasks=(CHEMPROT,)):
  return list(inputs.read_records(path, input_format, list(tasks)))


def test_text_lines(tmp_path):
  path = _file(tmp_path, "in.txt", "\ufefffirst text\n\n  \nA\tB\r\nlast")
  records = _read(path, "text", [])
  assert [(r.id, r.line, r.texts, r.is_empty) for r in records] == [
      (1, 1, ("first text",), False), (2, 2, ("",), True),
      (3, 3, ("  ",), True), (4, 4, ("A", "B"), False),
      (5, 5, ("last",), False)]


def test_a_pair_task_takes_tabbed_lines(tmp_path):
  path = _file(tmp_path, "in.txt", "a\tb\n\nc\n")
  with pytest.raises(DataError, match=f"{path}:3: task biosses takes a pair"):
    _read(path, "text", [BIOSSES])
  with pytest.raises(DataError, match=f"{path}:1: task chemprot takes one"):
    _read(path, "text", [CHEMPROT])
  path = _file(tmp_path, "two_tabs.txt", "a\tb\tc\n")
  with pytest.raises(DataError, match=f"{path}:1: 2 tabs"):
    _read(path, "text", [BIOSSES])


def test_jsonl_records(tmp_path):
  path = _file(tmp_path, "in.jsonl", "\n".join([
      '{"id": "d1", "text": "Aspirin reduced COX-2.", "entities": '
      '[{"start": 0, "end": 7, "type": "chemical"}, '
      '{"start": 16, "end": 21, "type": "gene"}]}',
      '{"text": "no id"}',
      "",
      '{"id": 7, "text_a": "a", "text_b": "b"}']) + "\n")
  records = _read(path, "jsonl", [])
  assert [(r.id, r.line, r.texts) for r in records] == [
      ("d1", 1, ("Aspirin reduced COX-2.",)), (2, 2, ("no id",)),
      (3, 3, ("",)), (7, 4, ("a", "b"))]
  assert records[0].entities == (spans.Entity(0, 7, "chemical"),
                                 spans.Entity(16, 21, "gene"))
  assert records[2].is_empty


@pytest.mark.parametrize("line, message", [
    ('{"text": "a"', "not JSON: Expecting ',' delimiter at column 13"),
    ('["a"]', "a JSON object {...} expected, got list"),
    ('{"txt": "a"}', r"unknown keys \['txt'\]"),
    ('{"text_a": "a"}', 'give "text", or "text_a" and "text_b"'),
    ('{"text": "a", "text_a": "b", "text_b": "c"}', 'give "text"'),
    ('{"text": 3}', "text must be strings"),
    ('{"id": 1.5, "text": "a"}', '"id" must be a string or an integer'),
    ('{"text": "abc", "entities": [{"start": 0, "end": 1, "type": "x"}]}',
     '"entities" must list the two entities'),
    ('{"text": "abc", "entities": [{"start": 0, "end": 1, "type": "x"}, '
     '{"start": 2, "end": 4, "type": "y"}]}',
     r"entity 2: start 2, end 4 is not a span of the text \(0 <= start < "
     r"end <= 3"),
    ('{"text": "abc", "entities": [{"start": 1, "end": 1, "type": "x"}, '
     '{"start": 2, "end": 3, "type": "y"}]}', "entity 1: start 1, end 1"),
    ('{"text": "abc", "entities": [{"start": 0, "end": 1}, '
     '{"start": 2, "end": 3, "type": "y"}]}',
     "entity 1 must be an object with exactly the keys start, end, type"),
    ('{"text": "abc", "entities": [{"start": 0, "end": 1, "type": " "}, '
     '{"start": 2, "end": 3, "type": "y"}]}', "entity 1: type must be a non-empty"),
    ('{"text_a": "a", "text_b": "b", "entities": []}',
     '"entities" go with "text"'),
])
def test_bad_jsonl_line_is_named(tmp_path, line, message):
  path = _file(tmp_path, "in.jsonl", '{"text": "fine"}\n' + line + "\n")
  with pytest.raises(DataError, match=f"{path}:2: {message}"):
    _read(path, "jsonl", [])


def test_non_utf8_line_is_named(tmp_path):
  path = _file(tmp_path, "in.txt", b"fine\nbad \xff byte\n")
  with pytest.raises(DataError,
                     match=f"{path}:2: not UTF-8: byte 0xff at byte 5"):
    _read(path, "text", [])


def test_blue_file_records(tmp_path):
  path = os.path.join(SAMPLE_DIR, "chemprot", "dev.tsv")
  records = _read(path, "blue", [CHEMPROT])
  examples = CHEMPROT.read(path)
  assert [r.id for r in records] == [ex.guid for ex in examples]
  assert [r.texts for r in records] == [(ex.text_a,) for ex in examples]
  assert [r.line for r in records] == list(range(2, len(examples) + 2))
  ner = _read(os.path.join(SAMPLE_DIR, NER.name, "test.tsv"), "blue", [NER])
  assert ner[0].texts == (" ".join(ner[0].example.words),)
  with pytest.raises(ConfigError, match="a BLUE file is the input of one "
                     "task; name it with --tasks"):
    _read(path, "blue", [CHEMPROT, NER])


def test_an_unlabelled_blue_file_of_any_name(tmp_path):
  path = _file(tmp_path, "mine.tsv", "index\tsentence\nr1\t@CHEMICAL$ x\n")
  (record,) = _read(path, "blue", [CHEMPROT])
  assert (record.id, record.texts) == ("r1", ("@CHEMICAL$ x",))


def test_auto_format(tmp_path):
  assert inputs.resolve_format("x.JSONL", "auto") == "jsonl"
  assert inputs.resolve_format("x.tsv", "auto") == "blue"
  assert inputs.resolve_format("x.tsv", "text") == "text"
  assert inputs.resolve_format(
      _file(tmp_path, "a.txt", '\n  {"text": "a"}\n'), "auto") == "jsonl"
  assert inputs.resolve_format(
      _file(tmp_path, "b.txt", "\n{curly} text\n"), "auto") == "jsonl"
  assert inputs.resolve_format(
      _file(tmp_path, "c.txt", "plain {text}\n"), "auto") == "text"
  with pytest.raises(ConfigError, match="--input_format must be one of"):
    inputs.resolve_format("x.txt", "csv")


def test_windows():
  assert [len(w) for w in inputs.windows(range(7), 3)] == [3, 3, 1]
  assert [len(w) for w in inputs.windows(range(7), None)] == [7]
  assert not list(inputs.windows([], 3))


def test_items():
  records = inputs.item_records(["a", {"id": "x", "text": "b"}, ""],
                                CHEMPROT)
  assert [(r.id, r.texts) for r in records] == [(1, ("a",)), ("x", ("b",)),
                                                (3, ("",))]
  assert inputs.item_records([("c", "d")], BIOSSES)[0].texts == ("c", "d")
  with pytest.raises(DataError, match="<texts>:2: task biosses takes a pair"):
    inputs.item_records([("c", "d"), "e"], BIOSSES)
  with pytest.raises(DataError, match="<texts>:1: an item is a text"):
    inputs.item_records([3], CHEMPROT)
  with pytest.raises(DataError, match="<texts>: give a list of texts"):
    inputs.item_records("one text", CHEMPROT)


def test_a_missing_file_is_named(tmp_path):
  for input_format in ("text", "blue"):
    with pytest.raises(DataError, match=f"{tmp_path}/no.tsv: cannot read the "
                       "input: no such file"):
      _read(str(tmp_path / "no.tsv"), input_format)
