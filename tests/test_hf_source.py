"""A Hugging Face BERT folder as --bert_dir: every weight format through the
TF1 name table, heads skipped, a missing pooler, bad input, casing, and the
start of a run named by its weight files."""

import hashlib
import json
import logging
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import save_file

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)

from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl.config import BertConfig, BertFiles, TrainConfig
from bluebert_mtl.errors import CheckpointError, ConfigError
from bluebert_mtl.model import checkpoints
from bluebert_mtl.model import hf_source
from bluebert_mtl.runs import run_dir
from bluebert_mtl.serve.extract_features import extract_features
from bluebert_mtl.train import start as start_lib
from bluebert_mtl.train import trainer as trainer_lib
from bluebert_mtl.train.start import Start
from conftest import REPO_ROOT, SAMPLE_DIR
import numpy_bert
from test_convert_checkpoint import tf1_weights_from_hf
from test_convert_checkpoint import tiny_hf_weights
from test_convert_checkpoint import write_hf_dir
import torch_files

TINY = BertConfig.from_dict(numpy_bert.TINY_CONFIG)
POOLER = ("bert.pooler.dense.weight", "bert.pooler.dense.bias")


def _unprefixed(weights):
  return {k.removeprefix("bert."): v for k, v in weights.items()}


def _sharded(folder, weights):
  keys = sorted(weights)
  shards = {"model-00001-of-00002.safetensors": keys[:len(keys) // 2],
            "model-00002-of-00002.safetensors": keys[len(keys) // 2:]}
  for shard, shard_keys in shards.items():
    save_file({k: weights[k] for k in shard_keys}, os.path.join(folder, shard))
  with open(os.path.join(folder, "model.safetensors.index.json"), "w") as f:
    json.dump({"weight_map": {k: s for s, ks in shards.items() for k in ks}},
              f)


def _write_bin(folder, weights, write=torch_files.write_zip):
  write(os.path.join(folder, "pytorch_model.bin"),
        torch_files.state_dict(weights))


def _old_layer_norm_names(weights):
  return {re.sub(r"LayerNorm\.weight$", "LayerNorm.gamma",
                 re.sub(r"LayerNorm\.bias$", "LayerNorm.beta", k)): v
          for k, v in weights.items()}


def _hf_folder(tmp_path, weights, writer=None):
  """A tiny HF folder whose weights `writer(folder, weights)` writes
  (default: model.safetensors)."""
  folder = write_hf_dir(tmp_path / "hf", weights)
  if writer:
    os.remove(os.path.join(folder, "model.safetensors"))
    writer(folder, weights)
  return folder


def _assert_encoder_holds(encoder, hf_weights, skip=()):
  want = tf1_weights_from_hf(hf_weights)
  variables = checkpoints.encoder_variables(encoder)
  for mapping in checkpoints.tf1_variable_table(TINY):
    if mapping.tf1_name in skip:
      continue
    np.testing.assert_array_equal(
        variables[mapping.encoder_name].numpy().ravel(),
        want[mapping.tf1_name].ravel(), err_msg=mapping.tf1_name)


@pytest.mark.parametrize("writer,edit", [
    (None, _unprefixed),
    (None, lambda w: w),
    (_sharded, lambda w: w),
    (_write_bin, lambda w: w),
    (lambda d, w: _write_bin(d, w, torch_files.write_legacy), _unprefixed),
    (_write_bin, _old_layer_norm_names),
])
def test_every_weight_format_loads_by_its_tf1_names(tmp_path, writer, edit):
  weights = tiny_hf_weights()
  folder = _hf_folder(tmp_path, edit(dict(weights)), writer)
  files = BertFiles.resolve(bert_dir=folder)
  assert files.config_file == os.path.join(folder, "config.json")
  config, encoder = checkpoints.load_bert_encoder(files)
  assert config == TINY
  _assert_encoder_holds(encoder, weights)


def test_task_heads_are_skipped_and_a_missing_pooler_logged(tmp_path, caplog):
  weights = tiny_hf_weights()
  model = {k: v for k, v in weights.items() if k not in POOLER}
  model.update({"classifier.weight": np.zeros([3, 16], np.float32),
                "classifier.bias": np.zeros(3, np.float32)})
  folder = _hf_folder(tmp_path, model)
  with caplog.at_level(logging.INFO, logger="absl"):
    _, encoder = checkpoints.load_bert_encoder(BertFiles.resolve(
        bert_dir=folder))
  pooler = {"bert/pooler/dense/kernel", "bert/pooler/dense/bias"}
  _assert_encoder_holds(encoder, weights, skip=pooler)
  variables = checkpoints.encoder_variables(encoder)
  np.testing.assert_array_equal(variables["pooler_transform/bias"].numpy(), 0)
  kernel = variables["pooler_transform/kernel"].numpy()
  assert 0 < kernel.std() < 0.03 and np.abs(kernel).max() <= 0.04
  log = caplog.text
  assert ("skipped 2 keys of task heads: classifier.bias, classifier.weight"
          in log)
  assert re.search(r"no bert/pooler/dense/kernel, bert/pooler/dense/bias: "
                   r"initialised as BERT does", log)


@pytest.mark.parametrize("edit,named", [
    (lambda w: w.update({"bert.encoder.layer.2.output.dense.bias":
                         np.zeros(16, np.float32)}),
     "key encoder.layer.2.output.dense.bias is not part of a BERT encoder"),
    (lambda w: w.update({"lm_head.bias": np.zeros(20, np.float32)}),
     "key lm_head.bias"),
    (lambda w: w.pop("bert.encoder.layer.1.attention.output.LayerNorm.bias"),
     "key encoder.layer.1.attention.output.LayerNorm.bias is missing"),
    (lambda w: w.update({"encoder.layer.0.output.dense.bias":
                         np.zeros(16, np.float32)}),
     "key encoder.layer.0.output.dense.bias names the weight"),
    (lambda w: w.update({"bert.pooler.dense.weight":
                         np.zeros([16, 8], np.float32)}),
     "key pooler.dense.weight (transposed) has shape [8, 16] but the BERT "
     "config gives [16, 16]"),
])
def test_bad_weights_name_the_file_and_key(tmp_path, edit, named):
  weights = tiny_hf_weights()
  edit(weights)
  folder = _hf_folder(tmp_path, weights, _write_bin)
  with pytest.raises(CheckpointError) as error:
    checkpoints.load_bert_encoder(BertFiles.resolve(bert_dir=folder))
  assert str(error.value).startswith(
      os.path.join(folder, "pytorch_model.bin") + ": ")
  assert named in str(error.value)


def test_config_sizes_and_vocab_size_that_disagree_are_named(tmp_path):
  folder = _hf_folder(tmp_path, tiny_hf_weights())
  with open(os.path.join(folder, "config.json")) as f:
    config = json.load(f)
  with open(os.path.join(folder, "config.json"), "w") as f:
    json.dump({**config, "intermediate_size": 24}, f)
  with pytest.raises(CheckpointError, match=re.escape(
      "model.safetensors: key encoder.layer.0.intermediate.dense.weight "
      "(transposed) has shape [16, 32] but the BERT config gives [16, 24]")):
    checkpoints.load_bert_encoder(BertFiles.resolve(bert_dir=folder))
  with open(os.path.join(folder, "config.json"), "w") as f:
    json.dump({**config, "vocab_size": 21}, f)
  with pytest.raises(ConfigError, match="vocab.txt: has 20 entries"):
    checkpoints.load_bert_encoder(BertFiles.resolve(bert_dir=folder))


def test_other_model_types_are_refused(tmp_path):
  folder = write_hf_dir(tmp_path / "hf", tiny_hf_weights(),
                        model_type="roberta")
  with pytest.raises(ConfigError, match="config.json: model_type='roberta'"):
    hf_source.read_bert_config(os.path.join(folder, "config.json"))


def _vocab(folder, tokens, tokenizer_config=None):
  os.makedirs(folder, exist_ok=True)
  with open(os.path.join(folder, "vocab.txt"), "w") as f:
    f.write("".join(t + "\n" for t in tokens))
  if tokenizer_config is not None:
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
      json.dump(tokenizer_config, f)
  return os.path.join(folder, "vocab.txt")


def test_casing_is_checked_against_tokenizer_config_and_vocab(tmp_path):
  uncased = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat"]
  cased = uncased + ["The", "Cat"]
  vocab = _vocab(tmp_path / "a", uncased, {"do_lower_case": True})
  checkpoints.check_casing(vocab, True)
  with pytest.raises(ConfigError, match=r"a/tokenizer_config.json: "
                     r"do_lower_case=true, but --nodo_lower_case"):
    checkpoints.check_casing(vocab, False)
  vocab = _vocab(tmp_path / "b", cased, {"do_lower_case": False})
  checkpoints.check_casing(vocab, False)
  with pytest.raises(ConfigError, match="tokenizer_config.json: "
                     "do_lower_case=false, but --do_lower_case"):
    checkpoints.check_casing(vocab, True)
  # Without tokenizer_config.json (a TF1 download) the vocab decides.
  with pytest.raises(ConfigError, match=r"c/vocab.txt: an uncased vocab"):
    checkpoints.check_casing(_vocab(tmp_path / "c", uncased), False)
  with pytest.raises(ConfigError, match=r"d/vocab.txt: a cased vocab \(2 "
                     r"entries with upper case, e.g. 'The'\)"):
    checkpoints.check_casing(_vocab(tmp_path / "d", cased), True)


def _sha256(*paths):
  digest = hashlib.sha256()
  for path in paths:
    with open(path, "rb") as f:
      digest.update(f.read())
  return digest.hexdigest()


def test_start_record_names_the_weight_files(tmp_path):
  folder = _hf_folder(tmp_path, tiny_hf_weights(), _sharded)
  index = os.path.join(folder, "model.safetensors.index.json")
  shards = [os.path.join(folder, f"model-0000{i}-of-00002.safetensors")
            for i in (1, 2)]
  assert run_dir.start_record(index) == {
      "checkpoint": index, "weights_sha256": _sha256(index, *shards)}
  single = str(tmp_path / "model.safetensors")
  save_file({"a": np.ones(2, np.float32)}, single)
  assert run_dir.start_record(single)["weights_sha256"] == _sha256(single)


def _train_config(output_dir):
  return TrainConfig(tasks=("chemprot",), data_dir=SAMPLE_DIR,
                     output_dir=str(output_dir), max_seq_length=16,
                     train_batch_size=8, eval_batch_size=16, max_steps=2,
                     num_train_epochs=1)


def test_a_run_starts_from_a_hf_folder_and_is_named_by_it(tmp_path):
  weights = tiny_hf_weights()
  folder = _hf_folder(tmp_path, weights, _write_bin)
  files = BertFiles.resolve(bert_dir=folder)
  config = _train_config(tmp_path / "run")
  trainer = trainer_lib.Trainer(config, Start(files),
                                [tasks_lib.get_task("chemprot")])
  _assert_encoder_holds(
      trainer.model.get_layer("bert_encoder"), weights)
  trainer.run()
  with open(tmp_path / "run" / "start.json") as f:
    assert json.load(f) == {
        "checkpoint": os.path.join(folder, "pytorch_model.bin"),
        "weights_sha256": _sha256(os.path.join(folder, "pytorch_model.bin"))}
  # Other weights in the same place: the finished run is not read back.
  weights["bert.embeddings.LayerNorm.bias"] += 1.0
  _write_bin(folder, weights)
  with pytest.raises(ConfigError, match="encoder start: .*pytorch_model.bin "
                     r"\(sha256 [0-9a-f]{64}\) != "):
    trainer_lib.train(config, Start(files), [tasks_lib.get_task("chemprot")])


def test_run_mtl_stops_with_one_line_on_a_bad_hf_folder(tmp_path):
  folder = _hf_folder(tmp_path, tiny_hf_weights())
  os.remove(os.path.join(folder, "model.safetensors"))
  marker = tmp_path / "marker"
  with open(os.path.join(folder, "pytorch_model.bin"), "wb") as f:
    f.write(f"cos\nsystem\n(S'touch {marker}'\ntR.".encode())
  done = subprocess.run(
      [sys.executable, "run_mtl.py", f"--bert_dir={folder}",
       f"--data_dir={SAMPLE_DIR}", "--tasks=chemprot",
       f"--output_dir={tmp_path / 'run'}", "--max_seq_length=16"],
      capture_output=True, text=True, check=False, cwd=REPO_ROOT)
  assert done.returncode == 2 and "Traceback" not in done.stderr
  assert done.stderr.splitlines()[-1] == (
      f"error: checkpoint: {folder}/pytorch_model.bin: refused to unpickle the "
      "global os.system: a weight file may hold only tensors in dicts (the "
      "file may run code when torch loads it; do not load it elsewhere "
      "either)")
  assert not marker.exists()


def test_a_folder_without_a_config_says_which_it_looked_for(tmp_path):
  with pytest.raises(ConfigError, match="holds neither bert_config.json .* "
                     "nor config.json"):
    BertFiles.resolve(bert_dir=str(tmp_path))


def test_extract_features_and_finetune_take_a_hf_folder(tmp_path):
  weights = tiny_hf_weights()
  folder = _hf_folder(tmp_path, weights, _sharded)
  start = start_lib.resolve_start(bert_dir=folder)
  assert start.checkpoint == os.path.join(folder,
                                          "model.safetensors.index.json")
  (tmp_path / "in.txt").write_text("the cat sat\n")
  extract_features(BertFiles.resolve(bert_dir=folder), str(tmp_path / "in.txt"),
                   str(tmp_path / "out.jsonl"), max_seq_length=8)
  with open(tmp_path / "out.jsonl") as f:
    record = json.loads(f.readline())
  word_ids = np.array([[2, 5, 6, 7, 3]])  # [CLS] the cat sat [SEP]
  ones = np.ones_like(word_ids)
  sequence, _ = numpy_bert.bert_forward(
      tf1_weights_from_hf(weights), numpy_bert.TINY_CONFIG, word_ids, ones,
      0 * ones)
  assert record["tokens"] == ["[CLS]", "the", "cat", "sat", "[SEP]"]
  np.testing.assert_allclose(record["sequence_output"], sequence[0], atol=1e-5)
