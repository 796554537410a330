"""Command-line flags shared by `run_mtl.py` and `run_finetune.py`.

Flag names are the original BlueBERT / BERT ones where one exists
(`--data_dir --bert_config_file --init_checkpoint --vocab_file
--do_lower_case --max_seq_length --train_batch_size --learning_rate
--num_train_epochs --warmup_proportion --output_dir --save_checkpoints_steps`).
Flags become a `TrainConfig` in one function here; library code never reads
FLAGS. absl rejects unknown flags (the original silently ignored them).
"""

import contextlib
from typing import List, Sequence

from absl import flags

from bluebert_mtl.train import distribution
from bluebert_mtl.train import sampling
from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl.config import BertFiles, TrainConfig
from bluebert_mtl.errors import BlueBertError, ConfigError


def define_bert_flags():
  """The encoder's files: the original three flags or one folder."""
  flags.DEFINE_string("bert_dir", None,
                      "Folder holding bert_config.json, bert_model.ckpt.* and "
                      "vocab.txt; stands for the three flags below.")
  flags.DEFINE_string("bert_config_file", None, "bert_config.json.")
  flags.DEFINE_string("init_checkpoint", None,
                      "TF1 BERT checkpoint prefix (bert_model.ckpt) or folder.")
  flags.DEFINE_string("vocab_file", None, "vocab.txt of the checkpoint.")
  flags.DEFINE_bool("do_lower_case", True,
                    "Lower-case and strip accents (BlueBERT is uncased).")
  flags.DEFINE_integer("max_seq_length", 128,
                       "Longest input in WordPieces, [CLS] and [SEP] included.")


def define_training_flags(default_epochs: float, default_lr: float):
  """Data, recipe, distribution and output flags of a training run."""
  defaults = TrainConfig(tasks=(), data_dir="", output_dir="")
  flags.DEFINE_string("data_dir", None,
                      "Folder with one sub-folder per task key holding "
                      "train.tsv, dev.tsv and test.tsv.")
  flags.DEFINE_list("tasks", None, "Task keys, e.g. chemprot,ddi2013-type.")
  flags.DEFINE_multi_string("task_def", [],
                            "YAML task definition file of a user task "
                            "(repeatable); its name can then go in --tasks.")
  flags.DEFINE_string("output_dir", None, "Where the run writes everything; "
                      "rerunning with the same folder resumes the run.")
  flags.DEFINE_integer("train_batch_size", defaults.train_batch_size,
                       "Global batch size of a training step.")
  flags.DEFINE_integer("eval_batch_size", defaults.eval_batch_size,
                       "Global batch size of prediction.")
  flags.DEFINE_float("learning_rate", default_lr, "Peak learning rate.")
  flags.DEFINE_float("num_train_epochs", default_epochs,
                     "Epochs (one epoch: every batch of every task once).")
  flags.DEFINE_integer("max_steps", None, "Stop after this many steps.")
  flags.DEFINE_float("warmup_proportion", defaults.warmup_proportion,
                     "Share of the steps spent in linear warm-up.")
  flags.DEFINE_enum("lr_schedule", defaults.lr_schedule,
                    ["linear", "warmup_linear"],
                    "linear: the paper's warm-up then linear decay to 0; "
                    "warmup_linear: the released code's (drops at the "
                    "warm-up boundary).")
  flags.DEFINE_enum("optimizer", defaults.optimizer,
                    ["adamax", "bert_adam", "adamw"],
                    "adamax: the paper; bert_adam: the released code.")
  flags.DEFINE_float("weight_decay", defaults.weight_decay,
                     "Decoupled weight decay (not on LayerNorm and biases).")
  flags.DEFINE_float("clip_norm", defaults.clip_norm,
                     "Global gradient-norm clip (0: none).")
  flags.DEFINE_float("grad_clipping", defaults.grad_clipping,
                     "Per-tensor gradient-norm clip inside the optimizer, "
                     "--optimizer=bert_adam only (the released code's "
                     "--grad_clipping; 0: none).")
  flags.DEFINE_enum("sampler", defaults.sampler, list(sampling.SCHEDULE_NAMES),
                    "Which task each step trains; mtdnn = Algorithm 1.")
  flags.DEFINE_float("sampling_temperature", defaults.sampling_temperature,
                     "T of --sampler=temperature: p_t ~ n_t^(1/T).")
  flags.DEFINE_list("loss_weights", [],
                    "Per-task loss weights, as task=weight pairs.")
  flags.DEFINE_integer("seed", defaults.seed, "Seed of everything random.")
  flags.DEFINE_integer("eval_every_epochs", defaults.eval_every_epochs,
                       "Dev evaluation every this many epochs (0: at the end).")
  flags.DEFINE_integer("patience", None, "Stop after this many evaluations "
                       "without a new best dev score on any task.")
  flags.DEFINE_integer("save_checkpoints_steps",
                       defaults.save_checkpoints_steps,
                       "Resumable checkpoint every this many steps.")
  flags.DEFINE_integer("keep_checkpoint_max", defaults.keep_checkpoint_max,
                       "Resumable checkpoints kept.")
  flags.DEFINE_enum("distribution_strategy", defaults.distribution_strategy,
                    list(distribution.STRATEGIES),
                    "auto: mirrored over several GPUs, else one device.")
  flags.DEFINE_enum("mixed_precision", None, ["bf16", "fp16"],
                    "Mixed precision (fp16 with dynamic loss scaling).")
  flags.DEFINE_bool("jit_compile", defaults.jit_compile,
                    "Compile each training step with XLA.")
  flags.DEFINE_bool("length_bucketing", defaults.length_bucketing,
                    "Batch training examples of similar length (less "
                    "padding); --nolength_bucketing: random batches, as "
                    "MT-BlueBERT's code.")
  flags.DEFINE_string("cache_dir", "", "Feature cache folder (empty: none).")
  flags.DEFINE_bool("train_on_dev", defaults.train_on_dev,
                    "Also train on dev, as MT-BlueBERT's code does.")
  flags.DEFINE_bool("second_text_first", defaults.second_text_first,
                    "Pack pairs hypothesis-first, as MT-BlueBERT's code does.")
  flags.DEFINE_bool("variational_dropout", defaults.variational_dropout,
                    "One dropout mask per row on NER heads (MT-BlueBERT code).")
  flags.DEFINE_integer("log_every_steps", defaults.log_every_steps,
                       "TensorBoard logging every this many steps.")
  flags.mark_flags_as_required(["data_dir", "tasks", "output_dir"])


