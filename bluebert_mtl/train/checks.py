"""Up-front checks of a run's settings: what no run can train with is
refused before any work, with a message naming the flag.

The training commands (train, finetune, pairwise) call `check_config` as
soon as the flags are read, and `trainer.Trainer` again before it builds
anything (a fine-tuning task's own recipe, a caller's own `TrainConfig`).
"""

from bluebert_mtl import files
from bluebert_mtl.config import BertConfig, TrainConfig
from bluebert_mtl.errors import FlagError
from bluebert_mtl.train.start import Start

# What each numeric flag may be (None passes: the flag is not given).
_BOUNDS = {"> 0": lambda v: v > 0, ">= 0": lambda v: v >= 0,
           "in [0, 1]": lambda v: 0 <= v <= 1,
           "in [0, 1)": lambda v: 0 <= v < 1}
_FIELD_BOUNDS = {
    "> 0": ("train_batch_size", "eval_batch_size", "num_train_epochs",
            "max_steps", "gradient_accumulation_steps",
            "save_checkpoints_steps", "log_every_steps",
            "keep_checkpoint_max", "patience", "sampling_temperature"),
    ">= 0": ("learning_rate", "weight_decay", "clip_norm", "grad_clipping",
             "eval_every_epochs"),
    "in [0, 1]": ("warmup_proportion",),
    "in [0, 1)": ("head_dropout",),
}


def check_config(config: TrainConfig, start: Start):
  """Refuses settings no run can train with, before any work: numbers out
  of bounds, a task named twice, more micro-batches than rows, a
  --max_seq_length the encoder cannot take, output and cache folders that
  cannot be written.

  Raises:
    FlagError: naming the flag (and the file it conflicts with).
  """
  for bound, names in _FIELD_BOUNDS.items():
    for name in names:
      value = getattr(config, name)
      if value is not None and not _BOUNDS[bound](value):
        raise FlagError(f"--{name} must be {bound}, got {value}")
  if config.gradient_accumulation_steps > config.train_batch_size:
    raise FlagError(
        f"--gradient_accumulation_steps={config.gradient_accumulation_steps} "
        f"is more than --train_batch_size={config.train_batch_size}: a "
        "micro-batch would have no row")
  names = list(config.tasks)
  if len(set(names)) != len(names):
    raise FlagError(f"--tasks names a task twice: {','.join(names)}")
  files.check_output_path(config.output_dir, "output_dir")
  if config.cache_dir:
    files.check_output_path(config.cache_dir, "cache_dir")
  bert_config = BertConfig.from_json_file(start.bert_files.config_file)
  bert_config.check_sequence_length(config.max_seq_length,
                                    start.bert_files.config_file)
