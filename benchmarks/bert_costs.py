"""What one BERT training step costs: parameters, FLOPs and bytes.

Pure Python (no TensorFlow), so the GPU estimates of docs/distributed.md
(`gpu_estimates.py`) compute anywhere; the benchmarks that measure a step
(`bench_efficiency.py`, `bench_training.py`) count its FLOPs with the same
functions. Dims: L blocks, H hidden, I feed-forward, A heads, V vocab,
P positions, B rows, T tokens per row, C head outputs.

Parameters (exact, BERT's layout as tf-models' `BertEncoderV2` builds it):
  embeddings  V·H + P·H + types·H + 2H (LayerNorm)
  per block   4(H² + H) attention + 2H LayerNorm + (H·I + I) + (I·H + H)
              + 2H LayerNorm
  pooler      H² + H;   a pooled head  H·C + C
BERT-base with V = 30522: 109,482,240 without a head.

FLOPs of a training step (forward + backward; a multiply-add is 2 FLOPs),
as in Kaplan et al. 2020 ("Scaling Laws for Neural Language Models", C ≈ 6N
per token) and Narayanan et al. 2021 ("Efficient Large-Scale Language Model
Training on GPU Clusters Using Megatron-LM", 72·B·T·L·H²·(1 + T/6H) for
I = 4H, without its vocabulary-logit term: fine-tuning has no MLM head):
  6·N·B·T            the blocks' dense layers, N = L·(4H² + 2HI) kernel weights:
                     forward, input gradient and weight gradient
  + 12·L·B·T²·H      attention Q·Kᵀ and P·V, forward and both gradients
  + 6·(H² + H·C)·B   pooler and a C-way head on [CLS]
Embedding lookups, softmax, LayerNorm, GELU, dropout and the optimizer are
memory-bound and count zero. `gemm_shapes` lists every matrix product of the
step; their FLOPs sum to the first two terms exactly (tests check it).

Activation bytes: the tensors the forward pass keeps for the backward pass,
counted tensor by tensor from the graph TensorFlow builds for our encoder
(tf-models' TransformerEncoderBlock, no XLA), the way Korthikanti et al. 2022
("Reducing Activation Recomputation in Large Transformer Models", §4.1:
34·T·H + 5·A·T² bytes per row and layer at 16 bits) count them for
Megatron. Per block and row, with e the compute dtype's bytes:
  T·H·(6e + 16 + 2)  the block input, Q (scaled), K, V and the attention
                     context, the feed-forward input (e bytes each); both
                     LayerNorms' input and normalised input (float32: the
                     tf-models LayerNorm computes in float32); two dropout
                     keep-masks (bool, 1 byte)
  + T·I·(3g + e)     GELU: erf's argument, x/2 and 1 + erf(·) (g bytes: float32
                     under fp32 and bf16, where tf-models runs GELU in float32;
                     e under fp16) and its output (e)
  + A·T²·(2e + 1)    softmax output, its dropout output and keep-mask
  + 16·T             each LayerNorm's mean and 1/σ (float32)
plus, once, the embeddings: T·H·(8 + 1) (LayerNorm input and normalised
input, a keep-mask) + 8·T + T·types·e (the one-hot of the type ids). Under
mixed precision the forward pass also keeps a bf16/fp16 copy of every block
kernel (2 bytes × N). With I = 4H, bf16 comes to 86·T·H + 5·A·T² (+ 16·T)
per block where Korthikanti count 34·T·H + 5·A·T²: the composed float32 GELU
keeps three float32 [T, I] tensors (48·T·H where a fused GELU keeps its
16-bit input, 8·T·H) and the float32 LayerNorms 16·T·H (4·T·H).
Not counted: a head's tensors (a pooled head keeps O(B·H); a tagging head
T·H·(e + 1) more), XLA's fusion (`--jit_compile` keeps a different,
usually smaller set) and every transient buffer.
"""

import dataclasses
from typing import List, Tuple

