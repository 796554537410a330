"""Output files are written whole or not at all, and a full disk is named."""

import errno
import os

import pytest
import tensorflow as tf

from bluebert_mtl import files
from bluebert_mtl.errors import OutputError


def test_a_file_is_replaced_whole_or_kept(tmp_path):
  path = tmp_path / "results.json"
  path.write_text("old")
  with files.written_whole(str(path)) as f:
    f.write("new")
    assert path.read_text() == "old"  # not yet: the rename comes last
  assert path.read_text() == "new"
  with pytest.raises(KeyError):
    with files.written_whole(str(path)) as f:
      f.write("half")
      raise KeyError("killed half-way")
  assert path.read_text() == "new"
  assert os.listdir(tmp_path) == ["results.json"]  # no temporary left


@pytest.mark.parametrize("full", [
    OSError(errno.ENOSPC, "No space left on device"),
    OSError(errno.EDQUOT, "Disk quota exceeded"),
    tf.errors.ResourceExhaustedError(None, None, "No space left on device"),
])
def test_a_full_disk_is_one_error_naming_the_folder(tmp_path, full):
  path = tmp_path / "sub" / "predictions.tsv"
  with pytest.raises(OutputError) as error:
    with files.written_whole(str(path)) as f:
      f.write("row\n")
      raise full
  assert str(error.value) == (
      f"{tmp_path / 'sub'}: no space left on the device while writing "
      "predictions.tsv (nothing of it was written)")
  assert os.listdir(tmp_path / "sub") == []


def test_other_os_errors_pass_through(tmp_path):
  with pytest.raises(PermissionError):
    with files.space_checked(str(tmp_path), "x"):
      raise PermissionError(errno.EACCES, "Permission denied")
