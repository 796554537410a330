"""The export folder as a whole: the models in it, each task's preprocessing
recipe, and TF Serving's model config listing them.

  EXPORT_DIR/
    <task>/<version>/, <task>_ids/<version>/  a task's SavedModels (`export.py`)
    <task>_ids/<version>/assets.extra/        the task's recipe (TF Serving
      preprocessing.json, vocab.txt             ignores assets.extra/)
    preprocess/<version>/                     raw text -> token ids of every
                                              task in the folder, rebuilt
                                              from the recipes by each export
    models.config                             TF Serving's model config file:
                                              every model folder, rewritten
                                              whole by each export
    models_ids.config                         the same of the <task>_ids
                                              folders only (no TF Text ops)

A recipe is what turns a task's text into its encoder rows, and where its
weights came from. preprocessing.json:

  {"task": {the TaskSpec's fields: name, kind, file_format, labels,
            max_words, ...},
   "do_lower_case": true, "max_seq_length": 128, "second_text_first": false,
   "run_dir": "/abs/runs/ft/chemprot",
   "weights": "/abs/runs/ft/chemprot/best/chemprot/weights"}

vocab.txt is the run's vocabulary. The preprocess model is rebuilt from the
recipe of each `<task>_ids` folder's newest version (what TF Serving serves
by default), so it serves every task exported so far, from whichever runs,
without loading an old SavedModel.
"""

import dataclasses
import hashlib
import json
import os
import shutil
from typing import Dict, List, Optional, Sequence, Tuple

from bluebert_mtl import tokenization
from bluebert_mtl.errors import ConfigError
from bluebert_mtl.runs import run_dir
from bluebert_mtl.runs.run_dir import RunSource
from bluebert_mtl.serve.preprocess import Preprocessor
from bluebert_mtl.tasks import TaskSpec

IDS_SUFFIX = "_ids"
PREPROCESS = "preprocess"
MODELS_CONFIG = "models.config"
MODELS_IDS_CONFIG = "models_ids.config"
RECIPE_FOLDER = "assets.extra"
RECIPE = "preprocessing.json"
_SETTINGS = ("do_lower_case", "max_seq_length", "second_text_first")


@dataclasses.dataclass(frozen=True)
class Recipe:
  """A served task's preprocessing and origin (module docstring).

  Attributes:
    task: the TaskSpec (pair input, max_words, labels).
    vocab_file: the vocab.txt to tokenize with.
    do_lower_case: the run's casing.
    max_seq_length: the run's longest packed row, in WordPieces.
    second_text_first: the run's pair order.
    run_dir: the run folder the task was exported from (absolute).
    weights: the checkpoint prefix exported (absolute).
  """
  task: TaskSpec
  vocab_file: str
  do_lower_case: bool
  max_seq_length: int
  second_text_first: bool
  run_dir: str
  weights: str

  @classmethod
  def of_run(cls, source: RunSource, task: TaskSpec) -> "Recipe":
    """A task of a run, with the weights `source` gives it."""
    config = run_dir.read_train_config(source.run_dir)
    return cls(task, os.path.join(source.run_dir, run_dir.VOCAB),
               *(getattr(config, name) for name in _SETTINGS),
               os.path.abspath(source.run_dir),
               os.path.abspath(source.weights(task.name)))

  @property
  def origin(self) -> str:
    return f"run {self.run_dir} (weights {self.weights})"

  def preprocessing(self) -> Tuple:
    """What makes two recipes' preprocessors the same: the vocab's bytes
    (SHA-256), casing, max_seq_length and pair order."""
    with open(self.vocab_file, "rb") as f:
      digest = hashlib.sha256(f.read()).hexdigest()
    return (digest,) + tuple(getattr(self, name) for name in _SETTINGS)

  def preprocessor(self) -> Preprocessor:
    """The in-graph preprocessing of the recipe."""
    return Preprocessor(
        tokenization.FullTokenizer(self.vocab_file, self.do_lower_case),
        self.max_seq_length, self.second_text_first)

  def write(self, model_folder: str):
    """Writes the recipe into a model folder's assets.extra/."""
    folder = os.path.join(model_folder, RECIPE_FOLDER)
    os.makedirs(folder, exist_ok=True)
    shutil.copyfile(self.vocab_file, os.path.join(folder, run_dir.VOCAB))
    values = {"task": dataclasses.asdict(self.task),
              **{name: getattr(self, name) for name in _SETTINGS},
              "run_dir": self.run_dir, "weights": self.weights}
    run_dir.write_text(folder, RECIPE, json.dumps(values, indent=2))


def read_recipe(model_folder: str) -> Recipe:
  """The recipe `Recipe.write` left in a model version folder.

  Raises:
    ConfigError: none there (an export older than recipes), or a bad one.
  """
  folder = os.path.join(model_folder, RECIPE_FOLDER)
  path = os.path.join(folder, RECIPE)
  try:
    with open(path, encoding="utf-8") as f:
      values = json.load(f)
    return Recipe(run_dir.task_from_json(values["task"]),
                  os.path.join(folder, run_dir.VOCAB),
                  *(values[name] for name in _SETTINGS + ("run_dir",
                                                          "weights")))
  except FileNotFoundError as e:
    raise ConfigError(
        f"{model_folder}: no preprocessing recipe ({path}); it was exported "
        "before recipes were kept: export its task again (--overwrite, or a "
        "newer --version), or remove it") from e
  except (json.JSONDecodeError, KeyError, TypeError) as e:
    raise ConfigError(f"{path}: not a preprocessing recipe ({e!r})") from e


