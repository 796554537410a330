"""How close a BERT-base training step comes to the CPU's matmul limit.

  .venv/bin/python -m benchmarks.bench_efficiency [--batch_size=8]

The step is ours: `step.make_train_step` on a BERT-base shaped encoder
(L=12, H=768, 12 heads, I=3072, vocab 30522, random weights) with one
classification head (6 classes), Adamax with weight decay and clipping, on
a batch of `--batch_size` rows of 128 real tokens (no padding).

FLOPs of one step: `bert_costs.bert_step_flops` (6·N·B·T + 12·L·B·T²·H +
6·(H² + H·C)·B; the memory-bound ops count zero: they are part of what keeps
a step from the limit); the matrix products: `bert_costs.gemm_shapes`.

The limit, measured in the same run at the same precision:
  plain tf.matmul    the FLOP/s of one large square tf.matmul (2048^3)
  same-shape GEMMs   the time the step's own matrix products take as plain
                     tf.matmul calls (every dense layer forward, input
                     gradient and weight gradient; the attention batched
                     products, forward and both gradients), at the FLOP/s
                     measured for each shape: the step's matmul-bound time

Efficiency = matmul-bound time / step time (= achieved FLOP/s over the
shape-weighted matmul FLOP/s). Where the reference venv exists, torch's
float32 matmul of the same 2048^3 product is printed beside TF's, measured
right after it. bf16 is measured only where the CPU has
native bf16 (avx512_bf16 or amx_bf16 in lscpu's flags).
"""

import os
import time

from absl import app
from absl import flags

from benchmarks import bert_costs
from benchmarks import common
from benchmarks import inputs
import numpy as np
import tensorflow as tf
import tf_keras

from bluebert_mtl.data import datasets
from bluebert_mtl.train import distribution
from bluebert_mtl.data import features as features_lib
from bluebert_mtl.model import modeling
from bluebert_mtl.model import multitask_model
from bluebert_mtl.train import optimization
from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl.train import step as step_lib
from bluebert_mtl.config import BertConfig, TrainConfig

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch_size", 8, "Rows per step.")
flags.DEFINE_integer("seq_length", 128, "Tokens per row (all real).")
flags.DEFINE_integer("warmup_steps", 2, "Steps before measuring.")
flags.DEFINE_integer("steps", 5, "Measured steps per variant.")
flags.DEFINE_list("variants", ["default", "jit_compile"],
                  "Step variants: default, jit_compile (XLA).")
flags.DEFINE_list("precisions", ["fp32", "bf16"],
                  "fp32 and/or bf16 (bf16 only on CPUs with native bf16).")
flags.DEFINE_float("min_matmul_seconds", 0.5,
                   "Each matmul shape is repeated for at least this long.")

BASE = bert_costs.BERT_BASE  # L=12, H=768, I=3072, vocab 30522
# --smoke: the tiny encoder (inputs.TINY_CONFIG) on a few short rows.
SMOKE = {"batch_size": 2, "seq_length": 16, "warmup_steps": 1, "steps": 1,
         "min_matmul_seconds": 0.01}
TASK = tasks_lib.get_task("chemprot")  # a pooled 6-class head
DTYPES = {"fp32": tf.float32, "bf16": tf.bfloat16}


def native_bf16() -> bool:
  return bool({"avx512_bf16", "amx_bf16"} & common.cpu_flags())


def matmul_rate(dtype, lead, m, k, n, transpose_a, transpose_b) -> float:
  """FLOP/s of tf.matmul for C[lead, m, n] = op(A) op(B), inner size k."""
  a_shape = lead + ([k, m] if transpose_a else [m, k])
  b_shape = lead + ([n, k] if transpose_b else [k, n])
  a = tf.random.normal(a_shape, dtype=tf.float32)
  b = tf.random.normal(b_shape, dtype=tf.float32)
  a, b = tf.cast(a, dtype), tf.cast(b, dtype)

  @tf.function
  def product(a, b):
    return tf.matmul(a, b, transpose_a=transpose_a, transpose_b=transpose_b)

  product(a, b).numpy()
  reps, elapsed = 0, 0.0
  start = time.perf_counter()
  while elapsed < FLAGS.min_matmul_seconds:
    product(a, b).numpy()
    reps += 1
    elapsed = time.perf_counter() - start
  return 2.0 * int(np.prod(lead or [1])) * m * k * n * reps / elapsed


