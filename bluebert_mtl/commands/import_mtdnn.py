r"""Makes a run folder of a released MT-BlueBERT PyTorch checkpoint.

  python -m bluebert_mtl.commands.import_mtdnn \
      --init_checkpoint=mt-bluebert-biomedical.pt \
      --bert_dir=NCBI_BERT_pubmed_uncased_L-12_H-768_A-12 \
      --tasks=chemprot,ddi2013-type,bc5cdr-chemical,bc5cdr-disease \
      --output_dir=runs/mt_bluebert_released

--tasks lists the checkpoint's tasks in the order of its heads (its
--train_datasets); config and vocab come from the BlueBERT it started from
(--bert_dir, or --bert_config_file and --vocab_file). The folder exports and
fine-tunes like a run of this port: `bluebert_mtl.train.from_mtdnn`,
docs/huggingface.md. The encoder alone needs no import: --init_checkpoint
of run_mtl.py / run_finetune.py takes the .pt file. Bad input stops with one
line naming the file (and key).
"""

from absl import flags

from bluebert_mtl import files
from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl.commands import cli
from bluebert_mtl.commands import program
from bluebert_mtl.config import BertConfig
from bluebert_mtl.train import from_mtdnn

FLAGS = flags.FLAGS


def define_flags():
  cli.define_bert_flags()
  flags.DEFINE_list("tasks", None, "The checkpoint's tasks, in the order of "
                    "its heads (scoring_list.0, 1, ...).")
  flags.DEFINE_string("output_dir", None, "The run folder to create.")
  flags.DEFINE_bool("do_lower_case", True, "Whether the checkpoint's "
                    "training lower-cased its input (BlueBERT: uncased).")
  flags.DEFINE_integer("max_seq_length", 128, "The longest input the "
                       "checkpoint was trained on, in WordPieces.")
  flags.mark_flags_as_required(["init_checkpoint", "tasks", "output_dir"])


def main(argv):
  del argv  # [program name]: program.parse_flags refuses arguments
  files.check_output_path(FLAGS.output_dir, "output_dir")
  bert_files = cli.bert_files_from_flags(FLAGS)
  BertConfig.from_json_file(bert_files.config_file).check_sequence_length(
      FLAGS.max_seq_length, bert_files.config_file)
  from_mtdnn.write_mtdnn_run(
      bert_files,
      [tasks_lib.get_task(name) for name in FLAGS.tasks], FLAGS.output_dir,
      FLAGS.do_lower_case, FLAGS.max_seq_length)
  print(FLAGS.output_dir)


def run():
  program.run_command(define_flags, main, __doc__)


if __name__ == "__main__":
  run()
