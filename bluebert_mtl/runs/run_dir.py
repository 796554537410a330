"""The layout of a training run's output folder, written and read back.

  OUTPUT_DIR/
    train_config.json          the run's TrainConfig
    start.json                 the checkpoint its encoder started from and
                               the SHA-256 of that checkpoint's .index file
                               (Hugging Face: of its weight files)
    data.json                  each task's train, dev and test file and the
                               SHA-256 of its bytes
    bert_config.json, vocab.txt  the encoder's architecture and vocabulary
    tasks.json                 the TaskSpecs trained (user tasks included)
    checkpoints/ckpt-N.*       resumable: encoder, heads, optimizer, state
    best/<task>/weights.*      encoder and heads at that task's best dev score
    final/weights.*            encoder and heads at the end of training
    tensorboard/               training and dev curves
    predictions/<task>_{dev,test}.tsv   mirroring the gold files
    results.json               {task: {"dev": {metric: v}, "test": {...}}}
    timing.json                {"wall_seconds": s, "training_seconds": s,
                               "scoring_seconds": s, "resumed": bool}:
                               written last, so it also marks a finished run
                               (files before the split hold wall_seconds and
                               resumed only)

A run folder is self-contained: fine-tuning and export need nothing else.
A folder is only resumed or read back by a call with the same recipe, start
and data as the run that wrote it (`check_same_run`).
"""

import dataclasses
import glob
import hashlib
import json
import os
import shutil
import tempfile
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from absl import logging
import tensorflow as tf

from bluebert_mtl import files
from bluebert_mtl.config import BOOKKEEPING_FIELDS, BertConfig, TrainConfig
from bluebert_mtl.errors import CheckpointError, ConfigError, RunFolderError
from bluebert_mtl.model import hf_weights
from bluebert_mtl.tasks import TaskSpec

TRAIN_CONFIG = "train_config.json"
BERT_CONFIG = "bert_config.json"
VOCAB = "vocab.txt"
TASKS = "tasks.json"
START = "start.json"
DATA = "data.json"
CHECKPOINTS = "checkpoints"
RESULTS = "results.json"
TIMING = "timing.json"
PREDICTIONS = "predictions"
SEED_PREFIX = "seed_"  # run_finetune.py --seeds: TASK_FOLDER/seed_<s>/


def best_weights(run_dir: str, task_name: str) -> str:
  """Checkpoint prefix of a task's best-dev weights."""
  return os.path.join(run_dir, "best", task_name, "weights")


def final_weights(run_dir: str) -> str:
  """Checkpoint prefix of the weights at the end of training."""
  return os.path.join(run_dir, "final", "weights")


def write_text(folder: str, name: str, text: str):
  """Writes folder/name whole or not at all (`files.written_whole`), so a
  reader (another worker, a rerun after a kill, a server) never sees half a
  file."""
  with files.written_whole(os.path.join(folder, name)) as f:
    f.write(text)


def replace_folder(folder: str, write: Callable[[str], None]) -> None:
  """Makes `folder` whole or not at all: `write(path)` fills a fresh
  temporary folder beside it, which then replaces `folder` (and whatever was
  there), so no reader (a server, an export) ever sees half of it."""
  parent = os.path.dirname(os.path.abspath(folder))
  os.makedirs(parent, exist_ok=True)
  temporary = tempfile.mkdtemp(prefix=f".{os.path.basename(folder)}-",
                               dir=parent)
  try:
    write(temporary)
    if os.path.exists(folder):
      shutil.rmtree(folder)
    os.replace(temporary, folder)
  finally:
    shutil.rmtree(temporary, ignore_errors=True)


def _write_json(run_dir: str, name: str, value, sort_keys: bool = False):
  write_text(run_dir, name, json.dumps(value, indent=2, sort_keys=sort_keys))


def _sha256(paths: Sequence[str]) -> str:
  digest = hashlib.sha256()
  for path in paths:
    if os.path.isfile(path):  # A missing shard is named when it is read.
      with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
          digest.update(block)
  return digest.hexdigest()


