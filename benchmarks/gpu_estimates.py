"""GPU memory and step-time estimates of BERT training: docs/distributed.md.

  .venv/bin/python -m benchmarks.gpu_estimates          # rewrites the tables
  .venv/bin/python -m benchmarks.gpu_estimates --check  # exit 1 if they differ

Estimates, not measurements: no GPU ran them. The tables of
docs/distributed.md between its `gpu_estimates` marker comments are this
script's output, so they change only with the script (a test runs --check).
Pure Python: no TensorFlow, no GPU.

Memory of one replica (`bert_costs.step_memory`, GiB = 2^30 bytes):
  weights      4 bytes × P (float32 variables, also under mixed precision)
  gradients    4 bytes × P;  optimizer  8 bytes × P (Adamax m and u)
  accumulator  4 bytes × P when K > 1 (`--gradient_accumulation_steps=K`)
  copies       2 bytes × N, the 16-bit block kernels of a bf16 step
  activations  `bert_costs.activation_bytes` of B / K rows
P counts BERT-base or -large with a 6-way pooled head (ChemProt); the MT
run's other heads add (H + 1) weights per label. The total leaves out the
CUDA context, cuBLAS/cuDNN workspaces, allocator fragmentation, transient
buffers of the backward pass and a tagging head's tensors, but counts every
gradient as alive beside every activation (TF frees a layer's activations
as the backward pass leaves it): read it as an estimate, not a bound. "Fits
in" is the smallest common GPU memory of which the total is at most 90 %.

Step time = FLOPs / (MFU × peak), FLOPs from `bert_costs.bert_step_flops`,
MFU = 40 % for both precisions, peak = the dense tensor-core rate of the
step's precision: bf16 for bf16, TF32 for fp32 (TensorFlow runs float32
matmuls as TF32 on Ampere and newer unless
`tf.config.experimental.enable_tensor_float_32_execution(False)`). A reader
with another MFU multiplies the times by 0.40 / MFU. Accumulation does not
change a step's FLOPs; small micro-batches lower the real MFU.

All-reduce: our step sums the float32 gradients of all replicas in one
all-reduce after the backward pass (no overlap). A ring all-reduce sends and
receives 2·(N - 1)/N × the gradient bytes per GPU; the table gives the time
of 2 × the gradient bytes (the N → ∞ bound) at each link's one-way rate.
"""

import dataclasses
import os
import sys
import tempfile
from typing import List, Sequence

from absl import app
from absl import flags

from benchmarks import bert_costs
from bluebert_mtl.config import BertConfig
from bluebert_mtl.errors import ConfigError

FLAGS = flags.FLAGS
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(REPO_ROOT, "docs", "distributed.md")
BEGIN = ("<!-- gpu_estimates: begin (written by `python -m "
         "benchmarks.gpu_estimates`; edit the script, not this block) -->")
END = "<!-- gpu_estimates: end -->"

GIB = 2 ** 30
MFU = 0.40
HEAD_OUTPUTS = 6  # one pooled head, as ChemProt's
BATCH_SIZES = (16, 32, 64, 128)
SEQ_LENGTHS = (128, 512)
PRECISIONS = ("fp32", "bf16")
ACCUMULATION_STEPS = 8
FIT_FRACTION = 0.9  # the rest is left to the CUDA context, workspaces, ...
COMMON_MEMORY_GB = (16, 24, 40, 48, 80, 141)  # T4/V100, L4, A100-40, L40S, ...
MODELS = (("BERT-base", bert_costs.BERT_BASE),
          ("BERT-large", bert_costs.BERT_LARGE))


@dataclasses.dataclass(frozen=True)
class Gpu:
  """A GPU's data-sheet figures, dense (without 2:4 sparsity).

  Attributes:
    name: the part.
    memory_gb: memory as the sheet states it.
    bf16_tflops: bf16 tensor-core peak, TFLOP/s.
    tf32_tflops: TF32 tensor-core peak, TFLOP/s.
    fp32_tflops: plain float32 peak, TFLOP/s (TF32 off).
    nvlink_gb_s: NVLink bandwidth, GB/s, both directions together.
    sheet: the data sheet.
  """
  name: str
  memory_gb: int
  bf16_tflops: float
  tf32_tflops: float
  fp32_tflops: float
  nvlink_gb_s: int
  sheet: str

  def peak(self, precision: str) -> float:
    """FLOP/s of the step's matmuls: TF32 for fp32 (TF's default)."""
    return 1e12 * (self.bf16_tflops if precision == "bf16"
                   else self.tf32_tflops)