from bluebert_mtl.config import BertConfig
from bluebert_mtl.errors import ConfigError

VOCAB_SIZE = 30522  # BERT's uncased WordPiece vocabulary (BlueBERT's too)
BERT_BASE = BertConfig(vocab_size=VOCAB_SIZE)
BERT_LARGE = BertConfig(vocab_size=VOCAB_SIZE, hidden_size=1024,
                        num_hidden_layers=24, num_attention_heads=16,
                        intermediate_size=4096)

# Bytes of one element of a step's activations and matmul inputs.
COMPUTE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
FLOAT32_BYTES = 4  # weights, gradients, optimizer slots, LayerNorm
MASK_BYTES = 1  # a dropout keep-mask is a bool tensor
MIXED_COPY_BYTES = 2  # the bf16 / fp16 copy of a kernel a matmul reads
# Adamax keeps m and u per weight; AdamW and BertAdam keep m and v.
OPTIMIZER_SLOTS = 2

# One matrix product of a step: (count, leading batch dims, m, k, n,
# transpose_a, transpose_b), C[lead, m, n] = op(A) op(B) with inner size k.
Gemm = Tuple[int, List[int], int, int, int, bool, bool]


def _compute_bytes(precision: str) -> int:
  if precision not in COMPUTE_BYTES:
    raise ConfigError(f"precision must be one of {', '.join(COMPUTE_BYTES)}, "
                      f"got {precision!r}")
  return COMPUTE_BYTES[precision]


def block_kernel_count(config: BertConfig) -> int:
  """N = L·(4H² + 2HI): the kernel weights of the blocks' dense layers."""
  h, i = config.hidden_size, config.intermediate_size
  return config.num_hidden_layers * (4 * h * h + 2 * h * i)


def parameter_count(config: BertConfig, head_outputs: int = 0) -> int:
  """Every trainable weight: embeddings, blocks, pooler and a pooled
  `head_outputs`-way head (0: no head)."""
  h, i = config.hidden_size, config.intermediate_size
  embeddings = (config.vocab_size + config.max_position_embeddings +
                config.type_vocab_size + 2) * h
  block = 4 * (h * h + h) + (h * i + i) + (i * h + h) + 2 * 2 * h
  pooler = h * h + h
  head = h * head_outputs + head_outputs
  return embeddings + config.num_hidden_layers * block + pooler + head


def gemm_shapes(config: BertConfig, batch: int, seq: int) -> List[Gemm]:
  """The step's matrix products in the blocks: each dense layer's forward,
  input gradient and weight gradient; each attention product's forward and
  its two gradients."""
  h, i, layers = config.hidden_size, config.intermediate_size, \
      config.num_hidden_layers
  heads = config.num_attention_heads
  rows, d = batch * seq, h // heads
  shapes = []
  for count, k, n in ((4 * layers, h, h), (layers, h, i), (layers, i, h)):
    shapes += [(count, [], rows, k, n, False, False),   # y = x W
               (count, [], rows, n, k, False, True),    # dx = dy W^T
               (count, [], k, rows, n, True, False)]    # dW = x^T dy
  bh = [batch * heads]
  shapes += [(layers, bh, seq, d, seq, False, True),   # S = Q K^T
             (layers, bh, seq, seq, d, False, False),  # dQ = dS K
             (layers, bh, seq, seq, d, True, False),   # dK = dS^T Q
             (layers, bh, seq, seq, d, False, False),  # O = P V
             (layers, bh, seq, d, seq, False, True),   # dP = dO V^T
             (layers, bh, seq, seq, d, True, False)]   # dV = P^T dO
  return shapes


def gemm_flops(shape: Gemm) -> int:
  """FLOPs of one `gemm_shapes` entry, all `count` products of it."""
  count, lead, m, k, n, _, _ = shape
  rows = 1
  for d in lead:
    rows *= d
  return 2 * count * rows * m * k * n


