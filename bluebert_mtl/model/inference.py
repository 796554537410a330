"""The forward pass of a task's model over a split's features, in batches.

Training's dev/test scoring (`train/evaluation.py`) and prediction on new
text (`serve/predictor.py`) run the same code: length-sorted batches of a
token budget (`datasets.prediction_batches`), padded in a background thread
while the previous batch runs, through one compiled forward pass per task
(one trace: open batch and sequence dimensions).

Dims: B rows of a batch, T its padded length.
"""

import concurrent.futures
import math
from typing import List, Optional

import numpy as np
import tensorflow as tf

from bluebert_mtl import progress
from bluebert_mtl.data import datasets
from bluebert_mtl.data import task_data
from bluebert_mtl.model import multitask_model


def token_budget(batch_size: int, max_seq_length: int) -> int:
  """The tokens (rows x padded length) of a prediction batch: what
  `batch_size` rows of `max_seq_length` hold, so the longest inputs come
  `batch_size` to a batch and shorter ones more."""
  return batch_size * max_seq_length


def make_predict_step(view, jit_compile: bool = False):
  """A compiled forward pass of a task's model (`multitask_model.task_model`
  or `load_task_model`): encoder inputs dict (int32 [B, T] each) -> the
  task's output. `jit_compile`: XLA, which compiles once per input shape
  (`predict` then keeps the shapes few)."""
  spec = {name: tf.TensorSpec([None, None], tf.int32)
          for name in multitask_model.INPUT_NAMES}

  @tf.function(input_signature=[spec], jit_compile=jit_compile)
  def predict_step(inputs):
    return view(inputs, training=False)

  return predict_step


class LossSum:
  """The loss of a labelled split over the outputs a prediction made of it:
  the task's `losses.Loss` summed batch by batch, so that the dev loss
  costs no second forward pass.

  Args:
    loss: the task kind's `losses.Loss`.
  """

  def __init__(self, loss):
    self.loss = loss
    self.total = 0.0  # summed item losses
    self.count = 0.0  # items summed

  def add(self, batch: dict, outputs: tf.Tensor):
    """Adds a padded batch (with `label`) and the model's outputs of it."""
    total, count = self.loss(batch["label"], outputs, batch["example_weight"])
    self.total += float(total)
    self.count += float(count)

  def mean(self) -> float:
    """The mean item loss (NaN before any item)."""
    return self.total / self.count if self.count else math.nan


def _padded_batch(split: task_data.SplitData, indices: np.ndarray,
                  batch_tokens: int, jit_compile: bool,
                  with_labels: bool) -> dict:
  """One padded numpy batch (`datasets.pad_batch`): its own rows, or under
  XLA as many as its padded length allows (zero-weight rows at the end), so
  that XLA sees one shape per padded length."""
  multiple = datasets.length_multiple(jit_compile)
  rows = len(indices)
  if jit_compile:
    length = datasets.padded_length(int(split.lengths[indices].max()),
                                    multiple)
    rows = max(rows, batch_tokens // length)
  return datasets.pad_batch(split.features, indices, rows,
                            with_labels=with_labels, multiple=multiple)


def predict(predict_step, split: task_data.SplitData, batch_tokens: int,
            jit_compile: bool = False, loss_sum: Optional[LossSum] = None,
            what: Optional[str] = None) -> List[np.ndarray]:
  """Model outputs of every feature of a split, in feature order.

  Args:
    predict_step: from `make_predict_step` (with the same `jit_compile`).
    split: the features to predict.
    batch_tokens: rows x padded length of a batch (`token_budget`).
    jit_compile: whether `predict_step` is XLA-compiled: lengths are then
      rounded up to `datasets.XLA_LENGTH_MULTIPLE`.
    loss_sum: if given, also sums the loss of the (labelled) split's rows.
    what: the name of a progress bar over the batches (None: no bar).

  Returns:
    one output row per feature (its padding rows and positions included).

  Batches are padded here, not through a `tf.data` generator dataset: TF
  2.20 keeps every `Dataset.from_generator`'s generator, and the features it
  holds, for the life of the process (tensorflow/tensorflow#123530), which
  piles up over a prediction job's many calls. One thread pads the next
  batch while this one runs (TensorFlow releases the GIL).
  """
  plan = datasets.prediction_batches(split.lengths, batch_tokens,
                                     datasets.length_multiple(jit_compile))
  outputs = [None] * len(split.features)
  with concurrent.futures.ThreadPoolExecutor(1) as pool, \
      progress.bar(len(plan), what or "", unit="batch",
                   shown=what is not None) as bar:
    def prepare(i):
      return pool.submit(_padded_batch, split, plan[i], batch_tokens,
                         jit_compile, loss_sum is not None
                         ) if i < len(plan) else None
    pending = prepare(0)
    for i, indices in enumerate(plan):
      batch, pending = pending.result(), prepare(i + 1)
      result = predict_step(multitask_model.model_inputs(batch))
      if loss_sum is not None:
        loss_sum.add(batch, result)
      result = result.numpy()
      for row, index in enumerate(indices):
        outputs[index] = result[row]
      bar.update(1)
  return outputs