def _loss_weights(pairs: Sequence[str], task_names: Sequence[str]):
  weights = []
  for pair in pairs:
    name, sep, value = pair.partition("=")
    if not sep or name not in task_names:
      raise ConfigError(f"--loss_weights: {pair!r} is not task=weight for one "
                        f"of --tasks ({', '.join(task_names)})")
    weights.append((name, float(value)))
  return tuple(weights)


def bert_files_from_flags(flag_values) -> BertFiles:
  return BertFiles.resolve(flag_values.bert_dir, flag_values.bert_config_file,
                           flag_values.init_checkpoint, flag_values.vocab_file)


def tasks_from_flags(flag_values) -> List:
  """The `TaskSpec`s of --tasks, user task files of --task_def included."""
  registry = tasks_lib.registry_with(flag_values.task_def)
  return [tasks_lib.get_task(name, registry) for name in flag_values.tasks]


def train_config_from_flags(flag_values) -> TrainConfig:
  """All training flags as one `TrainConfig` (the only place flags are read)."""
  f = flag_values
  return TrainConfig(
      tasks=tuple(f.tasks), data_dir=f.data_dir, output_dir=f.output_dir,
      do_lower_case=f.do_lower_case, max_seq_length=f.max_seq_length,
      train_batch_size=f.train_batch_size, eval_batch_size=f.eval_batch_size,
      learning_rate=f.learning_rate, num_train_epochs=f.num_train_epochs,
      max_steps=f.max_steps, warmup_proportion=f.warmup_proportion,
      lr_schedule=f.lr_schedule, optimizer=f.optimizer,
      weight_decay=f.weight_decay, clip_norm=f.clip_norm,
      grad_clipping=f.grad_clipping, sampler=f.sampler,
      sampling_temperature=f.sampling_temperature,
      loss_weights=_loss_weights(f.loss_weights, f.tasks), seed=f.seed,
      eval_every_epochs=f.eval_every_epochs, patience=f.patience,
      save_checkpoints_steps=f.save_checkpoints_steps,
      keep_checkpoint_max=f.keep_checkpoint_max,
      distribution_strategy=f.distribution_strategy,
      mixed_precision=f.mixed_precision, jit_compile=f.jit_compile,
      length_bucketing=f.length_bucketing, cache_dir=f.cache_dir,
      train_on_dev=f.train_on_dev,
      second_text_first=f.second_text_first,
      variational_dropout=f.variational_dropout,
      log_every_steps=f.log_every_steps)


def results_table(results: dict) -> str:
  """results.json's content as a markdown table: task, metric, dev, test."""
  lines = ["| task | metric | dev | test |", "|---|---|---|---|"]
  for task, splits in results.items():
    metric = next(iter(splits.get("dev") or splits.get("test") or {"-": 0}))
    cells = [f"{splits[s][metric]:.4f}" if splits.get(s) else "-"
             for s in ("dev", "test")]
    lines.append(f"| {task} | {metric} | {cells[0]} | {cells[1]} |")
  return "\n".join(lines)


@contextlib.contextmanager
def one_line_errors(program: str):
  """Ends the program with one line, `program: file:line: problem`, and exit
  status 1 where bad input raises a `BlueBertError` inside the block."""
  try:
    yield
  except BlueBertError as e:
    raise SystemExit(f"{program}: {e}") from e