def bert_step_flops(config: BertConfig, batch: int, seq: int,
                    classes: int = 0) -> Tuple[int, int, int]:
  """(total, dense part, attention part) FLOPs of one BERT training step.

  Args:
    config: the architecture.
    batch: B rows (padding rows count: the model runs them).
    seq: T, the padded length.
    classes: C outputs of a pooled head (0: leave pooler and head out).
  """
  h, layers = config.hidden_size, config.num_hidden_layers
  dense = 6 * block_kernel_count(config) * batch * seq
  attention = 12 * layers * batch * seq * seq * h
  pooled = 6 * (h * h + h * classes) * batch if classes else 0
  return dense + attention + pooled, dense, attention


def activation_bytes(config: BertConfig, batch: int, seq: int,
                     precision: str) -> int:
  """Bytes of the tensors the forward pass keeps for the backward pass.

  Args:
    config: the architecture.
    batch: B rows of one forward pass (a micro-batch under accumulation).
    seq: T tokens per row.
    precision: "fp32", "bf16" or "fp16" (Keras mixed precision).

  Returns:
    the blocks' and embeddings' saved tensors, as the module docstring
    lists them (no head, no weight copies, no transient buffers).
  """
  e = _compute_bytes(precision)
  gelu = e if precision == "fp16" else FLOAT32_BYTES
  h, i = config.hidden_size, config.intermediate_size
  heads, t = config.num_attention_heads, seq
  block = (t * h * (6 * e + 4 * FLOAT32_BYTES + 2 * MASK_BYTES) +
           t * i * (3 * gelu + e) +
           heads * t * t * (2 * e + MASK_BYTES) +
           2 * t * 2 * FLOAT32_BYTES)
  embeddings = (t * h * (2 * FLOAT32_BYTES + MASK_BYTES) +
                t * 2 * FLOAT32_BYTES + t * config.type_vocab_size * e)
  return batch * (config.num_hidden_layers * block + embeddings)


def kernel_copy_bytes(config: BertConfig, precision: str) -> int:
  """The 16-bit copies of the block kernels a mixed-precision step keeps."""
  return 0 if _compute_bytes(precision) == FLOAT32_BYTES else (
      MIXED_COPY_BYTES * block_kernel_count(config))


@dataclasses.dataclass(frozen=True)
class StepMemory:
  """Bytes one replica holds for a training step, by what holds them.

  Attributes:
    weights: every weight in float32 (Keras mixed precision keeps float32
      variables).
    kernel_copies: the 16-bit kernel copies of a mixed-precision step.
    gradients: one float32 gradient per weight.
    optimizer: the optimizer's slots (two per weight).
    accumulator: one float32 sum of gradients per weight under gradient
      accumulation (K > 1), else 0.
    activations: `activation_bytes` of one micro-batch.
  """
  weights: int
  kernel_copies: int
  gradients: int
  optimizer: int
  accumulator: int
  activations: int

  @property
  def total(self) -> int:
    return sum(dataclasses.astuple(self))


def step_memory(config: BertConfig, batch: int, seq: int, precision: str,
                accumulation_steps: int = 1,
                head_outputs: int = 0) -> StepMemory:
  """The bytes of a step of `batch` rows in `accumulation_steps` micro-batches
  of batch / K rows each.

  Raises:
    ConfigError: `batch` is not a multiple of `accumulation_steps`.
  """
  if accumulation_steps < 1 or batch % accumulation_steps:
    raise ConfigError(f"batch {batch} is not a multiple of "
                      f"accumulation_steps {accumulation_steps}")
  weights = FLOAT32_BYTES * parameter_count(config, head_outputs)
  return StepMemory(
      weights=weights,
      kernel_copies=kernel_copy_bytes(config, precision),
      gradients=weights,
      optimizer=OPTIMIZER_SLOTS * weights,
      accumulator=weights if accumulation_steps > 1 else 0,
      activations=activation_bytes(config, batch // accumulation_steps, seq,
                                   precision))
