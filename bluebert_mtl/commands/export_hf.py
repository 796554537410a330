r"""Exports a training run's tasks as Hugging Face `transformers` folders.

  python -m bluebert_mtl.commands.export_hf --model_dir=runs/mt \
      --export_dir=hf [--tasks=chemprot,bc5cdr-chemical] [--encoder_only] \
      [--overwrite]

writes HF/<task>/ for each task (config.json, model.safetensors, vocab.txt,
tokenizer_config.json, README.md), loadable with
`AutoModelForSequenceClassification` / `AutoModelForTokenClassification`,
with the task's best-dev weights; --encoder_only writes HF/encoder/, the
encoder alone as a `BertModel`. What is written:
`bluebert_mtl.serve.export_hf`; docs/huggingface.md. Bad input stops with one
line naming the file.
"""

from absl import flags

from bluebert_mtl import files
from bluebert_mtl.commands import program
from bluebert_mtl.serve import export_hf

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("model_dir", None,
                      "Training run folder (run_mtl.py's --output_dir), or a "
                      "checkpoint prefix inside one.")
  flags.DEFINE_string("export_dir", None,
                      "Folder that receives one model folder per task.")
  flags.DEFINE_list("tasks", None, "Tasks of the run to export (default: all).")
  flags.DEFINE_bool("encoder_only", False,
                    "Write only EXPORT_DIR/encoder: the encoder as a "
                    "BertModel (from --model_dir's checkpoint, else the "
                    "run's final weights).")
  flags.DEFINE_bool("overwrite", False, "Replace existing folders.")
  flags.mark_flags_as_required(["model_dir", "export_dir"])


def main(argv):
  del argv  # [program name]: program.parse_flags refuses arguments
  files.check_output_path(FLAGS.export_dir, "export_dir")
  folders = export_hf.export_run_hf(
      FLAGS.model_dir, FLAGS.export_dir, FLAGS.tasks,
      encoder_only=FLAGS.encoder_only, overwrite=FLAGS.overwrite)
  print("\n".join(folders))


def run():
  program.run_command(define_flags, main, __doc__)


if __name__ == "__main__":
  run()
