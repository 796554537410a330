"""TensorBoard gets the run's configuration (hparams and a text summary)
and each task's dev loss beside its dev score, the loss checked against a
numpy cross-entropy of the model's dev outputs."""

import glob
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.plugins.hparams import plugin_data_pb2

from bluebert_mtl.config import BertFiles, TrainConfig
from bluebert_mtl.data import features as features_lib
from bluebert_mtl.model import inference
from bluebert_mtl.model import multitask_model
from bluebert_mtl.runs import run_dir
from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl.train import summaries
from bluebert_mtl.train import trainer as trainer_lib
from bluebert_mtl.train.start import Start
from conftest import SAMPLE_DIR

TASKS = ("chemprot", "bc5cdr-chemical")


def _events(folder: str) -> list:
  """(step, tag, value) of every summary value under `folder`; a scalar's
  value is a float, a text's a str, an hparams plugin value its proto."""
  found = []
  for path in sorted(glob.glob(os.path.join(folder, "events.out.*"))):
    for event in tf.compat.v1.train.summary_iterator(path):
      for value in event.summary.value:
        plugin = value.metadata.plugin_data
        if plugin.plugin_name == "hparams":
          found.append((event.step, value.tag,
                        plugin_data_pb2.HParamsPluginData.FromString(
                            plugin.content)))
        elif value.HasField("tensor"):
          array = tf.make_ndarray(value.tensor)
          found.append((event.step, value.tag,
                        array.item().decode() if array.dtype == object
                        else float(array)))
  return found


def test_run_config_is_written_as_hparams_and_text(tmp_path):
  config = TrainConfig(tasks=TASKS, data_dir="data", output_dir="run",
                       loss_weights=(("chemprot", 2.0),), learning_rate=3e-5)
  writer = tf.summary.create_file_writer(str(tmp_path))
  summaries.write_run_config(
      writer, config, [tasks_lib.get_task(n) for n in TASKS],
      {"checkpoint": "bert/bert_model.ckpt", "index_sha256": "ab12"}, 7)
  writer.flush()
  events = _events(str(tmp_path))
  session = [v for _, tag, v in events
             if tag == "_hparams_/session_start_info"][0]
  hparams = session.session_start_info.hparams
  assert hparams["learning_rate"].number_value == pytest.approx(3e-5)
  assert hparams["train_batch_size"].number_value == 32
  assert hparams["tasks"].string_value == "chemprot,bc5cdr-chemical"
  assert hparams["loss_weights"].string_value == "chemprot=2.0"
  assert hparams["length_bucketing"].bool_value
  assert hparams["start_checkpoint"].string_value == "bert/bert_model.ckpt"
  assert hparams["start_index_sha256"].string_value == "ab12"
  assert "max_steps" not in hparams and "patience" not in hparams  # unset
  (step, text), = [(s, v) for s, tag, v in events if tag == "run_config"]
  assert step == 7
  assert "| learning_rate | 3e-05 |" in text
  assert ("| bc5cdr-chemical | tagging | ner | O, B-Chemical, I-Chemical |"
          in text)


def _numpy_loss(task, split, outputs) -> float:
  """Mean softmax cross-entropy of the split's labelled items: rows of a
  classification task, first sub-tokens of a tagging task's words."""
  total, count = 0.0, 0
  for feature, logits in zip(split.features, outputs):
    logits = np.asarray(logits, np.float64)
    labels = np.atleast_1d(feature.label)
    if task.task_kind.token_level:
      logits = logits[:len(labels)]
    else:
      logits = logits[None]
    for label, row in zip(labels, logits):
      if label != features_lib.IGNORE_ID:
        total += np.log(np.exp(row - row.max()).sum()) + row.max() - row[label]
        count += 1
  return total / count


def test_dev_loss_beside_dev_score_is_the_loss_of_the_dev_outputs(
    tiny_bert_dir, tmp_path):
  config = TrainConfig(tasks=TASKS, data_dir=SAMPLE_DIR,
                       output_dir=str(tmp_path / "run"), max_seq_length=64,
                       train_batch_size=16, learning_rate=1e-3,
                       num_train_epochs=1)
  trainer = trainer_lib.Trainer(
      config, Start(BertFiles.resolve(bert_dir=tiny_bert_dir)),
      [tasks_lib.get_task(n) for n in TASKS])
  trainer.run()
  events = _events(str(tmp_path / "run" / "tensorboard"))
  end = trainer.total_steps
  scalars = {(step, tag): v for step, tag, v in events
             if isinstance(v, float)}
  # The last dev evaluation saw the final weights.
  multitask_model.model_checkpoint(trainer.model).read(
      run_dir.final_weights(config.output_dir)).expect_partial()
  for task in trainer.tasks:
    split = trainer.data[task.name]["dev"]
    outputs = inference.predict(inference.make_predict_step(
        multitask_model.task_model(trainer.model, task.name)), split, 8)
    assert (end, f"dev/{task.name}/{task.metric}") in scalars
    assert scalars[end, f"dev_loss/{task.name}"] == pytest.approx(
        _numpy_loss(task, split, outputs), rel=1e-5)
  assert any(tag == "_hparams_/session_start_info" for _, tag, _ in events)
