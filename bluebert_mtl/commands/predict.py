r"""Predicts on new text with a trained run: one JSON line per input line.

  python predict.py --model_dir=runs/mt --tasks=bc5cdr-chemical,chemprot \
      --input_file=in.jsonl --output_file=out.jsonl

(also `python -m bluebert_mtl.commands.predict`). --model_dir is a run
folder (run_mtl.py's --output_dir, or one task folder of run_finetune.py's)
or a checkpoint prefix inside one; each task predicts with its best-dev
weights. Input formats (--input_format=auto|text|jsonl|blue), the output of
every task kind, truncation and NER word splitting: docs/prediction.md.
Bad input stops the run with one line naming the file, line and problem,
before anything is written; an output file is written whole or not at all.
"""

from absl import flags

from bluebert_mtl import files
from bluebert_mtl.commands import program
from bluebert_mtl.serve import inputs
from bluebert_mtl.serve import output_file
from bluebert_mtl.serve import predictor

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("model_dir", None,
                      "Run folder (run_mtl.py's, or a task folder of "
                      "run_finetune.py's), or a checkpoint prefix inside one.")
  flags.DEFINE_list("tasks", None, "Tasks of the run to predict (default: "
                    "all of them).")
  flags.DEFINE_string("input_file", None, "Texts to label (see "
                      "--input_format).")
  flags.DEFINE_string("output_file", None, "JSON lines to write; - for "
                      "standard output.")
  flags.DEFINE_enum("input_format", "auto", list(inputs.INPUT_FORMATS),
                    "text: a text a line (a tab splits a pair); jsonl: "
                    '{"id", "text"} or {"id", "text_a", "text_b"}, relation '
                    'tasks may add "entities"; blue: a file in the task\'s '
                    "BLUE layout; auto: by the file name (.jsonl/.json, "
                    ".tsv), else by the first line.")
  flags.DEFINE_integer("batch_size", None, "Rows of max_seq_length per "
                       "forward pass, a token budget: shorter inputs come "
                       "more to a pass (default: the run's eval_batch_size).",
                       lower_bound=1)
  flags.DEFINE_bool("jit_compile", False, "XLA-compile the forward pass: "
                    "one compilation per task and padded length (a "
                    "multiple of 8) first, faster after (BENCHMARKS.md "
                    "section 9): for long input files.")
  flags.DEFINE_integer("max_seq_length", None, "Longest input in WordPieces; "
                       "longer texts are cut and marked truncated (default: "
                       "the run's).", lower_bound=3)
  flags.mark_flags_as_required(["model_dir", "input_file", "output_file"])


def main(argv):
  del argv  # [program name]: program.parse_flags refuses arguments
  if FLAGS.output_file != output_file.STDOUT:
    files.check_output_path(FLAGS.output_file, "output_file", folder=False)
  model = predictor.Predictor.from_run(
      FLAGS.model_dir, FLAGS.tasks, max_seq_length=FLAGS.max_seq_length,
      batch_size=FLAGS.batch_size, jit_compile=FLAGS.jit_compile)
  model.predict_file(FLAGS.input_file, FLAGS.output_file, FLAGS.input_format)


def run():
  program.run_command(define_flags, main, __doc__)


if __name__ == "__main__":
  run()
