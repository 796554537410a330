"""Hugging Face export: each task kind's folder computes, through an
independent numpy BERT reading its safetensors by HF key, the logits our
model computes; config.json, tokenizer and model card; the encoder alone and
the MiniLM round trip (HF -> ours -> HF gives back the same tensors)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)

from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl.config import BertConfig, BertFiles, TrainConfig
from bluebert_mtl.errors import ConfigError
from bluebert_mtl.model import checkpoints
from bluebert_mtl.model import modeling
from bluebert_mtl.model import multitask_model
from bluebert_mtl.runs import run_dir
from bluebert_mtl.serve import export_hf
from conftest import REPO_ROOT, SAMPLE_DIR
import numpy_bert
from test_convert_checkpoint import tf1_weights_from_hf

# One task of each kind.
TASKS = ("biosses", "mednli", "hoc", "bc5cdr-chemical")
TINY = {"vocab_size": 30522, "hidden_size": 16, "num_hidden_layers": 2,
        "num_attention_heads": 2, "intermediate_size": 32,
        "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 64,
        "type_vocab_size": 2, "initializer_range": 0.02}
FILES = {"config.json", "model.safetensors", "vocab.txt",
         "tokenizer_config.json", "README.md"}
WANT_CONFIG = {  # task -> (architecture, problem_type, labels)
    "biosses": ("BertForSequenceClassification", "regression", ["score"]),
    "mednli": ("BertForSequenceClassification", "single_label_classification",
               ["contradiction", "entailment", "neutral"]),
    "hoc": ("BertForSequenceClassification", "multi_label_classification",
            list(tasks_lib.HOC_HALLMARKS)),
    "bc5cdr-chemical": ("BertForTokenClassification", None,
                        ["O", "B-Chemical", "I-Chemical"]),
}


@pytest.fixture(scope="module")
def run(tmp_path_factory, minilm_dir):
  """A run folder, as training writes one, of one task of each kind: random
  encoder and heads (biases too) in best/<task>/weights, results.json with
  known scores."""
  root = tmp_path_factory.mktemp("hf_run")
  (root / "bert_config.json").write_text(json.dumps(TINY))
  output = str(root / "run")
  tasks = [tasks_lib.TASKS[name] for name in TASKS]
  run_dir.write_run_files(
      output, TrainConfig(tasks=TASKS, data_dir=SAMPLE_DIR, output_dir=output,
                          max_seq_length=32),
      str(root / "bert_config.json"), os.path.join(minilm_dir, "vocab.txt"),
      tasks, None)
  model = multitask_model.build_multitask_model(
      modeling.build_bert_encoder(BertConfig.from_dict(TINY)),
      tasks)
  rng = np.random.default_rng(0)
  for name in TASKS:
    for variable in model.get_layer(name).dense.variables:
      variable.assign(rng.normal(0, 0.5, variable.shape))
    multitask_model.model_checkpoint(model).write(
        run_dir.best_weights(output, name))
  multitask_model.model_checkpoint(model).write(run_dir.final_weights(output))
  run_dir.write_results(output, {"mednli": {"dev": {"accuracy": 0.5},
                                            "test": {"accuracy": 0.25}}})
  return output


@pytest.fixture(scope="module")
def exported(run, tmp_path_factory):
  folder = str(tmp_path_factory.mktemp("hf"))
  written = export_hf.export_run_hf(run, folder)
  assert written == [os.path.join(folder, name) for name in TASKS]
  return folder


def _our_outputs(run, name, inputs):
  """The task's output from its best weights, as export restores them."""
  task = tasks_lib.TASKS[name]
  model = multitask_model.build_multitask_model(
      modeling.build_bert_encoder(BertConfig.from_dict(TINY)), [task])
  multitask_model.restore_task_weights(model, name,
                                      run_dir.RunSource(run).weights(name))
  return model(inputs, training=False)[name].numpy()


def _batch():
  """Two rows of real WordPiece ids, the second padded."""
  word_ids = np.array([[101, 1996, 4937, 2938, 102, 2006, 1996, 13523, 102],
                       [101, 2061, 2024, 102, 0, 0, 0, 0, 0]], np.int32)
  mask = (word_ids > 0).astype(np.int32)
  type_ids = np.array([[0] * 5 + [1] * 4, [0] * 9], np.int32)
  return word_ids, mask, type_ids


