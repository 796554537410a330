"""Reads the weight files of Hugging Face and PyTorch models, without torch.

  model.safetensors              safetensors, one file
  model.safetensors.index.json   sharded safetensors: {"weight_map": {key:
                                 shard file name}}, shards beside the index
  pytorch_model.bin, *.pt        `torch.save` of a state dict: the zip format
                                 of torch >= 1.6 (a pickle, data.pkl, and one
                                 raw storage a tensor buffer, data/<key>) or
                                 the legacy format of older torch (pickles,
                                 then every storage's bytes in one stream)
  pytorch_model.bin.index.json   sharded torch files

A torch file is a pickle, and unpickling can run any code. `_TensorUnpickler`
resolves only the globals a state dict of tensors needs (`ALLOWED_GLOBALS`):
a GLOBAL of anything else (`os.system`, a model class) raises CheckpointError
naming it before it is looked up, so nothing of it runs. Tensors come back as
numpy arrays: float32 for the float types (bfloat16 widened), and each
tensor's offset and strides are checked against its storage's size before a
byte is read.

A file written by MT-DNN / MT-BlueBERT (`torch.save({"state": state_dict,
"config": ..., ...})`, docs/huggingface.md) gives its "state".
"""

import collections
import io
import json
import os
import pickle
import struct
import zipfile
from typing import Dict, List

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file

from bluebert_mtl.errors import CheckpointError

# `torch.<name>` storage classes -> numpy dtype of their elements; bfloat16
# (no numpy type) is read as its upper 16 bits and widened to float32.
STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64,
    "HalfStorage": np.float16, "BFloat16Storage": "bfloat16",
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
ALLOWED_GLOBALS = frozenset(
    [("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2")] +
    [("torch", name) for name in STORAGE_DTYPES])

# The first pickle of a legacy torch file (torch/serialization.py).
LEGACY_MAGIC = 0x1950a86a20f9469cfc6c
LEGACY_PROTOCOL = 1001
RESAVE_HINT = ("load it where torch is installed and save it again with "
               "`torch.save(torch.load(path, weights_only=True), new_path)`")


class _Storage:
  """A torch storage named in the pickle: its dtype, key and bytes."""

  def __init__(self, dtype, key: str, numel: int):
    self.dtype, self.key, self.numel = dtype, key, numel
    self.data = None  # 1-D numpy array of `numel` elements, once read


class _TensorRef:
  """A tensor as `_rebuild_tensor_v2` describes it, resolved once the
  storages are read (the legacy format stores them after the pickle)."""

  def __init__(self, storage, offset, size, stride, *unused):
    del unused  # requires_grad, backward hooks, metadata
    self.storage, self.offset = storage, offset
    self.size, self.stride = tuple(size), tuple(stride)


class _TensorUnpickler(pickle.Unpickler):
  """Unpickles a state dict of tensors and nothing else (module docstring)."""

  def __init__(self, file, path: str, storage_for):
    super().__init__(file)
    self._path = path
    self._storage_for = storage_for  # persistent id tuple -> _Storage

  def find_class(self, module, name):
    if (module, name) not in ALLOWED_GLOBALS:
      raise CheckpointError(
          f"{self._path}: refused to unpickle the global {module}.{name}: a "
          "weight file may hold only tensors in dicts (the file may run code "
          "when torch loads it; do not load it elsewhere either)")
    if module == "collections":
      return collections.OrderedDict
    if module == "torch._utils":
      return _TensorRef
    return STORAGE_DTYPES[name]

  def persistent_load(self, pid):
    # ("storage", storage class, key, location, numel[, view]); the class is
    # what `find_class` gave for `torch.<Type>Storage`.
    if not (isinstance(pid, tuple) and len(pid) >= 5 and
            pid[0] == "storage" and
            any(pid[1] is dtype for dtype in STORAGE_DTYPES.values())):
      raise CheckpointError(f"{self._path}: persistent id {pid!r} is not a "
                            "torch storage")
    return self._storage_for(pid)


def _unpickle(file, path: str, storage_for):
  try:
    return _TensorUnpickler(file, path, storage_for).load()
  except CheckpointError:
    raise
  except Exception as e:  # pickle raises many types on a damaged stream
    raise CheckpointError(f"{path}: not a readable torch pickle ({e})") from e


