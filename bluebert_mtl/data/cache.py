"""The feature cache: tokenized features kept on disk under a content key.

A second run on the same files with the same tokenizer and settings reads
its features back instead of tokenizing again. The key is a SHA-256 over
everything that determines the result (file bytes, vocab, settings and a
fingerprint of the code that computes it, `source_fingerprint`); a file is
written whole or not at all (`files.written_whole`).
"""

import glob
import hashlib
import os
import pickle
from typing import Callable, Sequence

from absl import logging

from bluebert_mtl import files


def source_fingerprint(root: str, sources: Sequence[str]) -> bytes:
  """A SHA-256 of the code that computes a result: the bytes of each source
  file, in order, and its path.

  Args:
    root: the folder `sources` are relative to.
    sources: files, or folders standing for every .py file below them.

  Returns:
    the 32-byte digest.
  """
  digest = hashlib.sha256()
  for source in sources:
    path = os.path.join(root, source)
    paths = [path] if os.path.isfile(path) else sorted(
        glob.glob(os.path.join(path, "**", "*.py"), recursive=True))
    if not paths:
      raise FileNotFoundError(f"no source file at {path}")
    for name in paths:
      with open(name, "rb") as f:
        digest.update(os.path.relpath(name, root).encode() + b"\0")
        digest.update(hashlib.sha256(f.read()).digest())
  return digest.digest()


def cached(cache_dir: str, key_parts: Sequence[bytes],
           compute: Callable[[], list], what: str) -> list:
  """Returns `compute()`, cached in `cache_dir` under a hash of `key_parts`.

  Args:
    cache_dir: folder of the cache files; None or "" disables the cache.
    key_parts: bytes that determine the result (file contents, vocab,
      settings, `source_fingerprint` of the code).
    compute: makes the result when it is not cached.
    what: words for the log ("chemprot train features").

  Returns:
    the computed or cached list.
  """
  if not cache_dir:
    return compute()
  digest = hashlib.sha256()
  for part in key_parts:
    digest.update(hashlib.sha256(part).digest())
  path = os.path.join(cache_dir, digest.hexdigest()[:32] + ".pkl")
  if os.path.exists(path):
    with open(path, "rb") as f:
      result = pickle.load(f)
    logging.info("%s: %d read from cache %s", what, len(result), path)
    return result
  result = compute()
  with files.written_whole(path, "wb") as f:
    pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
  logging.info("%s: %d computed, cached at %s", what, len(result), path)
  return result
