"""Pairwise multi-task learning: which task helps which (paper Figure 2).

  python -m bluebert_mtl.commands.pairwise --tasks=chemprot,ddi2013-type,bc5cdr-disease \
      --bert_dir=NCBI_BERT_pubmed_uncased_L-12_H-768_A-12 --data_dir=BLUE \
      --baseline_dir=runs/single --output_dir=runs/pairwise

Every pair {s, t} of --tasks trains one multi-task run (OUTPUT_DIR/pairs/
s+t/); its score on t minus t's single-task score is how much the auxiliary
task s changes the target task t. Single-task scores come from
--baseline_dir/<task>/ or, for run_finetune.py --seeds output, its
seed_<--seed>/ (run_finetune.py writes that layout); tasks missing there are
trained once into it. All runs use the same training flags, seed and
encoder start (no per-task recipe), so pair and single runs differ only in
the tasks: a single run trained with other flags (say a longer baseline
recipe) or from other weights is refused, with what differs, and so is a
pair folder of an earlier call with other flags.

Outputs in OUTPUT_DIR: deltas.csv and deltas.md (rows: auxiliary task s,
columns: target task t, cell: pair score - single score on --split; the md
ends with the wall time of each single and pair run),
pairwise.png (tasks on a circle; edge s->t green if s improves t by more
than --threshold, red if it hurts t by more, grey otherwise). Finished runs
(with timing.json) are read back, so a rerun only trains what is missing;
--max_new_pairs caps how many pairs one call trains, so that a matrix too long
for one sitting grows over several calls, each writing the matrix and graph of
the pairs finished so far (the others "not run" in the table, no edge drawn).
"""

import csv
import dataclasses
import glob
import itertools
import math
import os
from typing import Dict, Optional, Sequence

from absl import logging
from matplotlib import lines as mlines
from matplotlib.figure import Figure
import numpy as np

from bluebert_mtl.config import TrainConfig
from bluebert_mtl.errors import ConfigError
from bluebert_mtl.runs import results as results_lib
from bluebert_mtl.runs import run_dir
from bluebert_mtl.study import report
from bluebert_mtl.train import trainer
from bluebert_mtl.train.start import Start

GREEN, RED, GREY = "#2ca02c", "#d62728", "#9e9e9e"
FIGURE_INCHES, FIGURE_DPI = 6.0, 100
DELTAS_CSV, DELTAS_MD, GRAPH_PNG = "deltas.csv", "deltas.md", "pairwise.png"


def _score(results: dict, task: str, split: str, source: str) -> float:
  score = results_lib.score_of(results.get(task, {}), split)
  if score is None:
    raise ConfigError(f"{source}: no {split} score of {task}")
  return score.value


def single_run_folder(baseline_dir: str, task_name: str, seed: int) -> str:
  """Where a task's single-task run lives in `baseline_dir`: its seed_<seed>/
  sub-folder when the task ran several seeds (run_finetune.py --seeds),
  else the task folder itself (also where a missing run is trained)."""
  task_folder = os.path.join(baseline_dir, task_name)
  seed_folder = run_dir.seed_folder(task_folder, seed)
  if os.path.isdir(seed_folder):
    return seed_folder
  seeds = sorted(glob.glob(os.path.join(task_folder,
                                        run_dir.SEED_PREFIX + "*")))
  if seeds:
    raise ConfigError(
        f"{task_folder}: holds {', '.join(map(os.path.basename, seeds))} "
        f"but no {os.path.basename(seed_folder)}; the pairs train with "
        f"--seed={seed}")
  return task_folder


