"""A run folder made from a released MT-BlueBERT PyTorch checkpoint.

MT-BlueBERT's `mt-bluebert-biomedical.pt` / `-clinical.pt` hold the encoder
and one head per task (`model.mtdnn_checkpoint`). Written as a run folder
(`run_dir.py`: train_config.json, start.json, bert_config.json, vocab.txt,
tasks.json, final/weights), they export (`export_savedmodel.py`,
`commands.export_hf`) and fine-tune (`run_finetune.py
--init_checkpoint=RUN/final/weights`) like a run of this port. The folder has
no results.json: nothing was scored here.

train_config.json records what MT-BlueBERT's released code did where it
changes inference or is known (docs/original_system.md §3.1-3.6): pairs packed
hypothesis-first, variational NER dropout, BertAdam with warmup_linear and
per-tensor clipping 1, train+dev, random batches, seed 2018.
"""

import dataclasses
import os
from typing import Sequence

from absl import logging

from bluebert_mtl.config import BertFiles, TrainConfig
from bluebert_mtl.errors import ConfigError
from bluebert_mtl.model import checkpoints
from bluebert_mtl.model import mtdnn_checkpoint
from bluebert_mtl.model import multitask_model
from bluebert_mtl.runs import run_dir

MTDNN_RECIPE = dict(second_text_first=True, variational_dropout=True,
                    optimizer="bert_adam", lr_schedule="warmup_linear",
                    grad_clipping=1.0, train_on_dev=True,
                    length_bucketing=False, seed=2018)


def write_mtdnn_run(files: BertFiles, tasks: Sequence, output_dir: str,
                    do_lower_case: bool = True,
                    max_seq_length: int = 128) -> str:
  """Writes the run folder of an MT-BlueBERT checkpoint.

  Args:
    files: `files.checkpoint` the `.pt` file; config and vocab of the
      BlueBERT it started from (the .pt holds neither).
    tasks: `TaskSpec`s in the order of the checkpoint's heads.
    output_dir: the run folder to create (absent or empty).
    do_lower_case, max_seq_length: the tokenization to record.

  Returns:
    `output_dir`.

  Raises:
    ConfigError: `output_dir` is not empty, or see `read_mtdnn_heads`.
    CheckpointError: see `checkpoints.load_bert_encoder`, `read_mtdnn_heads`.
  """
  if os.path.exists(output_dir) and os.listdir(output_dir):
    raise ConfigError(f"{output_dir} is not empty; give a new --output_dir")
  _, encoder = checkpoints.load_bert_encoder(files)
  model = multitask_model.build_multitask_model(encoder, tasks)
  mtdnn_checkpoint.assign_heads(
      model, mtdnn_checkpoint.read_mtdnn_heads(files.checkpoint, tasks))
  config = TrainConfig(tasks=tuple(t.name for t in tasks), data_dir="",
                       output_dir=output_dir, do_lower_case=do_lower_case,
                       max_seq_length=max_seq_length, **MTDNN_RECIPE)

  def write(path):
    run_dir.write_run_files(
        path, config, files.config_file, files.vocab_file,
        [dataclasses.replace(t, variational_dropout=True) for t in tasks],
        files.checkpoint)
    multitask_model.model_checkpoint(model).write(run_dir.final_weights(path))

  run_dir.replace_folder(output_dir, write)
  logging.info("Wrote the run folder %s of %s (tasks %s)", output_dir,
               files.checkpoint, ", ".join(config.tasks))
  return output_dir
