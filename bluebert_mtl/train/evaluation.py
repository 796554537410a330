"""Dev scoring during training, and each task's results from its best weights.

  outputs of the model (one per feature) -> decoded labels (`task_data`)
  -> the task's official score (`tasks.py`) -> best weights kept per task
  -> at the end: dev and test predicted with each task's best weights ->
     prediction files mirroring the gold ones, results.json.

Model selection is by dev score only, never by test.
"""

import math
import os
from typing import Dict, Optional, Sequence

from absl import logging
import tensorflow as tf

from bluebert_mtl import files
from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl.data import task_data
from bluebert_mtl.model import inference
from bluebert_mtl.model import multitask_model
from bluebert_mtl.runs import run_dir
from bluebert_mtl.train.state import TrainingState


def score_split(task, split: task_data.SplitData, predictions: dict):
  """The task's official metric on a labelled split, else None."""
  gold = task_data.gold_labels(task, split)
  if gold is None:
    return None
  return task.score(gold, tasks_lib.rows_for(gold, predictions))


class Evaluator:
  """Scores dev during training, keeps each task's best weights, and writes
  the run's predictions and results.json at the end.

  Args:
    model: the multi-task model.
    tasks: its `TaskSpec`s, in head order (index i <-> state entry i).
    data: task name -> split name -> `task_data.SplitData`.
    state: the run's `TrainingState` (best scores and steps per task).
    batch_tokens: rows x padded length of a prediction batch
      (`inference.token_budget`).
    jit_compile: XLA-compile the forward passes.
    weights_dir: where this process writes best/ and final/ weights.
    output_dir: the run folder (predictions/, results.json; chief only).
    is_chief: whether this process writes the run's files.
  """

  def __init__(self, model, tasks: Sequence, data: Dict[str, dict],
               state: TrainingState, batch_tokens: int, jit_compile: bool,
               weights_dir: str, output_dir: str, is_chief: bool):
    self.model = model
    self.tasks = list(tasks)
    self.data = data
    self.state = state
    self.batch_tokens = batch_tokens
    self.jit_compile = jit_compile
    self.weights_dir = weights_dir
    self.output_dir = output_dir
    self.is_chief = is_chief
    self._predict_steps = {
        t.name: inference.make_predict_step(
            multitask_model.task_model(model, t.name), jit_compile)
        for t in self.tasks}
    # task -> decoded dev predictions of its best weights, kept from the
    # evaluation that found them so the results need not predict dev again.
    self._best_dev_predictions = {}

  def outputs(self, task, split: task_data.SplitData, what: str = None,
              loss_sum: Optional[inference.LossSum] = None) -> list:
    """The model's output of every feature of `split`, in feature order
    (`inference.predict` with this run's batches; `what` names a progress
    bar, `loss_sum` also sums the split's loss)."""
    return inference.predict(self._predict_steps[task.name], split,
                             self.batch_tokens, self.jit_compile, loss_sum,
                             what and f"{task.name} {what} prediction")

  def _predictions(self, task, split: task_data.SplitData, what: str,
                   loss_sum: Optional[inference.LossSum] = None) -> dict:
    return task_data.decode_predictions(
        task, split, self.outputs(task, split, what, loss_sum))

  def _write_weights(self, prefix: str, what: str) -> str:
    """Writes the model's weights at `prefix`; an `OutputError` naming its
    folder and `what` they are if the disk fills up."""
    with files.space_checked(os.path.dirname(prefix), what):
      return multitask_model.model_checkpoint(self.model).write(prefix)

  def _best_prefix(self, task_name: str) -> str:
    return run_dir.best_weights(self.weights_dir, task_name)

  def evaluate_dev(self, writer, step: int) -> bool:
    """Scores every task on dev (TensorBoard: dev/<task>/<metric> and
    dev_loss/<task>); keeps each task's best weights.

    Returns:
      whether any task reached a new best dev score.
    """
    improved = False
    for i, task in enumerate(self.tasks):
      split = self.data[task.name]["dev"]
      loss_sum = (inference.LossSum(task.task_kind.loss) if split.labelled
                  else None)
      predictions = self._predictions(task, split, "dev", loss_sum)
      scores = score_split(task, split, predictions)
      if scores is None:
        continue
      value = float(scores["value"])
      logging.info("step %d dev %s %s = %.4f, loss %.4f", step, task.name,
                   scores["metric"], value, loss_sum.mean())
      with writer.as_default(step=step):
        tf.summary.scalar(f"dev/{task.name}/{scores['metric']}", value)
        tf.summary.scalar(f"dev_loss/{task.name}", loss_sum.mean())
      if math.isnan(value):
        value = -math.inf  # e.g. Pearson of constant predictions
      best = float(self.state.best_scores[i].numpy())
      if value > best or not self.state.has_best(i):
        self.state.best_scores[i].assign(value)
        self.state.best_steps[i].assign(step)
        self._write_weights(self._best_prefix(task.name),
                            f"the best weights of {task.name}")
        self._best_dev_predictions[task.name] = predictions
        improved = improved or value > best
    return improved

  def write_results(self) -> dict:
    """Predicts dev and test of every task with its best weights; writes the
    prediction files and results.json (chief only).

    Returns:
      results.json's content.
    """
    results = {}
    final = self._write_weights(run_dir.final_weights(self.weights_dir),
                                "the final weights")
    for i, task in enumerate(self.tasks):
      has_best = self.state.has_best(i)
      multitask_model.model_checkpoint(self.model).read(
          self._best_prefix(task.name) if has_best else final).expect_partial()
      results[task.name] = {"best_step": int(self.state.best_steps[i])}
      for split_name in ("dev", "test"):
        results[task.name][split_name] = self._split_results(
            task, split_name, has_best)
    if self.is_chief:
      run_dir.write_results(self.output_dir, results)
    return results

  def _split_results(self, task, split_name: str, has_best: bool) -> dict:
    """Predicts one split with the weights in the model, writes its
    prediction file (chief) and returns {metric: value} ({} unscored)."""
    split = self.data[task.name][split_name]
    predictions = (self._best_dev_predictions.get(task.name)
                   if has_best and split_name == "dev" else None)
    if predictions is None:
      predictions = self._predictions(task, split, split_name)
    if self.is_chief:
      out_dir = os.path.join(self.output_dir, run_dir.PREDICTIONS)
      os.makedirs(out_dir, exist_ok=True)
      task.write_predictions(
          split.path, predictions,
          os.path.join(out_dir, f"{task.name}_{split_name}.tsv"))
    scores = score_split(task, split, predictions)
    return {} if scores is None else {scores["metric"]: scores["value"]}