def single_scores(config: TrainConfig, start: Start, tasks: Sequence,
                  baseline_dir: str, split: str) -> Dict[str, float]:
  """Each task's single-task score on `split`, from its run in `baseline_dir`
  (`single_run_folder`), which must share the pairs' flags, seed and encoder
  start (`run_dir.check_same_run`), or trained (resumed) there with them. A
  folder with a results.json but no train_config.json holds scores from
  elsewhere: they are used as they are, and the unchecked recipe is
  logged."""
  scores = {}
  for task in tasks:
    folder = single_run_folder(baseline_dir, task.name, config.seed)
    single_config = dataclasses.replace(config, tasks=(task.name,),
                                        output_dir=folder)
    if run_dir.is_run(folder):
      run_dir.check_same_run(
          folder, single_config, start.checkpoint,
          lambda: trainer.data_record(single_config),
          "Point --baseline_dir at single-task runs with the pairs' flags "
          "and start, or move this one away to have it trained with them")
    elif os.path.isfile(os.path.join(folder, run_dir.RESULTS)):
      logging.warning("%s has no %s: its score is used, but whether it was "
                      "trained with the pairs' flags cannot be checked",
                      folder, run_dir.TRAIN_CONFIG)
      scores[task.name] = _score(results_lib.read_results(folder), task.name,
                                 split, folder)
      continue
    results = trainer.train(single_config, start, [task])
    scores[task.name] = _score(results, task.name, split, folder)
  return scores


def pair_folder(output_dir: str, a: str, b: str) -> str:
  """The run folder of the pair of tasks named `a` and `b`, in that order."""
  return os.path.join(output_dir, "pairs", f"{a}+{b}")


def pair_scores(config: TrainConfig, start: Start, tasks: Sequence,
                split: str, max_new_pairs: Optional[int] = None
                ) -> Dict[tuple, Dict[str, float]]:
  """(a, b) -> {a: score, b: score} of the pair's multi-task run, for every
  unordered pair in `tasks` order that is finished or trained now: finished
  pairs are read back, and at most `max_new_pairs` (None: all) are trained,
  the first unfinished ones in that order. A pair folder trained (or begun)
  with other flags or start than now is refused (`run_dir.check_same_run`)."""
  scores = {}
  trained = 0
  for a, b in itertools.combinations(tasks, 2):
    folder = pair_folder(config.output_dir, a.name, b.name)
    if not run_dir.is_finished(folder):
      if max_new_pairs is not None and trained >= max_new_pairs:
        continue
      trained += 1
    results = trainer.train(
        dataclasses.replace(config, tasks=(a.name, b.name),
                            output_dir=folder), start, [a, b])
    scores[a.name, b.name] = {t.name: _score(results, t.name, split, folder)
                              for t in (a, b)}
  return scores


def delta_matrix(names: Sequence[str], single: Dict[str, float],
                 pairs: Dict[tuple, Dict[str, float]]) -> np.ndarray:
  """float64 [n, n]: row s, column t = score of t trained with s - score of
  t alone; NaN on the diagonal."""
  index = {name: i for i, name in enumerate(names)}
  deltas = np.full((len(names), len(names)), np.nan)
  for pair, scores in pairs.items():
    for target in pair:
      (auxiliary,) = [name for name in pair if name != target]
      deltas[index[auxiliary], index[target]] = (scores[target] -
                                                 single[target])
  return deltas


def edge_color(delta: float, threshold: float) -> str:
  """Green: helps by more than `threshold`; red: hurts by more; else grey."""
  if delta > threshold:
    return GREEN
  if delta < -threshold:
    return RED
  return GREY


def write_matrix(names: Sequence[str], deltas: np.ndarray,
                 single: Dict[str, float], folder: str,
                 wall_seconds: Optional[Dict[str, float]] = None):
  """Writes DELTAS_CSV (full precision; empty cells: diagonal or not run) and
  DELTAS_MD ("-" on the diagonal, "not run" for pairs not trained yet, the
  single-task scores under the matrix, then the wall time of each run in
  `wall_seconds`: run folder -> seconds, in the given order)."""
  csv_path = os.path.join(folder, DELTAS_CSV)
  with open(csv_path, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["auxiliary \\ target", *names])
    writer.writerows([name, *("" if math.isnan(v) else repr(float(v))
                              for v in row)]
                     for name, row in zip(names, deltas))
  def cell(s, t):
    if s == t:
      return "-"
    return "not run" if math.isnan(deltas[s, t]) else f"{deltas[s, t]:+.3f}"
  rows = [[name] + [cell(s, t) for t in range(len(names))]
          for s, name in enumerate(names)]
  rows.append(["single task"] + [single[n] for n in names])
  text = report.markdown_table(["auxiliary \\ target", *names], rows)
  if wall_seconds:
    text += "\n\nEach run's wall time:\n\n" + report.markdown_table(
        ["run", "wall time (h:mm:ss)"],
        [[run, report.clock(seconds)] for run, seconds in wall_seconds.items()])
  with open(os.path.join(folder, DELTAS_MD), "w") as f:
    f.write(text + "\n")


