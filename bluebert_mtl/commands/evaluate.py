r"""Scores a prediction file against its gold file with the task's official
BLUE metric and prints one JSON object.

  python -m bluebert_mtl.commands.evaluate --task=chemprot \
      --gold_file=data/chemprot/test.tsv --pred_file=run/predictions/chemprot_test.tsv

(also `bluebert-mtl-evaluate`). The prediction file mirrors the gold file
(what run_mtl.py and run_finetune.py write): same rows, the predicted label in
the label column. NER sentences are matched by position, so a prediction
file of any name scores. Output: {"task": KEY, "metric": NAME, "value":
FLOAT, ...details}; bad input: one line naming the file and line, exit 2
(docs/errors.md).
"""

import json

from absl import flags

from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl.commands import program

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("task", None, "Task key, e.g. chemprot.")
  flags.DEFINE_string("gold_file", None, "The gold file.")
  flags.DEFINE_string("pred_file", None, "The prediction file.")
  flags.DEFINE_multi_string("task_def", [], "YAML definition of a user task.")
  flags.mark_flags_as_required(["task", "gold_file", "pred_file"])


def main(argv):
  del argv  # [program name]: program.parse_flags refuses arguments
  registry = tasks_lib.registry_with(FLAGS.task_def)
  task = tasks_lib.get_task(FLAGS.task, registry)
  scores = task.score_files(FLAGS.gold_file, FLAGS.pred_file)
  ordered = {"task": scores.pop("task"), "metric": scores.pop("metric"),
             "value": scores.pop("value"), **scores}
  print(json.dumps(ordered, sort_keys=False))


def run():
  program.run_command(define_flags, main, __doc__)


if __name__ == "__main__":
  run()
