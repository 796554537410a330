"""Output files and folders: checked before any work, written whole.

Every command checks its output paths up front (`check_output_path`), so a
path that is a file where a folder is wanted, lies under a file or cannot be
written stops the command before it trains, exports or scores anything.
Files are written whole or not at all (`written_whole`: a temporary file
renamed over the target), and running out of space while writing (the
file system's ENOSPC or EDQUOT; TensorFlow raises them as
`ResourceExhaustedError`) becomes an `OutputError` naming the folder
(`space_checked`).
"""

import contextlib
import errno
import os
from typing import Iterator

import tensorflow as tf

from bluebert_mtl.errors import FlagError, OutputError

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def check_output_path(path: str, flag: str, folder: bool = True):
  """Refuses an output path that cannot be written, before any work.

  Args:
    path: where the command will write (made if missing).
    flag: the flag that gave it, without "--".
    folder: whether a folder is written there, else a file.

  Raises:
    FlagError: naming the flag and the path: a file where a folder is wanted
      or the reverse, a path under a file, or one whose nearest existing
      folder this process may not write into.
  """
  path = os.path.abspath(path)
  if os.path.exists(path) and os.path.isdir(path) != folder:
    wanted, found = ("folder", "file") if folder else ("file", "folder")
    raise FlagError(f"--{flag}={path} is a {found}; give a {wanted}")
  existing = path if folder else os.path.dirname(path)
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    raise FlagError(f"--{flag}={path} lies under the file {existing}")
  if not os.access(existing, os.W_OK | os.X_OK):
    raise FlagError(f"--{flag}={path}: the folder {existing} is not "
                    "writable")


def out_of_space(error: BaseException) -> bool:
  """Whether `error` says the disk (or the user's quota) is full."""
  if isinstance(error, OSError):
    return error.errno in _NO_SPACE
  return isinstance(error, tf.errors.ResourceExhaustedError)


@contextlib.contextmanager
def space_checked(folder: str, what: str) -> Iterator[None]:
  """Turns running out of space inside the block into an `OutputError`.

  Args:
    folder: the folder written to, named in the message.
    what: what was being written and what is kept, e.g. "checkpoint 20
      (the last good checkpoint, ckpt-10, is kept)".
  """
  try:
    yield
  except (OSError, tf.errors.ResourceExhaustedError) as e:
    if not out_of_space(e):
      raise
    raise OutputError(f"{folder}: no space left on the device while "
                      f"writing {what}") from e


@contextlib.contextmanager
def written_whole(path: str, mode: str = "w", **open_args) -> Iterator:
  """Opens a temporary file beside `path` for writing; when the block ends
  without error it is renamed over `path`, otherwise removed, so that a
  reader never sees half a file. Its folder is made if missing.

  Args:
    path: the file to write.
    mode: "w" or "wb".
    **open_args: passed to `open` (encoding, newline).

  Raises:
    OutputError: the disk filled up (the old file, if any, is kept).
  """
  folder = os.path.dirname(os.path.abspath(path))
  temporary = f"{path}.tmp-{os.getpid()}"
  with space_checked(folder, f"{os.path.basename(path)} (nothing of it "
                     "was written)"):
    try:
      os.makedirs(folder, exist_ok=True)
      with open(temporary, mode, **open_args) as f:
        yield f
      os.replace(temporary, path)
    finally:
      if os.path.exists(temporary):
        os.remove(temporary)
