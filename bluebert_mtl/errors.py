"""Errors raised on bad input. Each names the file and the line or variable.

A command stops on one of these with one line, `error: <what>: <message>`,
and exit status 2 (`commands/program.py`); `what` is the class's word for
the kind of problem. docs/errors.md lists every bad input handled.
"""

from typing import Optional


class BlueBertError(ValueError):
  """Base class of every input error the package raises."""
  what = "input"


class ConfigError(BlueBertError):
  """A configuration file or a flag combination that cannot be used."""
  what = "config"


class FlagError(ConfigError):
  """A command-line flag (or argument) that cannot be used, named."""
  what = "flag"


class RunFolderError(ConfigError):
  """A run folder that cannot be used as asked: not a run, begun with other
  settings or data, or out of space while being written."""
  what = "run folder"


class OutputError(BlueBertError):
  """An output that could not be written (the disk filled up); what was
  there before is kept."""
  what = "output"


class CheckpointError(BlueBertError):
  """A checkpoint that does not fit the config: missing, truncated, mis-shaped."""
  what = "checkpoint"


class DataError(BlueBertError):
  """A data file that cannot be read as its task's format.

  Args:
    path: the file.
    line: 1-based line number, or None for a whole-file problem.
    message: what is wrong, in words a user can act on.
  """
  what = "data"

  def __init__(self, path: str, line: Optional[int], message: str):
    self.path = path
    self.line = line
    where = f"{path}:{line}" if line is not None else path
    super().__init__(f"{where}: {message}")
