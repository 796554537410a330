"""Multi-task training throughput: our compiled steps, with the last layer at
[CLS] alone and in full, vs the PyTorch reference.

  .venv/bin/python -m benchmarks.bench_training [--steps=60] [--blocks=60]

Our side is the Trainer's own machinery: `trainer_lib.Trainer` on the six tasks
of the public BLUE data (MiniLM encoder from build/minilm_tf1, batch 32,
max_seq_length 128, Adamax, clip 1.0, weight decay 0.01), the per-task steps
of `step.make_train_step`, the Algorithm 1 schedule of epoch 0 and each
task's `tf.data` stream of length-bucketed batches. A step is timed from
`next(stream)` to the loss as a Python float, as `Trainer.run` does it. It
runs twice, as two Trainers from the same weights: "ours" (the default:
sentence tasks' heads read an encoder pass whose last block runs at [CLS]
alone, `--cls_only_last_layer`) and "ours, full last layer"
(`--nocls_only_last_layer`); tagging tasks take the full block in both.

The reference (benchmarks/reference/torch_mt.py) trains the same MiniLM
weights on the very same batches in the same order: the batch plans are pure
functions of (seed, task), so the Trainer's `TrainingBatches`
rebuild them exactly and they are handed over as numpy arrays (identical token ids, no second
tokenizer).

Every side first runs one step of each task (tracing) plus `--warmup_steps`
schedule steps, then the measured steps in `--blocks` blocks, alternating
sides block by block (the others idle meanwhile), then `--task_steps` more
steps of each task alone, alternating sides task by task, for examples/s
per task kind (the schedule's first steps hold few or none of a small task
such as biosses). Figures: examples/s (real rows) and real tokens/s
(input_mask ones) over all measured steps, and the ratios ours / full
last layer and ours / reference, with the median of the per-block ratios.
"""

import dataclasses
import os
import tempfile
import time

from absl import app
from absl import flags

from benchmarks import bert_costs
from benchmarks import common
from benchmarks import inputs
import numpy as np
import tensorflow as tf

from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl.train import step as step_lib
from bluebert_mtl.train import trainer as trainer_lib
from bluebert_mtl.train.start import Start
from bluebert_mtl.config import BertConfig, BertFiles, TrainConfig

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 60, "Measured steps per side.")
flags.DEFINE_integer("blocks", 60, "Measured blocks per side, alternating "
                     "sides (= --steps: every step is timed on both sides "
                     "back to back, so load from other processes hits both "
                     "alike).")
flags.DEFINE_integer("warmup_steps", 6,
                     "Schedule steps run before measuring, after one step "
                     "of each task.")
flags.DEFINE_integer("batch_size", 32, "Training batch size.")
flags.DEFINE_integer("max_seq_length", 128, "Longest packed input.")
flags.DEFINE_list("tasks", list(common.BLUE_PUBLIC_TASKS), "Tasks trained.")
flags.DEFINE_string("optimizer", "adamax", "Our optimizer (the reference "
                    "always runs torch Adamax).")
flags.DEFINE_bool("jit_compile", False, "Variant: XLA-compile our steps.")
flags.DEFINE_integer("intra_op_threads", 0, "Variant: TF intra-op threads "
                     "(0: TF's default).")
flags.DEFINE_integer("inter_op_threads", 0, "Variant: TF inter-op threads "
                     "(0: TF's default).")
flags.DEFINE_integer("task_steps", 4, "Measured steps of each task alone "
                     "per side, after the mix (examples/s per task kind).")
flags.DEFINE_bool("reference", True, "Also run the PyTorch reference.")
# --smoke: one task of each kind of data/sample/, a few short batches.
SMOKE = {"tasks": ["chemprot", "hoc", "biosses", "bc5cdr-chemical"],
         "batch_size": 4, "max_seq_length": 32, "warmup_steps": 1, "steps": 2,
         "blocks": 2, "task_steps": 1}
OURS, FULL, REFERENCE = "ours", "ours, full last layer", "reference"


class OurSide:
  """The Trainer's steps and streams, one step at a time."""

  def __init__(self, config: TrainConfig, bert_files: BertFiles,
               task_specs=None):
    """task_specs: default the registry's specs of config.tasks."""
    self.trainer = trainer_lib.Trainer(
        config, Start(bert_files),
        task_specs or [tasks_lib.get_task(name) for name in config.tasks])
    t = self.trainer
    self.steps = {
        task.name: step_lib.make_train_step(
            t.strategy, t.model, task, t.optimizer, config,
            t.batches.signature(task.name))
        for task in t.tasks}
    self.restart_streams()

  def restart_streams(self):
    """Fresh `tf.data` streams: epoch 0's batches again, from the first."""
    t = self.trainer
    self.streams = {name: iter(t.batches.dataset(name))
                    for name in t.batches.features}

  def run(self, names):
    """Runs one step per task name; returns (seconds, losses) per step."""
    seconds, losses = [], []
    for name in names:
      start = time.perf_counter()
      loss = self.steps[name](next(self.streams[name]))[0]
      losses.append(float(loss))  # waits for the step, as Trainer.run does
      seconds.append(time.perf_counter() - start)
    return seconds, losses

  def tracing_counts(self):
    return {name: step.experimental_get_tracing_count()
            for name, step in self.steps.items()}


