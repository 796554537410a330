r"""BERT features of raw text, as the original extract_features.py.

  python -m bluebert_mtl.commands.extract_features --bert_dir=DIR \
      [--layers=-1,-2,-3,-4] --input_file=IN.txt --output_file=OUT.jsonl

DIR is a BERT download (bert_config.json, vocab.txt, bert_model.ckpt.*) or a
training run folder of this port (run_mtl.py's: its multi-task encoder, from
the latest checkpoint, with the run's lower-casing unless --do_lower_case is
given). Input and output formats: `bluebert_mtl.serve.extract_features`.
"""


from absl import flags

from bluebert_mtl import files
from bluebert_mtl.commands import program
from bluebert_mtl.model import checkpoints
from bluebert_mtl.runs import run_dir
from bluebert_mtl.serve import extract_features
from bluebert_mtl.train import start as start_lib

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("bert_dir", None, "Folder of a BERT download: "
                      "bert_config.json, vocab.txt, bert_model.ckpt.*; or a "
                      "training run folder (its encoder).")
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
  flags.DEFINE_list("layers", [], "Transformer block outputs to write too, "
                    "-1 the last, e.g. -1,-2,-3,-4 (the original's --layers).")
  flags.register_validator(
      "layers", lambda layers: all(s.lstrip("-").isdigit() for s in layers),
      message="--layers must be integers, e.g. --layers=-1,-2,-3,-4")
  flags.mark_flags_as_required(["input_file", "output_file"])


def main(argv):
  del argv  # [program name]: program.parse_flags refuses arguments
  f = FLAGS
  files.check_output_path(f.output_file, "output_file", folder=False)
  run = run_dir.is_run(f.bert_dir)
  start = start_lib.resolve_start(
      f.bert_dir, f.bert_config_file,
      f.bert_dir if run else f.init_checkpoint, f.vocab_file)
  lower = f.do_lower_case
  if run and not f["do_lower_case"].present:
    lower = run_dir.read_train_config(f.bert_dir).do_lower_case
  checkpoints.check_casing(start.bert_files.vocab_file, lower)
  extract_features.extract_features(
      start.bert_files, f.input_file, f.output_file, lower,
      f.max_seq_length, f.batch_size, start.encoder_checkpoint,
      [int(index) for index in f.layers])


def run():
  program.run_command(define_flags, main, __doc__)


if __name__ == "__main__":
  run()
