"""A JSON-lines output written whole or not at all.

A file is written under a temporary name beside it and renamed over the
target only once every line is written, so a run that stops on bad input
(or is killed) leaves no half-written file behind and an older file in
place. "-" writes to standard output as the lines come.
"""

import contextlib
import json
import os
import sys
from typing import Callable, Iterator

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
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  temporary = f"{path}.tmp-{os.getpid()}"
  try:
    with open(temporary, "w", encoding="utf-8") as f:
      yield lambda record: _write(f, record)
    os.replace(temporary, path)
  finally:
    if os.path.exists(temporary):
      os.remove(temporary)


def _write(stream, record: dict) -> None:
  stream.write(json.dumps(record, ensure_ascii=False) + "\n")
