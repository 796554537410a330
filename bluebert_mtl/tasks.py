"""The task registry: every BLUE task's reader, labels, kind, loss and metric.

One `TaskSpec` per task, keyed as MT-BlueBERT keys them (docs/original_system.md
§1.1). The kind (`task_kinds.py`) gives the head, loss and decoding; the format
(`readers.py`) the file reader and prediction writer; the metric (`metrics.py`,
below `METRICS`) the official BLUE score.

  key              kind            format    metric (official BLUE)
  clinicalsts      regression      sts       pearson
  biosses          regression      sts       pearson
  mednli           classification  mednli    accuracy
  chemprot         classification  relation  micro_f1 excluding "false"
  ddi2013-type     classification  relation  macro_f1 excluding "DDI-false"
                                             (BLUE README since 2019; the
                                             micro F1 MT-BlueBERT reported is
                                             in the details)
  i2b2-2010-re     classification  relation  micro_f1 excluding "false"
  bc5cdr-chemical  tagging         ner       chunk_f1 (conlleval)
  bc5cdr-disease   tagging         ner       chunk_f1
  shareclefe       tagging         ner       chunk_f1
  hoc              multilabel      hoc       hoc_f1 (per abstract)

A user task is a YAML file (schema in the README, `load_task_definition`):
name, type (a kind), labels, format (one of the five BLUE file layouts),
metric (a key of `METRICS`), and for F1 metrics the negative label.
"""

import dataclasses
from typing import Callable, Dict, Iterable, Optional, Sequence, Tuple

import yaml

from bluebert_mtl import metrics
from bluebert_mtl.data import readers
from bluebert_mtl import task_kinds
from bluebert_mtl.config import PAPER_HEAD_DROPOUT
from bluebert_mtl.errors import ConfigError, DataError


def rows_for(gold: Sequence[Tuple[str, object]], predictions: dict) -> list:
  """Predictions keyed by guid as rows aligned with the gold rows (a relation
  pair with several gold rows gets its one prediction on each)."""
  missing = sorted({guid for guid, _ in gold} - set(predictions))
  if missing:
    raise ConfigError(f"no prediction for {len(missing)} gold rows, e.g. "
                      f"{', '.join(missing[:5])}")
  return [(guid, predictions[guid]) for guid, _ in gold]


def _pearson(task, guids, gold, predicted):
  del task, guids
  return metrics.pearson(gold, predicted)


def _accuracy(task, guids, gold, predicted):
  del guids
  return metrics.micro_f1_all_classes(gold, predicted, task.labels)


def _micro_f1(task, guids, gold, predicted):
  del guids
  return metrics.micro_f1_excluding(gold, predicted, task.negative_label)


def _macro_f1(task, guids, gold, predicted):
  del guids
  return metrics.macro_f1_excluding(gold, predicted, task.negative_label,
                                    task.labels)


def _chunk_f1(task, guids, gold, predicted):
  del task, guids
  return metrics.conlleval_chunk_f1(gold, predicted)


def _hoc_f1(task, guids, gold, predicted):
  del task
  return metrics.hoc_document_f1(guids, [set(g) for g in gold],
                                 [set(p) for p in predicted])


# metric name -> (task, row guids, gold labels, predicted labels) -> scores.
METRICS: Dict[str, Callable] = {
    "pearson": _pearson,
    "accuracy": _accuracy,
    "micro_f1": _micro_f1,
    "macro_f1": _macro_f1,
    "chunk_f1": _chunk_f1,
    "hoc_f1": _hoc_f1,
}


