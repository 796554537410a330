"""Pairwise MTL: the delta matrix and edge colours on hand numbers, and the
CLI on three sample tasks with a tiny encoder: a 3x3 matrix of pair minus
single scores (one single score trained, two read from a baseline folder)
and a PNG that opens at the figure's size."""

import csv
import dataclasses
import json
import math
import os
import struct
import subprocess
import sys

from matplotlib import image as mpl_image
import numpy as np
import pytest

from bluebert_mtl.train.start import Start
from bluebert_mtl.study import pairwise
from bluebert_mtl.config import BertFiles, TrainConfig
from bluebert_mtl.errors import ConfigError
from conftest import REPO_ROOT, SAMPLE_DIR

TASKS = ("chemprot", "mednli", "clinicalsts")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SIDE = int(pairwise.FIGURE_INCHES * pairwise.FIGURE_DPI)
# A start from random weights: the hand-made run folders below have no
# start.json, so only their flags are checked.
START = Start(BertFiles("unused", None, "unused"))


def test_delta_matrix_rows_are_auxiliary_columns_are_target():
  single = {"a": 0.5, "b": 0.6, "c": 0.7}
  pairs = {("a", "b"): {"a": 0.55, "b": 0.58},
           ("a", "c"): {"a": 0.50, "c": 0.75},
           ("b", "c"): {"b": 0.61, "c": 0.69}}
  want = [[math.nan, -0.02, 0.05],
          [0.05, math.nan, -0.01],
          [0.00, 0.01, math.nan]]
  got = pairwise.delta_matrix(["a", "b", "c"], single, pairs)
  np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("delta, color", [
    (0.006, pairwise.GREEN), (-0.006, pairwise.RED), (0.004, pairwise.GREY),
    (-0.004, pairwise.GREY), (0.005, pairwise.GREY), (math.nan, pairwise.GREY)])
def test_edge_colour_by_threshold(delta, color):
  assert pairwise.edge_color(delta, 0.005) == color


def _assert_png(path):
  with open(path, "rb") as f:
    head = f.read(24)
  assert head[:8] == PNG_SIGNATURE
  # IHDR, the first chunk: width and height, big-endian, at bytes 16-23.
  assert head[12:16] == b"IHDR"
  assert struct.unpack(">II", head[16:24]) == (SIDE, SIDE)
  pixels = mpl_image.imread(path)
  assert pixels.shape[:2] == (SIDE, SIDE)


def _score(folder, task):
  with open(os.path.join(folder, "results.json")) as f:
    (value,) = json.load(f)[task]["test"].values()
  return value


