"""Errors raised on bad input. Each names the file and the line or variable."""

from typing import Optional


class BlueBertError(ValueError):
  """Base class of every input error the package raises."""


class ConfigError(BlueBertError):
  """A configuration file or a flag combination that cannot be used."""


class CheckpointError(BlueBertError):
  """A checkpoint that does not fit the config: missing, truncated, mis-shaped."""


class DataError(BlueBertError):
  """A data file that cannot be read as its task's format.

  Args:
    path: the file.
    line: 1-based line number, or None for a whole-file problem.
    message: what is wrong, in words a user can act on.
  """

  def __init__(self, path: str, line: Optional[int], message: str):
    self.path = path
    self.line = line
    where = f"{path}:{line}" if line is not None else path
    super().__init__(f"{where}: {message}")
