"""The runs a --model_dir names, and the weights used of each.

A --model_dir is one of:

  a run folder (it has train_config.json)   that run
  a checkpoint prefix inside a run folder   that run, every task with those
                                            weights (`run_dir.RunSource`)
  a task folder of seed runs                the seed with the best dev score
    (seed_<s>/, run_finetune.py --seeds)      (ties: the lowest seed); only
                                              finished seeds (timing.json)
                                              compete, the others are logged
  a folder of such folders                  each of its run folders and task
    (run_finetune.py's --output_dir)          folders of seeds, in name order

Dev scores choose among seeds as they choose among a run's epochs: never a
test score.
"""

import os
from typing import List

from absl import logging

from bluebert_mtl.errors import RunFolderError
from bluebert_mtl.runs import results as results_lib
from bluebert_mtl.runs import run_dir
from bluebert_mtl.runs.run_dir import RunSource


def _seed_runs(task_folder: str) -> dict:
  """seed -> run folder of the seed runs in a task folder."""
  return {seed: folder for seed, folder in
          run_dir.seed_runs(task_folder).items() if run_dir.is_run(folder)}


def _dev_score(folder: str, seeds: str) -> float:
  """The dev score of a finished seed run of one task."""
  path = os.path.join(folder, run_dir.RESULTS)
  results = run_dir.read_results(folder) if os.path.isfile(path) else {}
  score = (results_lib.score_of(next(iter(results.values())), "dev")
           if len(results) == 1 else None)
  if score is None:
    raise RunFolderError(
        f"{path}: no dev score of one task "
        f"to choose among the seeds {seeds} by; give --model_dir="
        f"{os.path.join(os.path.dirname(folder), run_dir.SEED_PREFIX)}<seed>")
  return score.value


def best_seed(task_folder: str) -> RunSource:
  """The run of a task folder's seeds with the best dev score (module
  docstring).

  Raises:
    RunFolderError: no seed has finished, or a finished one has no dev score.
  """
  runs = _seed_runs(task_folder)
  seeds = ", ".join(map(str, runs))
  finished = {s: f for s, f in runs.items() if run_dir.is_finished(f)}
  if not finished:
    raise RunFolderError(f"{task_folder}: none of its seeds {seeds} has "
                         f"finished (no {run_dir.TIMING})")
  scores = {seed: _dev_score(folder, seeds)
            for seed, folder in finished.items()}
  chosen = max(scores, key=lambda seed: (scores[seed], -seed))
  logging.info("%s: seed %d has the best dev score of seeds %s (%s)%s",
               task_folder, chosen, seeds,
               ", ".join(f"{s}: {v:.4f}" for s, v in scores.items()),
               "" if len(finished) == len(runs) else
               "; unfinished seeds left out: " +
               ", ".join(str(s) for s in runs if s not in finished))
  return RunSource(finished[chosen])


def resolve_runs(model_dir: str) -> List[RunSource]:
  """The runs and weights a --model_dir names (module docstring).

  Raises:
    RunFolderError: a path that is none of those.
  """
  if not os.path.isdir(model_dir) or run_dir.is_run(model_dir):
    return [RunSource.resolve(model_dir)]
  if _seed_runs(model_dir):
    return [best_seed(model_dir)]
  sources, skipped = [], []
  for name in sorted(os.listdir(model_dir)):
    folder = os.path.join(model_dir, name)
    if run_dir.is_run(folder):
      sources.append(RunSource(folder))
    elif os.path.isdir(folder) and _seed_runs(folder):
      sources.append(best_seed(folder))
    else:
      skipped.append(name)
  if not sources:
    raise RunFolderError(
        f"--model_dir {model_dir} is neither a run folder (no "
        f"{run_dir.TRAIN_CONFIG}), a checkpoint prefix, nor a folder of run "
        f"folders or of {run_dir.SEED_PREFIX}<s>/ runs")
  if skipped:
    logging.warning("%s: not run folders, left out: %s", model_dir,
                 ", ".join(skipped))
  return sources
