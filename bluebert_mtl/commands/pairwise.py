r"""Pairwise multi-task learning: which task helps which (paper Figure 2).

  python -m bluebert_mtl.commands.pairwise \
      --tasks=chemprot,ddi2013-type,bc5cdr-disease \
      --bert_dir=NCBI_BERT_pubmed_uncased_L-12_H-768_A-12 --data_dir=BLUE \
      --baseline_dir=runs/single --output_dir=runs/pairwise

What it trains, reads back and writes: `bluebert_mtl.study.pairwise`.
"""

import os

from absl import flags

from bluebert_mtl import files
from bluebert_mtl.commands import cli
from bluebert_mtl.commands import program
from bluebert_mtl.train import checks
from bluebert_mtl.study import pairwise

FLAGS = flags.FLAGS


def define_flags():
  cli.define_bert_flags()
  cli.define_training_flags()
  flags.DEFINE_string("baseline_dir", None, "Folder of single-task runs, one "
                      "sub-folder per task (run_finetune.py's layout); missing "
                      "tasks are trained into it. Default OUTPUT_DIR/single.")
  flags.DEFINE_float("threshold", 0.005, "A delta beyond ± this is an effect "
                     "(green or red edge).", lower_bound=0.0)
  flags.DEFINE_enum("split", "test", ["dev", "test"], "The split scored.")
  flags.DEFINE_integer("max_new_pairs", None, "Train at most this many "
                       "unfinished pairs in this call (finished ones are "
                       "read back); the rest show as not run. Default: all.",
                       lower_bound=0)


def main(argv):
  del argv  # [program name]: program.parse_flags refuses arguments
  f = FLAGS
  config = cli.train_config_from_flags(f)
  start = cli.start_from_flags(f)
  checks.check_config(config, start)
  if f.baseline_dir:
    files.check_output_path(f.baseline_dir, "baseline_dir")
  pairwise.run_pairwise(
      config, start, cli.tasks_from_flags(f),
      f.baseline_dir or os.path.join(f.output_dir, "single"),
      f.threshold, f.split, f.max_new_pairs)
  for name in (pairwise.DELTAS_CSV, pairwise.DELTAS_MD, pairwise.GRAPH_PNG):
    print(f"wrote {os.path.join(f.output_dir, name)}")


def run():
  program.run_command(define_flags, main, __doc__)


if __name__ == "__main__":
  run()
