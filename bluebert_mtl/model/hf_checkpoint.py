"""Writes a Hugging Face BERT folder as an original TF1 BERT checkpoint.

The folder is read as `--bert_dir` reads it (`config.BertFiles.resolve`,
`checkpoints.read_checkpoint` through `hf_source.HFSource`): any weight file
of `hf_weights` (safetensors, sharded or not, pytorch_model.bin), keys with
or without the `bert.` prefix, task heads skipped. The output holds what a
BlueBERT download holds: `bert_config.json`, `bert_model.ckpt.index`,
`bert_model.ckpt.data-00000-of-00001`, `checkpoint` and `vocab.txt`, with the
TF1 variable names of docs/original_system.md §4.2. The demo and benchmarks use
it to turn the MiniLM package into a BlueBERT stand-in. Training needs no
conversion: `--bert_dir` takes the Hugging Face folder itself.
"""

import os
import shutil

from absl import logging
import numpy as np
import tensorflow as tf

from bluebert_mtl.config import BertFiles
from bluebert_mtl.errors import CheckpointError
from bluebert_mtl.model import checkpoints
from bluebert_mtl.model import hf_source
from bluebert_mtl.tokenization import load_vocab

CHECKPOINT_NAME = "bert_model.ckpt"


def convert_hf_to_tf1(input_dir: str, output_dir: str) -> str:
  """Converts a Hugging Face BERT folder to a TF1 BERT checkpoint folder.

  Args:
    input_dir: folder with `config.json`, a weight file of `hf_weights` and
      `vocab.txt`.
    output_dir: folder to write (created if needed).

  Returns:
    the checkpoint prefix, `<output_dir>/bert_model.ckpt`.

  Raises:
    ConfigError: config.json unusable, or vocab.txt of another size.
    DataError: vocab.txt unreadable (see `tokenization.load_vocab`).
    CheckpointError: no weight file, or a weight missing, mis-shaped or not
      consumed, naming the key and the weight file; or a model without a
      pooler (a TF1 checkpoint must hold one).
  """
  files = BertFiles.resolve(bert_dir=input_dir)
  config = hf_source.read_bert_config(files.config_file)
  checkpoints.check_vocab_matches_config(len(load_vocab(files.vocab_file)),
                                         config, files.vocab_file)
  values = checkpoints.read_checkpoint(hf_source.HFSource(files.checkpoint),
                                       config)
  if len(values) < len(checkpoints.tf1_variable_table(config)):
    raise CheckpointError(f"{files.checkpoint}: has no pooler, which a TF1 "
                          "BERT checkpoint needs")
  names = [mapping.tf1_name for mapping, _ in values]
  tensors = [np.ascontiguousarray(value.reshape(mapping.tf1_shape))
             for mapping, value in values]
  os.makedirs(output_dir, exist_ok=True)
  prefix = os.path.join(output_dir, CHECKPOINT_NAME)
  tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names,
                    shape_and_slices=[""] * len(names), tensors=tensors)
  # The TF1 `checkpoint` state file, a text proto with a relative path.
  with open(os.path.join(output_dir, "checkpoint"), "w", encoding="utf-8") as f:
    f.write(f'model_checkpoint_path: "{CHECKPOINT_NAME}"\n'
            f'all_model_checkpoint_paths: "{CHECKPOINT_NAME}"\n')
  with open(os.path.join(output_dir, "bert_config.json"), "w",
            encoding="utf-8") as f:
    f.write(config.to_json_string())
  shutil.copyfile(files.vocab_file, os.path.join(output_dir, "vocab.txt"))
  logging.info("Wrote %d TF1 variables to %s", len(names), prefix)
  return prefix
