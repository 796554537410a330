"""Gathers run folders into the paper's result tables, as markdown and CSV.

  python -m bluebert_mtl.commands.report --output=runs/table2.md --runs="\
BlueBERT clinical=runs/baseline_clinical,\
MT-BlueBERT-Refinement clinical=runs/mt_bluebert_clinical,\
MT-BlueBERT-Fine-Tune clinical=runs/finetune_clinical"

A run folder is either one training run, whose results.json holds every task
it trained (run_mtl.py, a pair of `pairwise.py`), or the output of
run_finetune.py: one sub-folder per task, each with its results.json (with
--seeds: the mean over seeds in "test" and the sample standard deviation in
"test_sd"). Wall time comes from the timing.json files that run_finetune.py
and `pairwise.py` write beside results.json; folders without one show "-".

The report (--output, e.g. results.md) holds, for the official test metric of
each task: the paper's Table 2 (clinical tasks), Table 3 (biomedical tasks)
and Table 6 (all eight), each run beside the published numbers
(docs/original_system.md §5); the tasks outside the paper's eight; each run
folder's wall time and that of every run in it (task, seed, pair). The CSV
beside it (same name, .csv) has one row per number.
"""

import csv
import dataclasses
import datetime
import os
import statistics
from typing import Dict, List, Optional, Sequence, Tuple


from bluebert_mtl import files
from bluebert_mtl.runs import results as results_lib
from bluebert_mtl.runs import run_dir
from bluebert_mtl.errors import ConfigError


CLINICAL = ("clinicalsts", "i2b2-2010-re", "mednli", "shareclefe")
BIOMEDICAL = ("chemprot", "ddi2013-type", "bc5cdr-disease", "bc5cdr-chemical")
# The paper's eight tasks in the order of its Table 6.
PAPER_TASKS = ("clinicalsts", "i2b2-2010-re", "mednli", "chemprot",
               "ddi2013-type", "bc5cdr-disease", "bc5cdr-chemical",
               "shareclefe")
TITLES = {"clinicalsts": "ClinicalSTS", "i2b2-2010-re": "i2b2 2010 re",
          "mednli": "MedNLI", "shareclefe": "ShARe/CLEFE",
          "chemprot": "ChemProt", "ddi2013-type": "DDI",
          "bc5cdr-disease": "BC5CDR disease",
          "bc5cdr-chemical": "BC5CDR chemical"}


@dataclasses.dataclass(frozen=True)
class PaperTable:
  """One results table of Peng, Chen & Lu (BioNLP 2020), test set.

  Attributes:
    name: "Table 2", "Table 3" or "Table 6".
    title: the heading of its section in the report.
    tasks: its task keys, in the paper's order.
    average: the name of their average in the CSV.
    models: published model name -> scores in `tasks` order, then the
      published average.
  """
  name: str
  title: str
  tasks: Tuple[str, ...]
  average: str
  models: Dict[str, Tuple[float, ...]]


PAPER_TABLES = (
    PaperTable("Table 2", "Clinical tasks", CLINICAL, "avg_clinical", {
        "BlueBERT clinical": (0.848, 0.764, 0.840, 0.771, 0.806),
        "MT-BlueBERT-Refinement clinical": (0.822, 0.745, 0.835, 0.826,
                                            0.807),
        "MT-BlueBERT-Fine-Tune clinical": (0.840, 0.760, 0.846, 0.831,
                                           0.819)}),
    PaperTable("Table 3", "Biomedical tasks", BIOMEDICAL,
                "avg_biomedical", {
        "BlueBERT biomedical": (0.725, 0.739, 0.866, 0.935, 0.816),
        "MT-BlueBERT-Refinement biomedical": (0.714, 0.792, 0.824, 0.930,
                                              0.815),
        "MT-BlueBERT-Fine-Tune biomedical": (0.729, 0.820, 0.865, 0.931,
                                             0.836)}),
    PaperTable("Table 6", "All eight tasks", PAPER_TASKS, "avg_all", {
        "BlueBERT biomedical": (0.845, 0.744, 0.822, 0.725, 0.739, 0.866,
                                0.935, 0.754, 0.804),
        "BlueBERT clinical": (0.848, 0.764, 0.840, 0.692, 0.760, 0.854,
                              0.924, 0.771, 0.807),
        "MT-BioBERT-FT": (0.807, 0.740, 0.831, 0.735, 0.810, 0.849, 0.928,
                          0.812, 0.814),
        "MT-BlueBERT-FT biomedical": (0.820, 0.738, 0.814, 0.724, 0.808,
                                      0.853, 0.928, 0.814, 0.812),
        "MT-BlueBERT-FT clinical": (0.807, 0.748, 0.842, 0.686, 0.779, 0.848,
                                    0.914, 0.830, 0.807)}),
)