@dataclasses.dataclass(frozen=True)
class TaskSpec:
  """Everything the package knows about one task.

  Attributes:
    name: the task key (folder name under --data_dir, head and output name).
    kind: a key of `task_kinds.KINDS`.
    file_format: a key of `readers.FORMATS`.
    metric: a key of `METRICS`.
    labels: the label list in head order (tags for NER; HoC: aspect i is
      labels[i]; empty for regression).
    negative_label: the class F1 metrics leave out.
    max_words: tagging: sentences longer than this are split
      (docs/original_system.md §3.5).
    dropout: dropout on the head's input; None: the run's --head_dropout
      (`head_dropout`).
    variational_dropout: tagging: one dropout mask per row (MT code).
  """
  name: str
  kind: str
  file_format: str
  metric: str
  labels: Tuple[str, ...] = ()
  negative_label: Optional[str] = None
  max_words: int = 30
  dropout: Optional[float] = None
  variational_dropout: bool = False

  def __post_init__(self):
    for value, table, what in ((self.kind, task_kinds.KINDS, "type"),
                               (self.file_format, readers.FORMATS, "format"),
                               (self.metric, METRICS, "metric")):
      if value not in table:
        raise ConfigError(f"task {self.name}: unknown {what} {value!r}; "
                          f"choose one of {', '.join(table)}")
    if self.task_kind.has_labels and not self.labels:
      raise ConfigError(f"task {self.name}: a {self.kind} task needs labels")
    if self.metric in ("micro_f1", "macro_f1") and (
        self.negative_label not in self.labels):
      raise ConfigError(f"task {self.name}: metric {self.metric} needs a "
                        f"negative_label from its labels")

  def read(self, path: str) -> list:
    """The examples of a file of this task (`readers.py`)."""
    return readers.FORMATS[self.file_format].read(path, self.labels)

  def write_predictions(self, gold_path: str, predictions: dict,
                        out_path: str):
    """Writes predictions (guid -> label) in the layout of `gold_path`."""
    readers.write_predictions(self.file_format, gold_path, predictions,
                              out_path, self.labels)

  @property
  def head_dropout(self) -> float:
    """The head's dropout rate: the task's own, else the paper's."""
    return PAPER_HEAD_DROPOUT if self.dropout is None else self.dropout

  @property
  def task_kind(self) -> task_kinds.TaskKind:
    """What the task's kind does (`task_kinds.py`)."""
    return task_kinds.KINDS[self.kind]

  @property
  def is_pair(self) -> bool:
    """Whether the task's rows are text pairs (inputs text_a and text_b)."""
    return readers.FORMATS[self.file_format].pair

  @property
  def entities_masked(self) -> bool:
    """Whether the task's texts have their two entities masked (relations)."""
    return readers.FORMATS[self.file_format].entities_masked

  @property
  def num_outputs(self) -> int:
    """C, the width of the task's head (1 for regression)."""
    return len(self.labels) if self.task_kind.has_labels else 1

  def gold_rows(self, examples) -> list:
    """(guid, label) rows of examples as a reader gave them (tags for
    tagging tasks); a label is None where the file has none."""
    return [(ex.guid, self.task_kind.gold(ex)) for ex in examples]

  def score_files(self, gold_file: str, pred_file: str) -> dict:
    """The official score of a prediction file mirroring a gold file (what
    run_mtl.py and run_finetune.py write): same rows, the predicted label in
    the label column. Rows of sentence-level tasks are matched by guid; the
    sentences of word-level tasks (NER) by position, whatever the files are
    named (`readers.match_by_position`).

    Returns:
      {"metric": name, "value": float, "task": key, ...details}.
    """
    gold_examples, pred_examples = self.read(gold_file), self.read(pred_file)
    if self.task_kind.token_level:
      pred_examples = readers.match_by_position(gold_file, gold_examples,
                                                pred_file, pred_examples)
    gold = self.gold_rows(gold_examples)
    predicted = self.gold_rows(pred_examples)
    if [g for g, _ in gold] != [g for g, _ in predicted]:
      raise DataError(pred_file, None, "its rows are not those of the gold "
                      f"file {gold_file} (same guids in the same order "
                      "expected)")
    if any(label is None for _, label in gold):
      raise DataError(gold_file, None, "has no labels to score against")
    if any(label is None for _, label in predicted):
      raise DataError(pred_file, None, "has no predicted labels")
    return dict(self.score(gold, predicted), task=self.name)

  def score(self, gold: Sequence[Tuple[str, object]],
            predicted: Sequence[Tuple[str, object]]) -> dict:
    """The official metric of predicted rows against gold rows.

    Args:
      gold: (guid, label) rows in file order.
      predicted: (guid, label) rows with the same guids in the same order.

    Returns:
      {"metric": name, "value": float, ...details} (`metrics.py`).
    """
    guids = [guid for guid, _ in gold]
    if guids != [guid for guid, _ in predicted]:
      raise ConfigError(f"task {self.name}: predicted rows do not match the "
                        "gold rows")
    scores = METRICS[self.metric](self, guids, [label for _, label in gold],
                                  [label for _, label in predicted])
    return dict(scores, metric=self.metric)


