"""The feature cache's key changes whenever featurization does: it holds a
fingerprint of the code that makes features (every package module that runs
while a split is read and featurized is in it) and of the settings, so
features made by other code or settings are never read back."""

import os
import shutil
import sys

from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl import tokenization
from bluebert_mtl.data import cache
from bluebert_mtl.data import task_data
from conftest import REPO_ROOT, SAMPLE_DIR

PACKAGE = os.path.join(REPO_ROOT, "bluebert_mtl")
# Package modules that run while features are made but cannot change them.
NOT_FEATURIZATION = {"progress.py": "draws the progress bar",
                     "data/cache.py": "looks the features up, stores them"}


def _covered(relative: str) -> bool:
  return any(relative == source or relative.startswith(source + "/")
             for source in task_data.FEATURIZATION_SOURCES)


def test_every_module_that_makes_features_is_fingerprinted(minilm_dir):
  ran = set()

  def record(frame, event, arg):
    del arg
    if event == "call" and frame.f_code.co_filename.startswith(PACKAGE):
      ran.add(os.path.relpath(frame.f_code.co_filename, PACKAGE))

  sys.setprofile(record)
  try:
    tokenizer = tokenization.FullTokenizer(
        os.path.join(minilm_dir, "vocab.txt"))
    for task in tasks_lib.TASKS.values():
      path = os.path.join(SAMPLE_DIR, task.name, "dev.tsv")
      task_data.load_split(task, path, tokenizer, 32,
                           second_text_first=True)
  finally:
    sys.setprofile(None)
  assert "data/features.py" in ran and "data/readers/ner.py" in ran
  unlisted = sorted(m for m in ran
                    if not _covered(m) and m not in NOT_FEATURIZATION)
  assert not unlisted, f"add to task_data.FEATURIZATION_SOURCES: {unlisted}"


def test_fingerprint_changes_with_any_byte_of_the_sources(tmp_path):
  sources = task_data.FEATURIZATION_SOURCES
  for source in sources:
    copy = os.path.join(tmp_path, source)
    if os.path.isdir(os.path.join(PACKAGE, source)):
      shutil.copytree(os.path.join(PACKAGE, source), copy)
    else:
      os.makedirs(os.path.dirname(copy), exist_ok=True)
      shutil.copyfile(os.path.join(PACKAGE, source), copy)
  original = cache.source_fingerprint(str(tmp_path), sources)
  assert original == cache.source_fingerprint(PACKAGE, sources)
  for changed in ("data/features.py", "data/readers/tables.py",
                  "tokenization.py", "task_kinds.py"):
    path = tmp_path / changed
    text = path.read_bytes()
    path.write_bytes(text.replace(b"(", b" (", 1))
    assert cache.source_fingerprint(str(tmp_path), sources) != original
    path.write_bytes(text)
  (tmp_path / "data" / "readers" / "new_format.py").write_text("X = 1\n")
  assert cache.source_fingerprint(str(tmp_path), sources) != original


def test_other_featurization_code_makes_features_anew(minilm_dir, tmp_path,
                                                      monkeypatch):
  tokenizer = tokenization.FullTokenizer(os.path.join(minilm_dir,
                                                      "vocab.txt"))
  task = tasks_lib.get_task("chemprot")
  path = os.path.join(SAMPLE_DIR, "chemprot", "dev.tsv")
  cache_dir = tmp_path / "cache"

  def load():
    return task_data.load_split(task, path, tokenizer, 32, str(cache_dir))

  first = load()
  assert len(os.listdir(cache_dir)) == 1
  assert load().features == first.features  # read back: same key
  assert len(os.listdir(cache_dir)) == 1
  monkeypatch.setattr(task_data, "FEATURIZATION_SOURCES",
                      task_data.FEATURIZATION_SOURCES + ("errors.py",))
  assert load().features == first.features
  assert len(os.listdir(cache_dir)) == 2  # other code: another key


def test_chunked_featurization_equals_one_call(minilm_dir, monkeypatch):
  tokenizer = tokenization.FullTokenizer(os.path.join(minilm_dir,
                                                      "vocab.txt"))
  for name in ("bc5cdr-chemical", "mednli"):
    task = tasks_lib.get_task(name)
    path = os.path.join(SAMPLE_DIR, name, "train.tsv")
    whole = task.task_kind.featurize(
        task, task.task_kind.pieces(task, task.read(path)), tokenizer, 32,
        False)
    monkeypatch.setattr(task_data, "_PIECES_PER_CHUNK", 3)
    assert task_data.load_split(task, path, tokenizer, 32).features == whole
