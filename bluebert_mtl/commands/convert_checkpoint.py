"""Writes a Hugging Face BERT (safetensors) as an original TF1 BERT checkpoint.

  python -m bluebert_mtl.commands.convert_checkpoint --input_dir=HF_MODEL_DIR \
      --output_dir=OUT

What is read and written: `bluebert_mtl.model.hf_checkpoint`.
"""

from absl import app
from absl import flags

from bluebert_mtl.model import hf_checkpoint

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("input_dir", None, "Hugging Face BERT folder: "
                      "config.json, model.safetensors, vocab.txt.")
  flags.DEFINE_string("output_dir", None, "Folder for the TF1 checkpoint.")
  flags.mark_flags_as_required(["input_dir", "output_dir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  hf_checkpoint.convert_hf_to_tf1(FLAGS.input_dir, FLAGS.output_dir)


def run():
  define_flags()
  app.run(main)


if __name__ == "__main__":
  run()
