"""Prediction over a split: token-budget batches give every feature the
output of its own unpadded forward pass, in feature order, with one trace
per task (and under XLA few shapes)."""

import numpy as np
import pytest

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)

from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl.config import BertConfig
from bluebert_mtl.data import datasets
from bluebert_mtl.data import task_data
from bluebert_mtl.data.features import Features
from bluebert_mtl.model import inference
from bluebert_mtl.model import modeling
from bluebert_mtl.model import multitask_model
import numpy_bert

TASKS = [tasks_lib.get_task("chemprot"), tasks_lib.get_task("bc5cdr-chemical")]
MAX_SEQ_LENGTH = 16


@pytest.fixture(scope="module")
def model():
  config = BertConfig.from_dict(numpy_bert.TINY_CONFIG)
  return multitask_model.build_multitask_model(
      modeling.build_bert_encoder(config), TASKS)


def _split(count=40, seed=0):
  """Features of random ids and lengths 2..MAX_SEQ_LENGTH, [CLS] first."""
  rng = np.random.default_rng(seed)
  features = []
  for i in range(count):
    n = int(rng.integers(2, MAX_SEQ_LENGTH + 1))
    ids = (2,) + tuple(int(x) for x in rng.integers(5, 20, n - 1))
    types = tuple(int(x) for x in rng.integers(0, 2, n))
    features.append(Features(str(i), ids, types))
  return task_data.SplitData("", [], [], features)


def _alone(view, feature) -> np.ndarray:
  """The view's output for one feature in a batch of its own, no padding."""
  inputs = {"input_word_ids": np.array([feature.input_word_ids], np.int32),
            "input_type_ids": np.array([feature.input_type_ids], np.int32),
            "input_mask": np.ones([1, len(feature.input_word_ids)], np.int32)}
  return view(inputs, training=False).numpy()[0]


@pytest.mark.parametrize("batch_size,jit_compile", [
    (1, False), (3, False), (8, False), (3, True)])
def test_every_output_is_that_of_its_feature_alone(model, batch_size,
                                                   jit_compile):
  split = _split()
  budget = inference.token_budget(batch_size, MAX_SEQ_LENGTH)
  for task in TASKS:
    view = multitask_model.task_model(model, task.name)
    step = inference.make_predict_step(view, jit_compile)
    outputs = inference.predict(step, split, budget, jit_compile)
    assert step.experimental_get_tracing_count() == 1
    for feature, output in zip(split.features, outputs):
      want = _alone(view, feature)
      got = output[:len(want)]  # tagging rows carry their batch's padding
      np.testing.assert_allclose(got, want, atol=1e-5, err_msg=feature.guid)


def test_xla_batches_have_one_shape_per_padded_length(model):
  split = _split(count=200)
  seen = set()
  view = multitask_model.task_model(model, TASKS[0].name)

  def recording_step(inputs):
    seen.add(tuple(inputs["input_word_ids"].shape))
    return view(inputs, training=False)

  budget = inference.token_budget(4, MAX_SEQ_LENGTH)
  inference.predict(recording_step, split, budget, jit_compile=True)
  lengths = {datasets.padded_length(n, datasets.XLA_LENGTH_MULTIPLE)
             for n in split.lengths}
  assert seen == {(budget // length, length) for length in lengths}
