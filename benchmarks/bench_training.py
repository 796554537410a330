"""Multi-task training throughput: our compiled steps vs the PyTorch reference.

  .venv/bin/python -m benchmarks.bench_training [--steps=60] [--blocks=60]

Our side is the Trainer's own machinery: `trainer_lib.Trainer` on the six tasks
of the public BLUE data (MiniLM encoder from build/minilm_tf1, batch 32,
max_seq_length 128, Adamax, clip 1.0, weight decay 0.01), the per-task steps
of `step.make_train_step`, the Algorithm 1 schedule of epoch 0 and each
task's `tf.data` stream of length-bucketed batches. A step is timed from
`next(stream)` to the loss as a Python float, as `Trainer.run` does it.

The reference (benchmarks/reference/torch_mt.py) trains the same MiniLM
weights on the very same batches in the same order: the batch plans are pure
functions of (seed, task), so the Trainer's `TrainingBatches`
rebuild them exactly and they are handed over as numpy arrays (identical token ids, no second
tokenizer).

Both sides first run one step of each task (tracing) plus `--warmup_steps`
schedule steps, then the measured steps in `--blocks` blocks, alternating
sides block by block (the other side idles meanwhile). Figures: examples/s
(real rows) and real tokens/s (input_mask ones) over all measured steps, and
the ratio ours / reference, with the median of the per-block ratios.
"""

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
flags.DEFINE_bool("reference", True, "Also run the PyTorch reference.")
# --smoke: one task of each kind of data/sample/, a few short batches.
SMOKE = {"tasks": ["chemprot", "hoc", "biosses", "bc5cdr-chemical"],
         "batch_size": 4, "max_seq_length": 32, "warmup_steps": 1, "steps": 2,
         "blocks": 2}


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


def main(argv):
  del argv
  data = inputs.resolve(SMOKE, need_reference=FLAGS.reference)
  configure_threads()
  common.print_header("MT training throughput", common.command_line())
  config = train_config(data, "bench_training_")
  output_dir = config.output_dir
  ours = OurSide(config, data.bert_files())
  names = step_order(ours, FLAGS.warmup_steps, FLAGS.steps)
  batches = numpy_batches(ours, names)
  first = len(ours.trainer.tasks) + FLAGS.warmup_steps
  trainer = ours.trainer
  print(f"tasks: {', '.join(FLAGS.tasks)}; steps per epoch "
        f"{trainer.steps_per_epoch}; warm-up {first} steps, measured "
        f"{FLAGS.steps} steps in {FLAGS.blocks} blocks per side")

  reference = None
  if data.reference:
    reference = common.ReferenceWorker()
    path = os.path.join(output_dir, "batches.npz")
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

  ours.run(names[:first])
  if reference:
    reference.call("train", start=0, end=first)
  bounds = np.linspace(first, len(names), FLAGS.blocks + 1).astype(int)
  times = {"ours": [], "reference": []}
  losses = {"ours": [], "reference": []}
  block_ratios = []
  for b, (start, end) in enumerate(zip(bounds[:-1], bounds[1:])):
    sides = ["ours", "reference"] if reference else ["ours"]
    block = {}
    for side in sides if b % 2 == 0 else sides[::-1]:
      if side == "ours":
        block[side], block_losses = ours.run(names[start:end])
      else:
        reply = reference.call("train", start=int(start), end=int(end))
        block[side], block_losses = reply["seconds"], reply["losses"]
      times[side] += block[side]
      losses[side] += block_losses
    if reference:
      block_ratios.append(sum(block["reference"]) / sum(block["ours"]))
  if reference:
    reference.close()

  measured = batches[first:]
  rows = [summarize(side, times[side], measured) for side in times
          if times[side]]
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
  print("achieved GFLOP/s (encoder blocks, padded batches; formula in "
        "bert_costs.bert_step_flops): " + ", ".join(
            f"{r['side']} {flops / r['seconds'] / 1e9:.1f}" for r in rows))
  if reference:
    ratio = rows[0]["examples/s"] / rows[1]["examples/s"]
    print(f"ratio ours / reference (examples/s, = real tokens/s): "
          f"{ratio:.3f}; per block: "
          f"{', '.join(f'{r:.3f}' for r in block_ratios)} (median "
          f"{common.median(block_ratios):.3f}); goal >= 2")
  print(f"tracings per task step: {ours.tracing_counts()}")
  common.print_footer()

if __name__ == "__main__":
  app.run(main)
