"""The forward pass of a task's model over a split's features, in batches.

Training's dev/test scoring (`train/evaluation.py`) and prediction on new
text (`serve/predictor.py`) run the same code: length-sorted batches
(`datasets.evaluation_batches`), padded here, through one compiled forward
pass per task.
"""

from typing import List

import numpy as np
import tensorflow as tf

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


def predict(predict_step, split: task_data.SplitData,
            batch_size: int) -> List[np.ndarray]:
  """Model outputs of every feature of a split, in feature order.

  Batches are padded here, not through a `tf.data` generator dataset: TF
  2.20 keeps every `Dataset.from_generator`'s generator, and the features it
  holds, for the life of the process (tensorflow/tensorflow#123530), which
  piles up over a prediction job's many calls.
  """
  outputs = [None] * len(split.features)
  for indices in datasets.evaluation_batches(split.lengths, batch_size):
    batch = datasets.pad_batch(split.features, indices, batch_size,
                               with_labels=False)
    result = predict_step(multitask_model.model_inputs(batch)).numpy()
    for row, index in enumerate(indices):
      outputs[index] = result[row]
  return outputs
