"""The forward pass of a task's model over a split's features, in batches.

Training's dev/test scoring (`train/evaluation.py`) and prediction on new
text (`serve/predictor.py`) run the same code: length-sorted batches
(`datasets.evaluation_batches`), padded here, through one compiled forward
pass per task.
"""

import math
from typing import List, Optional

import numpy as np
import tensorflow as tf

from bluebert_mtl import progress
from bluebert_mtl.data import datasets
from bluebert_mtl.data import task_data
from bluebert_mtl.model import multitask_model


def make_predict_step(view):
  """A compiled forward pass of a task's model (`multitask_model.task_model`
  or `load_task_model`): encoder inputs dict -> the task's output."""
  spec = {name: tf.TensorSpec([None, None], tf.int32)
          for name in multitask_model.INPUT_NAMES}

  @tf.function(input_signature=[spec])
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


def predict(predict_step, split: task_data.SplitData, batch_size: int,
            loss_sum: Optional[LossSum] = None,
            what: Optional[str] = None) -> List[np.ndarray]:
  """Model outputs of every feature of a split, in feature order.

  Batches are padded here, not through a `tf.data` generator dataset: TF
  2.20 keeps every `Dataset.from_generator`'s generator, and the features it
  holds, for the life of the process (tensorflow/tensorflow#123530), which
  piles up over a prediction job's many calls.

  Args:
    predict_step: `make_predict_step`'s function.
    split: the features to predict.
    batch_size: rows per forward pass.
    loss_sum: if given, also sums the loss of the (labelled) split's rows.
    what: the name of a progress bar over the batches (None: no bar).
  """
  outputs = [None] * len(split.features)
  plan = datasets.evaluation_batches(split.lengths, batch_size)
  with progress.bar(len(plan), what or "", unit="batch",
                    shown=what is not None) as bar:
    for indices in plan:
      batch = datasets.pad_batch(split.features, indices, batch_size,
                                 with_labels=loss_sum is not None)
      result = predict_step(multitask_model.model_inputs(batch))
      if loss_sum is not None:
        loss_sum.add(batch, result)
      result = result.numpy()
      for row, index in enumerate(indices):
        outputs[index] = result[row]
      bar.update(1)
  return outputs