NOTE = ("Official test metric of each task; a ± gives the sample standard "
        "deviation over n seeds (the value is their mean). paper: Peng, "
        "Chen & Lu (BioNLP 2020). The paper's DDI score is micro F1; the "
        "official BLUE DDI metric, which runs report, is macro F1.")


# --- runs --------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Run:
  """A named run folder's test scores (task -> Score) and the wall time of
  each run in it (`read_run_seconds`)."""
  name: str
  scores: Dict[str, results_lib.Score]
  run_seconds: Dict[str, float] = dataclasses.field(default_factory=dict)

  @property
  def wall_seconds(self) -> Optional[float]:
    """The sum of the runs' wall times; None when none has timing.json."""
    return sum(self.run_seconds.values()) if self.run_seconds else None

  def average(self, tasks: Sequence[str]) -> Optional[float]:
    """Mean test score over `tasks`; None unless the run has all of them."""
    if not all(t in self.scores for t in tasks):
      return None
    return statistics.fmean(self.scores[t].value for t in tasks)


def read_run(name: str, folder: str) -> Run:
  results = results_lib.read_results(folder)
  if not results:
    raise ConfigError(f"--runs: {folder} holds no {run_dir.RESULTS}, "
                      f"neither itself nor in a sub-folder")
  scores = {task: results_lib.score_of(entry)
            for task, entry in results.items()}
  return Run(name, {t: s for t, s in scores.items() if s is not None},
             results_lib.read_run_seconds(folder))


def parse_runs(pairs: Sequence[str]) -> List[Tuple[str, str]]:
  """--runs values `name=folder` as (name, folder) pairs."""
  runs = []
  for pair in pairs:
    name, sep, folder = pair.partition("=")
    if not sep or not name or not folder:
      raise ConfigError(f"--runs: {pair!r} is not name=folder")
    runs.append((name, folder))
  return runs


# --- tables -----------------------------------------------------------------

