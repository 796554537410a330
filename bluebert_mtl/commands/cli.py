"""Command-line flags shared by the training commands (train, finetune,
pairwise), and the one place flags become a `TrainConfig`.

Every `TrainConfig` field is a flag of the same name, defined from the
field's type, default, help and choices (`config.option`); a new
hyperparameter is one new field. Flag names are the original BlueBERT / BERT
ones where one exists (`--data_dir --bert_config_file --init_checkpoint
--vocab_file --do_lower_case --max_seq_length --train_batch_size
--learning_rate --num_train_epochs --warmup_proportion --output_dir
--save_checkpoints_steps`). Library code never reads FLAGS. absl rejects
unknown flags (the original silently ignored them).
"""

import dataclasses
import math
import typing
from typing import List, Optional, Sequence

from absl import flags

from bluebert_mtl.model import checkpoints
from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl.config import BertFiles, TrainConfig
from bluebert_mtl.errors import FlagError
from bluebert_mtl.train import start as start_lib

def define_bert_flags():
  """The encoder's files: the original three flags or one folder."""
  flags.DEFINE_string("bert_dir", None,
                      "Folder holding bert_config.json, bert_model.ckpt.* and "
                      "vocab.txt, or a Hugging Face BERT folder (config.json, "
                      "model.safetensors or pytorch_model.bin, vocab.txt); "
                      "stands for the three flags below.")
  flags.DEFINE_string("bert_config_file", None,
                      "bert_config.json (or a Hugging Face config.json).")
  flags.DEFINE_string("init_checkpoint", None,
                      "TF1 BERT checkpoint prefix (bert_model.ckpt) or folder, "
                      "or a Hugging Face / PyTorch weight file (*.safetensors, "
                      "*.index.json, pytorch_model.bin, an MT-BlueBERT .pt).")
  flags.DEFINE_string("vocab_file", None, "vocab.txt of the checkpoint.")


def _value_type(field: dataclasses.Field) -> type:
  """The field's type, Optional[X] read as X."""
  args = [a for a in typing.get_args(field.type) if a is not type(None)]
  return args[0] if args else field.type


def _define_flag(field: dataclasses.Field, default):
  """Defines the flag of one `TrainConfig` field."""
  name, help_text = field.name, field.metadata["help"]
  choices = field.metadata["choices"]
  if default is dataclasses.MISSING:
    default = None
  kind = _value_type(field)
  if choices:
    flags.DEFINE_enum(name, default, list(choices), help_text)
  elif kind is bool:
    flags.DEFINE_bool(name, default, help_text)
  elif kind is int:
    flags.DEFINE_integer(name, default, help_text)
  elif kind is float:
    flags.DEFINE_float(name, default, help_text)
  elif kind is tuple:
    flags.DEFINE_list(name, None if default is None else list(default),
                      help_text)
  else:
    flags.DEFINE_string(name, default, help_text)


def define_training_flags(**defaults):
  """One flag per `TrainConfig` field, plus --task_def.

  Args:
    **defaults: field name -> this command's default, where it differs from
      the field's (e.g. fine-tuning's epochs and learning rate).
  """
  required = []  # the fields without a default
  for field in dataclasses.fields(TrainConfig):
    default = defaults.get(field.name, field.default)
    _define_flag(field, default)
    if default is dataclasses.MISSING:
      required.append(field.name)
  flags.DEFINE_multi_string("task_def", [],
                            "YAML task definition file of a user task "
                            "(repeatable); its name can then go in --tasks.")
  flags.mark_flags_as_required(required)


def _weight(text: str) -> Optional[float]:
  """`text` as a finite loss weight >= 0, else None."""
  try:
    value = float(text)
  except ValueError:
    return None
  return value if math.isfinite(value) and value >= 0 else None


def _loss_weights(pairs: Sequence[str], task_names: Sequence[str]):
  weights = []
  for pair in pairs:
    name, sep, value = pair.partition("=")
    if not sep or name not in task_names or _weight(value) is None:
      raise FlagError(f"--loss_weights: {pair!r} is not task=weight for one "
                      f"of --tasks ({', '.join(task_names)}), a weight a "
                      "number >= 0")
    weights.append((name, _weight(value)))
  return tuple(weights)


def bert_files_from_flags(flag_values) -> BertFiles:
  """The encoder's files, with --do_lower_case checked against them."""
  files = BertFiles.resolve(flag_values.bert_dir, flag_values.bert_config_file,
                            flag_values.init_checkpoint, flag_values.vocab_file)
  checkpoints.check_casing(files.vocab_file, flag_values.do_lower_case)
  return files


def start_from_flags(flag_values) -> start_lib.Start:
  """Where a fine-tuning or pairwise run starts (`start.resolve_start`: BERT
  files, or a run's checkpoint under --init_checkpoint), with
  --do_lower_case checked against its vocabulary."""
  start = start_lib.resolve_start(
      flag_values.bert_dir, flag_values.bert_config_file,
      flag_values.init_checkpoint, flag_values.vocab_file)
  checkpoints.check_casing(start.bert_files.vocab_file,
                           flag_values.do_lower_case)
  return start


def tasks_from_flags(flag_values) -> List:
  """The `TaskSpec`s of --tasks, user task files of --task_def included."""
  registry = tasks_lib.registry_with(flag_values.task_def)
  return [tasks_lib.get_task(name, registry) for name in flag_values.tasks]


def train_config_from_flags(flag_values) -> TrainConfig:
  """All training flags as one `TrainConfig` (the only place flags are read)."""
  values = {field.name: flag_values[field.name].value
            for field in dataclasses.fields(TrainConfig)}
  values["tasks"] = tuple(values["tasks"])
  values["loss_weights"] = _loss_weights(values["loss_weights"] or (),
                                         values["tasks"])
  return TrainConfig(**values)


def results_table(results: dict) -> str:
  """results.json's content as a markdown table: task, metric, dev, test."""
  lines = ["| task | metric | dev | test |", "|---|---|---|---|"]
  for task, splits in results.items():
    metric = next(iter(splits.get("dev") or splits.get("test") or {"-": 0}))
    cells = [f"{splits[s][metric]:.4f}" if splits.get(s) else "-"
             for s in ("dev", "test")]
    lines.append(f"| {task} | {metric} | {cells[0]} | {cells[1]} |")
  return "\n".join(lines)
