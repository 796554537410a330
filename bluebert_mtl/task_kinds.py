"""The four kinds of BLUE task and everything a task of a kind does.

A kind fixes a task's head, loss, how its examples become features and its
outputs labels again, and what its serving signatures answer. The task
registry (`tasks.py`) gives each task its kind; no other module tests a
kind's name: they call the fields of `TaskKind`.

  kind            head                      loss                    output per row
  regression      PooledHead(1, squeeze)    mean squared error      float32 []
  classification  PooledHead(C)             softmax cross-entropy   float32 [C] logits
  multilabel      PooledHead(C)             sigmoid cross-entropy   float32 [C] logits
  tagging         TokenHead(C)              token cross-entropy     float32 [T, C] logits

The three sentence kinds feed one row per example (a text or a text pair)
and read the [CLS] position; tagging feeds pieces of at most `max_words`
words of a sentence (longer sentences are split as the original does,
`features.split_long_sentence`) and reads every word's first sub-token.
"""

import dataclasses
from typing import Callable, Optional

import numpy as np

from bluebert_mtl import metrics
from bluebert_mtl.data import features as features_lib
from bluebert_mtl.model import heads
from bluebert_mtl.model import losses
from bluebert_mtl.serve import decoding
from bluebert_mtl.serve import task_io


@dataclasses.dataclass(frozen=True)
class TaskKind:
  """Behaviour shared by the tasks of one kind.

  Attributes:
    name: the kind's name, as task definition files spell it.
    has_labels: whether its tasks have a label list (regression has none).
    token_level: whether the head reads every position (sequence_output)
      rather than the pooled [CLS] (pooled_output).
    hf_architecture: the `transformers` class of an exported task.
    hf_problem_type: its config.json `problem_type` (None: none).
    build_head: (task) -> a Keras head layer named after the task.
    loss: a `losses.Loss` (weighted sum and count of items, apart).
    pieces: (task, examples) -> the examples as fed to the model.
    featurize: (task, pieces, tokenizer, max_seq_length, second_text_first)
      -> `Features`, one per piece (`features.py`).
    gold: (example) -> its gold label as the reader gave it (None where the
      file has none).
    decode: (task, output row, word_positions) -> predicted label, in the
      form readers give gold labels (str, float, tuple of label names, tuple
      of tags).
    join_pieces: (examples, pieces, labels by piece guid) -> labels by
      example guid.
    ids_outputs: (task, head output) -> the outputs of a serving signature
      fed token ids (`serve/decoding.py`).
    text_outputs: (task, model view, preprocessor, texts) -> the outputs of
      the raw-text serving signature.
    preprocess_rows: (task, preprocessor, texts) -> the encoder rows of the
      preprocess model's signature.
    prediction_item: (task, input record, position, do_lower_case) -> the
      record as the task's example (`serve/task_io.py`).
    prediction_result: (task, decoded label, output row, item) -> the JSON
      result of prediction on new text (docs/prediction.md).
  """
  name: str
  has_labels: bool
  token_level: bool
  hf_architecture: str
  hf_problem_type: Optional[str]
  build_head: Callable
  loss: Callable
  pieces: Callable
  featurize: Callable
  gold: Callable
  decode: Callable
  join_pieces: Callable
  ids_outputs: Callable
  text_outputs: Callable
  preprocess_rows: Callable
  prediction_item: Callable
  prediction_result: Callable


# ------------------------------------------------------------ sentence kinds


def _whole_examples(task, examples) -> list:
  del task
  return list(examples)


def _label_of(example):
  return example.label


def _by_example(examples, pieces, labels: dict) -> dict:
  del examples, pieces
  return labels


def _featurize_sentences(encode_label: Callable) -> Callable:
  """A kind's featurize: text (pair) rows, labels encoded by
  `encode_label(task, label)`."""
  def featurize(task, pieces, tokenizer, max_seq_length, second_text_first):
    return features_lib.featurize_sentences(
        pieces, tokenizer, max_seq_length,
        lambda label: encode_label(task, label), second_text_first)
  return featurize


def _label_id(task, label):
  return task.labels.index(label)


def _multi_hot(task, label_names):
  return tuple(float(name in label_names) for name in task.labels)


def _argmax_label(task, logits, word_positions=None):
  del word_positions
  return task.labels[int(np.argmax(logits))]