def run_seconds(folders: Sequence[str]) -> Dict[str, float]:
  """Run folder -> wall time of each finished run among `folders`, in their
  order."""
  return {f: run_dir.wall_seconds(f) for f in folders
          if run_dir.is_finished(f)}


def draw_graph(names: Sequence[str], deltas: np.ndarray, threshold: float,
               path: str):
  """Draws the directed graph of Figure 2 to a FIGURE_INCHES square PNG of
  FIGURE_DPI dots per inch: tasks on a circle, an arrow s->t per pair cell
  (none for NaN cells: the diagonal and pairs not run)."""
  fig = Figure(figsize=(FIGURE_INCHES, FIGURE_INCHES), dpi=FIGURE_DPI)
  ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
  angles = np.pi / 2 - 2 * np.pi * np.arange(len(names)) / len(names)
  xy = np.stack([np.cos(angles), np.sin(angles)], axis=1)  # [n, 2]
  for (s, t), delta in np.ndenumerate(deltas):
    if not math.isnan(delta):
      ax.annotate("", xy=xy[t], xytext=xy[s], arrowprops=dict(
          arrowstyle="-|>", color=edge_color(delta, threshold), lw=1.5,
          shrinkA=22, shrinkB=22, connectionstyle="arc3,rad=0.12"))
  for name, (x, y) in zip(names, xy):
    ax.text(x, y, name, ha="center", va="center", fontsize=9,
            bbox=dict(boxstyle="round", facecolor="white", edgecolor="black"))
  ax.legend(handles=[mlines.Line2D([], [], color=c, label=label)
                     for c, label in ((GREEN, f"helps (> {threshold:g})"),
                                      (RED, f"hurts (< -{threshold:g})"),
                                      (GREY, "within the threshold"))],
            loc="lower right", fontsize=8, frameon=False)
  ax.set_xlim(-1.3, 1.3)
  ax.set_ylim(-1.3, 1.3)
  ax.set_axis_off()
  fig.savefig(path, dpi=FIGURE_DPI)


def run_pairwise(config: TrainConfig, start: Start, tasks: Sequence,
                 baseline_dir: str, threshold: float = 0.005,
                 split: str = "test",
                 max_new_pairs: Optional[int] = None) -> np.ndarray:
  """Trains what is missing, then writes the delta matrix and the graph.

  Returns:
    the delta matrix (`delta_matrix`) in `tasks` order.
  """
  names = [t.name for t in tasks]
  if len(set(names)) != len(names) or len(names) < 2:
    raise ConfigError(f"--tasks: give two or more distinct tasks, got {names}")
  single = single_scores(config, start, tasks, baseline_dir, split)
  deltas = delta_matrix(names, single, pair_scores(config, start, tasks,
                                                   split, max_new_pairs))
  os.makedirs(config.output_dir, exist_ok=True)
  runs = ([single_run_folder(baseline_dir, n, config.seed) for n in names] +
          [pair_folder(config.output_dir, a, b)
           for a, b in itertools.combinations(names, 2)])
  write_matrix(names, deltas, single, config.output_dir,
               run_seconds(runs))
  draw_graph(names, deltas, threshold,
             os.path.join(config.output_dir, GRAPH_PNG))
  return deltas
