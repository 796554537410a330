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

Preprocessing is the training-time one (`features.py`): the run's tokenizer
(vocab, do_lower_case), `[CLS] a [SEP] (b [SEP])` packing, truncation to
the run's max_seq_length (pairs longest-first, in the run's
second_text_first order); tagging texts are split into words as Python's
`str.split()` splits them, each word tokenized on its own, the words cut
into pieces of at most max_words words (the rule for untagged sentences),
and a word's tag is the argmax at its first sub-token ("O" for a word with
none: empty after tokenization or cut by max_seq_length). Packing and
truncation use core TF ops; the TF Text ops in the raw-text graphs are the
long-shipped ones of the tokenizer (`tokenization.py`).
"""

import dataclasses
import functools
import os
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from absl import logging
import tensorflow as tf

from bluebert_mtl.model import modeling
from bluebert_mtl.model import multitask_model
from bluebert_mtl.runs import run_dir
from bluebert_mtl import task_kinds
from bluebert_mtl import tokenization
from bluebert_mtl.config import BertConfig
from bluebert_mtl.errors import CheckpointError, ConfigError

PAIR_FORMATS = ("sts", "mednli")  # file formats whose rows are text pairs
IDS_SUFFIX = "_ids"
PREPROCESS = "preprocess"
_TEXT_SPEC = tf.TensorSpec([None], tf.string)
_IDS_SPEC = tf.TensorSpec([None, None], tf.int32)
_NO_WORD = -1  # word position of a word without a sub-token
_Function = tf.types.experimental.PolymorphicFunction


@functools.lru_cache(maxsize=None)
def _whitespace_class() -> str:
  """Python's `str.split()` separators, as an RE2 class."""
  return "[" + "".join(f"\\x{{{cp:X}}}" for cp in range(sys.maxunicode + 1)
                       if chr(cp).isspace()) + "]"


def is_pair_task(task) -> bool:
  """Whether the task's rows are text pairs (inputs text_a and text_b)."""
  return task.file_format in PAIR_FORMATS


# ------------------------------------------------------------ preprocessing


@dataclasses.dataclass
class WordPieces:
  """Tagging texts as encoder rows of at most max_words words each.

  Attributes:
    inputs: encoder inputs, int32 [R, T] each.
    text_index: int32 [R], the text of each row.
    words: string RaggedTensor [B, (W)], the words of each text.
    word_row: int32 [N], the row of each word (N words in all, text order).
    word_positions: int32 [N], the position of each word's first sub-token
      in its row, -1 where it has none.
  """
  inputs: Dict[str, tf.Tensor]
  text_index: tf.Tensor
  words: tf.RaggedTensor
  word_row: tf.Tensor
  word_positions: tf.Tensor

  def row_outputs(self, max_words: int) -> Dict[str, tf.Tensor]:
    """The preprocess signature's outputs of a tagging task (docstring)."""
    positions = tf.RaggedTensor.from_value_rowids(
        self.word_positions, self.word_row,
        nrows=tf.size(self.text_index))
    return dict(self.inputs, text_index=self.text_index,
                num_words=tf.cast(positions.row_lengths(), tf.int32),
                word_positions=positions.to_tensor(_NO_WORD,
                                                   shape=[None, max_words]))


def _keep_first(ids: tf.RaggedTensor, lengths: tf.Tensor) -> tf.RaggedTensor:
  """The first lengths[i] ids of each row i of an int RaggedTensor [B, (T)]."""
  positions = tf.ragged.range(ids.row_lengths())
  return tf.ragged.boolean_mask(ids, positions < lengths[:, None])


def _column(value: int, rows: tf.Tensor) -> tf.RaggedTensor:
  """An int32 RaggedTensor [rows, (1)] holding `value`."""
  return tf.RaggedTensor.from_tensor(tf.fill([rows, 1], value))


def _dense_inputs(word_ids: tf.RaggedTensor,
                  type_ids: tf.RaggedTensor) -> Dict[str, tf.Tensor]:
  """Ragged packed rows -> encoder inputs int32 [B, T], 0-padded."""
  return {"input_word_ids": word_ids.to_tensor(0),
          "input_mask": tf.ones_like(word_ids).to_tensor(0),
          "input_type_ids": type_ids.to_tensor(0)}


