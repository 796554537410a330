"""What a run writes to TensorBoard (OUTPUT_DIR/tensorboard/).

  scalars  train_loss/<task>, learning_rate, gradient_norm,
           examples_per_second (every --log_every_steps), skipped_steps
           (fp16 overflows), dev/<task>/<metric> and dev_loss/<task> (each
           dev evaluation, `evaluation.py`)
  hparams  the run's configuration: every TrainConfig field, the tasks and
           the encoder's start (the HPARAMS tab compares runs by them)
  text     run_config: the same as a markdown table, with each task's kind,
           file format and labels
"""

import dataclasses
from typing import Dict, Sequence, Union

import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api

from bluebert_mtl.config import TrainConfig

HParam = Union[bool, int, float, str]


def _hparam(value) -> HParam:
  """A config value as the hparams plugin takes it: a tuple (tasks, loss
  weights) as comma-separated text."""
  if isinstance(value, tuple):
    return ",".join("=".join(map(str, v)) if isinstance(v, tuple) else str(v)
                    for v in value)
  return value


def run_hparams(config: TrainConfig, start: dict) -> Dict[str, HParam]:
  """The hparams of a run: its config's fields (unset ones left out) and
  `start`, its start.json record (`run_dir.start_record`)."""
  values = {name: _hparam(value)
            for name, value in dataclasses.asdict(config).items()
            if value is not None}
  values.update({f"start_{name}": str(value)
                 for name, value in start.items()})
  return values


def _markdown(hparams: Dict[str, HParam], tasks: Sequence) -> str:
  rows = ["| setting | value |", "|---|---|"]
  rows += [f"| {name} | {value} |" for name, value in sorted(hparams.items())]
  rows += ["", "| task | kind | format | labels |", "|---|---|---|---|"]
  rows += [f"| {t.name} | {t.kind} | {t.file_format} | "
           f"{', '.join(t.labels)} |" for t in tasks]
  return "\n".join(rows)


def write_run_config(writer, config: TrainConfig, tasks: Sequence,
                     start: dict, step: int):
  """Writes the run's configuration as hparams and as the text summary
  `run_config` at `step` (the step the run starts or resumes from)."""
  hparams = run_hparams(config, start)
  with writer.as_default(step=step):
    hparams_api.hparams(hparams, trial_id=config.output_dir)
    tf.summary.text("run_config", _markdown(hparams, tasks))


def write_training(writer, step: int, running: Dict[str, list],
                   learning_rate: float, norm: float,
                   examples_per_second: float):
  """Writes the training scalars of `step`: each task's mean loss since the
  last write (`running`, emptied), learning rate, gradient norm, speed."""
  with writer.as_default(step=step):
    for name, losses in running.items():
      if losses:
        tf.summary.scalar(f"train_loss/{name}", np.mean(losses))
        losses.clear()
    tf.summary.scalar("learning_rate", learning_rate)
    tf.summary.scalar("gradient_norm", norm)
    tf.summary.scalar("examples_per_second", examples_per_second)
