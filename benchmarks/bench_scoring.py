"""Prediction at its bound: scoring vs training, examples/s per task.

  .venv/bin/python -m benchmarks.bench_scoring [--train_steps=16] [--rounds=3]

One Trainer (`bench_training.OurSide`: the six tasks of the public BLUE
data, MiniLM from build/minilm_tf1, batch 32, max_seq_length 128, the
defaults, so sentence tasks read the [CLS]-only last block), and per task:

  training   `--train_steps` steps of the task's own stream of training
             batches, through the Trainer's compiled step, each timed from
             `next(stream)` to the loss as a Python float (as `Trainer.run`):
             examples/s of real rows.
  scoring    the forward pass of dev and test scoring (`Evaluator.outputs`:
             `inference.predict`, length-sorted batches of the token budget
             `--eval_batch_size` x max_seq_length, padded in a background
             thread, the Evaluator's compiled view), examples/s, on
             (a) the very rows those training steps took, so both sides see
                 the same lengths, and
             (b) `--examples` features of the task's dev and test splits (a
                 seeded sample; all of them where fewer), what a run scores.

Every round measures each task's training, then its scoring (the other way
round in odd rounds), after a warm-up of all; a rate is the median over
`--rounds` rounds and a ratio the median of the rounds' ratios. Goal:
scoring >= 3x training for every task. `--jit_compile` runs both sides
under XLA (its compilations fall in the warm-up, timed apart).
"""

import dataclasses
import time

from absl import app
from absl import flags

from benchmarks import bench_training
from benchmarks import common
from benchmarks import inputs
import numpy as np

from bluebert_mtl.data import task_data

FLAGS = flags.FLAGS
flags.DEFINE_integer("examples", 1024, "Dev and test features scored per "
                     "task and round (a seeded sample).")
flags.DEFINE_integer("train_steps", 16, "Training steps per task and round.")
flags.DEFINE_integer("rounds", 3, "Rounds (alternating which side runs "
                     "first).")
flags.DEFINE_integer("eval_batch_size", 16, "Prediction batches hold this "
                     "many rows of max_seq_length tokens (TrainConfig's).")
# --smoke: one task of each kind of data/sample/, a few rows.
SMOKE = dict(bench_training.SMOKE, examples=16, train_steps=1, rounds=1,
             eval_batch_size=4)
GOAL = 3.0
SIDES = ("training", "scoring the training rows", "scoring dev and test")


def dev_test_sample(trainer, task, count: int, seed: int = 0):
  """`count` features of the task's dev and test splits, a seeded sample
  (all of them where fewer), as a `SplitData`."""
  splits = trainer.data[task.name]
  features = splits["dev"].features + splits["test"].features
  order = np.random.default_rng(seed).permutation(len(features))[:count]
  return task_data.SplitData("", [], [], [features[i] for i in order])


def training_rounds(side, names):
  """task -> per round, the SplitData of the rows that round's training
  steps take (the streams' batches, rebuilt from the same plans)."""
  steps = {name: [] for name in names}
  for name, batch in zip(names, bench_training.numpy_batches(side, names)):
    index = batch["example_index"][batch["example_index"] >= 0]
    steps[name].append([side.trainer.batches.features[name][i]
                        for i in index])
  n = FLAGS.train_steps
  return {name: [task_data.SplitData("", [], [], sum(rows[k:k + n], []))
                 for k in range(0, len(rows), n)]
          for name, rows in steps.items()}


def measures(side, task, trained, sample):
  """side -> a function timing it once, returning examples/s."""
  def train():
    steps = [task.name] * FLAGS.train_steps
    return len(trained.features) / sum(side.run(steps)[0])

  def score(split):
    def run():
      start = time.perf_counter()
      side.trainer.evaluator.outputs(task, split)
      return len(split.features) / (time.perf_counter() - start)
    return run

  return dict(zip(SIDES, (train, score(trained), score(sample))))


def main(argv):
  del argv
  data = inputs.resolve(SMOKE, need_reference=False)
  bench_training.configure_threads()
  common.print_header("Prediction vs training examples/s per task",
                      common.command_line())
  config = dataclasses.replace(
      bench_training.train_config(data, "bench_scoring_"),
      eval_batch_size=FLAGS.eval_batch_size)
  side = bench_training.OurSide(config, data.bert_files())
  tasks = side.trainer.tasks
  rounds = 1 + FLAGS.rounds  # the first is the warm-up
  trained = training_rounds(side, [t.name for t in tasks
                                   for _ in range(rounds * FLAGS.train_steps)])
  samples = {t.name: dev_test_sample(side.trainer, t, FLAGS.examples)
             for t in tasks}
  print(f"tasks: {', '.join(t.name for t in tasks)}; per task and round "
        f"{FLAGS.train_steps} training steps of {config.train_batch_size} "
        f"and at most {FLAGS.examples} dev and test features; token budget "
        f"{config.eval_batch_size} x {config.max_seq_length}; "
        f"{FLAGS.rounds} rounds after a warm-up; XLA {config.jit_compile}")
  rates = {t.name: {what: [] for what in SIDES} for t in tasks}
  for r in range(rounds):
    for task in tasks:
      start = time.perf_counter()
      runs = measures(side, task, trained[task.name][r], samples[task.name])
      for what in SIDES if r % 2 else SIDES[::-1]:
        rates[task.name][what].append(runs[what]())
      if not r:
        print(f"warm-up {task.name}: {time.perf_counter() - start:.1f} s "
              "(tracing, XLA compilations)")
  report(tasks, samples, {name: {what: values[1:] for what, values in
                                 task_rates.items()}
                          for name, task_rates in rates.items()})
  common.print_footer()


def report(tasks, samples, rates):
  """The per-task table and the goal."""
  rows = []
  for task in tasks:
    r = rates[task.name]
    row = [task.name, task.kind, len(samples[task.name].features)]
    row += [common.median(r[what]) for what in SIDES]
    row += [common.median([s / t for s, t in zip(r[what], r[SIDES[0]])])
            for what in SIDES[1:]]
    rows.append(row)
  common.print_table(
      ["task", "kind", "dev+test features", "training examples/s",
       "scoring the training rows, examples/s", "scoring dev+test, "
       "examples/s", "x training (same rows)", "x training (dev+test)"],
      rows)
  for column, what in ((-2, "the training rows"), (-1, "dev and test")):
    short = [row[0] for row in rows if row[column] < GOAL]
    print(f"goal scoring >= {GOAL:g}x training, on {what}: " +
          (f"not met for {', '.join(short)}" if short else
           "met for every task"))


if __name__ == "__main__":
  app.run(main)