def start_record(checkpoint: Optional[str]) -> dict:
  """start.json's content for an encoder started from `checkpoint` (None:
  random initialisation). The SHA-256 of a TF1 prefix's .index file (the
  index holds every tensor's CRC32C), or of a Hugging Face / PyTorch weight
  file's bytes (of a sharded one's index and shards), names the weights
  wherever they are copied to."""
  if checkpoint and hf_weights.is_weight_file(checkpoint):
    return {"checkpoint": checkpoint,
            "weights_sha256": _sha256(hf_weights.weight_files(checkpoint))}
  index = f"{checkpoint}.index" if checkpoint else None
  digest = None
  if index and os.path.isfile(index):
    digest = _sha256([index])
  return {"checkpoint": checkpoint, "index_sha256": digest}


def _start_digest(record: dict) -> Optional[str]:
  return record.get("weights_sha256") or record.get("index_sha256")


def data_record(data_files: Mapping[str, str]) -> dict:
  """data.json's content: for each "task/split" of `data_files` (e.g.
  "chemprot/train" -> its path), the file and the SHA-256 of its bytes."""
  return {key: {"file": path, "sha256": _sha256([path])}
          for key, path in sorted(data_files.items())}


def write_run_files(run_dir: str, config: TrainConfig, bert_config_file: str,
                    vocab_file: str, tasks: Sequence[TaskSpec],
                    start_checkpoint: Optional[str],
                    data: Optional[dict] = None):
  """Writes what makes the run folder self-contained, and `data_record`'s
  `data` (None: no data.json, for a run trained elsewhere)."""
  os.makedirs(run_dir, exist_ok=True)
  _write_json(run_dir, START, start_record(start_checkpoint))
  if data is not None:
    _write_json(run_dir, DATA, data)
  write_text(run_dir, TRAIN_CONFIG, config.to_json_string())
  write_text(run_dir, BERT_CONFIG,
             BertConfig.from_json_file(bert_config_file).to_json_string())
  if os.path.abspath(vocab_file) != os.path.abspath(
      os.path.join(run_dir, VOCAB)):
    shutil.copyfile(vocab_file, os.path.join(run_dir, VOCAB))
  _write_json(run_dir, TASKS, [dataclasses.asdict(t) for t in tasks])


def _read_json(run_dir: str, name: str):
  path = os.path.join(run_dir, name)
  try:
    with open(path) as f:
      return json.load(f)
  except FileNotFoundError as e:
    raise RunFolderError(f"{run_dir} is not a training run folder: no {name}"
                         ) from e
  except json.JSONDecodeError as e:
    raise RunFolderError(f"{path}: not valid JSON ({e})") from e


def task_from_json(values: dict) -> TaskSpec:
  """A TaskSpec from the JSON object of its fields (lists for tuples), as
  tasks.json holds each."""
  return TaskSpec(**{k: tuple(v) if isinstance(v, list) else v
                     for k, v in values.items()})


def read_tasks(run_dir: str) -> List[TaskSpec]:
  """The TaskSpecs a run trained, as it saved them."""
  return [task_from_json(values) for values in _read_json(run_dir, TASKS)]


def read_train_config(run_dir: str) -> TrainConfig:
  values = _read_json(run_dir, TRAIN_CONFIG)
  unknown = sorted(set(values) - {f.name for f in
                                  dataclasses.fields(TrainConfig)})
  if unknown:
    raise RunFolderError(f"{os.path.join(run_dir, TRAIN_CONFIG)}: fields "
                         f"this version does not know: {', '.join(unknown)}")
  values["tasks"] = tuple(values["tasks"])
  values["loss_weights"] = tuple(tuple(p) for p in values["loss_weights"])
  return TrainConfig(**values)


def config_differences(run: TrainConfig, now: TrainConfig) -> List[str]:
  """"field: run value != now value" for each field outside
  `BOOKKEEPING_FIELDS` in which a run's config differs from `now`."""
  return [f"{field.name}: {getattr(run, field.name)!r} != "
          f"{getattr(now, field.name)!r}"
          for field in dataclasses.fields(TrainConfig)
          if field.name not in BOOKKEEPING_FIELDS and
          getattr(run, field.name) != getattr(now, field.name)]


