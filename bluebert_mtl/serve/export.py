"""Per-task SavedModels of training runs, for TF Serving.

The tasks of one run folder (`run_dir.py`), or of every run folder of a
run_finetune.py output (`runs/sources.py`), become, in TF Serving's
`--model_base_path` layout (numbered version folders under one folder per
model):

  EXPORT_DIR/<task>/<version>/      raw text -> predictions; the tokenizer
                                    runs in the graph (TF Text ops)
  EXPORT_DIR/<task>_ids/<version>/  token ids -> predictions; core TF ops
                                    only; the task's preprocessing recipe in
                                    assets.extra/ (`serving_dir.py`)
  EXPORT_DIR/preprocess/<version>/  raw text -> token ids, one signature per
                                    task exported into EXPORT_DIR so far, by
                                    any call and from any run, for servers
                                    without TF Text (run it where TF Text is,
                                    e.g. in the client, and send the ids to
                                    <task>_ids); rebuilt from the recipes at
                                    each export, as the newest version of any
                                    <task>_ids
  EXPORT_DIR/models.config          TF Serving's model config of every model
                                    folder (models_ids.config: of the
                                    <task>_ids folders only)

Each task's models hold the encoder and that task's head only, with that
task's best-dev weights (`best/<task>/weights`, else `final/weights`). A
later export adds its tasks and keeps the others; a task's existing version
is replaced only with `overwrite`.

Dims: B texts, T WordPieces (longest packed row), C the task's labels,
W words (longest text), R rows fed to the encoder, M the task's max_words.

Signatures of EXPORT_DIR/<task>:
  serving_default: raw UTF-8 text, string [B]:
      `text_a`, `text_b` for pair tasks (file formats sts and mednli),
      `text` for every other task.
  serving_ids: `input_word_ids`, `input_mask`, `input_type_ids`, int32 [B, T].
EXPORT_DIR/<task>_ids has `serving_ids` alone, also as `serving_default`.

Outputs, by task kind (`task_kinds.py`); columns of C follow the task's label
list (`tasks.json` of the run):

  kind            serving_default                serving_ids adds / differs
  classification  label string [B]               logits float32 [B, C]
                  probabilities float32 [B, C]
                    (softmax)
  regression      score float32 [B]              -
  multilabel      probabilities float32 [B, C]   logits float32 [B, C]
                    (sigmoid)
                  predicted bool [B, C]
                    (probability > 0.5: logit > 0)
                  labels string [B, C]: names of
                    the predicted labels in label
                    order, left-aligned, "" after
  tagging         tags string [B, W]: one tag a  instead: logits float32
                    whitespace-separated word,     [B, T, C], probabilities
                    "" past num_words              float32 [B, T, C] and
                  num_words int32 [B]              token_tags string [B, T]
                  probabilities float32 [B, W, C]  (argmax tag of every
                    (softmax at the word's first   position; a word's tag is
                    sub-token; 0 where the word    the one at its first
                    has none)                      sub-token)

EXPORT_DIR/preprocess has one signature per task, named after the task, with
that task's text inputs and outputs `input_word_ids`, `input_mask`,
`input_type_ids` int32 [R, T]; R = B but for tagging tasks, whose rows are
pieces of at most M words, with also `text_index` int32 [R] (the text a
piece belongs to; pieces of a text are consecutive, in word order),
`num_words` int32 [R] (words in the piece) and `word_positions` int32 [R, M]
(the position of each word's first sub-token, -1 where the word has none;
entries past num_words are -1 too).
"""

import os
import shutil
from typing import Callable, Dict, List, Optional, Sequence

from absl import logging
import tensorflow as tf

from bluebert_mtl.model import multitask_model
from bluebert_mtl.runs import run_dir
from bluebert_mtl.runs import sources
from bluebert_mtl import progress
from bluebert_mtl.config import BertConfig
from bluebert_mtl.errors import ConfigError
from bluebert_mtl.serve import serving_dir
from bluebert_mtl.serve.preprocess import Preprocessor
from bluebert_mtl.serve.serving_dir import IDS_SUFFIX, PREPROCESS, Recipe

