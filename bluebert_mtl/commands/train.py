r"""Multi-task training of BlueBERT on BLUE tasks (MT-BlueBERT-Refinement).

  python run_mtl.py --flagfile=flags/mt_bluebert_biomedical.flags \
      --bert_dir=NCBI_BERT_pubmed_uncased_L-12_H-768_A-12 --output_dir=runs/mt

(also `bluebert-mtl-train`, `python -m bluebert_mtl.commands.train`).
Rerunning the same command resumes from the run's last checkpoint, or reads a
finished run (one with timing.json) back. Results:
OUTPUT_DIR/results.json, OUTPUT_DIR/predictions/<task>_{dev,test}.tsv,
TensorBoard logs in OUTPUT_DIR/tensorboard.
"""

from absl import flags

from bluebert_mtl.commands import cli
from bluebert_mtl.commands import program
from bluebert_mtl.train import checks
from bluebert_mtl.train import trainer
from bluebert_mtl.train.start import Start

FLAGS = flags.FLAGS


def define_flags():
  cli.define_bert_flags()
  cli.define_training_flags()


def main(argv):
  del argv  # [program name]: program.parse_flags refuses arguments
  config = cli.train_config_from_flags(FLAGS)
  start = Start(cli.bert_files_from_flags(FLAGS))
  checks.check_config(config, start)
  results = trainer.train(config, start, cli.tasks_from_flags(FLAGS))
  print(cli.results_table(results))


def run():
  program.run_command(define_flags, main, __doc__)


if __name__ == "__main__":
  run()