_NER_TAGS = {entity: ("O", f"B-{entity}", f"I-{entity}")
             for entity in ("Chemical", "Disease")}
# BLUE eval_hoc.py's hallmark names; aspect i of the HoC files is entry i.
HOC_HALLMARKS = (
    "activating invasion and metastasis", "avoiding immune destruction",
    "cellular energetics", "enabling replicative immortality",
    "evading growth suppressors", "genomic instability and mutation",
    "inducing angiogenesis", "resisting cell death",
    "sustaining proliferative signaling", "tumor promoting inflammation")

BLUE_TASKS = (
    TaskSpec("clinicalsts", "regression", "sts", "pearson"),
    TaskSpec("biosses", "regression", "sts", "pearson"),
    TaskSpec("mednli", "classification", "mednli", "accuracy",
             labels=("contradiction", "entailment", "neutral")),
    TaskSpec("chemprot", "classification", "relation", "micro_f1",
             labels=("CPR:3", "CPR:4", "CPR:5", "CPR:6", "CPR:9", "false"),
             negative_label="false"),
    TaskSpec("ddi2013-type", "classification", "relation", "macro_f1",
             labels=("DDI-advise", "DDI-effect", "DDI-int", "DDI-mechanism",
                     "DDI-false"),
             negative_label="DDI-false"),
    TaskSpec("i2b2-2010-re", "classification", "relation", "micro_f1",
             labels=("PIP", "TeCP", "TeRP", "TrAP", "TrCP", "TrIP", "TrNAP",
                     "TrWP", "false"),
             negative_label="false"),
    TaskSpec("bc5cdr-chemical", "tagging", "ner", "chunk_f1",
             labels=_NER_TAGS["Chemical"]),
    TaskSpec("bc5cdr-disease", "tagging", "ner", "chunk_f1",
             labels=_NER_TAGS["Disease"]),
    TaskSpec("shareclefe", "tagging", "ner", "chunk_f1",
             labels=_NER_TAGS["Disease"]),
    TaskSpec("hoc", "multilabel", "hoc", "hoc_f1", labels=HOC_HALLMARKS),
)

TASKS: Dict[str, TaskSpec] = {task.name: task for task in BLUE_TASKS}

_DEFINITION_KEYS = {"name": "name", "type": "kind", "format": "file_format",
                    "metric": "metric", "labels": "labels",
                    "negative_label": "negative_label",
                    "max_words": "max_words", "dropout": "dropout"}


def load_task_definition(path: str) -> TaskSpec:
  """A user task from its YAML definition file (schema in the README)."""
  try:
    with open(path, encoding="utf-8") as f:
      values = yaml.safe_load(f)
  except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
    raise ConfigError(f"{path}: cannot read the task definition ({e})") from e
  if not isinstance(values, dict):
    raise ConfigError(f"{path}: a task definition is a YAML mapping")
  unknown = sorted(set(values) - set(_DEFINITION_KEYS))
  if unknown:
    raise ConfigError(f"{path}: unknown keys {unknown}; the keys are "
                      f"{sorted(_DEFINITION_KEYS)}")
  missing = [k for k in ("name", "type", "format", "metric") if k not in values]
  if missing:
    raise ConfigError(f"{path}: missing keys {missing}")
  kwargs = {_DEFINITION_KEYS[k]: v for k, v in values.items()}
  kwargs["labels"] = tuple(str(label) for label in kwargs.get("labels", ()))
  if kwargs.get("negative_label") is not None:
    kwargs["negative_label"] = str(kwargs["negative_label"])
  try:
    return TaskSpec(**kwargs)
  except ConfigError as e:
    raise ConfigError(f"{path}: {e}") from e


def registry_with(definition_files: Iterable[str]) -> Dict[str, TaskSpec]:
  """The BLUE tasks plus the user tasks of `definition_files`."""
  registry = dict(TASKS)
  for path in definition_files:
    task = load_task_definition(path)
    if task.name in registry:
      raise ConfigError(f"{path}: task {task.name!r} already exists")
    registry[task.name] = task
  return registry


def get_task(name: str, registry: Optional[Dict[str, TaskSpec]] = None
             ) -> TaskSpec:
  registry = TASKS if registry is None else registry
  if name not in registry:
    raise ConfigError(f"unknown task {name!r}; the tasks are "
                      f"{', '.join(registry)} (or define one with --task_def)")
  return registry[name]
