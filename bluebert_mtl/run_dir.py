"""The layout of a training run's output folder, written and read back.

  OUTPUT_DIR/
    train_config.json          the run's TrainConfig
    bert_config.json, vocab.txt  the encoder's architecture and vocabulary
    tasks.json                 the TaskSpecs trained (user tasks included)
    checkpoints/ckpt-N.*       resumable: encoder, heads, optimizer, state
    best/<task>/weights.*      encoder and heads at that task's best dev score
    final/weights.*            encoder and heads at the end of training
    tensorboard/               training and dev curves
    predictions/<task>_{dev,test}.tsv   mirroring the gold files
    results.json               {task: {"dev": {metric: v}, "test": {...}}}
    timing.json                {"wall_seconds": s, "resumed": bool}: written
                               last, so it also marks a finished run

A run folder is self-contained: fine-tuning and export need nothing else.
"""

import dataclasses
import json
import os
import shutil
from typing import List, Sequence

import tensorflow as tf

from bluebert_mtl.config import BertConfig, TrainConfig
from bluebert_mtl.errors import ConfigError
from bluebert_mtl.tasks import TaskSpec

TRAIN_CONFIG = "train_config.json"
BERT_CONFIG = "bert_config.json"
VOCAB = "vocab.txt"
TASKS = "tasks.json"
CHECKPOINTS = "checkpoints"
RESULTS = "results.json"
TIMING = "timing.json"
PREDICTIONS = "predictions"


def best_weights(run_dir: str, task_name: str) -> str:
  """Checkpoint prefix of a task's best-dev weights."""
  return os.path.join(run_dir, "best", task_name, "weights")


def final_weights(run_dir: str) -> str:
  """Checkpoint prefix of the weights at the end of training."""
  return os.path.join(run_dir, "final", "weights")


def write_run_files(run_dir: str, config: TrainConfig, bert_config_file: str,
                    vocab_file: str, tasks: Sequence[TaskSpec]):
  """Writes what makes the run folder self-contained."""
  os.makedirs(run_dir, exist_ok=True)
  with open(os.path.join(run_dir, TRAIN_CONFIG), "w") as f:
    f.write(config.to_json_string())
  bert_config = BertConfig.from_json_file(bert_config_file)
  with open(os.path.join(run_dir, BERT_CONFIG), "w") as f:
    f.write(bert_config.to_json_string())
  if os.path.abspath(vocab_file) != os.path.abspath(
      os.path.join(run_dir, VOCAB)):
    shutil.copyfile(vocab_file, os.path.join(run_dir, VOCAB))
  with open(os.path.join(run_dir, TASKS), "w") as f:
    json.dump([dataclasses.asdict(t) for t in tasks], f, indent=2)


def _read_json(run_dir: str, name: str):
  path = os.path.join(run_dir, name)
  try:
    with open(path) as f:
      return json.load(f)
  except FileNotFoundError as e:
    raise ConfigError(f"{run_dir} is not a training run folder: no {name}"
                      ) from e
  except json.JSONDecodeError as e:
    raise ConfigError(f"{path}: not valid JSON ({e})") from e


def read_tasks(run_dir: str) -> List[TaskSpec]:
  """The TaskSpecs a run trained, as it saved them."""
  return [TaskSpec(**{k: tuple(v) if isinstance(v, list) else v
                      for k, v in values.items()})
          for values in _read_json(run_dir, TASKS)]


def read_train_config(run_dir: str) -> TrainConfig:
  values = _read_json(run_dir, TRAIN_CONFIG)
  values["tasks"] = tuple(values["tasks"])
  values["loss_weights"] = tuple(tuple(p) for p in values["loss_weights"])
  return TrainConfig(**values)


def write_results(run_dir: str, results: dict):
  """Writes results.json: {task: {"dev": {metric: v}, "test": {...}}} (a
  seeded task's entry is `report.aggregate_seeds`')."""
  with open(os.path.join(run_dir, RESULTS), "w") as f:
    json.dump(results, f, indent=2, sort_keys=True)


def read_results(run_dir: str) -> dict:
  """results.json of a run folder, as `write_results` wrote it."""
  return _read_json(run_dir, RESULTS)


def latest_checkpoint(run_dir: str):
  """The newest resumable checkpoint of a run, or None."""
  return tf.train.latest_checkpoint(os.path.join(run_dir, CHECKPOINTS))


def write_timing(run_dir: str, wall_seconds: float, resumed: bool):
  """Writes timing.json: the run's wall time over all its starts (time since
  the last checkpoint of a killed start counts again when it is redone)."""
  with open(os.path.join(run_dir, TIMING), "w") as f:
    json.dump({"wall_seconds": wall_seconds, "resumed": resumed}, f, indent=2)


def is_finished(run_dir: str) -> bool:
  return os.path.isfile(os.path.join(run_dir, TIMING))


def wall_seconds(run_dir: str) -> float:
  """A finished run's wall time over all its starts, in seconds."""
  return _read_json(run_dir, TIMING)["wall_seconds"]