class Preprocessor(tf.Module):
  """Raw text -> encoder inputs, as training featurizes (`features.py`)."""

  def __init__(self, tokenizer: tokenization.FullTokenizer,
               max_seq_length: int, second_text_first: bool):
    """Keeps the run's preprocessing settings.

    Args:
      tokenizer: the run's tokenizer.
      max_seq_length: the run's longest packed row.
      second_text_first: pack pairs as [CLS] b [SEP] a [SEP].
    """
    super().__init__(name="preprocessor")
    self.tokenizer = tokenizer
    self.max_seq_length = max_seq_length
    self.second_text_first = second_text_first

  def _pack(self, ids_a: tf.RaggedTensor,
            ids_b: Optional[tf.RaggedTensor]) -> Dict[str, tf.Tensor]:
    """`features.pack_pair` on int32 RaggedTensors [B, (T)]."""
    rows = ids_a.nrows(out_type=tf.int32)
    cls = _column(self.tokenizer.cls_id, rows)
    sep = _column(self.tokenizer.sep_id, rows)
    if ids_b is None:
      word_ids = tf.concat([cls, ids_a[:, :self.max_seq_length - 2], sep], 1)
      return _dense_inputs(word_ids, tf.zeros_like(word_ids))
    # Longest-first: pop from the longer (b on ties) until the pair fits; the
    # result is a = min(len a, max(room - len b, ceil(room / 2))).
    room = self.max_seq_length - 3
    length_a, length_b = ids_a.row_lengths(), ids_b.row_lengths()
    keep_a = tf.minimum(length_a,
                        tf.maximum(room - length_b, (room + 1) // 2))
    ids_a = _keep_first(ids_a, keep_a)
    ids_b = _keep_first(ids_b, tf.minimum(length_b, room - keep_a))
    first = tf.concat([cls, ids_a, sep], 1)
    second = tf.concat([ids_b, sep], 1)
    return _dense_inputs(tf.concat([first, second], 1),
                         tf.concat([tf.zeros_like(first),
                                    tf.ones_like(second)], 1))

  def texts(self, *texts: tf.Tensor) -> Dict[str, tf.Tensor]:
    """Encoder inputs of one text or a pair of texts, string [B] each."""
    ids = [self.tokenizer.tokenize(t) for t in texts]
    if len(ids) == 1:
      return self._pack(ids[0], None)
    first, second = ids
    if self.second_text_first:
      first, second = second, first
    return self._pack(first, second)

  def words(self, texts: tf.Tensor, max_words: int) -> WordPieces:
    """Tagging texts as `features.featurize_tagged` rows of <= max_words words.

    Args:
      texts: string [B], one sentence each.
      max_words: the task's longest piece, in words.

    Returns:
      the rows and where each word's first sub-token is in them.
    """
    words = tf.strings.split(
        tf.strings.regex_replace(texts, _whitespace_class(), " "))
    words_per_text = words.row_lengths()  # int64 [B]
    rows_per_text = tf.maximum(
        tf.constant(1, tf.int64), -(-words_per_text // max_words))
    first_row = tf.cumsum(rows_per_text, exclusive=True)
    word_text = words.value_rowids()  # [N]
    word_in_text = (tf.range(tf.size(word_text, out_type=tf.int64)) -
                    tf.gather(words.row_starts(), word_text))
    word_row = tf.gather(first_row, word_text) + word_in_text // max_words
    subtokens = self.tokenizer.tokenize(words.flat_values)  # [N, (S)]
    rows = tf.RaggedTensor.from_value_rowids(
        subtokens, word_row, nrows=tf.reduce_sum(rows_per_text))
    inputs = self._pack(rows.merge_dims(1, 2), None)
    counts = subtokens.row_lengths()
    offsets = tf.cumsum(counts, exclusive=True)  # of the word in all words
    offsets -= tf.gather(offsets, tf.gather(rows.row_starts(), word_row))
    has_position = (counts > 0) & (offsets < self.max_seq_length - 2)
    positions = tf.where(has_position, offsets + 1, _NO_WORD)
    text_index = tf.repeat(tf.range(tf.size(rows_per_text)), rows_per_text)
    return WordPieces(inputs, text_index, words, tf.cast(word_row, tf.int32),
                      tf.cast(positions, tf.int32))


# ------------------------------------------------------------ decoding


def _softmax_decode(labels, logits):
  """(string [...] argmax label names, float32 [..., C] softmax) of float32
  logits [..., C]."""
  return (tf.gather(tf.constant(labels), tf.argmax(logits, -1)),
          tf.nn.softmax(logits, -1))


def _classification(task, logits):
  """logits float32 [B, C] -> label, probabilities."""
  label, probabilities = _softmax_decode(task.labels, logits)
  return {"label": label, "probabilities": probabilities}


def _regression(task, score):
  """score float32 [B] -> score."""
  del task
  return {"score": score}


def _multilabel(task, logits):
  """logits float32 [B, C] -> probabilities, predicted, labels."""
  predicted = logits > 0.0  # sigmoid(logit) > 0.5
  names = tf.broadcast_to(tf.constant(task.labels), tf.shape(logits))
  labels = tf.ragged.boolean_mask(names, predicted).to_tensor(
      "", shape=tf.shape(logits))
  return {"probabilities": tf.sigmoid(logits), "predicted": predicted,
          "labels": labels}


def _token_tags(task, logits):
  """logits float32 [B, T, C] -> token_tags, probabilities."""
  tags, probabilities = _softmax_decode(task.labels, logits)
  return {"token_tags": tags, "probabilities": probabilities}


# kind -> (task, head output of the ids signature) -> named outputs.
_DECODERS: Dict[str, Callable] = {
    "classification": _classification,
    "regression": _regression,
    "multilabel": _multilabel,
    "tagging": _token_tags,
}


def _word_outputs(task, logits: tf.Tensor, pieces: WordPieces):
  """Tagging outputs of serving_default from row logits [R, T, C]."""
  found = pieces.word_positions >= 0
  at = tf.stack([pieces.word_row, tf.maximum(pieces.word_positions, 0)], 1)
  tags, probabilities = _softmax_decode(task.labels, tf.gather_nd(logits, at))
  tags = tf.where(found, tags, "O")  # as task_kinds decodes a word without one
  probabilities = tf.where(found[:, None], probabilities, 0.0)
  words = pieces.words
  return {"tags": words.with_flat_values(tags).to_tensor(""),
          "num_words": tf.cast(words.row_lengths(), tf.int32),
          "probabilities": words.with_flat_values(probabilities).to_tensor(
              0.0)}


# ------------------------------------------------------------ signatures


def _text_function(task, body: Callable) -> _Function:
  """A tf.function of the task's text inputs (text, or text_a and text_b)."""
  if is_pair_task(task):
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
    outputs = _DECODERS[task.kind](task, output)
    if task.kind != "regression":
      outputs["logits"] = output
    return outputs
  return tf.function(serve_ids, input_signature=[_IDS_SPEC] * 3)


def text_function(task, view, preprocessor: Preprocessor) -> _Function:
  """The raw-text serving_default function of a task's model view."""
  def serve_text(*texts):
    if task.kind == "tagging":
      pieces = preprocessor.words(texts[0], task.max_words)
      return _word_outputs(task, view(pieces.inputs, training=False), pieces)
    output = view(preprocessor.texts(*texts), training=False)
    return _DECODERS[task.kind](task, output)
  return _text_function(task, serve_text)


def preprocess_function(task, preprocessor: Preprocessor) -> _Function:
  """The task's signature of the preprocess model."""
  def preprocess(*texts):
    if task.kind == "tagging":
      return preprocessor.words(texts[0], task.max_words).row_outputs(
          task.max_words)
    return preprocessor.texts(*texts)
  return _text_function(task, preprocess)


# ------------------------------------------------------------ the run


@dataclasses.dataclass(frozen=True)
class RunSource:
  """What an export reads.

  Attributes:
    run_dir: the training run folder.
    checkpoint: a checkpoint prefix every task reads, or None for each
      task's best (else final) weights.
  """
  run_dir: str
  checkpoint: Optional[str] = None

  @classmethod
  def resolve(cls, model_dir: str) -> "RunSource":
    """A run folder, or a checkpoint prefix inside one (e.g.
    RUN/checkpoints/ckpt-500 or RUN/best/chemprot/weights)."""
    if os.path.isdir(model_dir):
      return cls(model_dir)
    if not os.path.exists(model_dir + ".index"):
      raise ConfigError(f"--model_dir {model_dir} is neither a run folder nor "
                        "a checkpoint prefix (no .index file)")
    folder = os.path.dirname(os.path.abspath(model_dir))
    while not os.path.exists(os.path.join(folder, run_dir.TRAIN_CONFIG)):
      parent = os.path.dirname(folder)
      if parent == folder:
        raise ConfigError(f"checkpoint {model_dir} is not inside a training "
                          f"run folder (none above it has "
                          f"{run_dir.TRAIN_CONFIG})")
      folder = parent
    return cls(folder, model_dir)

  def weights(self, task_name: str) -> str:
    """The checkpoint prefix of a task's weights."""
    if self.checkpoint:
      return self.checkpoint
    best = run_dir.best_weights(self.run_dir, task_name)
    if os.path.exists(best + ".index"):
      return best
    final = run_dir.final_weights(self.run_dir)
    if os.path.exists(final + ".index"):
      logging.info("%s: no best weights of %s; exporting %s", self.run_dir,
                   task_name, final)
      return final
    raise CheckpointError(f"{self.run_dir}: no weights of task {task_name} "
                          f"({best} and {final} missing)")


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


def restore_task_weights(model, task_name: str, checkpoint: str) -> None:
  """Reads the encoder and one head of a single-task model from a run's
  checkpoint.

  Raises:
    CheckpointError: naming the checkpoint, when it cannot be read or lacks
      the encoder or the task's head.
  """
  head = model.get_layer(task_kinds.head_name(task_name))
  parts = ((tf.train.Checkpoint(encoder=multitask_model.encoder_of(model)),
            "the encoder"),
           (tf.train.Checkpoint(heads={task_name: head}),
            f"a head of task {task_name}"))
  for checkpoint_object, what in parts:
    try:
      status = checkpoint_object.read(checkpoint)
    except (tf.errors.OpError, ValueError) as e:
      raise CheckpointError(f"{checkpoint}: cannot read the checkpoint: "
                            f"{e}") from e
    status.expect_partial()
    try:
      status.assert_existing_objects_matched()
    except AssertionError as e:
      raise CheckpointError(f"{checkpoint}: holds no weights of {what}") from e


def _task_view(task, bert_config: BertConfig, checkpoint: str):
  """The encoder and the task's head with the checkpoint's weights."""
  model = multitask_model.build_multitask_model(
      modeling.build_bert_encoder(bert_config), [task])
  restore_task_weights(model, task.name, checkpoint)
  return multitask_model.task_model(model, task.name)


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
  source = RunSource.resolve(model_dir)
  tasks, task_names = select_tasks(source.run_dir, task_names)
  folders = _version_folders(export_dir, task_names, version, ids_only)
  existing = [folder for _, folder in folders if os.path.exists(folder)]
  if existing and not overwrite:
    raise ConfigError(f"version {version} exists already: "
                      f"{', '.join(existing)}; give --overwrite to replace it "
                      "or another --version")
  config = run_dir.read_train_config(source.run_dir)
  bert_config = BertConfig.from_json_file(
      os.path.join(source.run_dir, run_dir.BERT_CONFIG))
  preprocessor = Preprocessor(
      tokenization.FullTokenizer(os.path.join(source.run_dir, run_dir.VOCAB),
                                 config.do_lower_case),
      config.max_seq_length, config.second_text_first)
  folder_of = dict(folders)
  for name in task_names:
    task = tasks[name]
    view = _task_view(task, bert_config, source.weights(name))
    serve_ids = ids_function(task, view).get_concrete_function()
    weights = tf.Module()
    weights.variables_list = list(view.variables)
    _save(weights, {"serving_default": serve_ids, "serving_ids": serve_ids},
          folder_of[name + IDS_SUFFIX])
    if not ids_only:
      text_model = tf.Module()
      text_model.variables_list = weights.variables_list
      text_model.preprocessor = preprocessor
      _save(text_model, {
          "serving_default": text_function(
              task, view, preprocessor).get_concrete_function(),
          "serving_ids": serve_ids}, folder_of[name])
  preprocess = tf.Module()
  preprocess.preprocessor = preprocessor
  _save(preprocess, {name: preprocess_function(task, preprocessor)
                     .get_concrete_function()
                     for name, task in tasks.items()},
        folder_of[PREPROCESS])
  return [folder for _, folder in folders]
