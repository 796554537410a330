"""bert_costs against hand-computed counts and the graph TensorFlow builds."""

import pytest

from benchmarks import bert_costs
from benchmarks import check_activation_memory
from bluebert_mtl.config import BertConfig
from bluebert_mtl.errors import ConfigError
from bluebert_mtl.model import modeling

TINY = BertConfig(vocab_size=100, hidden_size=64, num_hidden_layers=2,
                  num_attention_heads=4, intermediate_size=256,
                  max_position_embeddings=64)


def test_bert_base_and_large_parameter_counts_by_hand():
  # BERT-base: embeddings (30522 + 512 + 2) * 768 + 2 * 768 = 23,837,184;
  # a block 4 * (768^2 + 768) + (768 * 3072 + 3072) + (3072 * 768 + 768)
  # + 4 * 768 = 7,087,872, twelve of them 85,054,464; pooler 590,592.
  assert bert_costs.parameter_count(bert_costs.BERT_BASE) == (
      23_837_184 + 85_054_464 + 590_592) == 109_482_240
  # BERT-large: 31,782,912 + 24 * 12,596,224 + 1,049,600.
  assert bert_costs.parameter_count(bert_costs.BERT_LARGE) == 335_141_888
  # A 6-way pooled head adds 768 * 6 + 6.
  assert bert_costs.parameter_count(bert_costs.BERT_BASE, 6) == (
      109_482_240 + 4_614)


def test_parameter_count_equals_the_built_encoder():
  encoder = modeling.build_bert_encoder(TINY)
  assert bert_costs.parameter_count(TINY) == encoder.count_params()


def test_step_flops_by_hand():
  # BERT-base, 8 x 128 tokens, 6 classes: N = 12 * (4 * 768^2 + 2 * 768 *
  # 3072) = 84,934,656; 6 N B T = 521,838,526,464; 12 L B T^2 H =
  # 14,495,514,624; 6 (H^2 + 6 H) B = 28,532,736.
  total, dense, attention = bert_costs.bert_step_flops(
      bert_costs.BERT_BASE, 8, 128, 6)
  assert bert_costs.block_kernel_count(bert_costs.BERT_BASE) == 84_934_656
  assert dense == 521_838_526_464
  assert attention == 14_495_514_624
  assert total == dense + attention + 28_532_736


@pytest.mark.parametrize("config", [bert_costs.BERT_BASE,
                                    bert_costs.BERT_LARGE, TINY])
@pytest.mark.parametrize("batch, seq", [(8, 128), (3, 512), (1, 7)])
def test_step_flops_are_the_sum_of_the_steps_matrix_products(config, batch,
                                                             seq):
  _, dense, attention = bert_costs.bert_step_flops(config, batch, seq)
  products = bert_costs.gemm_shapes(config, batch, seq)
  assert sum(bert_costs.gemm_flops(s) for s in products) == dense + attention


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_activation_bytes_equal_what_the_gradient_graph_keeps(precision):
  formula, graph = check_activation_memory.check(TINY, precision, 3, 16)
  assert graph["activations"] > 0
  assert formula == graph


def test_activation_bytes_by_hand_for_one_block():
  one = BertConfig(vocab_size=10, hidden_size=4, num_hidden_layers=1,
                   num_attention_heads=2, intermediate_size=8,
                   max_position_embeddings=8)
  # T = 3, fp32: block 3*4*(24 + 16 + 2) + 3*8*(12 + 4) + 2*9*(8 + 1)
  # + 16*3 = 504 + 384 + 162 + 48; embeddings 3*4*9 + 8*3 + 3*2*4 = 156.
  assert bert_costs.activation_bytes(one, 1, 3, "fp32") == 1098 + 156
  # bf16: 3*4*(12 + 16 + 2) + 3*8*(12 + 2) + 2*9*(4 + 1) + 48 and
  # embeddings 108 + 24 + 12.
  assert bert_costs.activation_bytes(one, 2, 3, "bf16") == 2 * (
      360 + 336 + 90 + 48 + 144)


def test_step_memory_splits_the_batch_and_adds_an_accumulator():
  whole = bert_costs.step_memory(bert_costs.BERT_BASE, 32, 128, "bf16")
  split = bert_costs.step_memory(bert_costs.BERT_BASE, 32, 128, "bf16", 4)
  weights = 4 * 109_482_240
  assert whole.weights == whole.gradients == weights
  assert whole.optimizer == 2 * weights
  assert whole.accumulator == 0 and split.accumulator == weights
  assert whole.kernel_copies == 2 * 84_934_656
  assert split.activations == bert_costs.activation_bytes(
      bert_costs.BERT_BASE, 8, 128, "bf16")
  assert split.total == whole.total - whole.activations + weights + (
      split.activations)


def test_bad_precision_or_accumulation_is_an_error():
  with pytest.raises(ConfigError, match="accumulation_steps 3"):
    bert_costs.step_memory(bert_costs.BERT_BASE, 32, 128, "fp32", 3)
  with pytest.raises(ConfigError, match="'int8'"):
    bert_costs.activation_bytes(bert_costs.BERT_BASE, 1, 128, "int8")