_TEXT_SPEC = tf.TensorSpec([None], tf.string)
_IDS_SPEC = tf.TensorSpec([None, None], tf.int32)
_Function = tf.types.experimental.PolymorphicFunction


# ------------------------------------------------------------ signatures


def _text_function(task, body: Callable) -> _Function:
  """A tf.function of the task's text inputs (text, or text_a and text_b)."""
  if task.is_pair:
    def pair(text_a, text_b):
      return body(text_a, text_b)
    return tf.function(pair, input_signature=[_TEXT_SPEC, _TEXT_SPEC])

  def single(text):
    return body(text)
  return tf.function(single, input_signature=[_TEXT_SPEC])


def ids_function(task, view) -> _Function:
  """The serving_ids function of a task's single-task model view."""
  def serve_ids(input_word_ids, input_mask, input_type_ids):
    output = view({"input_word_ids": input_word_ids, "input_mask": input_mask,
                   "input_type_ids": input_type_ids}, training=False)
    return task.task_kind.ids_outputs(task, output)
  return tf.function(serve_ids, input_signature=[_IDS_SPEC] * 3)


def text_function(task, view, preprocessor: Preprocessor) -> _Function:
  """The raw-text serving_default function of a task's model view."""
  def serve_text(*texts):
    return task.task_kind.text_outputs(task, view, preprocessor, texts)
  return _text_function(task, serve_text)


def preprocess_function(task, preprocessor: Preprocessor) -> _Function:
  """The task's signature of the preprocess model."""
  def preprocess(*texts):
    return task.task_kind.preprocess_rows(task, preprocessor, texts)
  return _text_function(task, preprocess)


# ------------------------------------------------------------ the tasks


def _save(root: tf.Module, signatures: dict, folder: str,
          recipe: Optional[Recipe] = None) -> None:
  """Saves a SavedModel into `folder` whole (`run_dir.replace_folder`), so a
  server never sees half a version; `recipe` goes into its assets.extra/."""
  def write(path):
    tf.saved_model.save(root, path, signatures=signatures)
    if recipe is not None:
      recipe.write(path)
  run_dir.replace_folder(folder, write)
  logging.info("Wrote %s", folder)


def _recipes(runs: Sequence[run_dir.RunSource],
             task_names: Optional[Sequence[str]]) -> Dict[str, Recipe]:
  """The recipe of each task to export, by name: those of `task_names` (all
  if None or empty) in the runs.

  Raises:
    ConfigError: a name no run has, or a task that two runs have.
  """
  recipes, found = {}, []
  for source in runs:
    for task in run_dir.read_tasks(source.run_dir):
      found.append(task.name)
      if task_names and task.name not in task_names:
        continue
      recipe = Recipe.of_run(source, task)
      if task.name in recipes:
        raise ConfigError(f"task {task.name} is in two runs: "
                          f"{recipes[task.name].origin} and {recipe.origin}; "
                          "export one of them (--tasks, or its own folder)")
      recipes[task.name] = recipe
  for name in task_names or ():
    if name not in recipes:
      raise ConfigError(
          f"task {name!r} is in none of the runs "
          f"{', '.join(s.run_dir for s in runs)} (tasks in their "
          f"{run_dir.TASKS}: {', '.join(found)})")
  return recipes


def _preprocessor(recipe: Recipe, made: dict) -> Preprocessor:
  """The recipe's preprocessor, made once per call for recipes that
  preprocess alike (`made`: `Recipe.preprocessing` -> Preprocessor)."""
  key = recipe.preprocessing()
  if key not in made:
    made[key] = recipe.preprocessor()
  return made[key]


