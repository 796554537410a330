"""Final-layer BERT features of raw text, as the original extract_features.py.

  python -m bluebert_mtl.commands.extract_features --bert_dir=DIR \
      --input_file=IN.txt --output_file=OUT.jsonl

Input and output formats: `bluebert_mtl.serve.extract_features`.
"""

from absl import app
from absl import flags

from bluebert_mtl.commands import cli
from bluebert_mtl.config import BertFiles
from bluebert_mtl.model import checkpoints
from bluebert_mtl.serve import extract_features

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("bert_dir", None, "Folder of a BERT download: "
                      "bert_config.json, vocab.txt, bert_model.ckpt.*; or a "
                      "Hugging Face BERT folder.")
  flags.DEFINE_string("bert_config_file", None, "bert_config.json.")
  flags.DEFINE_string("init_checkpoint", None, "TF1 checkpoint prefix.")
  flags.DEFINE_string("vocab_file", None, "vocab.txt.")
  flags.DEFINE_bool("do_lower_case", True, "Lower-case the input (uncased).")
  flags.DEFINE_integer("max_seq_length", 128,
                       "Longest packed input; longer texts are cut.")
  flags.DEFINE_integer("batch_size", 8, "Lines per encoder call.")
  flags.DEFINE_string("input_file", None, "One text or `a ||| b` a line.")
  flags.DEFINE_string("output_file", None, "JSON lines to write.")
  flags.mark_flags_as_required(["input_file", "output_file"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  f = FLAGS
  files = BertFiles.resolve(f.bert_dir, f.bert_config_file, f.init_checkpoint,
                            f.vocab_file)
  checkpoints.check_casing(files.vocab_file, f.do_lower_case)
  extract_features.extract_features(files, f.input_file, f.output_file,
                                    f.do_lower_case, f.max_seq_length,
                                    f.batch_size)


def run():
  define_flags()
  with cli.one_line_errors("extract_features"):
    app.run(main)


if __name__ == "__main__":
  run()
