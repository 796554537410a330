"""Weight files without torch: torch zip and legacy files written by hand,
sharded safetensors, and pickles that must be refused unexecuted."""

import collections
import json
import os
import re
import zipfile

import numpy as np
import pytest
from safetensors.numpy import save_file

from bluebert_mtl.errors import CheckpointError
from bluebert_mtl.model import hf_weights
import torch_files
from torch_files import Tensor

RNG = np.random.default_rng(0)
KERNEL = RNG.standard_normal([3, 4]).astype(np.float32)
VALUES = {
    "dense.weight": Tensor(KERNEL, transposed=True),  # strides of `.t()`
    "half": Tensor(np.array([1.5, -2.0], np.float16)),
    "double": Tensor(np.array([[0.1, 0.2]], np.float64)),
    "ids": Tensor(np.arange(5, dtype=np.int64), offset=3),  # a view
}
WANT = {"dense.weight": KERNEL, "half": np.array([1.5, -2.0], np.float16),
        "double": np.array([[0.1, 0.2]]), "ids": np.arange(5)}


def _assert_weights(got, want):
  assert set(got) == set(want)
  for key, value in want.items():
    assert got[key].shape == value.shape, key
    np.testing.assert_array_equal(got[key], value, err_msg=key)


@pytest.mark.parametrize("write", [torch_files.write_zip,
                                   torch_files.write_legacy])
def test_torch_files_give_their_tensors(tmp_path, write):
  path = str(tmp_path / "pytorch_model.bin")
  write(path, collections.OrderedDict(VALUES))
  _assert_weights(hf_weights.read_weights(path), WANT)


def test_mtdnn_checkpoint_gives_its_state(tmp_path):
  path = str(tmp_path / "mt_dnn.pt")
  torch_files.write_zip(path, {"state": dict(VALUES),
                               "config": {"vocab_size": 20, "lr": 5e-5},
                               "optimizer": {"param_groups": [{"lr": 1.0}]}})
  _assert_weights(hf_weights.read_weights(path), WANT)


def _zip_with_pickle(path, data):
  with zipfile.ZipFile(path, "w") as f:
    f.writestr("archive/data.pkl", data)


@pytest.mark.parametrize("data,named", [
    # GLOBAL os.system, called with REDUCE: would run a shell command.
    (b"cos\nsystem\n(S'touch {marker}'\ntR.", "os.system"),
    (b"cposix\nsystem\n(S'touch {marker}'\ntR.", "posix.system"),
    (b"cbuiltins\neval\n(S'open(\"{marker}\", \"w\")'\ntR.", "builtins.eval"),
    # A model class instead of a state dict.
    (b"\x80\x02ctransformers.models.bert\nBertModel\n)\x81.",
     "transformers.models.bert.BertModel"),
])
def test_pickles_of_anything_but_tensors_are_refused_unrun(tmp_path, data,
                                                           named):
  marker = tmp_path / "marker"
  path = str(tmp_path / "pytorch_model.bin")
  _zip_with_pickle(path, data.replace(b"{marker}", str(marker).encode()))
  with pytest.raises(CheckpointError, match=re.escape(named)) as error:
    hf_weights.read_weights(path)
  assert path in str(error.value)
  assert not marker.exists()
  # The legacy format goes through the same unpickler.
  with open(path, "wb") as f:
    f.write(data.replace(b"{marker}", str(marker).encode()))
  with pytest.raises(CheckpointError, match=re.escape(named)):
    hf_weights.read_weights(path)
  assert not marker.exists()


def test_tensor_past_its_storage_is_refused(tmp_path):
  path = str(tmp_path / "pytorch_model.bin")
  torch_files.write_zip(path, {"w": Tensor(np.zeros([2, 3], np.float32))})
  with zipfile.ZipFile(path) as f:
    entries = {name: f.read(name) for name in f.namelist()}
  entries["archive/data/0"] = entries["archive/data/0"][:8]  # 2 of 6 floats
  with zipfile.ZipFile(path, "w") as f:
    for name, data in entries.items():
      f.writestr(name, data)
  with pytest.raises(CheckpointError, match="reaches past its storage"):
    hf_weights.read_weights(path)