def test_cli_on_three_sample_tasks(tiny_bert_dir, tmp_path):
  baseline = tmp_path / "single"
  single = {"chemprot": 0.5, "mednli": 0.25}
  for task, metric in (("chemprot", "micro_f1"), ("mednli", "accuracy")):
    os.makedirs(baseline / task)
    with open(baseline / task / "results.json", "w") as f:
      json.dump({task: {"test": {metric: single[task]}}}, f)
  out = tmp_path / "pairwise"
  subprocess.run(
      [sys.executable, "-m", "bluebert_mtl.commands.pairwise",
       "--tasks=" + ",".join(TASKS), f"--baseline_dir={baseline}",
       f"--output_dir={out}", f"--bert_dir={tiny_bert_dir}",
       f"--data_dir={SAMPLE_DIR}", "--max_seq_length=32",
       "--train_batch_size=8", "--max_steps=2", "--threshold=0.01"],
      cwd=REPO_ROOT, check=True, capture_output=True)
  # clinicalsts, missing there, is trained into the baseline folder.
  single["clinicalsts"] = _score(baseline / "clinicalsts", "clinicalsts")
  with open(baseline / "clinicalsts" / "train_config.json") as f:
    assert json.load(f)["tasks"] == ["clinicalsts"]
  want = np.full((3, 3), np.nan)
  for (i, a), (j, b) in [((0, "chemprot"), (1, "mednli")),
                         ((0, "chemprot"), (2, "clinicalsts")),
                         ((1, "mednli"), (2, "clinicalsts"))]:
    pair = out / "pairs" / f"{a}+{b}"
    want[i, j] = _score(pair, b) - single[b]
    want[j, i] = _score(pair, a) - single[a]
    assert os.path.isfile(pair / "timing.json")

  with open(out / "deltas.csv") as f:
    rows = list(csv.reader(f))
  assert rows[0] == ["auxiliary \\ target", *TASKS]
  assert [r[0] for r in rows[1:]] == list(TASKS)
  got = np.array([[float(v) if v else np.nan for v in r[1:]]
                  for r in rows[1:]])
  assert got.shape == (3, 3)
  np.testing.assert_allclose(got, want, atol=1e-12)
  markdown = (out / "deltas.md").read_text().splitlines()
  assert markdown[0] == ("| auxiliary \\ target | chemprot | mednli | "
                         "clinicalsts |")
  assert markdown[2].startswith("| chemprot | - | ")
  assert markdown[5].startswith("| single task | 0.500 | 0.250 | ")
  # Wall times of the runs with timing.json: the trained single run and the
  # pairs (chemprot's and mednli's scores came without one).
  runs = [baseline / "clinicalsts", out / "pairs" / "chemprot+mednli",
          out / "pairs" / "chemprot+clinicalsts",
          out / "pairs" / "mednli+clinicalsts"]
  assert [row.split(" | ")[0] for row in markdown[-4:]] == [
      f"| {run}" for run in runs]
  for run, row in zip(runs, markdown[-4:]):
    with open(run / "timing.json") as f:
      seconds = round(json.load(f)["wall_seconds"])
    assert row.endswith(f" | {seconds // 3600}:{seconds // 60 % 60:02d}:"
                        f"{seconds % 60:02d} |")
  _assert_png(out / "pairwise.png")


def test_graph_of_a_hand_matrix_is_a_png_of_the_figure_size(tmp_path):
  deltas = np.array([[np.nan, 0.02, -0.03], [0.0, np.nan, 0.001],
                     [-0.2, 0.1, np.nan]])
  path = tmp_path / "graph.png"
  pairwise.draw_graph(["a", "b", "c"], deltas, 0.005, str(path))
  _assert_png(path)


def _finished_run(folder, scores):
  """A run folder as a finished run leaves it: results.json and timing.json."""
  os.makedirs(folder, exist_ok=True)
  results = {name: {"test": {"accuracy": v}} for name, v in scores.items()}
  with open(os.path.join(folder, "results.json"), "w") as f:
    json.dump(results, f)
  with open(os.path.join(folder, "timing.json"), "w") as f:
    json.dump({"wall_seconds": 1.0, "resumed": False}, f)
  return results


def test_max_new_pairs_trains_the_first_unfinished_and_reads_finished_back(
    tmp_path, monkeypatch):
  # Pairs in order: a+b, a+c, b+c; b+c is finished, one new pair is allowed:
  # a+b is trained, b+c read back, a+c left out ("not run", no edge).
  tasks = [type("Spec", (), {"name": n})() for n in ("a", "b", "c")]
  _finished_run(tmp_path / "pairs" / "b+c", {"b": 0.61, "c": 0.69})
  trained = []

  class FakeTrainer:
    """Stands in for trainer.Trainer: records the run, writes its folder."""

    def __init__(self, config):
      self.config = config

    def restore(self):
      pass

    def run(self):
      trained.append(self.config.tasks)
      return _finished_run(self.config.output_dir, {"a": 0.55, "b": 0.58})

  monkeypatch.setattr(pairwise.trainer, "Trainer",
                      lambda config, *unused: FakeTrainer(config))
  config = TrainConfig(tasks=("a", "b", "c"), data_dir="unused",
                       output_dir=str(tmp_path))
  scores = pairwise.pair_scores(config, START, tasks, "test", max_new_pairs=1)
  assert trained == [("a", "b")]
  assert scores == {("a", "b"): {"a": 0.55, "b": 0.58},
                    ("b", "c"): {"b": 0.61, "c": 0.69}}

  single = {"a": 0.5, "b": 0.6, "c": 0.7}
  deltas = pairwise.delta_matrix(["a", "b", "c"], single, scores)
  pairs = [pairwise.pair_folder(str(tmp_path), a, b)
           for a, b in (("a", "b"), ("a", "c"), ("b", "c"))]
  pairwise.write_matrix(["a", "b", "c"], deltas, single, str(tmp_path),
                        pairwise.run_seconds(pairs))
  rows = (tmp_path / "deltas.md").read_text().splitlines()
  assert rows[2] == "| a | - | -0.020 | not run |"
  assert rows[3] == "| b | +0.050 | - | -0.010 |"
  assert rows[4] == "| c | not run | +0.010 | - |"
  assert rows[5] == "| single task | 0.500 | 0.600 | 0.700 |"
  # The finished pairs' timing.json (1 s each); a+c did not run.
  assert rows[7:] == ["Each run's wall time:", "",
                      "| run | wall time (h:mm:ss) |", "|---|---|",
                      f"| {pairs[0]} | 0:00:01 |", f"| {pairs[2]} | 0:00:01 |"]
  pairwise.draw_graph(["a", "b", "c"], deltas, 0.005,
                      str(tmp_path / "graph.png"))
  _assert_png(tmp_path / "graph.png")


