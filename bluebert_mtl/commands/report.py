r"""The paper's result tables from run folders, as markdown and CSV.

  python -m bluebert_mtl.commands.report --output=runs/table3.md \
      --runs="BlueBERT=runs/baseline,MT-Refinement=runs/mt,MT-Fine-Tune=runs/ft"

(also `bluebert-mtl-report`). What a run folder may be and what the report
holds: `bluebert_mtl.study.report`.
"""

from absl import flags

from bluebert_mtl import files
from bluebert_mtl.commands import program
from bluebert_mtl.study import report

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_list("runs", None, "name=folder pairs, comma-separated: a "
                    "run_mtl.py / pairwise run folder or a run_finetune.py "
                    "output folder, under the name its column gets.")
  flags.DEFINE_string("output", "results.md",
                      "The markdown report; the CSV goes beside it (.csv).")
  flags.mark_flags_as_required(["runs"])


def main(argv):
  del argv  # [program name]: program.parse_flags refuses arguments
  files.check_output_path(FLAGS.output, "output", folder=False)
  runs = [report.read_run(name, folder)
          for name, folder in report.parse_runs(FLAGS.runs)]
  for path in report.write_report(runs, FLAGS.output):
    print(f"wrote {path}")


def run():
  program.run_command(define_flags, main, __doc__)


if __name__ == "__main__":
  run()
