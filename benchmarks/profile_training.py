"""Where the time of our MT training step goes (MiniLM, public BLUE mix).

  .venv/bin/python -m benchmarks.profile_training [--profile_steps=12] [--rounds=4]

The same setup as bench_training (its flags apply: --batch_size,
--intra_op_threads, ...). After warm-up, the same `--profile_steps`
schedule batches are run through each variant below, the variants
alternating, `--rounds` times; each row is the median over rounds of the
mean time per step. Every difference between two rows is measured on the
same batches:

  loop (tf.data)            next(stream) + the Trainer's step + float(loss),
                            as Trainer.run
  step (tensors ready)      the Trainer's step on batches already in memory
                            as tensors: loop - this = input pipeline
  step (numpy in)           the step fed numpy dicts: conversion cost
  forward + backward        loss and gradients only (no clip, no update):
                            step - this = clipping + optimizer update
  forward                   training-mode forward and loss only
  step, word embeddings     the step with the 30522-row table frozen: step -
    frozen                  this = its gradient and its optimizer update
  step, optimizer XLA       the Trainer's step with the tf-keras optimizer's
                            per-variable XLA update (tf-keras turns it off
                            when there is no GPU)

Then: the Python side of the Trainer loop (state counters, progress sum),
and the gradient norm that the step clips with (the word-embedding gradient
is an IndexedSlices whose repeated rows `tf.linalg.global_norm` does not
sum first) vs the norm of the densified gradients.
"""

import contextlib

from absl import app
from absl import flags

from benchmarks import bench_training
from benchmarks import common
from benchmarks import inputs
import numpy as np
import tensorflow as tf
import tf_keras

from bluebert_mtl.model import multitask_model
from bluebert_mtl.train import step as step_lib

FLAGS = flags.FLAGS
flags.DEFINE_integer("profile_steps", 12, "Batches per variant and round.")
flags.DEFINE_integer("rounds", 4, "Rounds over the variants.")
# --smoke: bench_training's, on a pooled and a token head (each variant
# traces once per task).
SMOKE = dict(bench_training.SMOKE, tasks=["chemprot", "bc5cdr-chemical"],
             profile_steps=2, rounds=1)


def task_functions(trainer, task, spec, check=False):
  """tf.functions of one task, without update: (forward+backward -> (loss,
  norm of the gradients as the step computes it), forward -> (loss, 0)).

  Both run the model in the strategy's replica context, as the step does:
  a tape outside it sees no read of the (distributed) variables. With
  `check`, dropout is off and forward+backward also returns the norm of the
  densified gradients.
  """
  view = multitask_model.task_model(trainer.model, task.name)
  loss_fn = task.task_kind.loss
  variables = view.trainable_variables
  local = trainer.strategy.experimental_local_results

  def loss_of(batch):
    outputs = view({k: batch[k] for k in multitask_model.INPUT_NAMES},
                   training=not check)
    loss_sum, count = loss_fn(batch["label"], outputs, batch["example_weight"])
    return loss_sum / tf.maximum(count, 1.0)

  def gradients(batch):
    with tf.GradientTape() as tape:
      loss = loss_of(batch)
    grads = [g for g in tape.gradient(loss, variables) if g is not None]
    norms = [tf.linalg.global_norm(grads)]
    if check:
      norms.append(tf.linalg.global_norm(
          [tf.convert_to_tensor(g) for g in grads]))
    return [loss] + norms

  @tf.function(input_signature=[spec])
  def forward_backward(batch):
    return [local(x)[0] for x in trainer.strategy.run(gradients, (batch,))]

  @tf.function(input_signature=[spec])
  def forward(batch):
    loss = local(trainer.strategy.run(loss_of, (batch,)))[0]
    return loss, loss * 0.0

  return forward_backward, forward


@contextlib.contextmanager
def frozen(layer):
  layer.trainable = False
  try:
    yield
  finally:
    layer.trainable = True


def make_steps(side, config):
  t = side.trainer
  return {task.name: step_lib.make_train_step(
      t.strategy, t.model, task, t.optimizer, config,
      side.steps[task.name].input_signature[0]) for task in t.tasks}


