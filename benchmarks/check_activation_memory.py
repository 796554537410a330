"""Checks bert_costs' activation bytes against the graph TensorFlow builds.

  .venv/bin/python -m benchmarks.check_activation_memory [--models=base,large]

Not a speed figure. For each model, precision and sequence length it traces
the encoder's forward and backward pass (training=True: dropout on, no XLA)
as one tf.function, as our training step does, and adds up the bytes of the
tensors the backward pass reads from the forward pass: the outputs of
forward ops that a backward op consumes, where a backward op is one that
depends on the gradient arriving from the output. Nothing runs: shapes and
dtypes come from the graph, so BERT-large at 512 tokens checks on a laptop.

A tensor that only aliases another (Identity, StopGradient, Reshape, ...)
counts once; variable reads alias the variable and count zero. Tensors with
B or B·T rows are activations; float Casts of weights are the 16-bit kernel
copies of mixed precision. The script prints both beside
`bert_costs.activation_bytes` and `bert_costs.kernel_copy_bytes` and exits
1 when one differs.
"""

import sys
from typing import Dict

from absl import app
from absl import flags

from benchmarks import bert_costs
from benchmarks import inputs
import tensorflow as tf

from bluebert_mtl.config import BertConfig
from bluebert_mtl.model import modeling
from bluebert_mtl.model import multitask_model
from bluebert_mtl.train import step as step_lib

FLAGS = flags.FLAGS
MODELS = {"base": bert_costs.BERT_BASE, "large": bert_costs.BERT_LARGE}
# Ops whose output is a view of their input's buffer.
_ALIASES = ("Identity", "StopGradient", "Reshape", "ExpandDims", "Squeeze",
            "Snapshot")
_SEED = "output_gradient"
# --smoke: BERT-base at a short length, one precision of each width.
SMOKE = {"models": ["base"], "precisions": ["fp32", "bf16"],
         "seq_lengths": ["16"]}


def define_flags():
  flags.DEFINE_list("models", ["base", "large"], "base and/or large.")
  flags.DEFINE_list("precisions", ["fp32", "bf16", "fp16"],
                    "Keras precision policies to trace.")
  flags.DEFINE_list("seq_lengths", ["128", "512"], "T of the traced batch.")
  flags.DEFINE_integer("batch_size", 3, "B of the traced batch (keep it "
                       "unlike every model dimension: rows tell activations "
                       "from weights).")


def _gradient_graph(encoder, batch: int, seq: int) -> tf.Graph:
  spec = {name: tf.TensorSpec([batch, seq], tf.int32)
          for name in multitask_model.INPUT_NAMES}

  @tf.function(input_signature=[spec])
  def gradients(inputs):
    with tf.GradientTape() as tape:
      outputs = encoder(inputs, training=True)["sequence_output"]
    seed = tf.identity(tf.ones(outputs.shape, outputs.dtype), name=_SEED)
    return tape.gradient(outputs, encoder.trainable_variables,
                         output_gradients=seed)

  return gradients.get_concrete_function().graph


def _needed(graph: tf.Graph) -> set:
  """Names of the ops the graph's outputs depend on (the rest is pruned)."""
  needed, stack = set(), [t.op for t in graph.outputs]
  while stack:
    op = stack.pop()
    if op.name not in needed:
      needed.add(op.name)
      stack += [t.op for t in op.inputs] + list(op.control_inputs)
  return needed


def _backward(graph: tf.Graph) -> set:
  """Names of the ops that wait for the output gradient (graph order is
  topological, so one pass finds them)."""
  late = set()
  for op in graph.get_operations():
    if (op.name == _SEED or any(t.op.name in late for t in op.inputs) or
        any(c.name in late for c in op.control_inputs)):
      late.add(op.name)
  return late


def _root(tensor):
  while tensor.op.type in _ALIASES:
    tensor = tensor.op.inputs[0]
  return tensor


def saved_tensor_bytes(encoder, batch: int, seq: int) -> Dict[str, int]:
  """{"activations": bytes, "kernel_copies": bytes} that the encoder's
  backward pass reads from its forward pass for a [batch, seq] input."""
  graph = _gradient_graph(encoder, batch, seq)
  needed, late = _needed(graph), _backward(graph)
  saved = {}
  for op in graph.get_operations():
    if op.name in late or op.name not in needed:
      continue
    for tensor in op.outputs:
      if any(c.name in late and c.name in needed
             for c in tensor.consumers()):
        root = _root(tensor)
        saved[root.name] = root
  seed_root = _root(graph.get_operation_by_name(_SEED).outputs[0]).name
  totals = {"activations": 0, "kernel_copies": 0}
  for name, tensor in saved.items():
    shape = tensor.shape.as_list()
    if (name == seed_root or None in shape or tensor.op.type in
        ("Const", "ReadVariableOp")):
      continue
    size = tensor.dtype.size
    for d in shape:
      size *= d
    if shape and shape[0] in (batch, batch * seq):
      totals["activations"] += size
    elif tensor.dtype.is_floating and tensor.op.type == "Cast":
      totals["kernel_copies"] += size
  return totals


def check(config: BertConfig, precision: str, batch: int, seq: int):
  """(formula, graph) dicts of activation and kernel-copy bytes."""
  step_lib.set_precision(None if precision == "fp32" else precision)
  try:
    encoder = modeling.build_bert_encoder(config)
    graph = saved_tensor_bytes(encoder, batch, seq)
  finally:
    step_lib.set_precision(None)
  formula = {
      "activations": bert_costs.activation_bytes(config, batch, seq,
                                                 precision),
      "kernel_copies": bert_costs.kernel_copy_bytes(config, precision)}
  return formula, graph


def main(argv):
  del argv
  inputs.resolve(SMOKE, need_minilm=False, need_data=False,
                 need_reference=False)
  rows, same = [], True
  for model in FLAGS.models:
    for precision in FLAGS.precisions:
      for seq in (int(t) for t in FLAGS.seq_lengths):
        formula, graph = check(MODELS[model], precision, FLAGS.batch_size,
                               seq)
        same = same and formula == graph
        rows.append(
            f"| {model} | {precision} | {seq} | "
            f"{formula['activations']:,} | {graph['activations']:,} | "
            f"{formula['kernel_copies']:,} | {graph['kernel_copies']:,} |")
  print(f"B = {FLAGS.batch_size} rows\n")
  print("| model | precision | T | activation bytes (formula) | (graph) | "
        "kernel copies (formula) | (graph) |\n|---|---|---|---|---|---|---|")
  print("\n".join(rows))
  print("\nall equal" if same else "\nDIFFERENT: update bert_costs")
  sys.exit(0 if same else 1)


if __name__ == "__main__":
  define_flags()
  app.run(main)
