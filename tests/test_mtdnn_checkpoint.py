"""A released MT-BlueBERT checkpoint (torch.save({"state": ..., "config":
...}), written by hand in its layout): its encoder as a start, its heads in
our label order, and the run folder that exports them."""

import json
import logging
import os
import re

import numpy as np
import pytest
from safetensors.numpy import load_file

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)

from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl.config import BertFiles
from bluebert_mtl.errors import CheckpointError, ConfigError
from bluebert_mtl.model import checkpoints
from bluebert_mtl.model import mtdnn_checkpoint
from bluebert_mtl.train import from_mtdnn
from bluebert_mtl.runs import run_dir
from bluebert_mtl.serve import export_hf
import numpy_bert
from test_convert_checkpoint import tiny_hf_weights
from test_hf_source import _assert_encoder_holds
import torch_files

H = 16
# The checkpoint's heads, in its --train_datasets order, with MT-BlueBERT's
# class counts; row r of head i holds the value 10 * i + r everywhere.
HEADS = (("mednli", 3), ("bc5cdr-chemical", 6), ("biosses", 1))


def _state(heads=HEADS):
  state = dict(tiny_hf_weights())
  for i, (_, classes) in enumerate(heads):
    rows = 10.0 * i + np.arange(classes, dtype=np.float32)
    state[f"scoring_list.{i}.weight"] = np.repeat(rows[:, None], H, axis=1)
    state[f"scoring_list.{i}.bias"] = -rows
  return state


def _write_mtdnn(folder, heads=HEADS, write=torch_files.write_zip):
  """`torch.save` of MT-DNN's MTDNNModel.save: state, optimizer, config."""
  path = os.path.join(folder, "mt_bluebert.pt")
  write(path, {"state": torch_files.state_dict(_state(heads)),
               "optimizer": {"state": {}, "param_groups": [{"lr": 5e-5}]},
               "config": {**numpy_bert.TINY_CONFIG, "init_ratio": 1,
                          "train_datasets": [n for n, _ in heads]}})
  return path


@pytest.fixture(name="files")
def fixture_files(tmp_path):
  numpy_bert.write_tiny_bert_dir(str(tmp_path))
  return BertFiles(str(tmp_path / "bert_config.json"), _write_mtdnn(
      str(tmp_path)), str(tmp_path / "vocab.txt"))


def _tasks(names=tuple(n for n, _ in HEADS)):
  return [tasks_lib.get_task(name) for name in names]


@pytest.mark.parametrize("write", [torch_files.write_zip,
                                   torch_files.write_legacy])
def test_its_encoder_is_a_start_and_its_heads_are_logged(tmp_path, caplog,
                                                         write):
  numpy_bert.write_tiny_bert_dir(str(tmp_path))
  files = BertFiles(str(tmp_path / "bert_config.json"),
                    _write_mtdnn(str(tmp_path), write=write),
                    str(tmp_path / "vocab.txt"))
  with caplog.at_level(logging.INFO, logger="absl"):
    _, encoder = checkpoints.load_bert_encoder(files)
  _assert_encoder_holds(encoder, tiny_hf_weights())
  assert re.search(r"skipped 6 keys of task heads: scoring_list\.0\.bias, "
                   r"scoring_list\.0\.weight, ", caplog.text)


def test_heads_come_in_our_label_order(files):
  heads = mtdnn_checkpoint.read_mtdnn_heads(files.checkpoint, _tasks())
  kernel, bias = heads["mednli"]
  # ours: contradiction, entailment, neutral; MT-BlueBERT's: contradiction,
  # neutral, entailment.
  np.testing.assert_array_equal(kernel, np.repeat([[0.0, 2.0, 1.0]], H, 0))
  np.testing.assert_array_equal(bias, [0.0, -2.0, -1.0])
  kernel, bias = heads["bc5cdr-chemical"]  # O, B, I kept; X, CLS, SEP not
  np.testing.assert_array_equal(kernel, np.repeat([[10.0, 11.0, 12.0]], H, 0))
  np.testing.assert_array_equal(bias, [-10.0, -11.0, -12.0])
  kernel, bias = heads["biosses"]
  assert kernel.shape == (H, 1) and bias.tolist() == [-20.0]


def test_the_run_folder_exports_its_heads(files, tmp_path):
  run = from_mtdnn.write_mtdnn_run(files, _tasks(), str(tmp_path / "run"))
  config = run_dir.read_train_config(run)
  assert config.tasks == ("mednli", "bc5cdr-chemical", "biosses")
  assert config.second_text_first and config.optimizer == "bert_adam"
  with open(os.path.join(run, "start.json")) as f:
    assert json.load(f)["checkpoint"] == files.checkpoint
  export_hf.export_run_hf(run, str(tmp_path / "hf"), ["mednli"])
  weights = load_file(str(tmp_path / "hf" / "mednli" / "model.safetensors"))
  np.testing.assert_array_equal(weights["classifier.bias"], [0.0, -2.0, -1.0])
  np.testing.assert_array_equal(
      weights["bert.encoder.layer.1.output.dense.weight"],
      tiny_hf_weights()["bert.encoder.layer.1.output.dense.weight"])
  with pytest.raises(ConfigError, match="is not empty"):
    from_mtdnn.write_mtdnn_run(files, _tasks(), run)


@pytest.mark.parametrize("names,error,message", [
    (("mednli", "bc5cdr-chemical"), CheckpointError,
     r"mt_bluebert.pt: holds 3 task heads \(scoring_list.\*\) but 2 tasks"),
    (("chemprot", "bc5cdr-chemical", "biosses"), CheckpointError,
     r"mt_bluebert.pt: key scoring_list.0.weight/bias \(task chemprot\) "
     r"missing or not of 6 classes"),
    (("hoc", "bc5cdr-chemical", "biosses"), ConfigError,
     "task hoc has no head in MT-BlueBERT"),
])
def test_tasks_that_do_not_fit_the_heads_are_named(files, names, error,
                                                   message):
  with pytest.raises(error, match=message):
    mtdnn_checkpoint.read_mtdnn_heads(files.checkpoint, _tasks(names))
