"""bluebert_mtl.runs.sources: the runs a --model_dir names, on run folders
written by hand (train_config.json, results.json, timing.json)."""

import json
import os

import pytest

from bluebert_mtl.errors import ConfigError
from bluebert_mtl.runs import sources
from bluebert_mtl.runs.run_dir import RunSource


def _run(folder, task="hoc", dev=None, finished=True):
  """A run folder of one task with a dev score (its test score is the
  reverse, so a choice by test would differ)."""
  os.makedirs(folder)
  with open(os.path.join(folder, "train_config.json"), "w") as f:
    f.write("{}")
  if dev is not None:
    entry = {"dev": {"hoc_f1": dev}, "test": {"hoc_f1": 1 - dev}}
    with open(os.path.join(folder, "results.json"), "w") as f:
      json.dump({task: entry}, f)
  if finished:
    with open(os.path.join(folder, "timing.json"), "w") as f:
      json.dump({"wall_seconds": 1.0, "resumed": False}, f)
  return str(folder)


def test_run_folder_and_checkpoint_prefix(tmp_path):
  run = _run(tmp_path / "run")
  assert sources.resolve_runs(run) == [RunSource(run)]
  prefix = os.path.join(run, "final", "weights")
  os.makedirs(os.path.dirname(prefix))
  open(prefix + ".index", "w").close()
  assert sources.resolve_runs(prefix) == [
      RunSource(os.path.abspath(run), prefix)]


def test_seeds_give_the_best_dev_seed_lowest_on_ties(tmp_path, caplog):
  task = tmp_path / "hoc"
  _run(task / "seed_1", dev=0.5)
  _run(task / "seed_2", dev=0.7)
  _run(task / "seed_3", dev=0.7)
  _run(task / "seed_4", dev=0.9, finished=False)  # still training
  caplog.set_level("INFO", logger="absl")
  assert sources.resolve_runs(str(task)) == [RunSource(str(task / "seed_2"))]
  assert "seed 2 has the best dev score of seeds 1, 2, 3, 4" in caplog.text
  assert "unfinished seeds left out: 4" in caplog.text


def test_finetune_output_exports_each_task_folder(tmp_path, caplog):
  ft = tmp_path / "ft"
  chemprot = _run(ft / "chemprot", "chemprot")
  _run(ft / "hoc" / "seed_1", dev=0.6)
  _run(ft / "hoc" / "seed_2", dev=0.4)
  (ft / "hoc" / "results.json").write_text("{}")  # the seeds' aggregate
  (ft / "logs").mkdir()
  (ft / "table.md").write_text("")
  assert sources.resolve_runs(str(ft)) == [
      RunSource(chemprot), RunSource(str(ft / "hoc" / "seed_1"))]
  assert "not run folders, left out: logs, table.md" in caplog.text


def test_refusals(tmp_path):
  _run(tmp_path / "a" / "seed_1", finished=False)
  _run(tmp_path / "a" / "seed_2", finished=False)
  with pytest.raises(ConfigError, match=r"a: none of its seeds 1, 2 has "
                     r"finished \(no timing.json\)"):
    sources.resolve_runs(str(tmp_path / "a"))
  _run(tmp_path / "b" / "seed_1", dev=0.5)
  _run(tmp_path / "b" / "seed_7")  # finished, but no dev score
  with pytest.raises(ConfigError, match=r"seed_7/results.json: no dev score "
                     r"of one task to choose among the seeds 1, 7 by; give "
                     r"--model_dir=.*b/seed_<seed>"):
    sources.resolve_runs(str(tmp_path / "b"))
  (tmp_path / "empty").mkdir()
  with pytest.raises(ConfigError, match="neither a run folder"):
    sources.resolve_runs(str(tmp_path / "empty"))
