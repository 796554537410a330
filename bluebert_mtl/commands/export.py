r"""Exports training runs' tasks as SavedModels for TF Serving.

  python export_savedmodel.py --model_dir=runs/mt --export_dir=serving \
      [--tasks=chemprot,bc5cdr-chemical] [--version=1] [--overwrite] \
      [--ids_only] [--server_export_dir=/models/serving]

(also `bluebert-mtl-export`, `python -m bluebert_mtl.commands.export`)
writes, for each task, SERVING/<task>/<version>/ (raw text in, the tokenizer
in the graph) and SERVING/<task>_ids/<version>/ (token ids in, core TF ops
only), then SERVING/preprocess/<version>/ (raw text -> token ids for every
task exported into SERVING so far) and SERVING/models.config (TF Serving's
model config of every model folder). Each task's models hold the encoder
and that task's head with its best-dev weights (best/<task>/weights, else
final/weights). --model_dir is a run folder, a checkpoint prefix inside one
(e.g. runs/mt/checkpoints/ckpt-3000), or run_finetune.py's output folder
(every task folder in it; of a task's --seeds, the seed with the best dev
score). A later export adds its tasks to SERVING; an existing version of a
task is replaced only with --overwrite. Signatures and layout:
bluebert_mtl/serve/export.py; serving them: docs/serving.md.
"""

from absl import flags

from bluebert_mtl import files
from bluebert_mtl.commands import program
from bluebert_mtl.serve import export

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("model_dir", None,
                      "Training run folder (run_mtl.py's --output_dir), a "
                      "checkpoint prefix inside one, or run_finetune.py's "
                      "--output_dir (each task folder; of seeds, the best "
                      "by dev score).")
  flags.DEFINE_string("export_dir", None,
                      "Model base folder: <task>/<version>/ are written "
                      "below; the tasks other exports left there stay "
                      "served.")
  flags.DEFINE_list("tasks", None,
                    "Tasks of the run(s) to export (default: all).")
  flags.DEFINE_integer("version", 1, "Version folder name (TF Serving serves "
                       "the highest).", lower_bound=0)
  flags.DEFINE_bool("overwrite", False,
                    "Replace a task's existing version (all its models at "
                    "that version).")
  flags.DEFINE_bool("ids_only", False,
                    "Write only the token-id models (<task>_ids) and the "
                    "preprocess model, for servers built without TF Text.")
  flags.DEFINE_string("server_export_dir", None,
                      "--export_dir as TF Serving sees it, for the base "
                      "paths of models.config: an absolute path or URI, "
                      "e.g. /models/serving in a container (default: "
                      "--export_dir's absolute path).")
  flags.mark_flags_as_required(["model_dir", "export_dir"])


def main(argv):
  del argv  # [program name]: program.parse_flags refuses arguments
  files.check_output_path(FLAGS.export_dir, "export_dir")
  folders = export.export_run(
      FLAGS.model_dir, FLAGS.export_dir, FLAGS.tasks, version=FLAGS.version,
      overwrite=FLAGS.overwrite, ids_only=FLAGS.ids_only,
      server_dir=FLAGS.server_export_dir)
  print("\n".join(folders))


def run():
  program.run_command(define_flags, main, __doc__)


if __name__ == "__main__":
  run()