def _export_task(recipe: Recipe, export_dir: str, version: int,
                 ids_only: bool, made: dict,
                 cls_only_last_layer: bool) -> List[str]:
  """Writes a task's token-id model (with its recipe) and, unless
  `ids_only`, its raw-text model; returns their version folders."""
  task = recipe.task
  view = multitask_model.load_task_model(
      task, BertConfig.from_json_file(
          os.path.join(recipe.run_dir, run_dir.BERT_CONFIG)), recipe.weights,
      cls_only_last_layer)
  serve_ids = ids_function(task, view).get_concrete_function()
  weights = tf.Module()
  weights.variables_list = list(view.variables)
  folders = [os.path.join(export_dir, task.name + IDS_SUFFIX, str(version))]
  _save(weights, {"serving_default": serve_ids, "serving_ids": serve_ids},
        folders[0], recipe)
  if not ids_only:
    preprocessor = _preprocessor(recipe, made)
    text_model = tf.Module()
    text_model.variables_list = weights.variables_list
    text_model.preprocessor = preprocessor
    folders.append(os.path.join(export_dir, task.name, str(version)))
    _save(text_model, {
        "serving_default": text_function(
            task, view, preprocessor).get_concrete_function(),
        "serving_ids": serve_ids}, folders[1])
  return folders


def _write_preprocess(export_dir: str, made: dict) -> str:
  """Writes the preprocess model of every task in the folder, each as its
  newest `<task>_ids` version's recipe has it, as the newest version of any
  of them; returns its version folder."""
  served = serving_dir.served_recipes(export_dir)
  signatures, used = {}, {}
  for name, (_, recipe) in sorted(served.items()):
    preprocessor = _preprocessor(recipe, made)
    used[id(preprocessor)] = preprocessor
    signatures[name] = preprocess_function(
        recipe.task, preprocessor).get_concrete_function()
  preprocess = tf.Module()
  preprocess.preprocessors = list(used.values())
  folder = os.path.join(export_dir, PREPROCESS,
                        str(max(version for version, _ in served.values())))
  _save(preprocess, signatures, folder)
  return folder


# ------------------------------------------------------------ the export


def export_run(model_dir: str, export_dir: str,
               task_names: Optional[Sequence[str]] = None, version: int = 1,
               overwrite: bool = False, ids_only: bool = False,
               server_dir: Optional[str] = None,
               cls_only_last_layer: bool = True) -> List[str]:
  """Writes the SavedModels of runs' tasks into an export folder, then its
  preprocess model and models.config (module docstring).

  Args:
    model_dir: a run folder, a checkpoint prefix inside one, or a folder of
      run folders or of seed runs (`runs/sources.py`).
    export_dir: the model base folder; what other exports left in it stays
      served.
    task_names: tasks of the runs to export (None: all of them).
    version: the TF Serving version number (a non-negative integer).
    overwrite: replace the version of a task that exists already (all its
      models at that version: an `ids_only` export removes the raw-text
      one).
    ids_only: write the token-id models only (and the preprocess model).
    server_dir: `export_dir` as TF Serving sees it, for models.config
      (`serving_dir.server_path`; None: its absolute path here).
    cls_only_last_layer: sentence tasks' models run the last block at
      [CLS] alone (`multitask_model.build_multitask_model`; the same
      outputs); False: the full block, which only benchmarks want.

  Returns:
    the version folders written.

  Raises:
    ConfigError: unknown task, a task in two runs, bad version, an existing
      version without `overwrite`, a folder that is no run, a relative
      `server_dir`, or a model folder in `export_dir` without a recipe.
    CheckpointError: a checkpoint without the encoder or a task's head.
  """
  if version < 0:
    raise ConfigError(f"--version must be a non-negative integer, got "
                      f"{version}")
  server_dir = serving_dir.server_path(export_dir, server_dir)
  recipes = _recipes(sources.resolve_runs(model_dir), task_names)
  serving_dir.check_names(list(recipes), list(serving_dir.served_recipes(
      export_dir, dict.fromkeys(recipes, version))))
  replaced = serving_dir.replaced_folders(export_dir, recipes, version,
                                          overwrite)
  made, written = {}, []
  with progress.bar(len(recipes) + 1, "export", unit="model") as bar:
    for recipe in recipes.values():
      written += _export_task(recipe, export_dir, version, ids_only, made,
                              cls_only_last_layer)
      bar.update(1)
    for folder in sorted(set(replaced) - set(written)):
      shutil.rmtree(folder)
      logging.info("Removed %s: its task's version %d is replaced", folder,
                   version)
    written.append(_write_preprocess(export_dir, made))
    bar.update(1)
  logging.info("Wrote %s", ", ".join(
      serving_dir.write_models_config(export_dir, server_dir)))
  return written