@pytest.mark.parametrize("name", TASKS)
def test_exported_logits_are_ours(run, exported, name):
  folder = os.path.join(exported, name)
  assert set(os.listdir(folder)) == FILES
  weights = load_file(os.path.join(folder, "model.safetensors"))
  head_w, head_b = weights.pop("classifier.weight"), weights.pop(
      "classifier.bias")
  assert all(key.startswith("bert.") for key in weights)
  tagging = name == "bc5cdr-chemical"
  assert ("bert.pooler.dense.weight" in weights) != tagging
  tf1 = tf1_weights_from_hf(weights)
  if tagging:  # numpy_bert computes a pooled output the model has no use for
    tf1.update({"bert/pooler/dense/kernel": np.zeros([16, 16]),
                "bert/pooler/dense/bias": np.zeros(16)})
  word_ids, mask, type_ids = _batch()
  sequence, pooled = numpy_bert.bert_forward(tf1, TINY, word_ids, mask,
                                             type_ids)
  want = (sequence if tagging else pooled) @ head_w.T + head_b  # [B, (T,) C]
  got = _our_outputs(run, name, {"input_word_ids": word_ids,
                                 "input_mask": mask,
                                 "input_type_ids": type_ids})
  if name == "biosses":
    got = got[:, None]  # [B] -> [B, 1]: HF regression logits
  real = mask.astype(bool) if tagging else slice(None)
  assert np.abs(got[real] - want[real]).max() <= 1e-5


@pytest.mark.parametrize("name", TASKS)
def test_config_json_and_tokenizer(exported, name):
  folder = os.path.join(exported, name)
  with open(os.path.join(folder, "config.json")) as f:
    config = json.load(f)
  architecture, problem_type, labels = WANT_CONFIG[name]
  assert config["architectures"] == [architecture]
  assert config.get("problem_type") == problem_type
  assert config["id2label"] == {str(i): l for i, l in enumerate(labels)}
  assert config["label2id"] == {l: i for i, l in enumerate(labels)}
  assert config["model_type"] == "bert" and config["hidden_act"] == "gelu"
  assert config["layer_norm_eps"] == 1e-12
  assert {k: config[k] for k in TINY} == TINY
  with open(os.path.join(folder, "tokenizer_config.json")) as f:
    tokenizer = json.load(f)
  assert tokenizer["do_lower_case"] is True
  assert tokenizer["model_max_length"] == 32


def test_model_card_gives_the_run_scores_and_the_citation(exported):
  with open(os.path.join(exported, "mednli", "README.md")) as f:
    card = f.read()
  assert "| mednli | accuracy | 0.5000 | 0.2500 |" in card
  assert "tokenizer(text_a, text_b)" in card
  assert "An Empirical Study of Multi-Task Learning on {BERT}" in card
  with open(os.path.join(exported, "hoc", "README.md")) as f:
    assert "| hoc | hoc_f1 | not scored | not scored |" in f.read()


def test_encoder_only(run, tmp_path):
  (folder,) = export_hf.export_run_hf(run, str(tmp_path), encoder_only=True)
  assert folder == str(tmp_path / "encoder")
  weights = load_file(os.path.join(folder, "model.safetensors"))
  assert "pooler.dense.weight" in weights and "classifier.weight" not in weights
  with open(os.path.join(folder, "config.json")) as f:
    assert json.load(f)["architectures"] == ["BertModel"]


def test_minilm_round_trip_gives_back_the_same_tensors(minilm_dir, tmp_path):
  config, encoder = checkpoints.load_bert_encoder(
      BertFiles.resolve(bert_dir=minilm_dir))
  export_hf.write_encoder_folder(
      encoder, config, os.path.join(minilm_dir, "vocab.txt"),
      TrainConfig(tasks=(), data_dir="", output_dir=""), str(tmp_path / "rt"))
  original = load_file(os.path.join(minilm_dir, "model.safetensors"))
  original.pop("embeddings.position_ids")
  back = load_file(str(tmp_path / "rt" / "model.safetensors"))
  assert set(back) == set(original)
  for key, value in original.items():
    np.testing.assert_array_equal(back[key], value, err_msg=key)


def test_refusals(run, exported):
  with pytest.raises(ConfigError, match="exist already; give --overwrite"):
    export_hf.export_run_hf(run, exported, ["hoc"])
  with pytest.raises(ConfigError, match="task 'chemprot' is not one of"):
    export_hf.export_run_hf(run, exported, ["chemprot"], overwrite=True)


def test_command_line_stops_with_one_line(tmp_path):
  done = subprocess.run(
      [sys.executable, "-m", "bluebert_mtl.commands.export_hf",
       f"--model_dir={tmp_path}", f"--export_dir={tmp_path / 'hf'}"],
      capture_output=True, text=True, check=False, cwd=REPO_ROOT)
  assert done.returncode == 2 and "Traceback" not in done.stderr
  assert done.stderr.splitlines()[-1] == (
      f"error: run folder: {tmp_path} is not a training run folder: no "
      "tasks.json")