def _single_run(folder, config, score):
  """A finished run folder of task "a" trained with `config`."""
  _finished_run(folder, {"a": score})
  with open(os.path.join(folder, "train_config.json"), "w") as f:
    f.write(dataclasses.replace(config, tasks=("a",),
                                output_dir=str(folder)).to_json_string())


def _pairs_config(tmp_path, **fields):
  return TrainConfig(tasks=("a", "b"), data_dir="unused",
                     output_dir=str(tmp_path / "pairwise"), seed=1,
                     learning_rate=2e-4, num_train_epochs=2.0, **fields)


def test_single_score_is_the_seed_run_of_a_multi_seed_baseline(tmp_path):
  config = _pairs_config(tmp_path)
  task = tmp_path / "single" / "a"
  for seed, score in ((1, 0.4), (2, 0.6)):
    _single_run(task / f"seed_{seed}", dataclasses.replace(config, seed=seed),
                score)
  with open(task / "results.json", "w") as f:  # run_finetune.py's aggregate
    json.dump({"a": {"test": {"accuracy": 0.5}, "seeds": [1, 2]}}, f)
  spec = type("Spec", (), {"name": "a"})()
  got = pairwise.single_scores(config, START, [spec],
                               str(tmp_path / "single"), "test")
  assert got == {"a": 0.4}


def test_single_run_with_other_flags_than_the_pairs_is_refused(tmp_path):
  config = _pairs_config(tmp_path)
  folder = tmp_path / "single" / "a"
  # Trained 20 epochs and with another seed; its cache and logging differ
  # too, which do not count.
  _single_run(folder, dataclasses.replace(
      config, num_train_epochs=20.0, seed=7, cache_dir="elsewhere",
      log_every_steps=1), 0.5)
  spec = type("Spec", (), {"name": "a"})()
  with pytest.raises(ConfigError) as error:
    pairwise.single_scores(config, START, [spec], str(tmp_path / "single"),
                           "test")
  message = str(error.value)
  assert str(folder) in message
  assert "num_train_epochs: 20.0 != 2.0" in message
  assert "seed: 7 != 1" in message
  assert "cache_dir" not in message and "log_every_steps" not in message


def test_multi_seed_baseline_without_the_pairs_seed_is_refused(tmp_path):
  config = _pairs_config(tmp_path)
  task = tmp_path / "single" / "a"
  _single_run(task / "seed_2", dataclasses.replace(config, seed=2), 0.6)
  with pytest.raises(ConfigError, match=r"holds seed_2 but no seed_1"):
    pairwise.single_run_folder(str(tmp_path / "single"), "a", 1)


def test_pair_folder_of_an_earlier_call_with_other_flags_is_refused(tmp_path):
  config = _pairs_config(tmp_path)
  folder = tmp_path / "pairwise" / "pairs" / "a+b"
  _single_run(folder, dataclasses.replace(config, learning_rate=5e-5), 0.5)
  tasks = [type("Spec", (), {"name": n})() for n in ("a", "b")]
  with pytest.raises(ConfigError) as error:
    pairwise.pair_scores(config, START, tasks, "test")
  assert str(folder) in str(error.value)
  assert "learning_rate: 5e-05 != 0.0002" in str(error.value)
