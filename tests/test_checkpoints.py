"""TF1 checkpoint loading: the name table, bad input, vocab/config checks."""

import os

import numpy as np
import pytest

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)

from bluebert_mtl.model import checkpoints
from bluebert_mtl.config import BertConfig
from bluebert_mtl.config import BertFiles
from bluebert_mtl.errors import CheckpointError
from bluebert_mtl.errors import ConfigError
from bluebert_mtl.model.modeling import build_bert_encoder
import numpy_bert

TINY = BertConfig.from_dict(numpy_bert.TINY_CONFIG)
DATA_FILE = "bert_model.ckpt.data-00000-of-00001"


@pytest.fixture(name="bert_dir")
def fixture_bert_dir(tmp_path):
  numpy_bert.write_tiny_bert_dir(str(tmp_path))
  return tmp_path


def _prefix(folder):
  return str(folder / "bert_model.ckpt")


def _rewrite_checkpoint(folder, edit):
  """Rewrites the tiny checkpoint with `edit(variables)` applied."""
  weights = numpy_bert.random_tf1_weights(numpy_bert.TINY_CONFIG)
  variables = {**weights, **numpy_bert.pretraining_extras(
      weights, numpy_bert.TINY_CONFIG)}
  edit(variables)
  numpy_bert.write_tf1_checkpoint(variables, _prefix(folder))


def test_table_covers_every_encoder_variable_once():
  table = checkpoints.tf1_variable_table(TINY)
  want = numpy_bert.tf1_encoder_shapes(numpy_bert.TINY_CONFIG)
  assert {m.tf1_name: m.tf1_shape for m in table} == want
  encoder = build_bert_encoder(TINY)
  got = {m.encoder_name: m.encoder_shape for m in table}
  assert got == {name: tuple(v.shape) for name, v in
                 checkpoints.encoder_variables(encoder).items()}


def test_every_variable_is_assigned_from_its_tf1_name(bert_dir):
  weights = numpy_bert.random_tf1_weights(numpy_bert.TINY_CONFIG)
  encoder = build_bert_encoder(TINY)
  checkpoints.load_checkpoint(encoder, _prefix(bert_dir), TINY)
  variables = checkpoints.encoder_variables(encoder)
  for mapping in checkpoints.tf1_variable_table(TINY):
    np.testing.assert_array_equal(
        variables[mapping.encoder_name].numpy().ravel(),
        weights[mapping.tf1_name].ravel(), err_msg=mapping.tf1_name)


def test_query_kernel_is_split_by_head(bert_dir):
  # TF1 computes head n from columns n*D:(n+1)*D of the [H, H] kernel.
  weights = numpy_bert.random_tf1_weights(numpy_bert.TINY_CONFIG)
  encoder = build_bert_encoder(TINY)
  checkpoints.load_checkpoint(encoder, _prefix(bert_dir), TINY)
  kernel = checkpoints.encoder_variables(encoder)[
      "transformer/layer_1/self_attention/query/kernel"].numpy()  # [H, N, D]
  tf1 = weights["bert/encoder/layer_1/attention/self/query/kernel"]  # [H, H]
  np.testing.assert_array_equal(kernel[:, 2, :], tf1[:, 8:12])


def _assert_load_fails(folder, config, *named):
  encoder = build_bert_encoder(config)
  before = [w.copy() for w in encoder.get_weights()]
  with pytest.raises(CheckpointError) as error:
    checkpoints.load_checkpoint(encoder, _prefix(folder), config)
  for text in named:
    assert text in str(error.value)
  for old, new in zip(before, encoder.get_weights()):
    np.testing.assert_array_equal(old, new)  # Nothing half-loaded.


def test_missing_checkpoint_names_the_file(tmp_path):
  _assert_load_fails(tmp_path, TINY, _prefix(tmp_path))


def test_missing_data_file_names_file_and_variable(bert_dir):
  os.remove(bert_dir / DATA_FILE)
  _assert_load_fails(bert_dir, TINY, _prefix(bert_dir) + ".data-*",
                     "bert/embeddings/word_embeddings")


@pytest.mark.parametrize("keep", [0.0, 0.5])
def test_truncated_data_file_names_file_and_variable(bert_dir, keep):
  data = (bert_dir / DATA_FILE).read_bytes()
  (bert_dir / DATA_FILE).write_bytes(data[:int(len(data) * keep)])
  _assert_load_fails(bert_dir, TINY, _prefix(bert_dir) + ".data-*",
                     "cannot read variable bert/")


def test_missing_variable_is_named(bert_dir):
  name = "bert/encoder/layer_1/output/LayerNorm/gamma"
  _rewrite_checkpoint(bert_dir, lambda variables: variables.pop(name))
  _assert_load_fails(bert_dir, TINY, _prefix(bert_dir) + ".index", name)


def test_unknown_variable_is_an_error(bert_dir):
  _rewrite_checkpoint(bert_dir, lambda variables: variables.update(
      output_weights=np.zeros([3, 16], np.float32)))
  _assert_load_fails(bert_dir, TINY, _prefix(bert_dir) + ".index",
                     "output_weights")


def test_config_with_other_shapes_names_the_variable(bert_dir):
  wider = BertConfig.from_dict({**numpy_bert.TINY_CONFIG,
                                "intermediate_size": 24})
  _assert_load_fails(bert_dir, wider, _prefix(bert_dir) + ".index",
                     "bert/encoder/layer_0/intermediate/dense/kernel",
                     "[16, 32]", "[16, 24]")


@pytest.mark.parametrize("layers,named", [
    (1, "bert/encoder/layer_1/"),  # the checkpoint has more layers
    (3, "bert/encoder/layer_2/"),  # the config has more layers
])
def test_config_with_other_depth_names_the_variable(bert_dir, layers, named):
  config = BertConfig.from_dict({**numpy_bert.TINY_CONFIG,
                                 "num_hidden_layers": layers})
  _assert_load_fails(bert_dir, config, _prefix(bert_dir) + ".index", named)


def test_encoder_of_another_config_is_refused(bert_dir):
  encoder = build_bert_encoder(BertConfig.from_dict(
      {**numpy_bert.TINY_CONFIG, "num_hidden_layers": 1}))
  with pytest.raises(CheckpointError, match="transformer/layer_1/"):
    checkpoints.load_checkpoint(encoder, _prefix(bert_dir), TINY)


def test_vocab_size_mismatch_names_the_vocab_file():
  with pytest.raises(ConfigError, match=r"vocab\.txt: has 19 entries.*=20"):
    checkpoints.check_vocab_matches_config(19, TINY, "vocab.txt")
  checkpoints.check_vocab_matches_config(20, TINY, "vocab.txt")


def test_load_bert_encoder_from_a_download_folder(bert_dir):
  files = BertFiles.resolve(bert_dir=str(bert_dir))
  config, encoder = checkpoints.load_bert_encoder(files)
  assert config == TINY
  table = encoder.get_embedding_table().numpy()
  weights = numpy_bert.random_tf1_weights(numpy_bert.TINY_CONFIG)
  np.testing.assert_array_equal(table,
                                weights["bert/embeddings/word_embeddings"])


def test_load_bert_encoder_refuses_a_vocab_of_another_size(bert_dir):
  with open(bert_dir / "vocab.txt", "a") as f:
    f.write("extra\n")
  with pytest.raises(ConfigError, match="vocab.txt: has 21 entries"):
    checkpoints.load_bert_encoder(BertFiles.resolve(bert_dir=str(bert_dir)))