def matmul_limits(dtype, config, batch, seq):
  """(large square FLOP/s, the step's matmul-bound seconds, its FLOPs)."""
  square = matmul_rate(dtype, [], 2048, 2048, 2048, False, False)
  bound, flops = 0.0, 0
  for shape in bert_costs.gemm_shapes(config, batch, seq):
    _, lead, m, k, n, ta, tb = shape
    f = bert_costs.gemm_flops(shape)
    bound += f / matmul_rate(dtype, lead, m, k, n, ta, tb)
    flops += f
  return square, bound, flops


def encoder_config() -> BertConfig:
  """BERT-base; under --smoke the tiny encoder."""
  return inputs.TINY_CONFIG if FLAGS.smoke else BASE


def make_step(precision: str, jit_compile: bool):
  """Our compiled training step on a fresh `encoder_config()` encoder and
  its input batch."""
  step_lib.set_precision(None if precision == "fp32" else precision)
  strategy = distribution.make_strategy("one_device")
  config = TrainConfig(tasks=(TASK.name,), data_dir="", output_dir="",
                       jit_compile=jit_compile)
  with strategy.scope():
    model = multitask_model.build_multitask_model(
        modeling.build_bert_encoder(encoder_config()), [TASK])
    optimizer = optimization.create_optimizer(
        "adamax", optimization.WarmupLinearDecay(5e-5, 1000, 100),
        global_clipnorm=None)
    optimizer.build(model.trainable_variables)
  b, t = FLAGS.batch_size, FLAGS.seq_length
  rng = np.random.default_rng(0)
  feats = [features_lib.Features(
      f"row{r}", tuple(int(x) for x in rng.integers(1000, 30000, t)),
      (0,) * t, label=int(rng.integers(len(TASK.labels)))) for r in range(b)]
  batch = datasets.pad_batch(feats, np.arange(b), b, with_labels=True)
  step = step_lib.make_train_step(
      strategy, model, TASK, optimizer, config,
      datasets.batch_signature(feats, with_labels=True))
  return step, {k: tf.constant(v) for k, v in batch.items()}


def main(argv):
  del argv
  inputs.resolve(SMOKE, need_minilm=False, need_data=False,
                 need_reference=False)
  common.print_header("BERT-base training step vs the matmul limit",
                      common.command_line())
  b, t, config = FLAGS.batch_size, FLAGS.seq_length, encoder_config()
  total, dense, attention = bert_costs.bert_step_flops(config, b, t,
                                                       len(TASK.labels))
  print(f"encoder L={config.num_hidden_layers} H={config.hidden_size} "
        f"I={config.intermediate_size}, batch {b} x {t} tokens: "
        f"{total / 1e9:.1f} GFLOP per step ({dense / 1e9:.1f} dense, "
        f"{attention / 1e9:.1f} attention)")
  rows = []
  for precision in FLAGS.precisions:
    if precision == "bf16" and not native_bf16():
      print("bf16: not measured: the CPU has neither avx512_bf16 nor "
            "amx_bf16 (lscpu flags), so bf16 matmuls are emulated")
      continue
    for variant in FLAGS.variants:
      step, batch = make_step(precision, variant == "jit_compile")
      for _ in range(FLAGS.warmup_steps):
        float(step(batch)[0])
      seconds = [common.timed(lambda: float(step(batch)[0]))
                 for _ in range(FLAGS.steps)]
      square, bound, gemm_flops = matmul_limits(DTYPES[precision], config, b,
                                                 t)
      if precision == "fp32" and os.path.exists(common.REFERENCE_PYTHON):
        with common.ReferenceWorker() as reference:
          torch_square = reference.call(
              "matmul", m=2048, k=2048, n=2048,
              seconds=FLAGS.min_matmul_seconds)["flops_per_second"]
        print(f"{variant}: tf.matmul 2048^3 {square / 1e9:.1f} GFLOP/s, "
              f"torch.matmul {torch_square / 1e9:.1f} GFLOP/s "
              f"({common.describe_reference(reference)})")
      achieved = total / common.median(seconds)
      rows.append([precision, variant, 1000 * common.median(seconds),
                   achieved / 1e9, square / 1e9, achieved / square,
                   gemm_flops / bound / 1e9, bound / common.median(seconds)])
  step_lib.set_precision(None)
  tf_keras.backend.clear_session()
  common.print_table(
      ["precision", "step", "median step ms", "achieved GFLOP/s",
       "tf.matmul 2048^3 GFLOP/s", "x plain matmul",
       "same-shape GEMMs GFLOP/s", "x matmul-bound (goal >= 0.8)"], rows)
  common.print_footer()

if __name__ == "__main__":
  app.run(main)
