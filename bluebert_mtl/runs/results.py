"""results.json of run folders: its schema, the mean over seeds, reading back.

results.json of one run: {task: {"best_step": int, "dev": {metric: value},
"test": {metric: value}}} ({} for an unscored split). A task fine-tuned with
several seeds has one entry (`aggregate_seeds`): the mean in "dev" and
"test", the sample standard deviation in "dev_sd" and "test_sd", the seeds,
and each seed's entry in "per_seed".

A folder read here is one run (run_mtl.py, a pair of `pairwise`), or the
output of run_finetune.py: one sub-folder per task, each with its
results.json (or seed_<s>/ runs).
"""

import dataclasses
import glob
import os
import statistics
from typing import Dict, Optional, Sequence

from bluebert_mtl.runs import run_dir


def _mean_sd(entries: Sequence[dict], split: str):
  """Per metric of `split`: mean and sample sd (0 for one seed)."""
  metrics = entries[0].get(split) or {}
  means, sds = {}, {}
  for metric in metrics:
    values = [e[split][metric] for e in entries]
    means[metric] = statistics.fmean(values)
    sds[metric] = statistics.stdev(values) if len(values) > 1 else 0.0
  return means, sds


def aggregate_seeds(per_seed: Dict[int, dict]) -> dict:
  """A task's results.json entries by seed -> one entry: the mean in "dev"
  and "test", the sample standard deviation in "dev_sd" and "test_sd", the
  seeds, and each seed's entry in "per_seed"."""
  entries = list(per_seed.values())
  aggregate = {"seeds": list(per_seed)}
  for split in ("dev", "test"):
    aggregate[split], aggregate[f"{split}_sd"] = _mean_sd(entries, split)
  aggregate["per_seed"] = {str(s): e for s, e in per_seed.items()}
  return aggregate


def _read_finished_seeds(task_folder: str) -> Dict[str, dict]:
  """Task -> `aggregate_seeds` of the finished seed_<s>/ runs (those with
  timing.json) of a task folder whose seeds have not all run yet (it has no
  results.json of its own); {} if none has finished."""
  per_seed = {seed: run_dir.read_results(folder)
              for seed, folder in run_dir.seed_runs(task_folder).items()
              if run_dir.is_finished(folder)}
  tasks = {task for results in per_seed.values() for task in results}
  return {task: aggregate_seeds({s: per_seed[s][task]
                                 for s in sorted(per_seed)})
          for task in sorted(tasks)}


def read_results(folder: str) -> Dict[str, dict]:
  """Task -> results.json entry of a run folder or of a run_finetune.py
  output (one sub-folder per task; a task whose seeds have not all run is
  the aggregate of its finished ones); {} if it holds none."""
  if os.path.isfile(os.path.join(folder, run_dir.RESULTS)):
    return run_dir.read_results(folder)
  results = {}
  for task_folder in sorted(glob.glob(os.path.join(folder, "*", ""))):
    results.update(
        run_dir.read_results(task_folder)
        if os.path.isfile(os.path.join(task_folder, run_dir.RESULTS))
        else _read_finished_seeds(task_folder))
  return results


def read_run_seconds(folder: str) -> Dict[str, float]:
  """Wall time of each run in a folder, by its path relative to the folder
  ("." for the folder itself): every timing.json in it and below (seeds,
  tasks, pairs), in path order."""
  paths = sorted(glob.glob(os.path.join(folder, "**", run_dir.TIMING),
                           recursive=True))
  return {os.path.relpath(os.path.dirname(path), folder):
          run_dir.wall_seconds(os.path.dirname(path)) for path in paths}


@dataclasses.dataclass(frozen=True)
class Score:
  """One task's score in a split: a value or a mean over `seeds` runs."""
  metric: str
  value: float
  sd: Optional[float] = None
  seeds: int = 1

  def __str__(self):
    text = f"{self.value:.3f}"
    if self.sd is None or self.seeds < 2:
      return text
    return f"{text} ± {self.sd:.3f}, n={self.seeds}"


def score_of(entry: dict, split: str = "test") -> Optional[Score]:
  """The score of a results.json entry in `split`; None when unscored."""
  values = entry.get(split) or {}
  if not values:
    return None
  metric, value = next(iter(values.items()))
  sd = (entry.get(f"{split}_sd") or {}).get(metric)
  return Score(metric, value, sd, len(entry.get("seeds", ())) or 1)
