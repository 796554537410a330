"""A JSON-lines output written whole or not at all.

A file is written under a temporary name beside it and renamed over the
target only once every line is written (`files.written_whole`), so a run
that stops on bad input (or is killed) leaves no half-written file behind
and an older file in place. "-" writes to standard output as the lines come.
"""

import contextlib
import json
import sys
from typing import Callable, Iterator

from bluebert_mtl import files

STDOUT = "-"


@contextlib.contextmanager
def json_lines(path: str) -> Iterator[Callable[[dict], None]]:
  """Yields write(record): one JSON object a line, UTF-8, non-ASCII kept.

  Args:
    path: the file to write, or "-" for standard output.
  """
  if path == STDOUT:
    yield lambda record: _write(sys.stdout, record)
    sys.stdout.flush()
    return
  with files.written_whole(path, encoding="utf-8") as f:
    yield lambda record: _write(f, record)


def _write(stream, record: dict) -> None:
  stream.write(json.dumps(record, ensure_ascii=False) + "\n")