def step_order(side: OurSide, warmup: int, measured: int):
  """Task names of the run: one step of each task, then epoch 0's schedule."""
  first = [task.name for task in side.trainer.tasks]
  schedule = side.trainer.schedule.tasks(0)
  if warmup + measured > len(schedule):
    raise app.UsageError(f"epoch 0 has only {len(schedule)} steps")
  return first + schedule[:warmup + measured]


def numpy_batches(side: OurSide, names):
  """The same batches our streams yield, rebuilt from the same plans."""
  t = side.trainer
  batches = {name: t.batches.dataset(name).as_numpy_iterator()
             for name in side.streams}
  return [next(batches[name]) for name in names]


def reference_tasks(trainer):
  """The trainer's tasks as the reference worker takes them."""
  return [{"name": t.name, "kind": t.kind, "outputs": t.num_outputs}
          for t in trainer.tasks]


def summarize(label, seconds, batches):
  """One side's row: throughput over the measured steps."""
  examples = sum(float(b["example_weight"].sum()) for b in batches)
  tokens = sum(int(b["input_mask"].sum()) for b in batches)
  total = float(np.sum(seconds))
  return {"side": label, "steps": len(seconds), "seconds": total,
          "examples/s": examples / total, "real tokens/s": tokens / total,
          "median step ms": 1000 * common.median(seconds)}


def configure_threads():
  """Applies --intra_op_threads and --inter_op_threads (before TF starts)."""
  if FLAGS.intra_op_threads:
    tf.config.threading.set_intra_op_parallelism_threads(
        FLAGS.intra_op_threads)
  if FLAGS.inter_op_threads:
    tf.config.threading.set_inter_op_parallelism_threads(
        FLAGS.inter_op_threads)


def train_config(data: inputs.Inputs, prefix: str) -> TrainConfig:
  """The run's TrainConfig from the flags, in a fresh temporary folder."""
  return TrainConfig(
      tasks=tuple(FLAGS.tasks), data_dir=data.data_dir,
      output_dir=tempfile.mkdtemp(prefix=prefix),
      train_batch_size=FLAGS.batch_size, max_seq_length=FLAGS.max_seq_length,
      optimizer=FLAGS.optimizer, jit_compile=FLAGS.jit_compile,
      cache_dir=data.cache_dir)


def start_reference(trainer, config, data, names, batches):
  """The reference worker, set up on the run's batches (None without)."""
  if not data.reference:
    return None
  reference = common.ReferenceWorker()
  path = os.path.join(config.output_dir, "batches.npz")
  common.save_batches(path, names, batches)
  setup = reference.call(
      "train_setup", model_dir=data.hf_dir,
      tasks=reference_tasks(trainer), batches=path,
      learning_rate=config.learning_rate,
      warmup_steps=trainer.lr_schedule.warmup_steps,
      total_steps=trainer.total_steps, weight_decay=config.weight_decay,
      clip_norm=config.clip_norm)
  print(f"reference: {common.describe_reference(reference)}, "
        f"attention {setup['attention']}")
  return reference


def make_runners(ours, full, reference, names):
  """side -> run(start, end): steps start..end-1 of `names` on that side,
  returning (seconds, losses) per step."""
  runners = {OURS: lambda a, b: ours.run(names[a:b]),
             FULL: lambda a, b: full.run(names[a:b])}
  if reference:
    def run_reference(a, b):
      reply = reference.call("train", start=int(a), end=int(b))
      return reply["seconds"], reply["losses"]
    runners[REFERENCE] = run_reference
  return runners


def run_blocks(runners, bounds):
  """Runs the blocks [bounds[i], bounds[i+1]) on every side, rotating which
  side goes first. Returns (side -> seconds per step, side -> losses,
  side -> seconds per block)."""
  sides = list(runners)
  times = {side: [] for side in sides}
  losses = {side: [] for side in sides}
  blocks = {side: [] for side in sides}
  for b, (start, end) in enumerate(zip(bounds[:-1], bounds[1:])):
    turn = b % len(sides)
    for side in sides[turn:] + sides[:turn]:
      seconds, block_losses = runners[side](start, end)
      times[side] += seconds
      losses[side] += block_losses
      blocks[side].append(sum(seconds))
  return times, losses, blocks


