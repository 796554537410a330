"""The feature cache: tokenized features kept on disk under a content key.

A second run on the same files with the same tokenizer and settings reads
its features back instead of tokenizing again. The key is a SHA-256 over
everything that determines the result (file bytes, vocab, settings); a file
is written whole or not at all (a temporary file renamed over it).
"""

import hashlib
import os
import pickle
from typing import Callable, Sequence

from absl import logging


def cached(cache_dir: str, key_parts: Sequence[bytes],
           compute: Callable[[], list], what: str) -> list:
  """Returns `compute()`, cached in `cache_dir` under a hash of `key_parts`.

  Args:
    cache_dir: folder of the cache files; None or "" disables the cache.
    key_parts: bytes that determine the result (file contents, vocab,
      settings, package version).
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
  os.makedirs(cache_dir, exist_ok=True)
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "wb") as f:
    pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
  os.replace(tmp, path)
  logging.info("%s: %d computed, cached at %s", what, len(result), path)
  return result
