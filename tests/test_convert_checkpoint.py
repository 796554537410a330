"""Hugging Face safetensors -> TF1 checkpoint, checked against HF weights."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file
from safetensors.numpy import save_file

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)
import tensorflow as tf

from bluebert_mtl.model.checkpoints import load_bert_encoder
from bluebert_mtl.config import BertFiles
from bluebert_mtl.model.hf_checkpoint import convert_hf_to_tf1
from bluebert_mtl.errors import CheckpointError
from bluebert_mtl.errors import ConfigError
import numpy_bert

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TF1_FILES = {"bert_config.json", "bert_model.ckpt.index",
             "bert_model.ckpt.data-00000-of-00001", "checkpoint", "vocab.txt"}

# HF key -> TF1 name, written as rules independent of the converter.
_HF_TO_TF1 = [
    (r"^bert\.", ""),
    (r"\.layer\.(\d+)\.", r".layer_\1."),
    (r"LayerNorm\.weight$", "LayerNorm.gamma"),
    (r"LayerNorm\.bias$", "LayerNorm.beta"),
    (r"_embeddings\.weight$", "_embeddings"),
    (r"\.weight$", ".kernel"),
]


def tf1_weights_from_hf(hf_weights):
  """TF1 name -> array; torch Linear weights [out, in] become [in, out]."""
  tf1 = {}
  for key, value in hf_weights.items():
    if key.endswith("position_ids"):
      continue
    for pattern, replacement in _HF_TO_TF1:
      key = re.sub(pattern, replacement, key)
    name = "bert/" + key.replace(".", "/")
    tf1[name] = value.T if name.endswith("/kernel") else value
  return tf1


def tiny_hf_weights(seed=0):
  """Random HF-layout weights (with the `bert.` prefix) for TINY_CONFIG."""
  h, i = 16, 32
  shapes = {"embeddings.word_embeddings.weight": (20, h),
            "embeddings.position_embeddings.weight": (16, h),
            "embeddings.token_type_embeddings.weight": (2, h),
            "embeddings.LayerNorm.weight": (h,),
            "embeddings.LayerNorm.bias": (h,),
            "pooler.dense.weight": (h, h), "pooler.dense.bias": (h,)}
  per_layer = {"attention.self.query": (h, h), "attention.self.key": (h, h),
               "attention.self.value": (h, h),
               "attention.output.dense": (h, h),
               "attention.output.LayerNorm": (h,),
               "intermediate.dense": (i, h), "output.dense": (h, i),
               "output.LayerNorm": (h,)}
  for layer in range(2):
    for module, shape in per_layer.items():
      shapes[f"encoder.layer.{layer}.{module}.weight"] = shape
      shapes[f"encoder.layer.{layer}.{module}.bias"] = shape[:1]
  rng = np.random.default_rng(seed)
  return {"bert." + key: (0.3 * rng.standard_normal(shape)).astype(np.float32)
          for key, shape in shapes.items()}


def write_hf_dir(folder, weights, **config_changes):
  os.makedirs(folder, exist_ok=True)
  config = {**numpy_bert.TINY_CONFIG, "model_type": "bert",
            "layer_norm_eps": 1e-12, **config_changes}
  with open(os.path.join(folder, "config.json"), "w") as f:
    json.dump(config, f)
  with open(os.path.join(folder, "vocab.txt"), "w") as f:
    f.write("".join(token + "\n" for token in numpy_bert.TINY_VOCAB))
  save_file(weights, os.path.join(folder, "model.safetensors"))
  return str(folder)


def read_checkpoint(prefix):
  reader = tf.train.load_checkpoint(prefix)
  return {name: reader.get_tensor(name)
          for name in reader.get_variable_to_shape_map()}


def test_tiny_model_with_bert_prefix_and_extras(tmp_path):
  hf = tiny_hf_weights()
  extras = {"bert.embeddings.position_ids": np.arange(16)[None],
            "cls.predictions.bias": np.zeros(20, np.float32)}
  input_dir = write_hf_dir(tmp_path / "hf", {**hf, **extras})
  prefix = convert_hf_to_tf1(input_dir, str(tmp_path / "tf1"))
  assert set(os.listdir(tmp_path / "tf1")) == TF1_FILES
  assert prefix == str(tmp_path / "tf1" / "bert_model.ckpt")
  got = read_checkpoint(prefix)
  want = tf1_weights_from_hf(hf)
  assert set(got) == set(numpy_bert.tf1_encoder_shapes(numpy_bert.TINY_CONFIG))
  for name, value in want.items():
    np.testing.assert_array_equal(got[name], value, err_msg=name)


def test_minilm_converted_matches_numpy_bert_on_the_safetensors(
    tmp_path, minilm_dir):
  convert_hf_to_tf1(minilm_dir, str(tmp_path))
  config, encoder = load_bert_encoder(BertFiles.resolve(bert_dir=str(tmp_path)))
  # "[CLS] the cat sat [SEP] on the mat [SEP]" and a padded single text.
  word_ids = np.array([[101, 1996, 4937, 2938, 102, 2006, 1996, 13523, 102],
                       [101, 2061, 2024, 102, 0, 0, 0, 0, 0]], np.int32)
  mask = (word_ids > 0).astype(np.int32)
  type_ids = np.array([[0] * 5 + [1] * 4, [0] * 9], np.int32)
  outputs = encoder({"input_word_ids": word_ids, "input_mask": mask,
                     "input_type_ids": type_ids}, training=False)
  weights = tf1_weights_from_hf(
      load_file(os.path.join(minilm_dir, "model.safetensors")))
  want_seq, want_pooled = numpy_bert.bert_forward(
      weights, config.to_dict(), word_ids, mask, type_ids)
  real = mask.astype(bool)
  assert np.abs(outputs["sequence_output"].numpy()[real]
                - want_seq[real]).max() <= 1e-5
  assert np.abs(outputs["pooled_output"].numpy() - want_pooled).max() <= 1e-5


@pytest.mark.parametrize("edit,named", [
    (lambda w: w.pop("bert.encoder.layer.1.output.dense.bias"),
     "encoder.layer.1.output.dense.bias"),
    (lambda w: w.update({"bert.encoder.layer.2.output.dense.bias":
                         np.zeros(16, np.float32)}),
     "encoder.layer.2.output.dense.bias"),
    (lambda w: w.update({"bert.pooler.dense.weight":
                         np.zeros([16, 8], np.float32)}),
     "pooler.dense.weight"),
])
def test_bad_weights_name_the_key_and_file(tmp_path, edit, named):
  weights = tiny_hf_weights()
  edit(weights)
  input_dir = write_hf_dir(tmp_path / "hf", weights)
  with pytest.raises(CheckpointError, match=re.escape(named)) as error:
    convert_hf_to_tf1(input_dir, str(tmp_path / "tf1"))
  assert "model.safetensors" in str(error.value)
  assert not os.path.exists(tmp_path / "tf1")


@pytest.mark.parametrize("change", [
    {"layer_norm_eps": 1e-5}, {"hidden_act": "gelu_new"},
    {"position_embedding_type": "relative_key"}])
def test_configs_tf1_bert_cannot_express_are_refused(tmp_path, change):
  input_dir = write_hf_dir(tmp_path, tiny_hf_weights(), **change)
  with pytest.raises(ConfigError, match="config.json: .*" + next(iter(change))):
    convert_hf_to_tf1(input_dir, str(tmp_path / "tf1"))


def test_missing_safetensors_names_the_files_looked_for(tmp_path):
  input_dir = write_hf_dir(tmp_path, tiny_hf_weights())
  os.remove(tmp_path / "model.safetensors")
  with pytest.raises(ConfigError, match="model.safetensors.*pytorch_model.bin"):
    convert_hf_to_tf1(input_dir, str(tmp_path / "tf1"))


def _run_cli(*args):
  return subprocess.run(
      [sys.executable, "-m", "bluebert_mtl.commands.convert_checkpoint", *args],
      capture_output=True, text=True, check=False, cwd=REPO_ROOT)


def test_command_line(tmp_path):
  input_dir = write_hf_dir(tmp_path / "hf", tiny_hf_weights())
  done = _run_cli(f"--input_dir={input_dir}",
                  f"--output_dir={tmp_path / 'tf1'}")
  assert done.returncode == 0, done.stderr
  assert set(os.listdir(tmp_path / "tf1")) == TF1_FILES
  done = _run_cli(f"--input_dir={input_dir}", "--output_dir=x", "--ouput=y")
  assert done.returncode != 0
  assert "ouput" in done.stderr
  os.remove(os.path.join(input_dir, "model.safetensors"))
  done = _run_cli(f"--input_dir={input_dir}", f"--output_dir={tmp_path}")
  assert done.returncode == 2 and "Traceback" not in done.stderr
  assert done.stderr.splitlines()[-1:] == [
      f"error: config: {input_dir}: no weights found: neither a TF1 "
      "checkpoint (bert_model.ckpt.index) nor model.safetensors, "
      "model.safetensors.index.json, pytorch_model.bin, "
      "pytorch_model.bin.index.json"]
