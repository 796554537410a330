r"""Fine-tunes BlueBERT on one BLUE task at a time.

MT-BlueBERT-Fine-Tune: the encoder of a multi-task run (--init_checkpoint:
run_mtl.py's output folder, or one of its checkpoints), a fresh head per task:

  python run_finetune.py --init_checkpoint=runs/mt_bluebert_biomedical \
      --tasks=chemprot,ddi2013-type --data_dir=BLUE --output_dir=runs/ft

The single-task baseline: the same from an original BlueBERT checkpoint
(--bert_dir, or --init_checkpoint with --bert_config_file and --vocab_file):

  python run_finetune.py --flagfile=flags/baseline_biomedical.flags \
      --bert_dir=NCBI_BERT_pubmed_uncased_L-12_H-768_A-12 --data_dir=BLUE

(also `bluebert-mtl-finetune`, `python -m bluebert_mtl.commands.finetune`).
Each task of --task / --tasks trains alone into OUTPUT_DIR/<task>/ with its
released epochs and learning rate (`finetune.RECIPES`) unless
--num_train_epochs or --learning_rate is given. --seeds=1,2,3 trains each
seed into OUTPUT_DIR/<task>/seed_<s>/ and writes their mean ± sd to
OUTPUT_DIR/<task>/results.json. Each task's dev-selected predictions and
results.json are as run_mtl.py's; timing.json holds the wall time. Rerunning
resumes unfinished runs and reads finished ones back. flags/finetune_*.flags
and flags/baseline_*.flags run the paper's stages.
"""

from absl import flags

from bluebert_mtl.commands import cli
from bluebert_mtl.commands import program
from bluebert_mtl.study import finetune
from bluebert_mtl.train import checks

FLAGS = flags.FLAGS


def define_flags():
  cli.define_bert_flags()
  # The paper's fine-tuning (section 4.2), for tasks without a released recipe.
  cli.define_training_flags(num_train_epochs=10.0, learning_rate=1e-5)
  flags.DEFINE_alias("task", "tasks")
  flags.DEFINE_list("seeds", [], "Seeds: one run per seed and their mean ± sd "
                    "(empty: one run with --seed).")
  flags.register_validator(
      "seeds", lambda seeds: all(s.lstrip("-").isdigit() for s in seeds),
      message="--seeds must be integers, e.g. --seeds=1,2,3")


def main(argv):
  del argv  # [program name]: program.parse_flags refuses arguments
  config = cli.train_config_from_flags(FLAGS)
  tasks = cli.tasks_from_flags(FLAGS)
  start = cli.start_from_flags(FLAGS)
  checks.check_config(config, start)
  keep = [name for name in finetune.RECIPE_FIELDS if FLAGS[name].present]
  seeds = [int(s) for s in FLAGS.seeds]
  for task in tasks:
    results = finetune.finetune(config, start, task, seeds, keep)
    print(cli.results_table(results))


def run():
  program.run_command(define_flags, main, __doc__)


if __name__ == "__main__":
  run()