def _start_difference(run_dir: str,
                      start_checkpoint: Optional[str]) -> List[str]:
  """["encoder start: run's != now"] when the run's start.json names other
  weights than `start_checkpoint` holds; [] when they match or the run
  predates start.json."""
  if not os.path.isfile(os.path.join(run_dir, START)):
    return []
  run = _read_json(run_dir, START)
  now = start_record(start_checkpoint)
  if _start_digest(run) == _start_digest(now):
    return []
  return [f"encoder start: {_named(run['checkpoint'], _start_digest(run))} "
          f"!= {_named(now['checkpoint'], _start_digest(now))}"]


def _named(path: Optional[str], digest: Optional[str]) -> str:
  return f"{path} (sha256 {digest})"


def _data_differences(run_dir: str, data: Callable[[], dict]) -> List[str]:
  """["data task/split: run's file != now's"] for each data file whose bytes
  differ from those the run read (`data()`: the record of the files now);
  [] where they match or the run predates data.json."""
  if not os.path.isfile(os.path.join(run_dir, DATA)):
    return []
  run = _read_json(run_dir, DATA)
  return [f"data {key}: {_named(run[key]['file'], run[key]['sha256'])} != "
          f"{_named(now['file'], now['sha256'])}"
          for key, now in data().items()
          if key in run and run[key]["sha256"] != now["sha256"]]


def check_same_run(run_dir: str, config: TrainConfig,
                   start_checkpoint: Optional[str], data: Callable[[], dict],
                   remedy: str = "Give the run another output folder, or move "
                   "this one away to train it again"):
  """Refuses a run folder, begun or finished, whose run had another recipe
  (`config_differences`), started from other weights than
  `start_checkpoint` or read other data files than `data()` gives (its
  `data_record` now; called only if the run has data.json); `remedy` ends
  the message. A folder without train_config.json passes (nothing ran
  there).

  Raises:
    RunFolderError: listing every difference, run's != now.
  """
  if not is_run(run_dir):
    return
  differences = (config_differences(read_train_config(run_dir), config) +
                 _start_difference(run_dir, start_checkpoint) +
                 _data_differences(run_dir, data))
  if differences:
    raise RunFolderError(
        f"{run_dir}: this run was trained with other settings or data than "
        f"now (run != now): {'; '.join(differences)}. {remedy}")


def write_results(run_dir: str, results: dict):
  """Writes results.json: {task: {"dev": {metric: v}, "test": {...}}} (a
  seeded task's entry is `results.aggregate_seeds`')."""
  _write_json(run_dir, RESULTS, results, sort_keys=True)


def read_results(run_dir: str) -> dict:
  """results.json of a run folder, as `write_results` wrote it."""
  return _read_json(run_dir, RESULTS)


def read_finished_run(run_dir: str, config: TrainConfig,
                      start_checkpoint: Optional[str],
                      data: Callable[[], dict]) -> dict:
  """results.json of a finished run (`is_finished`), read back instead of
  training again, once `check_same_run` has passed."""
  check_same_run(run_dir, config, start_checkpoint, data)
  logging.info("%s is complete (it has %s): reading its results", run_dir,
               TIMING)
  return read_results(run_dir)


def latest_checkpoint(folder: str) -> Optional[str]:
  """The newest checkpoint prefix of a run folder (its checkpoints/), else
  of a folder holding checkpoints itself; None if there is none."""
  return (tf.train.latest_checkpoint(os.path.join(folder, CHECKPOINTS)) or
          tf.train.latest_checkpoint(folder))


def is_run(folder: Optional[str]) -> bool:
  """Whether `folder` is a run folder (it holds train_config.json)."""
  return bool(folder) and os.path.isfile(os.path.join(folder, TRAIN_CONFIG))


def run_folder_of(checkpoint: str) -> Optional[str]:
  """The run folder a checkpoint prefix lies in (checkpoints/ckpt-N,
  final/weights, best/<task>/weights, or deeper): the nearest folder above
  it holding train_config.json; None if there is none."""
  folder = os.path.dirname(os.path.abspath(checkpoint))
  while not is_run(folder):
    parent = os.path.dirname(folder)
    if parent == folder:
      return None
    folder = parent
  return folder


