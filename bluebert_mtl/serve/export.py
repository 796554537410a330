"""Per-task SavedModels of a training run, for TF Serving.

One run folder (`run_dir.py`) becomes, in TF Serving's `--model_base_path`
layout (numbered version folders under one folder per model):

  EXPORT_DIR/<task>/<version>/      raw text -> predictions; the tokenizer
                                    runs in the graph (TF Text ops)
  EXPORT_DIR/<task>_ids/<version>/  token ids -> predictions; core TF ops only
  EXPORT_DIR/preprocess/<version>/  raw text -> token ids, one signature per
                                    task of the run, for servers without TF
                                    Text (run it where TF Text is, e.g. in
                                    the client, and send the ids to
                                    <task>_ids)

Each task's models hold the encoder and that task's head only, with that
task's best-dev weights (`best/<task>/weights`, else `final/weights`).

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
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from absl import logging
import tensorflow as tf

from bluebert_mtl.model import multitask_model
from bluebert_mtl.runs import run_dir
from bluebert_mtl import progress
from bluebert_mtl import tokenization
from bluebert_mtl.config import BertConfig
from bluebert_mtl.errors import ConfigError
from bluebert_mtl.serve.preprocess import Preprocessor

IDS_SUFFIX = "_ids"
PREPROCESS = "preprocess"
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


# ------------------------------------------------------------ the run


def _save(root: tf.Module, signatures: dict, folder: str) -> None:
  """Saves a SavedModel into `folder` whole (`run_dir.replace_folder`), so a
  server never sees half a version."""
  run_dir.replace_folder(folder, lambda path: tf.saved_model.save(
      root, path, signatures=signatures))
  logging.info("Wrote %s", folder)


def _version_folders(export_dir: str, task_names: Sequence[str], version: int,
                     ids_only: bool) -> List[Tuple[str, str]]:
  """(model name, version folder) of everything an export writes."""
  names = [PREPROCESS]
  for name in task_names:
    names += [name + IDS_SUFFIX] if ids_only else [name, name + IDS_SUFFIX]
  if len(set(names)) != len(names):
    raise ConfigError(f"the model folders {names} collide: rename the task "
                      "that is named like another one's folder")
  return [(name, os.path.join(export_dir, name, str(version)))
          for name in names]


def select_tasks(folder: str, task_names: Optional[Sequence[str]]
                 ) -> Tuple[Dict[str, object], List[str]]:
  """(every TaskSpec of the run folder by name, the names of `task_names`
  each once, all of them if None).

  Raises:
    ConfigError: a name that is not a task of the run.
  """
  tasks = {t.name: t for t in run_dir.read_tasks(folder)}
  task_names = list(dict.fromkeys(task_names or tasks))
  for name in task_names:
    if name not in tasks:
      raise ConfigError(
          f"task {name!r} is not one of the run {folder} "
          f"({os.path.join(folder, run_dir.TASKS)}: {', '.join(tasks)})")
  return tasks, task_names


def _check_free(folders: Sequence[Tuple[str, str]], version: int,
                overwrite: bool):
  existing = [folder for _, folder in folders if os.path.exists(folder)]
  if existing and not overwrite:
    raise ConfigError(f"version {version} exists already: "
                      f"{', '.join(existing)}; give --overwrite to replace it "
                      "or another --version")


def run_preprocessor(run_folder: str) -> Preprocessor:
  """The in-graph preprocessing of a run: its vocab, casing, max_seq_length
  and pair order."""
  config = run_dir.read_train_config(run_folder)
  return Preprocessor(
      tokenization.FullTokenizer(os.path.join(run_folder, run_dir.VOCAB),
                                 config.do_lower_case),
      config.max_seq_length, config.second_text_first)


def _export_task(task, view, preprocessor: Preprocessor, ids_folder: str,
                 text_folder: Optional[str]):
  """Writes a task's token-id model and, unless `text_folder` is None, its
  raw-text model."""
  serve_ids = ids_function(task, view).get_concrete_function()
  weights = tf.Module()
  weights.variables_list = list(view.variables)
  _save(weights, {"serving_default": serve_ids, "serving_ids": serve_ids},
        ids_folder)
  if text_folder is not None:
    text_model = tf.Module()
    text_model.variables_list = weights.variables_list
    text_model.preprocessor = preprocessor
    _save(text_model, {
        "serving_default": text_function(
            task, view, preprocessor).get_concrete_function(),
        "serving_ids": serve_ids}, text_folder)


def export_run(model_dir: str, export_dir: str,
               task_names: Optional[Sequence[str]] = None, version: int = 1,
               overwrite: bool = False, ids_only: bool = False) -> List[str]:
  """Writes the SavedModels of a run's tasks (module docstring).

  Args:
    model_dir: a run folder, or a checkpoint prefix inside one.
    export_dir: the model base folder.
    task_names: tasks of the run to export (None: all of them).
    version: the TF Serving version number (a non-negative integer).
    overwrite: replace existing version folders.
    ids_only: write the token-id models (and the preprocess model) only.

  Returns:
    the version folders written.

  Raises:
    ConfigError: unknown task, bad version, an existing version without
      `overwrite`, or a folder that is not a run.
    CheckpointError: a checkpoint without the encoder or a task's head.
  """
  if version < 0:
    raise ConfigError(f"--version must be a non-negative integer, got "
                      f"{version}")
  source = run_dir.RunSource.resolve(model_dir)
  tasks, task_names = select_tasks(source.run_dir, task_names)
  folders = _version_folders(export_dir, task_names, version, ids_only)
  _check_free(folders, version, overwrite)
  bert_config = BertConfig.from_json_file(
      os.path.join(source.run_dir, run_dir.BERT_CONFIG))
  preprocessor = run_preprocessor(source.run_dir)
  folder_of = dict(folders)
  with progress.bar(len(task_names) + 1, "export", unit="task") as bar:
    for name in task_names:
      view = multitask_model.load_task_model(tasks[name], bert_config,
                                             source.weights(name))
      _export_task(tasks[name], view, preprocessor,
                   folder_of[name + IDS_SUFFIX],
                   None if ids_only else folder_of[name])
      bar.update(1)
    preprocess = tf.Module()
    preprocess.preprocessor = preprocessor
    _save(preprocess, {name: preprocess_function(task, preprocessor)
                       .get_concrete_function()
                       for name, task in tasks.items()},
          folder_of[PREPROCESS])
    bar.update(1)
  return [folder for _, folder in folders]