def run_all(functions, names, batches):
  """Mean seconds per step of functions[name](batch) + float(first output)."""
  seconds = [common.timed(lambda n=n, b=b: float(functions[n](b)[0]))
             for n, b in zip(names, batches)]
  return float(np.mean(seconds))


def loop_overhead(trainer, batch):
  """Seconds of the Python work Trainer.run adds per step around the step."""
  one_hot = np.eye(len(trainer.tasks), dtype=np.int64)[0]

  def extras():
    trainer.state.global_step.assign_add(1)
    trainer.state.task_batches.assign_add(one_hot)
    int(batch["example_weight"].numpy().sum())
  extras()
  return common.median([common.timed(extras) for _ in range(200)])


def main(argv):
  del argv
  data = inputs.resolve(SMOKE, need_reference=False)
  bench_training.configure_threads()
  common.print_header("Profile of our MT training step", common.command_line())
  config = bench_training.train_config(data, "profile_training_")
  side = bench_training.OurSide(config, data.bert_files())
  trainer = side.trainer
  warm = len(trainer.tasks) + FLAGS.warmup_steps
  names = bench_training.step_order(side, FLAGS.warmup_steps,
                                    FLAGS.profile_steps)
  numpy_batches = bench_training.numpy_batches(side, names)
  tensor_batches = [{k: tf.constant(v) for k, v in b.items()}
                    for b in numpy_batches]
  side.run(names[:warm])
  specs = {n: s.input_signature[0] for n, s in side.steps.items()}
  grads_fns = {t.name: task_functions(trainer, t, specs[t.name])
               for t in trainer.tasks}
  embedding = multitask_model.encoder_of(
      trainer.model).get_embedding_layer()
  with frozen(embedding):
    frozen_steps = make_steps(side, config)
  trainer.optimizer.jit_compile = True
  xla_steps = make_steps(side, config)
  trainer.optimizer.jit_compile = False
  fb = {n: f[0] for n, f in grads_fns.items()}
  fw = {n: f[1] for n, f in grads_fns.items()}

  variants = {
      "loop (tf.data)": None,
      "step (tensors ready)": (side.steps, tensor_batches),
      "step (numpy in)": (side.steps, numpy_batches),
      "forward + backward": (fb, tensor_batches),
      "forward": (fw, tensor_batches),
      "step, word embeddings frozen": (frozen_steps, tensor_batches),
      "step, optimizer XLA": (xla_steps, tensor_batches),
  }
  # Warm-up (traces) of every variant on every task's first batch.
  first = slice(0, len(trainer.tasks))
  for variant in variants.values():
    if variant:
      run_all(variant[0], names[first], variant[1][first])
  seconds = {name: [] for name in variants}
  for _ in range(FLAGS.rounds):
    for name, variant in variants.items():
      if variant is None:
        side.restart_streams()
        for n in names[:warm]:  # skip to the measured batches
          next(side.streams[n])
        seconds[name].append(float(np.mean(side.run(names[warm:])[0])))
      else:
        functions, batches = variant
        seconds[name].append(run_all(functions, names[warm:],
                                     batches[warm:]))
  base = common.median(seconds["step (tensors ready)"])
  common.print_table(
      ["variant", "ms per step (median of rounds)", "x step", "rounds (ms)"],
      [[name, 1000 * common.median(s), common.median(s) / base,
        " ".join(f"{1000 * v:.0f}" for v in s)] for name, s in seconds.items()])

  print(f"Python work of Trainer.run around each step: "
        f"{1e6 * loop_overhead(trainer, tensor_batches[warm]):.0f} us")
  print("gradient norm the step clips with vs norm of the densified "
        "gradients, first batch of each task (no dropout):")
  rows = []
  for i, t in enumerate(trainer.tasks):
    _, norm, dense = (float(x) for x in task_functions(
        trainer, t, specs[t.name], check=True)[0](tensor_batches[i]))
    rows.append([t.name, norm, dense, norm / dense])
  common.print_table(["task", "step's norm", "dense norm", "ratio"], rows)
  print(f"tracings per task step: {side.tracing_counts()}")
  tf_keras.backend.clear_session()
  common.print_footer()

if __name__ == "__main__":
  app.run(main)