def _as_array(ref: _TensorRef, path: str) -> np.ndarray:
  """The tensor `ref` describes, copied out of its storage."""
  numbers = (ref.offset, *ref.size, *ref.stride)
  if not (isinstance(ref.storage, _Storage) and
          isinstance(ref.storage.data, np.ndarray) and
          len(ref.size) == len(ref.stride) and
          all(isinstance(n, int) and not isinstance(n, bool)
              for n in numbers)):
    raise CheckpointError(f"{path}: a tensor is not a storage with integer "
                          "offset, size and strides")
  data = ref.storage.data
  last = ref.offset + sum((n - 1) * s for n, s in zip(ref.size, ref.stride))
  if ref.offset < 0 or min(ref.stride, default=0) < 0 or (
      0 not in ref.size and last >= len(data)):
    raise CheckpointError(
        f"{path}: a tensor of size {list(ref.size)} at offset {ref.offset} "
        f"reaches past its storage {ref.storage.key} of {len(data)} elements")
  if 0 in ref.size:
    return np.zeros(ref.size, data.dtype)
  strides = [s * data.itemsize for s in ref.stride]
  return np.lib.stride_tricks.as_strided(
      data[ref.offset:], shape=ref.size, strides=strides).copy()


def _elements(raw: bytes, dtype, little_endian: bool) -> np.ndarray:
  """Storage bytes as a 1-D array (bfloat16 widened to float32)."""
  order = "<" if little_endian else ">"
  if dtype == "bfloat16":
    upper = np.frombuffer(raw, order + "u2").astype(np.uint32) << 16
    return upper.view(np.float32)
  return np.frombuffer(raw, np.dtype(dtype).newbyteorder(order))


def _element_size(dtype) -> int:
  return 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize


def _resolve(value, path: str):
  """`value` with every `_TensorRef` replaced by its array."""
  if isinstance(value, _TensorRef):
    return _as_array(value, path)
  if isinstance(value, dict):
    return type(value)((k, _resolve(v, path)) for k, v in value.items())
  if isinstance(value, (list, tuple)):
    return type(value)(_resolve(v, path) for v in value)
  return value


def _read_torch_zip(path: str):
  """A torch >= 1.6 file: ARCHIVE/data.pkl, ARCHIVE/data/<storage key>."""
  with zipfile.ZipFile(path) as archive:
    names = set(archive.namelist())
    pickles = [n for n in names if n == "data.pkl" or n.endswith("/data.pkl")]
    if len(pickles) != 1:
      raise CheckpointError(f"{path}: a zip, but not a torch file (it needs "
                            f"one data.pkl, found {len(pickles)})")
    root = pickles[0][:-len("data.pkl")]
    little = (archive.read(root + "byteorder").strip() != b"big"
              if root + "byteorder" in names else True)
    storages = {}

    def storage_for(pid):  # ("storage", type, key, location, numel)
      dtype, key, numel = pid[1], str(pid[2]), int(pid[4])
      if key not in storages:
        entry = f"{root}data/{key}"
        if entry not in names:
          raise CheckpointError(f"{path}: storage {entry} is missing")
        storages[key] = _Storage(dtype, key, numel)
        storages[key].data = _elements(archive.read(entry), dtype, little)
      return storages[key]

    value = _unpickle(io.BytesIO(archive.read(pickles[0])), path, storage_for)
  return _resolve(value, path)


def _no_storage(path: str):
  def refuse(pid):
    raise CheckpointError(f"{path}: storage {pid!r} in a legacy header")
  return refuse


def _read_torch_legacy(path: str):
  """A torch < 1.6 file: magic, protocol, system info, the object, the list
  of storage keys, then each storage as int64 element count + raw bytes."""
  with open(path, "rb") as f:
    header = [_unpickle(f, path, _no_storage(path)) for _ in range(3)]
    if header[0] != LEGACY_MAGIC or header[1] != LEGACY_PROTOCOL:
      raise CheckpointError(f"{path}: not a torch file (no torch magic number "
                            "or zip archive); " + RESAVE_HINT)
    if not header[2].get("little_endian", True):
      raise CheckpointError(f"{path}: a big-endian legacy torch file; " +
                            RESAVE_HINT)
    storages = {}

    def storage_for(pid):  # ("storage", type, key, location, numel, view)
      if len(pid) > 5 and pid[5] is not None:
        raise CheckpointError(f"{path}: storage views of the legacy format "
                              "are not supported; " + RESAVE_HINT)
      return storages.setdefault(str(pid[2]),
                                 _Storage(pid[1], str(pid[2]), int(pid[4])))

    value = _unpickle(f, path, storage_for)
    for key in _unpickle(f, path, storage_for):
      storage = storages.get(str(key))
      count = f.read(8)
      if storage is None or len(count) < 8:
        raise CheckpointError(f"{path}: storage {key} is missing or cut off")
      numel = struct.unpack("<q", count)[0]
      raw = f.read(numel * _element_size(storage.dtype))
      if numel != storage.numel or len(raw) < numel * _element_size(
          storage.dtype):
        raise CheckpointError(f"{path}: storage {key} is cut off or of "
                              "another size than the pickle says")
      storage.data = _elements(raw, storage.dtype, True)
  return _resolve(value, path)