# The H100 and H200 sheets give tensor-core figures with sparsity (1,979
# bf16, 989 TF32); the dense figures are half.
GPUS = (
    Gpu("A100 SXM 80GB", 80, 312, 156, 19.5, 600,
        "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/"
        "pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf"),
    Gpu("H100 SXM", 80, 989, 494, 67, 900,
        "https://www.nvidia.com/en-us/data-center/h100/"),
    Gpu("H200 SXM", 141, 989, 494, 67, 900,
        "https://www.nvidia.com/en-us/data-center/h200/"),
)
# (name, GB/s one way) of the links an all-reduce may cross.
LINKS = (("NVLink, A100", 300), ("NVLink, H100/H200", 450),
         ("InfiniBand 400 Gb/s", 50), ("Ethernet 100 Gb/s", 12.5))


def _gib(n_bytes: int) -> str:
  return f"{n_bytes / GIB:.2f}"


def fits_in(total_bytes: int) -> str:
  """The smallest common GPU memory that holds `total_bytes` with margin."""
  for gb in COMMON_MEMORY_GB:
    if total_bytes <= FIT_FRACTION * gb * GIB:
      return f"{gb} GB"
  return f"> {COMMON_MEMORY_GB[-1]} GB"


def step_ms(config: BertConfig, batch: int, seq: int, precision: str,
            gpu: Gpu) -> float:
  """Milliseconds of one step of `batch` rows at MFU on `gpu`."""
  flops = bert_costs.bert_step_flops(config, batch, seq, HEAD_OUTPUTS)[0]
  return 1e3 * flops / (MFU * gpu.peak(precision))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> List[str]:
  return (["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] +
          ["| " + " | ".join(row) + " |" for row in rows])


def hardware_table() -> List[str]:
  return _table(
      ["GPU", "memory", "bf16 TFLOP/s", "TF32 TFLOP/s", "FP32 TFLOP/s",
       "NVLink GB/s", "data sheet"],
      [[g.name, f"{g.memory_gb} GB", f"{g.bf16_tflops:g}",
        f"{g.tf32_tflops:g}", f"{g.fp32_tflops:g}", f"{g.nvlink_gb_s}",
        f"[{g.name.split()[0]}]({g.sheet})"] for g in GPUS])


def fixed_memory_table() -> List[str]:
  rows = []
  for name, config in MODELS:
    fp32 = bert_costs.step_memory(config, 1, 1, "fp32", 1, HEAD_OUTPUTS)
    bf16 = bert_costs.step_memory(config, ACCUMULATION_STEPS, 1, "bf16",
                                  ACCUMULATION_STEPS, HEAD_OUTPUTS)
    rows.append([
        name, f"{bert_costs.parameter_count(config, HEAD_OUTPUTS):,}",
        _gib(fp32.weights), _gib(fp32.gradients), _gib(fp32.optimizer),
        _gib(bf16.accumulator), _gib(bf16.kernel_copies),
        _gib(fp32.total - fp32.activations),
        _gib(bf16.total - bf16.activations)])
  return _table(
      ["model", "parameters", "weights", "gradients", "optimizer",
       "accumulator (K > 1)", "bf16 kernel copies", "fixed: fp32, K = 1",
       f"fixed: bf16, K = {ACCUMULATION_STEPS}"], rows)


def model_table(config: BertConfig) -> List[str]:
  k = ACCUMULATION_STEPS
  rows = []
  for seq in SEQ_LENGTHS:
    for precision in PRECISIONS:
      for batch in BATCH_SIZES:
        whole = bert_costs.step_memory(config, batch, seq, precision, 1,
                                       HEAD_OUTPUTS)
        split = bert_costs.step_memory(config, batch, seq, precision, k,
                                       HEAD_OUTPUTS)
        flops = bert_costs.bert_step_flops(config, batch, seq,
                                           HEAD_OUTPUTS)[0]
        rows.append(
            [str(seq), precision, str(batch), _gib(whole.activations),
             _gib(whole.total), fits_in(whole.total),
             _gib(split.activations), _gib(split.total),
             fits_in(split.total), f"{flops / 1e12:.2f}"] +
            [f"{step_ms(config, batch, seq, precision, g):,.0f}"
             for g in GPUS[:2]])
  return _table(
      ["T", "precision", "batch B", "activations", "total", "fits in",
       f"activations, K = {k}", f"total, K = {k}", f"fits in, K = {k}",
       "TFLOP / step", f"ms, {GPUS[0].name.split()[0]}",
       f"ms, {GPUS[1].name.split()[0]} / {GPUS[2].name.split()[0]}"], rows)


def allreduce_table() -> List[str]:
  rows = []
  for name, config in MODELS:
    gradient = bert_costs.step_memory(config, 1, 1, "fp32", 1,
                                      HEAD_OUTPUTS).gradients
    rows.append([name, f"{gradient / 1e9:.2f}"] +
                [f"{1e3 * 2 * gradient / (rate * 1e9):,.1f}"
                 for _, rate in LINKS])
  return _table(["model", "gradients GB"] +
                [f"ms, {name} ({rate:g} GB/s)" for name, rate in LINKS], rows)


def render() -> str:
  """The generated block, markers included."""
  lines = [BEGIN, "", f"MFU = {MFU:.0%}; memory in GiB (2^30 bytes) per GPU; "
           f"K = {ACCUMULATION_STEPS} micro-batches of B / {ACCUMULATION_STEPS}"
           f" rows; one {HEAD_OUTPUTS}-way pooled head. Estimates, not "
           "measurements.", "", "**GPUs** (data sheets, dense):", ""]
  lines += hardware_table()
  lines += ["", "**Memory that does not grow with the batch** (GiB):", ""]
  lines += fixed_memory_table()
  for name, config in MODELS:
    lines += ["", f"**{name}**: activations and totals (GiB), the FLOPs of "
              f"one step of B rows, its time at {MFU:.0%} MFU:", ""]
    lines += model_table(config)
  lines += ["", "**All-reduce** of one step's gradients, 2 × their bytes "
            "through each GPU's link (the ring bound):", ""]
  lines += allreduce_table()
  return "\n".join(lines + ["", END])


def _split(text: str, path: str):
  """(before, block, after) of a document around the markers."""
  start, end = text.find(BEGIN), text.find(END)
  if start < 0 or end < start:
    raise ConfigError(f"{path}: no `{BEGIN}` ... `{END}` block")
  return text[:start], text[start:end + len(END)], text[end + len(END):]


def write(path: str) -> bool:
  """Replaces the block in `path`; whether it changed. Written to a temporary
  file, then renamed, so the doc is never half-written."""
  with open(path, encoding="utf-8") as f:
    before, block, after = _split(f.read(), path)
  new = render()
  if block == new:
    return False
  fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path) or ".",
                                   suffix=".tmp")
  try:
    with os.fdopen(fd, "w", encoding="utf-8") as f:
      f.write(before + new + after)
    os.replace(temporary, path)
  except BaseException:
    os.remove(temporary)
    raise
  return True


def is_current(path: str) -> bool:
  """Whether the block in `path` is what the script computes now."""
  with open(path, encoding="utf-8") as f:
    return _split(f.read(), path)[1] == render()


# --smoke: the same tables, compared with the doc, never written.
SMOKE = {"check": True}


def main(argv):
  del argv
  inputs.resolve(SMOKE, need_minilm=False, need_data=False,
                 need_reference=False)
  print(render())
  if FLAGS.check:
    if not is_current(FLAGS.doc):
      print(f"{FLAGS.doc}: the gpu_estimates tables differ from the script's "
            "output; run `python -m benchmarks.gpu_estimates`")
      sys.exit(1)
    print(f"{FLAGS.doc}: the gpu_estimates tables are current")
  elif write(FLAGS.doc):
    print(f"{FLAGS.doc}: tables rewritten")
  else:
    print(f"{FLAGS.doc}: tables already current")


if __name__ == "__main__":
  # Imported here, like the flags defined here: tests import this module.
  from benchmarks import inputs  # pylint: disable=g-import-not-at-top
  flags.DEFINE_string("doc", DOC, "The markdown file holding the block.")
  flags.DEFINE_bool("check", False, "Only compare; exit 1 when they differ.")
  app.run(main)