def _cell(value) -> str:
  if value is None:
    return "-"
  return value if isinstance(value, str) else f"{value:.3f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
  """A GitHub markdown table; a cell that is None prints "-", a number with
  3 decimals, a string as it is."""
  lines = ["| " + " | ".join(header) + " |",
           "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
  return "\n".join(lines)


def _score_cell(run: Run, task: str) -> Optional[str]:
  score = run.scores.get(task)
  return None if score is None else str(score)


def _metric(runs: Sequence[Run], task: str) -> str:
  return next((r.scores[task].metric for r in runs if task in r.scores), "-")


def domain_table(runs: Sequence[Run], table: PaperTable) -> str:
  """Models as rows, the table's tasks then their average as columns."""
  rows = [[r.name] + [_score_cell(r, t) for t in table.tasks] +
          [r.average(table.tasks)]
          for r in runs if any(t in r.scores for t in table.tasks)]
  rows += [[f"paper: {model}", *scores]
           for model, scores in table.models.items()]
  return markdown_table(
      ["model"] + [TITLES[t] for t in table.tasks] + ["Avg"], rows)


def all_tasks_table(runs: Sequence[Run], table: PaperTable) -> str:
  """Tasks then their average as rows; metric, runs and the paper's models
  as columns."""
  runs = [r for r in runs if any(t in r.scores for t in table.tasks)]
  published = list(zip(*table.models.values()))
  rows = [[TITLES[t], _metric(runs, t)] + [_score_cell(r, t) for r in runs] +
          list(published[i]) for i, t in enumerate(table.tasks)]
  rows.append(["Avg", "mean"] + [r.average(table.tasks) for r in runs] +
              list(published[-1]))
  return markdown_table(["task", "metric"] + [r.name for r in runs] +
                        [f"paper: {m}" for m in table.models], rows)


def other_tasks_table(runs: Sequence[Run]) -> Optional[str]:
  """Tasks outside the paper's eight as rows, runs as columns."""
  tasks = sorted({t for r in runs for t in r.scores} - set(PAPER_TASKS))
  if not tasks:
    return None
  runs = [r for r in runs if any(t in r.scores for t in tasks)]
  return markdown_table(
      ["task", "metric"] + [r.name for r in runs],
      [[t, _metric(runs, t)] + [_score_cell(r, t) for r in runs]
       for t in tasks])


def clock(seconds: Optional[float]) -> Optional[str]:
  """Seconds as h:mm:ss (None stays None)."""
  if seconds is None:
    return None
  return str(datetime.timedelta(seconds=round(seconds)))


def runs_table(runs: Sequence[Run]) -> str:
  return markdown_table(["run", "tasks", "wall time (h:mm:ss)"],
                        [[r.name, str(len(r.scores)), clock(r.wall_seconds)]
                         for r in runs])


def each_run_table(runs: Sequence[Run]) -> str:
  return markdown_table(
      ["run", "folder", "wall time (h:mm:ss)"],
      [[r.name, path, clock(seconds)]
       for r in runs for path, seconds in r.run_seconds.items()])


def to_markdown(runs: Sequence[Run]) -> str:
  """The whole report: the paper's tables, other tasks, runs."""
  sections = [("Results", NOTE)]
  for table in PAPER_TABLES:
    render = all_tasks_table if table.tasks == PAPER_TASKS else domain_table
    sections.append((f"{table.title} (paper {table.name})",
                     render(runs, table)))
  other = other_tasks_table(runs)
  if other:
    sections.append(("Other tasks", other))
  sections.append(("Runs", runs_table(runs)))
  if any(r.run_seconds for r in runs):
    sections.append(("Each run's wall time", each_run_table(runs)))
  return "\n\n".join(
      ("# " if i == 0 else "## ") + title + "\n\n" + body
      for i, (title, body) in enumerate(sections)) + "\n"


CSV_COLUMNS = ("source", "model", "task", "metric", "value", "sd", "seeds")


def csv_rows(runs: Sequence[Run]) -> List[tuple]:
  """One row (CSV_COLUMNS) per number of the report."""
  rows = []
  for run in runs:
    rows += [("run", run.name, task, s.metric, s.value, s.sd, s.seeds)
             for task, s in sorted(run.scores.items())]
    rows += [("run", run.name, t.average, "mean", run.average(t.tasks), None,
              None)
             for t in PAPER_TABLES if run.average(t.tasks) is not None]
    if run.wall_seconds is not None:
      rows.append(("run", run.name, "all", "wall_seconds", run.wall_seconds,
                   None, None))
    rows += [("run", run.name, path, "wall_seconds", seconds, None, None)
             for path, seconds in run.run_seconds.items()]
  for table in PAPER_TABLES:
    rows += [(f"paper {table.name}", model, task, None, value, None, None)
             for model, scores in table.models.items()
             for task, value in zip(table.tasks + (table.average,), scores)]
  return rows


def write_report(runs: Sequence[Run], output: str) -> Tuple[str, str]:
  """Writes the markdown report to `output` and its CSV beside it.

  Returns:
    (markdown path, CSV path).
  """
  with files.written_whole(output, encoding="utf-8") as f:
    f.write(to_markdown(runs))
  csv_path = os.path.splitext(output)[0] + ".csv"
  with files.written_whole(csv_path, newline="", encoding="utf-8") as f:
    writer = csv.writer(f)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(["" if v is None else v for v in row]
                     for row in csv_rows(runs))
  return output, csv_path
