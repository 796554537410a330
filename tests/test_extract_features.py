"""extract_features end to end on a random tiny TF1 checkpoint, and on the
encoder of a run folder."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)

from bluebert_mtl.config import BertFiles
from bluebert_mtl.errors import ConfigError
from bluebert_mtl.errors import DataError
from bluebert_mtl.serve.extract_features import extract_features
import numpy_bert

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_SEQ_LENGTH = 9

# Input line, the WordPieces the original makes of it at MAX_SEQ_LENGTH, and
# the number of segment-0 positions (the rest are segment 1).
CASES = [
    ("the cat sat", "[CLS] the cat sat [SEP]", 5),
    # Pair: 3 + 4 WordPieces > 9 - 3, so b, the longer, loses its last one.
    ("the dog ran ||| on a mat .", "[CLS] the dog ran [SEP] on a mat [SEP]", 5),
    ("", "[CLS] [SEP]", 2),
    ("  Blue BERTing cats, zebra!",
     "[CLS] blue bert ##ing cat ##s , [UNK] [SEP]", 9),
    ("the cat sat on the mat , the dog ran",
     "[CLS] the cat sat on the mat , [SEP]", 9),
]


@pytest.fixture(name="bert_dir")
def fixture_bert_dir(tmp_path):
  folder = tmp_path / "bert"
  folder.mkdir()
  _, weights = numpy_bert.write_tiny_bert_dir(str(folder))
  return folder, weights


def _write_lines(path, lines):
  path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
  return str(path)


def _read_records(path):
  with open(path, encoding="utf-8") as f:
    return [json.loads(line) for line in f]


def test_features_match_numpy_bert(tmp_path, bert_dir):
  folder, weights = bert_dir
  input_file = _write_lines(tmp_path / "in.txt", [c[0] for c in CASES])
  output_file = str(tmp_path / "out.jsonl")
  written = extract_features(BertFiles.resolve(bert_dir=str(folder)),
                             input_file, output_file,
                             max_seq_length=MAX_SEQ_LENGTH, batch_size=2)
  records = _read_records(output_file)
  assert written == len(records) == len(CASES)
  for record, (_, tokens, segment_a) in zip(records, CASES):
    assert record["tokens"] == tokens.split()
    # Each row alone, unpadded: [1, T].
    word_ids = np.array([[numpy_bert.TINY_VOCAB.index(t)
                          for t in record["tokens"]]])
    type_ids = (np.arange(word_ids.shape[1]) >= segment_a)[None].astype(int)
    want_seq, want_pooled = numpy_bert.bert_forward(
        weights, numpy_bert.TINY_CONFIG, word_ids, np.ones_like(word_ids),
        type_ids)
    assert np.abs(np.array(record["sequence_output"])
                  - want_seq[0]).max() <= 1e-5
    assert np.abs(np.array(record["pooled_output"])
                  - want_pooled[0]).max() <= 1e-5


def test_non_utf8_line_is_named(tmp_path, bert_dir):
  folder, _ = bert_dir
  input_file = tmp_path / "in.txt"
  input_file.write_bytes(b"the cat\nthe \xff dog\n")
  with pytest.raises(DataError, match=f"{input_file}:2: not UTF-8"):
    extract_features(BertFiles.resolve(bert_dir=str(folder)), str(input_file),
                     str(tmp_path / "out.jsonl"), max_seq_length=16)
  assert not (tmp_path / "out.jsonl").exists()


def test_max_seq_length_beyond_the_position_table(tmp_path, bert_dir):
  folder, _ = bert_dir
  input_file = _write_lines(tmp_path / "in.txt", ["the cat"])
  with pytest.raises(ConfigError, match="max_seq_length=17"):
    extract_features(BertFiles.resolve(bert_dir=str(folder)), input_file,
                     str(tmp_path / "out.jsonl"), max_seq_length=17)


def test_command_line_with_the_original_flag_names(tmp_path, bert_dir):
  folder, _ = bert_dir
  input_file = _write_lines(tmp_path / "in.txt",
                            ["The cat ||| sat", "the dog"])
  output_file = tmp_path / "out.jsonl"
  done = subprocess.run(
      [sys.executable, "-m", "bluebert_mtl.commands.extract_features",
       f"--bert_config_file={folder / 'bert_config.json'}",
       f"--init_checkpoint={folder / 'bert_model.ckpt'}",
       f"--vocab_file={folder / 'vocab.txt'}", "--do_lower_case=true",
       "--max_seq_length=8", f"--input_file={input_file}",
       f"--output_file={output_file}"],
      capture_output=True, text=True, check=False, cwd=REPO_ROOT)
  assert done.returncode == 0, done.stderr
  assert [r["tokens"] for r in _read_records(output_file)] == [
      "[CLS] the cat [SEP] sat [SEP]".split(), "[CLS] the dog [SEP]".split()]


def _numpy_layers(weights, config, tokens, segment_a):
  """{-1: last block, -2: the one before} of one unpadded row, float64."""
  word_ids = np.array([[numpy_bert.TINY_VOCAB.index(t) for t in tokens]])
  type_ids = (np.arange(word_ids.shape[1]) >= segment_a)[None].astype(int)
  layers = {}
  for index in (-1, -2):
    depth = dict(config, num_hidden_layers=config["num_hidden_layers"] + 1
                 + index)
    layers[index] = numpy_bert.bert_forward(
        weights, depth, word_ids, np.ones_like(word_ids), type_ids)[0][0]
  return layers


def test_layers_match_numpy_bert(tmp_path, bert_dir):
  folder, weights = bert_dir
  input_file = _write_lines(tmp_path / "in.txt", [c[0] for c in CASES[:2]])
  output_file = str(tmp_path / "out.jsonl")
  extract_features(BertFiles.resolve(bert_dir=str(folder)), input_file,
                   output_file, max_seq_length=MAX_SEQ_LENGTH,
                   layers=[-2, -1])
  for record, (_, tokens, segment_a) in zip(_read_records(output_file),
                                            CASES):
    want = _numpy_layers(weights, numpy_bert.TINY_CONFIG, tokens.split(),
                         segment_a)
    assert [layer["index"] for layer in record["layers"]] == [-2, -1]
    for layer in record["layers"]:
      assert np.abs(np.array(layer["values"]) -
                    want[layer["index"]]).max() <= 1e-5
    assert record["layers"][1]["values"] == record["sequence_output"]
  with pytest.raises(ConfigError, match="--layers -3: the encoder has 2 "
                     "layers, indices -2..1"):
    extract_features(BertFiles.resolve(bert_dir=str(folder)), input_file,
                     output_file, max_seq_length=MAX_SEQ_LENGTH,
                     layers=[-1, -3])


def test_a_run_folder_gives_the_runs_encoder(tmp_path, bert_dir):
  """The encoder of a run's latest checkpoint, not the download's."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from bluebert_mtl.config import TrainConfig  # pylint: disable=g-import-not-at-top
  from bluebert_mtl.model import checkpoints  # pylint: disable=g-import-not-at-top
  from bluebert_mtl.model import multitask_model  # pylint: disable=g-import-not-at-top
  from bluebert_mtl.runs import run_dir  # pylint: disable=g-import-not-at-top
  folder, _ = bert_dir
  other = tmp_path / "other"
  other.mkdir()
  config, weights = numpy_bert.write_tiny_bert_dir(str(other), seed=1)
  run = str(tmp_path / "run")
  run_dir.write_run_files(
      run, TrainConfig(tasks=(), data_dir="", output_dir=run),
      str(folder / "bert_config.json"), str(folder / "vocab.txt"), [], None)
  _, encoder = checkpoints.load_bert_encoder(
      BertFiles.resolve(bert_dir=str(other)))
  tf.train.CheckpointManager(multitask_model.encoder_checkpoint(encoder),
                             os.path.join(run, run_dir.CHECKPOINTS),
                             max_to_keep=1).save()
  input_file = _write_lines(tmp_path / "in.txt", ["the cat sat"])
  output_file = tmp_path / "out.jsonl"
  done = subprocess.run(
      [sys.executable, "-m", "bluebert_mtl.commands.extract_features",
       f"--bert_dir={run}", "--layers=-1,-2", "--max_seq_length=8",
       f"--input_file={input_file}", f"--output_file={output_file}"],
      capture_output=True, text=True, check=False, cwd=REPO_ROOT)
  assert done.returncode == 0, done.stderr
  (record,) = _read_records(output_file)
  want = _numpy_layers(weights, config, record["tokens"], 5)
  for layer in record["layers"]:
    assert np.abs(np.array(layer["values"]) -
                  want[layer["index"]]).max() <= 1e-5
