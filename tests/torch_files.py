"""Writes PyTorch weight files by hand, without torch, for the reader tests.

The layouts are torch's own (torch/serialization.py): the zip format of
torch >= 1.6 (ARCHIVE/data.pkl, ARCHIVE/byteorder, ARCHIVE/data/<key>) and the
legacy format (pickled magic number, protocol 1001, system info, the object,
the storage keys, then each storage as an int64 element count and its raw
bytes). The pickles name the globals torch writes (`collections.OrderedDict`,
`torch._utils._rebuild_tensor_v2`, `torch.FloatStorage`, ...) through stand-in
modules registered under those names only while pickling.
"""

import collections
import contextlib
import io
import pickle
import struct
import sys
import types
import zipfile

import numpy as np

# numpy dtype -> torch storage class name.
STORAGE_NAMES = {np.dtype(np.float32): "FloatStorage",
                 np.dtype(np.float16): "HalfStorage",
                 np.dtype(np.float64): "DoubleStorage",
                 np.dtype(np.int64): "LongStorage"}


class Tensor:
  """A tensor to pickle: `values` laid out in a storage of its own with
  `offset` leading zeros; `transposed` stores a 2-D array column-major (the
  strides of torch's `.t()`)."""

  def __init__(self, values, offset=0, transposed=False):
    self.values = np.asarray(values)
    self.offset = offset
    self.transposed = transposed

  def storage_values(self):
    flat = (self.values.T if self.transposed else self.values).ravel()
    return np.concatenate([np.zeros(self.offset, flat.dtype), flat])

  def stride(self):
    shape = self.values.shape
    if self.transposed:
      return (1, shape[0])
    strides, step = [], 1
    for n in reversed(shape):
      strides.insert(0, step)
      step *= n
    return tuple(strides)


@contextlib.contextmanager
def _fake_torch():
  """Modules `torch` and `torch._utils` holding the names pickle writes."""
  torch = types.ModuleType("torch")
  utils = types.ModuleType("torch._utils")

  def _rebuild_tensor_v2(*args):
    raise AssertionError(f"never called while writing: {args}")

  _rebuild_tensor_v2.__module__ = "torch._utils"
  _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
  utils._rebuild_tensor_v2 = _rebuild_tensor_v2
  for name in STORAGE_NAMES.values():
    setattr(torch, name, type(name, (), {"__module__": "torch"}))
  torch._utils = utils
  saved = {name: sys.modules.get(name) for name in ("torch", "torch._utils")}
  sys.modules.update({"torch": torch, "torch._utils": utils})
  try:
    yield torch
  finally:
    for name, module in saved.items():
      if module is None:
        del sys.modules[name]
      else:
        sys.modules[name] = module


class _Storage:
  def __init__(self, key, values):
    self.key, self.values = key, values


class _TensorPickle:
  """Reduces to `_rebuild_tensor_v2(storage, offset, size, stride, ...)`."""

  def __init__(self, storage, tensor, torch):
    self.args = (storage, tensor.offset, tensor.values.shape, tensor.stride(),
                 False, collections.OrderedDict())
    self.rebuild = torch._utils._rebuild_tensor_v2

  def __reduce__(self):
    return self.rebuild, self.args


def _pickle(value, legacy):
  """(pickle bytes, [(storage key, values)]) of dicts and lists holding
  `Tensor`s."""
  storages = []
  with _fake_torch() as torch:

    def replace(v):
      if isinstance(v, Tensor):
        storage = _Storage(str(len(storages)), v.storage_values())
        storages.append(storage)
        return _TensorPickle(storage, v, torch)
      if isinstance(v, dict):
        return type(v)((k, replace(x)) for k, x in v.items())
      if isinstance(v, list):
        return [replace(x) for x in v]
      return v

    class Pickler(pickle.Pickler):

      def persistent_id(self, obj):
        if not isinstance(obj, _Storage):
          return None
        kind = getattr(torch, STORAGE_NAMES[obj.values.dtype])
        pid = ("storage", kind, obj.key, "cpu", len(obj.values))
        return pid + (None,) if legacy else pid

    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump(replace(value))
  return buffer.getvalue(), [(s.key, s.values) for s in storages]


def _little_endian(values):
  return values.astype(values.dtype.newbyteorder("<")).tobytes()


def write_zip(path, value, archive="archive"):
  """`torch.save(value, path)` as torch >= 1.6 writes it."""
  data, storages = _pickle(value, legacy=False)
  with zipfile.ZipFile(path, "w") as f:
    f.writestr(f"{archive}/data.pkl", data)
    f.writestr(f"{archive}/byteorder", "little")
    for key, values in storages:
      f.writestr(f"{archive}/data/{key}", _little_endian(values))
    f.writestr(f"{archive}/version", "3\n")


def write_legacy(path, value):
  """`torch.save(value, path, _use_new_zipfile_serialization=False)`."""
  data, storages = _pickle(value, legacy=True)
  with open(path, "wb") as f:
    for header in (0x1950a86a20f9469cfc6c, 1001,
                   {"protocol_version": 1001, "little_endian": True,
                    "type_sizes": {"short": 2, "int": 4, "long": 4}}):
      pickle.dump(header, f, protocol=2)
    f.write(data)
    pickle.dump([key for key, _ in storages], f, protocol=2)
    for _, values in storages:
      f.write(struct.pack("<q", len(values)))
      f.write(_little_endian(values))


def state_dict(weights):
  """An OrderedDict of `Tensor`s, as `module.state_dict()` gives."""
  return collections.OrderedDict((k, Tensor(v)) for k, v in weights.items())