def test_missing_storage_and_cut_legacy_file_are_named(tmp_path):
  path = str(tmp_path / "a.bin")
  torch_files.write_zip(path, {"w": Tensor(np.zeros(3, np.float32))})
  with zipfile.ZipFile(path) as f:
    entries = {n: f.read(n) for n in f.namelist() if not n.endswith("/0")}
  with zipfile.ZipFile(path, "w") as f:
    for name, data in entries.items():
      f.writestr(name, data)
  with pytest.raises(CheckpointError,
                     match="storage archive/data/0 is missing"):
    hf_weights.read_weights(path)
  torch_files.write_legacy(path, {"w": Tensor(np.zeros(3, np.float32))})
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) - 4)
  with pytest.raises(CheckpointError, match="cut off"):
    hf_weights.read_weights(path)


@pytest.mark.parametrize("content,message", [
    (b"", "not a readable torch pickle"),
    (b"hello, weights", "not a readable torch pickle"),
    (b"\x80\x02K\x07.\x80\x02K\x07.\x80\x02}q\x00.", "no torch magic number"),
])
def test_files_that_are_not_torch_files_are_named(tmp_path, content, message):
  path = tmp_path / "pytorch_model.bin"
  path.write_bytes(content)
  with pytest.raises(CheckpointError, match=message) as error:
    hf_weights.read_weights(str(path))
  assert str(path) in str(error.value)


def test_a_list_is_not_a_weight_file(tmp_path):
  path = str(tmp_path / "pytorch_model.bin")
  torch_files.write_zip(path, [Tensor(np.zeros(2, np.float32))])
  with pytest.raises(CheckpointError, match="holds a list"):
    hf_weights.read_weights(path)


def _write_shards(folder):
  save_file({"a": np.ones([2, 2], np.float32)},
            os.path.join(folder, "model-00001-of-00002.safetensors"))
  save_file({"b": np.arange(3, dtype=np.float32)},
            os.path.join(folder, "model-00002-of-00002.safetensors"))
  index = os.path.join(folder, "model.safetensors.index.json")
  with open(index, "w") as f:
    json.dump({"metadata": {"total_size": 28}, "weight_map": {
        "a": "model-00001-of-00002.safetensors",
        "b": "model-00002-of-00002.safetensors"}}, f)
  return index


def test_sharded_safetensors(tmp_path):
  index = _write_shards(str(tmp_path))
  _assert_weights(hf_weights.read_weights(index),
                  {"a": np.ones([2, 2]), "b": np.arange(3.0)})
  assert hf_weights.weight_files(index) == [
      index, str(tmp_path / "model-00001-of-00002.safetensors"),
      str(tmp_path / "model-00002-of-00002.safetensors")]
  assert hf_weights.is_weight_file(index)
  assert not hf_weights.is_weight_file(str(tmp_path / "model"))


def test_missing_shard_names_index_shard_and_key(tmp_path):
  index = _write_shards(str(tmp_path))
  os.remove(tmp_path / "model-00002-of-00002.safetensors")
  with pytest.raises(CheckpointError,
                     match=r"index.json: shard model-00002-of-00002"
                     r".safetensors \(holding key b\) is missing"):
    hf_weights.read_weights(index)


def test_key_absent_from_its_shard_is_named(tmp_path):
  index = _write_shards(str(tmp_path))
  with open(index) as f:
    values = json.load(f)
  values["weight_map"]["c"] = "model-00001-of-00002.safetensors"
  with open(index, "w") as f:
    json.dump(values, f)
  with pytest.raises(CheckpointError, match="00002.safetensors: key c|"
                     "00001-of-00002.safetensors: key c is missing"):
    hf_weights.read_weights(index)


def test_truncated_safetensors_is_named(tmp_path):
  path = tmp_path / "model.safetensors"
  save_file({"a": np.ones([4, 4], np.float32)}, str(path))
  path.write_bytes(path.read_bytes()[:-10])
  with pytest.raises(CheckpointError, match="model.safetensors: cannot read"):
    hf_weights.read_weights(str(path))
