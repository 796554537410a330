r"""Final-layer BERT features of raw text, as the original extract_features.py.

  python -m bluebert_mtl.commands.extract_features --bert_dir=DIR \
      --input_file=IN.txt --output_file=OUT.jsonl

Input and output formats: `bluebert_mtl.serve.extract_features`.
"""

from absl import flags

from bluebert_mtl import files
from bluebert_mtl.commands import program
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
  flags.DEFINE_integer("batch_size", 8, "Lines per encoder call.",
                       lower_bound=1)
  flags.DEFINE_string("input_file", None, "One text or `a ||| b` a line.")
  flags.DEFINE_string("output_file", None, "JSON lines to write.")
  flags.mark_flags_as_required(["input_file", "output_file"])


def main(argv):
  del argv  # [program name]: program.parse_flags refuses arguments
  f = FLAGS
  files.check_output_path(f.output_file, "output_file", folder=False)
  bert_files = BertFiles.resolve(f.bert_dir, f.bert_config_file,
                                 f.init_checkpoint, f.vocab_file)
  checkpoints.check_casing(bert_files.vocab_file, f.do_lower_case)
  extract_features.extract_features(bert_files, f.input_file, f.output_file,
                                    f.do_lower_case, f.max_seq_length,
                                    f.batch_size)


def run():
  program.run_command(define_flags, main, __doc__)


if __name__ == "__main__":
  run()