def read_torch_file(path: str):
  """What `torch.save` wrote to `path`, with tensors as numpy arrays.

  Raises:
    CheckpointError: naming `path`, when it is missing, not a torch file, or
      holds anything but (ordered) dicts, lists, tuples, plain values and
      tensors (a global outside `ALLOWED_GLOBALS` is named).
  """
  if not os.path.isfile(path):
    raise CheckpointError(f"{path}: weight file not found")
  if zipfile.is_zipfile(path):
    return _read_torch_zip(path)
  return _read_torch_legacy(path)


def _read_safetensors(path: str) -> Dict[str, np.ndarray]:
  try:
    return load_file(path)
  except (FileNotFoundError, SafetensorError, ValueError, TypeError) as e:
    raise CheckpointError(f"{path}: cannot read safetensors: {e}") from e


def _shard_map(index_file: str) -> Dict[str, str]:
  """key -> shard path of a sharded checkpoint's index file."""
  try:
    with open(index_file, encoding="utf-8") as f:
      weight_map = json.load(f)["weight_map"]
  except FileNotFoundError as e:
    raise CheckpointError(f"{index_file}: weight index not found") from e
  except (json.JSONDecodeError, KeyError, TypeError) as e:
    raise CheckpointError(f"{index_file}: not a weight index (a JSON object "
                          f"with a \"weight_map\"): {e}") from e
  folder = os.path.dirname(index_file)
  return {key: os.path.join(folder, shard) for key, shard in
          weight_map.items()}


def is_weight_file(checkpoint: str) -> bool:
  """Whether a checkpoint path names a file of the module docstring's table
  (a TF1 checkpoint is a prefix of `.index` and `.data-*` files)."""
  return (os.path.isfile(checkpoint) and
          not os.path.exists(checkpoint + ".index"))


def weight_files(path: str) -> List[str]:
  """The files holding the weights of `path`: itself, or for an index file,
  the index and its shards (sorted, each once)."""
  if path.endswith(".index.json"):
    return [path] + sorted(set(_shard_map(path).values()))
  return [path]


def _read_shards(index_file: str) -> Dict[str, np.ndarray]:
  weights = {}
  by_shard = collections.defaultdict(list)
  for key, shard in _shard_map(index_file).items():
    by_shard[shard].append(key)
  for shard, keys in sorted(by_shard.items()):
    if not os.path.isfile(shard):
      raise CheckpointError(f"{index_file}: shard {os.path.basename(shard)} "
                            f"(holding key {keys[0]}) is missing")
    values = _read_file(shard)
    for key in keys:
      if key not in values:
        raise CheckpointError(f"{shard}: key {key} is missing (the index "
                              f"{index_file} places it there)")
      weights[key] = values[key]
  return weights


def _read_file(path: str) -> Dict[str, np.ndarray]:
  if path.endswith(".safetensors"):
    return _read_safetensors(path)
  value = read_torch_file(path)
  if isinstance(value, dict) and isinstance(value.get("state"), dict):
    value = value["state"]  # MT-DNN's {"state": ..., "config": ...}
  if not isinstance(value, dict):
    raise CheckpointError(f"{path}: holds a {type(value).__name__}, not a "
                          "dict of name -> tensor")
  for key, tensor in value.items():
    if not (isinstance(key, str) and isinstance(tensor, np.ndarray)):
      raise CheckpointError(f"{path}: entry {key!r} is not a tensor; a "
                            "weight file holds a dict of name -> tensor")
  return dict(value)


def read_weights(path: str) -> Dict[str, np.ndarray]:
  """Every tensor of a weight file (or of an index's shards) by key.

  Args:
    path: a file of the module docstring's table.

  Returns:
    key as written in the file -> numpy array.

  Raises:
    CheckpointError: naming the file (and key or shard), when a file is
      missing, unreadable, or holds anything but named tensors.
  """
  if path.endswith(".index.json"):
    return _read_shards(path)
  return _read_file(path)