def _score(task, output, word_positions=None):
  del task, word_positions
  return float(output)


def _labels_over_threshold(task, logits, word_positions=None):
  del word_positions
  probabilities = 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64)))
  return metrics.hoc_decision(probabilities[None], task.labels)[0]


def _sentence_kind(name: str, has_labels: bool, hf_problem_type: str,
                   build_head: Callable, loss: Callable,
                   encode_label: Callable, decode: Callable, serve: Callable,
                   ids_outputs: Callable, result: Callable) -> TaskKind:
  """A kind whose rows are whole examples read at [CLS]; `serve` decodes a
  head output for the raw-text signature, `ids_outputs` for the ids one."""
  return TaskKind(
      name, has_labels, token_level=False,
      hf_architecture="BertForSequenceClassification",
      hf_problem_type=hf_problem_type, build_head=build_head, loss=loss,
      pieces=_whole_examples,
      featurize=_featurize_sentences(encode_label), gold=_label_of,
      decode=decode, join_pieces=_by_example, ids_outputs=ids_outputs,
      text_outputs=decoding.sentence_text_outputs(serve),
      preprocess_rows=decoding.sentence_rows,
      prediction_item=task_io.sentence_item, prediction_result=result)


def _pooled_head(squeeze: bool = False) -> Callable:
  return lambda task: heads.PooledHead(
      task.num_outputs, task.head_dropout, squeeze=squeeze,
      name=heads.head_name(task.name))


# ------------------------------------------------------------ tagging


def _split_long_sentences(task, examples) -> list:
  pieces = []
  for ex in examples:
    pieces.extend(features_lib.split_long_sentence(ex, task.max_words))
  return pieces


def _featurize_tagged(task, pieces, tokenizer, max_seq_length,
                      second_text_first):
  del second_text_first  # one text per row
  tag_ids = {tag: i for i, tag in enumerate(task.labels)}
  return features_lib.featurize_tagged(pieces, tokenizer, max_seq_length,
                                       tag_ids)


def _tags_of(example):
  return example.tags


def _word_tags(task, logits, word_positions):
  """Tags of the words: the argmax at each word's first sub-token; "O" for a
  word without one (empty after tokenization, or cut by max_seq_length)."""
  tag_ids = np.argmax(logits, axis=-1)
  return tuple(task.labels[int(tag_ids[p])] if p >= 0 else "O"
               for p in word_positions)


KINDS = {
    "regression": _sentence_kind(
        "regression", has_labels=False, hf_problem_type="regression",
        build_head=_pooled_head(squeeze=True),
        loss=losses.mean_squared_error,
        encode_label=lambda task, label: float(label), decode=_score,
        serve=decoding.regression, ids_outputs=decoding.regression,
        result=task_io.regression_result),
    "classification": _sentence_kind(
        "classification", has_labels=True,
        hf_problem_type="single_label_classification",
        build_head=_pooled_head(),
        loss=losses.softmax_cross_entropy, encode_label=_label_id,
        decode=_argmax_label, serve=decoding.classification,
        ids_outputs=decoding.with_logits(decoding.classification),
        result=task_io.classification_result),
    "multilabel": _sentence_kind(
        "multilabel", has_labels=True,
        hf_problem_type="multi_label_classification",
        build_head=_pooled_head(),
        loss=losses.sigmoid_cross_entropy, encode_label=_multi_hot,
        decode=_labels_over_threshold, serve=decoding.multilabel,
        ids_outputs=decoding.with_logits(decoding.multilabel),
        result=task_io.multilabel_result),
    "tagging": TaskKind(
        "tagging", has_labels=True, token_level=True,
        hf_architecture="BertForTokenClassification", hf_problem_type=None,
        build_head=lambda task: heads.TokenHead(
            task.num_outputs, task.head_dropout,
            variational_dropout=task.variational_dropout,
            name=heads.head_name(task.name)),
        loss=losses.token_cross_entropy, pieces=_split_long_sentences,
        featurize=_featurize_tagged, gold=_tags_of, decode=_word_tags,
        join_pieces=features_lib.merge_piece_predictions,
        ids_outputs=decoding.token_tags,
        text_outputs=decoding.word_text_outputs,
        preprocess_rows=decoding.word_rows,
        prediction_item=task_io.tagged_item,
        prediction_result=task_io.tagging_result),
}
