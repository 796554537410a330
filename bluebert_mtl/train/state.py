"""What a resumed run needs besides weights, saved in the same checkpoint."""

import dataclasses

import numpy as np
import tensorflow as tf


@dataclasses.dataclass
class TrainingState:
  """Everything besides weights that a resumed run needs, as variables so it
  is saved in the same checkpoint as the weights.

  Attributes:
    global_step: steps done.
    task_batches: int64 [num_tasks]: batches consumed of each task's stream.
    best_scores: float64 [num_tasks]: best dev score so far (-inf: none yet).
    best_steps: int64 [num_tasks]: step of that score.
    evals_since_best: evaluations since any task last improved.
    stopped_early: whether early stopping ended training (a restart then
      only finishes the run).
    skipped_steps: fp16 updates skipped because their gradients overflowed.
    wall_seconds: training wall time up to the last checkpoint, all starts.
    scoring_seconds: the part of it spent predicting and scoring dev and
      test.
  """
  global_step: tf.Variable
  task_batches: tf.Variable
  best_scores: tf.Variable
  best_steps: tf.Variable
  evals_since_best: tf.Variable
  stopped_early: tf.Variable
  skipped_steps: tf.Variable
  wall_seconds: tf.Variable
  scoring_seconds: tf.Variable

  @classmethod
  def create(cls, num_tasks: int) -> "TrainingState":
    def var(value, dtype):
      return tf.Variable(value, dtype=dtype, trainable=False)
    return cls(var(0, tf.int64), var([0] * num_tasks, tf.int64),
               var([-np.inf] * num_tasks, tf.float64),
               var([-1] * num_tasks, tf.int64), var(0, tf.int64),
               var(False, tf.bool), var(0, tf.int64), var(0.0, tf.float64),
               var(0.0, tf.float64))

  def as_dict(self) -> dict:
    """The variables themselves (dataclasses.asdict would copy them)."""
    return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

  def has_best(self, index: int) -> bool:
    """Whether task `index` has been scored on dev (and has best weights)."""
    return int(self.best_steps[index].numpy()) >= 0