def task_weights(run_dir: str, task_name: str) -> str:
  """The checkpoint prefix a task of a finished run is used with: its
  best-dev weights, else the final weights.

  Raises:
    CheckpointError: the run has neither.
  """
  best = best_weights(run_dir, task_name)
  if os.path.exists(best + ".index"):
    return best
  final = final_weights(run_dir)
  if os.path.exists(final + ".index"):
    logging.info("%s: no best weights of %s; using %s", run_dir, task_name,
                 final)
    return final
  raise CheckpointError(f"{run_dir}: no weights of task {task_name} "
                        f"({best} and {final} missing)")


def seed_folder(task_folder: str, seed: int) -> str:
  """The run folder of seed `seed` in a task folder of run_finetune.py
  --seeds."""
  return os.path.join(task_folder, f"{SEED_PREFIX}{seed}")


def seed_runs(task_folder: str) -> Dict[int, str]:
  """seed -> run folder of each `SEED_PREFIX`<seed>/ in a task folder of
  run_finetune.py --seeds, in seed order ({} if it has none)."""
  runs = {}
  for folder in glob.glob(os.path.join(task_folder, SEED_PREFIX + "*")):
    seed = os.path.basename(folder)[len(SEED_PREFIX):]
    if seed.isdigit() and os.path.isdir(folder):
      runs[int(seed)] = folder
  return dict(sorted(runs.items()))


def write_timing(run_dir: str, wall_seconds: float, resumed: bool,
                 scoring_seconds: float):
  """Writes timing.json: the run's wall time over all its starts (time since
  the last checkpoint of a killed start counts again when it is redone), and
  its parts: predicting and scoring dev and test (`scoring_seconds`), and
  everything else, the training steps (`training_seconds`)."""
  _write_json(run_dir, TIMING, {
      "wall_seconds": wall_seconds,
      "training_seconds": wall_seconds - scoring_seconds,
      "scoring_seconds": scoring_seconds, "resumed": resumed})


def is_finished(run_dir: str) -> bool:
  return os.path.isfile(os.path.join(run_dir, TIMING))


def wall_seconds(run_dir: str) -> float:
  """A finished run's wall time over all its starts, in seconds."""
  return _read_json(run_dir, TIMING)["wall_seconds"]


@dataclasses.dataclass(frozen=True)
class RunSource:
  """The weights a command uses a run with (export, prediction).

  Attributes:
    run_dir: the training run folder.
    checkpoint: a checkpoint prefix every task reads, or None for each
      task's best (else final) weights.
  """
  run_dir: str
  checkpoint: Optional[str] = None

  @classmethod
  def resolve(cls, model_dir: str) -> "RunSource":
    """A run folder, or a checkpoint prefix inside one (e.g.
    RUN/checkpoints/ckpt-500 or RUN/best/chemprot/weights)."""
    if os.path.isdir(model_dir):
      return cls(model_dir)
    if not os.path.exists(model_dir + ".index"):
      raise RunFolderError(f"--model_dir {model_dir} is neither a run folder "
                           "nor a checkpoint prefix (no .index file)")
    folder = run_folder_of(model_dir)
    if folder is None:
      raise RunFolderError(f"checkpoint {model_dir} is not inside a training "
                           f"run folder (none above it has {TRAIN_CONFIG})")
    return cls(folder, model_dir)

  def weights(self, task_name: str) -> str:
    """The checkpoint prefix of a task's weights."""
    return self.checkpoint or task_weights(self.run_dir, task_name)


def select_tasks(folder: str, task_names: Optional[Sequence[str]]
                 ) -> Tuple[Dict[str, object], List[str]]:
  """(every TaskSpec of the run folder by name, the names of `task_names`
  each once, all of them if None).

  Raises:
    ConfigError: a name that is not a task of the run.
  """
  tasks = {t.name: t for t in read_tasks(folder)}
  task_names = list(dict.fromkeys(task_names or tasks))
  for name in task_names:
    if name not in tasks:
      raise ConfigError(
          f"task {name!r} is not one of the run {folder} "
          f"({os.path.join(folder, TASKS)}: {', '.join(tasks)})")
  return tasks, task_names
