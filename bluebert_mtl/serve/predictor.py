"""Prediction on new text with a trained run: the `Predictor`.

  from bluebert_mtl import Predictor
  predictor = Predictor.from_run("runs/mt")
  predictor.predict(["Aspirin-induced asthma."], task="bc5cdr-chemical")
  # [{"words": [...], "tags": [...], "entities": [{"text": "Aspirin", ...}],
  #   "truncated": False}]

Everything between text and labels is training's own code: featurization
(`TaskKind.pieces`, `TaskKind.featurize`), the forward pass
(`inference.make_predict_step`, `inference.predict`, length-sorted batches
of a token budget)
and decoding (`task_data.decode_predictions`), with each task's best-dev
weights (`run_dir.RunSource.weights`, read by
`multitask_model.load_task_model`) and the run's vocab, lower-casing,
max_seq_length and pair order. So on a run's dev or test file the labels
equal the run's predictions/ files.

A result is one dict per text and task (`TaskKind.prediction_result`), plus
"truncated": whether max_seq_length cut the text's WordPieces (an NER
word that lost its sub-tokens is tagged "O", as in training). An empty text
gets {}. `predict_file` streams a file through it (docs/prediction.md).
"""

import os
import sys
from typing import Dict, List, Optional, Sequence

from bluebert_mtl.config import BertConfig
from bluebert_mtl.data import datasets
from bluebert_mtl.data import task_data
from bluebert_mtl.errors import ConfigError
from bluebert_mtl.model import inference
from bluebert_mtl.model import multitask_model
from bluebert_mtl import progress
from bluebert_mtl.runs import run_dir
from bluebert_mtl.serve import inputs
from bluebert_mtl.serve import output_file as output_file_lib
from bluebert_mtl import tokenization

_UNCUT = sys.maxsize  # a max_seq_length that cuts nothing


