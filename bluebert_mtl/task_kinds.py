"""The four kinds of BLUE task and what every task of a kind shares.

A kind fixes a task's head, loss, how a gold label becomes a feature label
and how a model output becomes a predicted label. The task registry
(`tasks.py`) gives each task its kind; nothing else branches on kinds.

  kind            head                      loss                    output per row
  regression      PooledHead(1, squeeze)    mean squared error      float32 []
  classification  PooledHead(C)             softmax cross-entropy   float32 [C] logits
  multilabel      PooledHead(C)             sigmoid cross-entropy   float32 [C] logits
  tagging         TokenHead(C)              token cross-entropy     float32 [T, C] logits
"""

import dataclasses
from typing import Callable

import numpy as np

from bluebert_mtl.model import heads
from bluebert_mtl.model import losses
from bluebert_mtl import metrics

@dataclasses.dataclass(frozen=True)
class TaskKind:
  """Behaviour shared by the tasks of one kind.

  Attributes:
    name: the kind's name, as task definition files spell it.
    build_head: (task) -> a Keras head layer named after the task.
    loss: (labels, outputs, weights) -> (weighted sum, count); `losses.py`.
    encode_label: (task, gold label) -> feature label (`features.py`).
    decode: (task, output row, word_positions) -> predicted label, in the
      form readers give gold labels (str, float, tuple of label names, tuple
      of tags).
  """
  name: str
  build_head: Callable
  loss: Callable
  encode_label: Callable
  decode: Callable


def head_name(task_name: str) -> str:
  """The Keras name of a task's head layer and model output: the task key."""
  return task_name


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


def _word_tags(task, logits, word_positions):
  """Tags of the words: the argmax at each word's first sub-token; "O" for a
  word without one (empty after tokenization, or cut by max_seq_length)."""
  tag_ids = np.argmax(logits, axis=-1)
  return tuple(task.labels[int(tag_ids[p])] if p >= 0 else "O"
               for p in word_positions)


KINDS = {
    "regression": TaskKind(
        "regression",
        build_head=lambda task: heads.PooledHead(
            1, task.dropout, squeeze=True, name=head_name(task.name)),
        loss=losses.mean_squared_error,
        encode_label=lambda task, label: float(label),
        decode=_score),
    "classification": TaskKind(
        "classification",
        build_head=lambda task: heads.PooledHead(
            len(task.labels), task.dropout, name=head_name(task.name)),
        loss=losses.softmax_cross_entropy,
        encode_label=_label_id,
        decode=_argmax_label),
    "multilabel": TaskKind(
        "multilabel",
        build_head=lambda task: heads.PooledHead(
            len(task.labels), task.dropout, name=head_name(task.name)),
        loss=losses.sigmoid_cross_entropy,
        encode_label=_multi_hot,
        decode=_labels_over_threshold),
    "tagging": TaskKind(
        "tagging",
        build_head=lambda task: heads.TokenHead(
            len(task.labels), task.dropout,
            variational_dropout=task.variational_dropout,
            name=head_name(task.name)),
        loss=losses.token_cross_entropy,
        encode_label=None,  # tags are encoded per sub-token by features.py
        decode=_word_tags),
}
