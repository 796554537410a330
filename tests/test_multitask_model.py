"""The multi-task model's two encoder calls: sentence heads read a pass whose
last block runs at [CLS] alone, tagging heads the full pass; both equal the
numpy BERT (tests/numpy_bert.py) on the MiniLM weights, with one set of
encoder weights."""

import numpy as np
import pytest

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)
import tensorflow as tf

from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl.config import BertConfig
from bluebert_mtl.model import modeling
from bluebert_mtl.model import multitask_model
import numpy_bert
from test_modeling import INPUTS, MINILM_INPUTS

# One task of each kind: classification, multilabel, regression, tagging.
TASKS = [tasks_lib.get_task(name)
         for name in ("chemprot", "hoc", "biosses", "bc5cdr-chemical")]
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def models(minilm_encoder):
  """(CLS-only model, full-layer model) on the one MiniLM encoder, the
  second's heads holding the first's weights."""
  encoder = minilm_encoder[0]
  cls_only = multitask_model.build_multitask_model(encoder, TASKS)
  full = multitask_model.build_multitask_model(encoder, TASKS,
                                               cls_only_last_layer=False)
  for task in TASKS:
    full.get_layer(task.name).set_weights(
        cls_only.get_layer(task.name).get_weights())
  return cls_only, full


def _numpy_head(model, task, encoder_output):
  """The head's dense layer in numpy on numpy BERT's output."""
  dense = model.get_layer(task.name).dense
  logits = encoder_output @ dense.kernel.numpy() + dense.bias.numpy()
  return logits[..., 0] if task.kind == "regression" else logits


def test_every_head_matches_numpy_bert_in_both_modes(minilm_encoder, models):
  _, weights, config_dict = minilm_encoder
  want_seq, want_pooled = numpy_bert.bert_forward(
      weights, config_dict, MINILM_INPUTS["input_word_ids"],
      MINILM_INPUTS["input_mask"], MINILM_INPUTS["input_type_ids"])
  real = MINILM_INPUTS["input_mask"].astype(bool)
  for model in models:
    for task in TASKS:
      got = multitask_model.task_model(model, task.name)(
          MINILM_INPUTS, training=False).numpy()
      if task.task_kind.token_level:
        want = _numpy_head(model, task, want_seq)
        assert got.shape == want.shape
        assert np.abs(got[real] - want[real]).max() <= TOLERANCE, task.name
      else:
        want = _numpy_head(model, task, want_pooled)
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= TOLERANCE, task.name


# Products of the last block (layer_1 of numpy_bert.TINY_CONFIG) -> whether
# a sentence task's view computes them at every position.
LAST_BLOCK_PRODUCTS = {
    "self_attention/key/einsum": True, "self_attention/value/einsum": True,
    "self_attention/query/einsum": False,
    "self_attention/attention_output/einsum": False,
    "intermediate/einsum": False, "output/einsum": False}


def _positions_computed(view, product: str) -> int:
  """The sequence length of one product of the last block when `view` runs
  on test_modeling.INPUTS (T=7), fetched from the view's graph."""
  spec = [tf.TensorSpec([None, None], tf.int32)] * 3
  wrapped = tf.compat.v1.wrap_function(
      lambda *ids: view(dict(zip(multitask_model.INPUT_NAMES, ids)),
                        training=False), spec)
  (op,) = [op for op in wrapped.graph.get_operations()
           if op.name.endswith(f"layer_1/{product}/Einsum")]
  fetch = wrapped.prune(wrapped.inputs, [op.outputs[0]])
  (value,) = fetch(*[tf.constant(INPUTS[name])
                     for name in multitask_model.INPUT_NAMES])
  return value.shape[1]


@pytest.mark.parametrize("cls_only", [True, False])
def test_sentence_views_run_the_last_block_at_cls_alone(cls_only):
  model = multitask_model.build_multitask_model(
      modeling.build_bert_encoder(BertConfig.from_dict(
          numpy_bert.TINY_CONFIG)), TASKS, cls_only)
  for task in TASKS:
    view = multitask_model.task_model(model, task.name)
    for product, every_position in LAST_BLOCK_PRODUCTS.items():
      full = every_position or task.task_kind.token_level or not cls_only
      assert _positions_computed(view, product) == (7 if full else 1), (
          task.name, product)


def test_both_calls_share_one_set_of_encoder_weights(minilm_encoder, models):
  encoder = minilm_encoder[0]
  encoder_ids = {id(v) for v in encoder.variables}
  for model in models:
    assert multitask_model.encoder_of(model) is encoder
    head_variables = sum(len(model.get_layer(t.name).variables) for t in TASKS)
    assert len({id(v) for v in model.variables}) == (len(encoder_ids) +
                                                     head_variables)
    for task in TASKS:
      view = multitask_model.task_model(model, task.name)
      assert encoder_ids <= {id(v) for v in view.trainable_variables}


def test_checkpoints_are_the_same_in_both_modes(tmp_path):
  config = BertConfig.from_dict(numpy_bert.TINY_CONFIG)
  written = multitask_model.build_multitask_model(
      modeling.build_bert_encoder(config), TASKS)
  prefix = multitask_model.model_checkpoint(written).write(
      str(tmp_path / "weights"))
  read = multitask_model.build_multitask_model(
      modeling.build_bert_encoder(config), TASKS, cls_only_last_layer=False)
  multitask_model.model_checkpoint(read).read(
      prefix).assert_existing_objects_matched()
  for a, b in zip(written.variables, read.variables):
    assert a.name == b.name
    np.testing.assert_array_equal(a.numpy(), b.numpy())