def versions(model_dir: str) -> List[int]:
  """The version numbers of a model folder that hold a SavedModel, in
  order."""
  names = os.listdir(model_dir) if os.path.isdir(model_dir) else []
  return sorted(int(name) for name in names if name.isdigit() and
                os.path.isfile(os.path.join(model_dir, name,
                                            "saved_model.pb")))


def model_names(export_dir: str) -> List[str]:
  """The folders of `export_dir` that hold a model version, by name."""
  names = os.listdir(export_dir) if os.path.isdir(export_dir) else []
  return sorted(name for name in names
                if versions(os.path.join(export_dir, name)))


def served_recipes(export_dir: str, exporting: Optional[Dict[str, int]] = None
                   ) -> Dict[str, Tuple[int, Recipe]]:
  """task -> (newest version, its recipe) of every `<task>_ids` folder.

  Args:
    export_dir: the export folder.
    exporting: task -> the version an export is about to write; a task whose
      newest version that is (or is older) is left out, its recipe unread.

  Raises:
    ConfigError: a newest version without a readable recipe, or whose
      recipe is another task's.
  """
  served = {}
  for name in model_names(export_dir):
    if not name.endswith(IDS_SUFFIX):
      continue
    task = name[:-len(IDS_SUFFIX)]
    version = versions(os.path.join(export_dir, name))[-1]
    if (exporting or {}).get(task, -1) >= version:
      continue
    folder = os.path.join(export_dir, name, str(version))
    recipe = read_recipe(folder)
    if recipe.task.name != task:
      raise ConfigError(f"{folder}: its recipe is of task "
                        f"{recipe.task.name!r}, not {task!r}")
    served[task] = (version, recipe)
  return served


def check_names(tasks: Sequence[str], served: Sequence[str]):
  """Refuses task names whose model folders would be another's."""
  names = [PREPROCESS] + [model for task in dict.fromkeys([*served, *tasks])
                          for model in (task, task + IDS_SUFFIX)]
  clashes = sorted({name for name in names if names.count(name) > 1})
  if clashes:
    raise ConfigError(f"the model folders {', '.join(clashes)} would serve "
                      "two models: rename the task named like another "
                      "one's folder")


def replaced_folders(export_dir: str, recipes: Dict[str, Recipe],
                     version: int, overwrite: bool) -> List[str]:
  """The version folders of the tasks of `recipes` that exist already.

  Raises:
    ConfigError: there are some and not `overwrite`; the message names the
      run each came from and this export's.
  """
  existing = []
  for name, recipe in recipes.items():
    folders = [os.path.join(export_dir, model, str(version))
               for model in (name, name + IDS_SUFFIX)]
    folders = [folder for folder in folders if os.path.exists(folder)]
    if folders and not overwrite:
      ids = os.path.join(export_dir, name + IDS_SUFFIX, str(version))
      try:
        before = read_recipe(ids).origin
      except ConfigError:
        before = "an unknown run"
      raise ConfigError(
          f"version {version} of task {name} exists already "
          f"({', '.join(folders)}), exported from {before}; this export's is "
          f"from {recipe.origin}. Give --overwrite to replace it, or another "
          "--version")
    existing += folders
  return existing


def _quoted(text: str) -> str:
  """A protobuf text-format string."""
  escaped = (text.replace("\\", "\\\\").replace('"', '\\"')
             .replace("\n", "\\n"))
  return f'"{escaped}"'


def server_path(export_dir: str, server_dir: Optional[str]) -> str:
  """The export folder as the server sees it: `server_dir` (an absolute path
  or a URI, e.g. /models/serving inside a container), by default
  `export_dir`'s absolute path.

  Raises:
    ConfigError: a relative `server_dir` (TF Serving requires absolute base
      paths).
  """
  if server_dir is None:
    return os.path.abspath(export_dir)
  if not (server_dir.startswith("/") or "://" in server_dir):
    raise ConfigError(f"--server_export_dir {server_dir!r} is not absolute: "
                      "TF Serving reads only absolute base paths")
  return server_dir.rstrip("/")


def _models_config(export_dir: str, names: Sequence[str], server_dir: str,
                   file_name: str) -> str:
  """Writes a model config file of `names` whole; returns its path."""
  lines = ["model_config_list {"]
  for name in names:
    lines += ["  config {", f"    name: {_quoted(name)}",
              f"    base_path: {_quoted(server_dir + '/' + name)}",
              '    model_platform: "tensorflow"', "  }"]
  run_dir.write_text(export_dir, file_name, "\n".join(lines + ["}"]) + "\n")
  return os.path.join(export_dir, file_name)


def write_models_config(export_dir: str, server_dir: str) -> List[str]:
  """Writes EXPORT_DIR/models.config (every model folder) and
  models_ids.config (the `<task>_ids` folders only: core TF ops, for a
  server without TF Text), each whole, the base paths under `server_dir`
  (`server_path`).

  Returns:
    the files written.
  """
  names = model_names(export_dir)
  ids = [name for name in names if name.endswith(IDS_SUFFIX)]
  return [_models_config(export_dir, names, server_dir, MODELS_CONFIG),
          _models_config(export_dir, ids, server_dir, MODELS_IDS_CONFIG)]
