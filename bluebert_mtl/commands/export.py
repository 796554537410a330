"""Exports a training run's tasks as SavedModels for TF Serving.

  python export_savedmodel.py --model_dir=runs/mt --export_dir=serving \
      [--tasks=chemprot,bc5cdr-chemical] [--version=1] [--overwrite] \
      [--ids_only]

(also `bluebert-mtl-export`, `python -m bluebert_mtl.commands.export`)
writes, for each task, SERVING/<task>/<version>/ (raw text in, the tokenizer
in the graph) and SERVING/<task>_ids/<version>/ (token ids in, core TF ops
only), plus SERVING/preprocess/<version>/ (raw text -> token ids for every
task of the run). Each task's models hold the encoder and that task's head
with its best-dev weights (best/<task>/weights, else final/weights);
--model_dir may also name a checkpoint prefix inside a run folder, e.g.
runs/mt/checkpoints/ckpt-3000. Signatures: bluebert_mtl/serve/export.py;
serving them: docs/serving.md.
"""

from absl import flags

from bluebert_mtl import files
from bluebert_mtl.commands import program
from bluebert_mtl.serve import export

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("model_dir", None,
                      "Training run folder (run_mtl.py's --output_dir), or a "
                      "checkpoint prefix inside one.")
  flags.DEFINE_string("export_dir", None,
                      "Model base folder: <task>/<version>/ are written below.")
  flags.DEFINE_list("tasks", None, "Tasks of the run to export (default: all).")
  flags.DEFINE_integer("version", 1, "Version folder name (TF Serving serves "
                       "the highest).", lower_bound=0)
  flags.DEFINE_bool("overwrite", False, "Replace existing version folders.")
  flags.DEFINE_bool("ids_only", False,
                    "Write only the token-id models (<task>_ids) and the "
                    "preprocess model, for servers built without TF Text.")
  flags.mark_flags_as_required(["model_dir", "export_dir"])


def main(argv):
  del argv  # [program name]: program.parse_flags refuses arguments
  files.check_output_path(FLAGS.export_dir, "export_dir")
  folders = export.export_run(
      FLAGS.model_dir, FLAGS.export_dir, FLAGS.tasks, version=FLAGS.version,
      overwrite=FLAGS.overwrite, ids_only=FLAGS.ids_only)
  print("\n".join(folders))


def run():
  program.run_command(define_flags, main, __doc__)


if __name__ == "__main__":
  run()