class Predictor:
  """Tasks of a trained run, ready to label raw text.

  Attributes:
    run: the run folder.
    tasks: task key -> `TaskSpec`, the tasks this predictor serves.
    max_seq_length: longest packed input, in WordPieces.
    batch_size: rows of max_seq_length per forward pass (a token budget:
      shorter inputs come more to a batch, `inference.token_budget`).
    window: records predicted together (sorted by length within it).
    jit_compile: whether the forward passes are XLA-compiled.
  """

  def __init__(self, source: run_dir.RunSource, tasks: Sequence,
               max_seq_length: Optional[int] = None,
               batch_size: Optional[int] = None, jit_compile: bool = False):
    """Loads the tasks' weights (use `from_run`)."""
    config = run_dir.read_train_config(source.run_dir)
    bert_config = BertConfig.from_json_file(
        os.path.join(source.run_dir, run_dir.BERT_CONFIG))
    self.run = source.run_dir
    self.tasks = {task.name: task for task in tasks}
    self.max_seq_length = (config.max_seq_length if max_seq_length is None
                           else max_seq_length)
    self.batch_size = (config.eval_batch_size if batch_size is None
                       else batch_size)
    bert_config.check_sequence_length(
        self.max_seq_length, os.path.join(self.run, run_dir.BERT_CONFIG))
    if self.batch_size < 1:
      raise ConfigError(f"--batch_size must be positive, got "
                        f"{self.batch_size}")
    self.window = datasets.SORT_WINDOW_BATCHES * self.batch_size
    self.second_text_first = config.second_text_first
    self.tokenizer = tokenization.FullTokenizer(
        os.path.join(self.run, run_dir.VOCAB), config.do_lower_case)
    self.jit_compile = jit_compile
    self._steps = {task.name: inference.make_predict_step(
        multitask_model.load_task_model(task, bert_config,
                                        source.weights(task.name)),
        jit_compile) for task in tasks}

  @classmethod
  def from_run(cls, model_dir: str, tasks: Optional[Sequence[str]] = None,
               max_seq_length: Optional[int] = None,
               batch_size: Optional[int] = None,
               jit_compile: bool = False) -> "Predictor":
    """A predictor of a run's tasks.

    Args:
      model_dir: a run folder (run_mtl.py's, or one task folder of
        run_finetune.py's), or a checkpoint prefix inside one (every task
        then reads it).
      tasks: task keys of the run (None: all of them).
      max_seq_length: longest packed input (None: the run's).
      batch_size: rows of max_seq_length per forward pass (None: the run's
        eval_batch_size).
      jit_compile: XLA-compile the forward passes: one compilation per
        task and padded length (a multiple of 8), then faster (BENCHMARKS.md
        section 9), so worth it on long inputs.

    Raises:
      ConfigError: not a run, an unknown task, a bad length or batch size.
      CheckpointError: weights without the encoder or a task's head.
    """
    source = run_dir.RunSource.resolve(model_dir)
    run_tasks, names = run_dir.select_tasks(source.run_dir, tasks)
    return cls(source, [run_tasks[name] for name in names], max_seq_length,
               batch_size, jit_compile)

  def predict(self, texts: Sequence, task: str) -> List[dict]:
    """One task's results for each text, in order.

    Args:
      texts: each a text, a (text_a, text_b) pair for a pair task, or a dict
        like a JSONL input line ({"text", "entities"} for a relation).
      task: a task key of this predictor.

    Raises:
      ConfigError: an unknown task.
      DataError: an item that does not fit the task, named by position.
    """
    if task not in self.tasks:
      raise ConfigError(f"task {task!r} is not one of this predictor's "
                        f"({', '.join(self.tasks)})")
    records = inputs.item_records(texts, self.tasks[task])
    return [results[task]
            for results in self.predict_records(records, [task])]

  def predict_records(self, records: Sequence[inputs.Record],
                      task_names: Optional[Sequence[str]] = None
                      ) -> List[Dict[str, dict]]:
    """{task: result} of each record, for the given tasks (None: all)."""
    results = [{} for _ in records]
    for name in task_names or self.tasks:
      for row, result in zip(results, self._predict_task(self.tasks[name],
                                                          records)):
        row[name] = result
    return results

  def _predict_task(self, task, records) -> List[dict]:
    """One task's result of each record (module docstring)."""
    kind = task.task_kind
    do_lower_case = self.tokenizer.do_lower_case
    items = {k: kind.prediction_item(task, record, k, do_lower_case)
             for k, record in enumerate(records) if not record.is_empty}
    if not items:
      return [{} for _ in records]
    examples = [item.example for item in items.values()]
    pieces = kind.pieces(task, examples)
    features = kind.featurize(task, pieces, self.tokenizer,
                              self.max_seq_length, self.second_text_first)
    split = task_data.SplitData(self.run, examples, pieces, features)
    outputs = inference.predict(
        self._steps[task.name], split,
        inference.token_budget(self.batch_size, self.max_seq_length),
        self.jit_compile)
    labels = task_data.decode_predictions(task, split, outputs)
    by_guid = {piece.guid: output for piece, output in zip(pieces, outputs)}
    cut = self._cut_records(task, pieces, features)
    results = [{} for _ in records]
    for k, item in items.items():
      guid = item.example.guid
      results[k] = dict(kind.prediction_result(task, labels[guid],
                                               by_guid.get(guid), item),
                        truncated=k in cut)
    return results

  def _cut_records(self, task, pieces, features) -> set:
    """Positions of the records whose WordPieces max_seq_length cut.

    Only a row that reached max_seq_length may have been cut; such rows are
    featurized again without a length limit to tell a cut from a fit.
    """
    full = [i for i, f in enumerate(features)
            if len(f.input_word_ids) >= self.max_seq_length]
    uncut = task.task_kind.featurize(
        task, [pieces[i] for i in full], self.tokenizer, _UNCUT,
        self.second_text_first)
    # A piece's guid is its record's position, "<k>" or "<k>.<word_start>".
    return {int(pieces[i].guid.split(".")[0]) for i, f in zip(full, uncut)
            if len(f.input_word_ids) > self.max_seq_length}

  def predict_file(self, input_file: str, output_file: str,
                   input_format: str = "auto",
                   task_names: Optional[Sequence[str]] = None) -> int:
    """Writes one JSON line per input line: {"id": ..., task: result, ...}.

    The whole input is read and checked first, so bad input stops the run
    before anything is predicted or written; then records are predicted in
    windows of `self.window` (sorted by length within each; a BLUE file is
    one window, as in training) and written in input order, with progress
    on stderr.

    Args:
      input_file: the input (`inputs.py` formats).
      output_file: the JSON-lines file, or "-" for standard output.
      input_format: "auto", "text", "jsonl" or "blue".
      task_names: tasks to predict (None: all of this predictor's).

    Returns:
      the number of lines written.
    """
    names = list(task_names or self.tasks)
    tasks = [self.tasks[name] for name in names]
    input_format = inputs.resolve_format(input_file, input_format)
    total = sum(1 for _ in inputs.read_records(input_file, input_format,
                                               tasks))
    window = None if input_format == "blue" else self.window
    with output_file_lib.json_lines(output_file) as write, progress.bar(
        total, "prediction", unit="line") as bar:
      for records in inputs.windows(
          inputs.read_records(input_file, input_format, tasks), window):
        for record, results in zip(records,
                                   self.predict_records(records, names)):
          write(dict(id=record.id, **results))
        bar.update(len(records))
    return total