def report_mix(times, losses, blocks, measured, trainer):
  """The mix table, tokens and FLOP/s, and the ratios between sides."""
  rows = [summarize(side, times[side], measured) for side in times]
  common.print_table(
      ["side", "steps", "seconds", "examples/s", "real tokens/s",
       "median step ms", "mean loss"],
      [list(r.values()) + [float(np.mean(losses[r["side"]]))] for r in rows])
  real = sum(int(b["input_mask"].sum()) for b in measured)
  computed = sum(b["input_mask"].size for b in measured)
  print(f"measured batches: {len(measured)}, real tokens {real}, tokens "
        f"computed {computed} (x{computed / real:.3f})")
  bert = BertConfig.from_json_file(trainer.bert_files.config_file)
  flops = sum(bert_costs.bert_step_flops(bert, *b["input_mask"].shape)[0]
              for b in measured)
  print("achieved GFLOP/s (encoder blocks, full last layer, padded batches; "
        "formula in bert_costs.bert_step_flops): " + ", ".join(
            f"{r['side']} {flops / r['seconds'] / 1e9:.1f}" for r in rows))
  rate = {r["side"]: r["examples/s"] for r in rows}
  for other, goal in ((FULL, ""), (REFERENCE, "; goal >= 2")):
    if other in rate:
      per_block = [b / a for a, b in zip(blocks[OURS], blocks[other])]
      print(f"ratio {OURS} / {other} (examples/s): "
            f"{rate[OURS] / rate[other]:.3f}; median of per-block ratios "
            f"{common.median(per_block):.3f}{goal}")


def report_kinds(trainer, times, batches):
  """Examples/s per task kind on each side (the per-task steps)."""
  kind_of = {t.name: t.kind for t in trainer.tasks}
  kinds = sorted(set(kind_of.values()))
  rows = []
  for kind in kinds:
    steps = [i for i, b in enumerate(batches) if kind_of[b["task"]] == kind]
    row = [kind, len(steps)]
    for side in times:
      seconds = sum(times[side][i] for i in steps)
      row.append(sum(float(batches[i]["example_weight"].sum())
                     for i in steps) / seconds)
    rows.append(row)
  common.print_table(["task kind", "steps"] +
                     [f"{side} examples/s" for side in times], rows)
  for i, side in enumerate(list(times)[1:], start=3):
    print(f"ratio {OURS} / {side} by kind: " + ", ".join(
        f"{row[0]} {row[2] / row[i]:.3f}" for row in rows))


def main(argv):
  del argv
  data = inputs.resolve(SMOKE, need_reference=FLAGS.reference)
  configure_threads()
  common.print_header("MT training throughput", common.command_line())
  config = train_config(data, "bench_training_")
  ours = OurSide(config, data.bert_files())
  full = OurSide(dataclasses.replace(
      config, cls_only_last_layer=False,
      output_dir=tempfile.mkdtemp(prefix="bench_training_full_")),
                 data.bert_files())
  trainer = ours.trainer
  mix = step_order(ours, FLAGS.warmup_steps, FLAGS.steps)
  per_task = [t.name for t in trainer.tasks for _ in range(FLAGS.task_steps)]
  names = mix + per_task
  batches = numpy_batches(ours, names)
  first = len(trainer.tasks) + FLAGS.warmup_steps
  print(f"tasks: {', '.join(FLAGS.tasks)}; steps per epoch "
        f"{trainer.steps_per_epoch}; warm-up {first} steps, measured "
        f"{FLAGS.steps} steps in {FLAGS.blocks} blocks per side, then "
        f"{FLAGS.task_steps} steps of each task per side")
  reference = start_reference(trainer, config, data, names, batches)
  runners = make_runners(ours, full, reference, names)
  run_blocks(runners, [0, first])
  times, losses, blocks = run_blocks(runners, np.linspace(
      first, len(mix), FLAGS.blocks + 1).astype(int))
  task_times, _, _ = run_blocks(runners, np.arange(
      len(mix), len(names) + 1, FLAGS.task_steps))
  if reference:
    reference.close()
  report_mix(times, losses, blocks, batches[first:len(mix)], trainer)
  report_kinds(trainer, task_times, [dict(b, task=name) for b, name in
                                     zip(batches[len(mix):], per_task)])
  print(f"tracings per task step: {ours.tracing_counts()}, "
        f"full last layer {full.tracing_counts()}")
  common.print_footer()

if __name__ == "__main__":
  app.run(main)
