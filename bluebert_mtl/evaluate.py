"""Scores a prediction file against its gold file with the task's official
BLUE metric and prints one JSON object.

  python -m bluebert_mtl.evaluate --task=chemprot \
      --gold_file=data/chemprot/test.tsv --pred_file=run/predictions/chemprot_test.tsv

The prediction file mirrors the gold file (what run_mtl.py and
run_finetune.py write): same rows, the predicted label in the label column.
Output: {"task": KEY, "metric": NAME, "value": FLOAT, ...details}.
"""

import json

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)

from absl import app
from absl import flags

from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl.errors import DataError

FLAGS = flags.FLAGS


def _rows(task, path: str) -> list:
  """(guid, label) rows of a file read with the task's reader."""
  examples = task.read(path)
  if task.kind == "tagging":
    return [(ex.guid, ex.tags) for ex in examples]
  return [(ex.guid, ex.label) for ex in examples]


def evaluate_files(task, gold_file: str, pred_file: str) -> dict:
  """The task's official score of `pred_file` against `gold_file`."""
  gold = _rows(task, gold_file)
  predicted = _rows(task, pred_file)
  if [g for g, _ in gold] != [g for g, _ in predicted]:
    raise DataError(pred_file, None, "its rows are not those of the gold file "
                    f"{gold_file} (same guids in the same order expected)")
  if any(label is None for _, label in gold):
    raise DataError(gold_file, None, "has no labels to score against")
  if any(label is None for _, label in predicted):
    raise DataError(pred_file, None, "has no predicted labels")
  return dict(task.score(gold, predicted), task=task.name)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  registry = tasks_lib.registry_with(FLAGS.task_def)
  task = tasks_lib.get_task(FLAGS.task, registry)
  scores = evaluate_files(task, FLAGS.gold_file, FLAGS.pred_file)
  ordered = {"task": scores.pop("task"), "metric": scores.pop("metric"),
             "value": scores.pop("value"), **scores}
  print(json.dumps(ordered, sort_keys=False))


if __name__ == "__main__":
  flags.DEFINE_string("task", None, "Task key, e.g. chemprot.")
  flags.DEFINE_string("gold_file", None, "The gold file.")
  flags.DEFINE_string("pred_file", None, "The prediction file.")
  flags.DEFINE_multi_string("task_def", [], "YAML definition of a user task.")
  flags.mark_flags_as_required(["task", "gold_file", "pred_file"])
  app.run(main)
