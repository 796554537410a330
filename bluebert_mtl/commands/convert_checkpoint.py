r"""Writes a Hugging Face BERT folder as an original TF1 BERT checkpoint.

  python -m bluebert_mtl.commands.convert_checkpoint --input_dir=HF_MODEL_DIR \
      --output_dir=OUT

HF_MODEL_DIR holds config.json, vocab.txt and model.safetensors, sharded
safetensors (model.safetensors.index.json) or pytorch_model.bin. Training
does not need this step (--bert_dir takes the folder itself). What is read
and written: `bluebert_mtl.model.hf_checkpoint`. Bad input stops with one
line naming the file (and key).
"""

import os

from absl import flags

from bluebert_mtl import files
from bluebert_mtl.commands import program
from bluebert_mtl.errors import FlagError
from bluebert_mtl.model import hf_checkpoint

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("input_dir", None, "Hugging Face BERT folder: "
                      "config.json, vocab.txt and model.safetensors (or "
                      "sharded, or pytorch_model.bin).")
  flags.DEFINE_string("output_dir", None, "Folder for the TF1 checkpoint.")
  flags.mark_flags_as_required(["input_dir", "output_dir"])


def main(argv):
  del argv  # [program name]: program.parse_flags refuses arguments
  if not os.path.isdir(FLAGS.input_dir):
    raise FlagError(f"--input_dir={FLAGS.input_dir} is not a folder")
  files.check_output_path(FLAGS.output_dir, "output_dir")
  hf_checkpoint.convert_hf_to_tf1(FLAGS.input_dir, FLAGS.output_dir)


def run():
  program.run_command(define_flags, main, __doc__)


if __name__ == "__main__":
  run()
