"""Single-task fine-tuning: MT-BlueBERT-Fine-Tune and the BlueBERT baseline.

One code path serves both stages of the paper (reference.md 3.8); only the
start differs:

  MT-BlueBERT-Fine-Tune  encoder from a multi-task run (run_mtl.py output
                         folder or one of its checkpoints), a fresh head: the
                         paper's "strip" of every task layer, then training;
  baseline               encoder from an original BlueBERT TF1 checkpoint.

Each task trains alone into OUTPUT_DIR/<task>/ with its released recipe
(`RECIPES`) unless the caller fixes epochs or learning rate. With seeds, each
seed trains into OUTPUT_DIR/<task>/seed_<s>/ and OUTPUT_DIR/<task>/results.json
holds the mean and sample standard deviation over seeds beside each seed's
entry. Every run folder also gets timing.json (its wall time); a folder that
has one is complete and is read back instead of trained again.
"""

import dataclasses
import os
from typing import Collection, Dict, Optional, Sequence

import tensorflow as tf

from bluebert_mtl.study import report
from bluebert_mtl.runs import run_dir
from bluebert_mtl.train import trainer
from bluebert_mtl.config import BertFiles, TrainConfig
from bluebert_mtl.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Recipe:
  """A task's fine-tuning epochs, peak learning rate and per-tensor clip.

  `grad_clipping` belongs to the released code's optimizer: it applies only
  with --optimizer=bert_adam (with the paper's Adamax, only the global clip).
  """
  num_train_epochs: float
  learning_rate: float
  grad_clipping: float = 0.0


# `run_blue_fine_tune.sh:21-94` (reference.md 3.8); MedNLI's second,
# unreachable branch (5e-5) is ignored.
RECIPES: Dict[str, Recipe] = {
    "clinicalsts": Recipe(30, 5e-5),
    "biosses": Recipe(20, 5e-6),
    "mednli": Recipe(10, 1e-5),
    "i2b2-2010-re": Recipe(10, 2e-5, grad_clipping=1.0),
    "chemprot": Recipe(20, 2e-5),
    "ddi2013-type": Recipe(10, 5e-5),
    "bc5cdr-chemical": Recipe(20, 5e-5),
    "bc5cdr-disease": Recipe(20, 6e-5),
    "shareclefe": Recipe(20, 5e-5),
}
RECIPE_FIELDS = tuple(f.name for f in dataclasses.fields(Recipe))


def recipe_config(config: TrainConfig, task_name: str,
                  keep: Collection[str] = ()) -> TrainConfig:
  """`config` with the task's recipe, except the fields named in `keep`
  (those the user set); tasks without a recipe keep `config`'s values.
  The recipe's per-tensor clip applies only with the "bert_adam" optimizer
  it was released with."""
  recipe = RECIPES.get(task_name)
  if recipe is None:
    return config
  fields = {name: getattr(recipe, name) for name in RECIPE_FIELDS
            if name not in keep}
  if config.optimizer != "bert_adam":
    fields.pop("grad_clipping", None)
  return dataclasses.replace(config, **fields)


# --- where the encoder comes from -------------------------------------------

@dataclasses.dataclass(frozen=True)
class Start:
  """Where a run's encoder comes from.

  Attributes:
    bert_files: config and vocab of the encoder; `bert_files.checkpoint` is
      the TF1 checkpoint of a baseline, None when `encoder_checkpoint` is set.
    encoder_checkpoint: prefix of a multi-task run's checkpoint whose encoder
      the run starts from (heads fresh), or None.
  """
  bert_files: BertFiles
  encoder_checkpoint: Optional[str] = None

  @property
  def checkpoint(self) -> Optional[str]:
    """The prefix the encoder's weights come from (None: random)."""
    return trainer.start_checkpoint(self.bert_files, self.encoder_checkpoint)


def _object_checkpoint(path: str) -> Optional[str]:
  """The TF2 object-based checkpoint `path` names or holds (a run folder
  holds its latest in checkpoints/), or None (e.g. a TF1 checkpoint)."""
  prefix = path
  if os.path.isdir(path):
    prefix = (tf.train.latest_checkpoint(
        os.path.join(path, run_dir.CHECKPOINTS)) or
              tf.train.latest_checkpoint(path))
  if not prefix or not os.path.exists(prefix + ".index"):
    return None
  names = {name for name, _ in tf.train.list_variables(prefix)}
  return prefix if "_CHECKPOINTABLE_OBJECT_GRAPH" in names else None


def _run_folder_of(prefix: str) -> Optional[str]:
  """The run folder a checkpoint lies in (checkpoints/ckpt-N, final/weights,
  best/<task>/weights), or None."""
  folder = os.path.dirname(os.path.abspath(prefix))
  for _ in range(3):
    if os.path.isfile(os.path.join(folder, run_dir.TRAIN_CONFIG)):
      return folder
    folder = os.path.dirname(folder)
  return None


def resolve_start(bert_dir: Optional[str] = None,
                  bert_config_file: Optional[str] = None,
                  init_checkpoint: Optional[str] = None,
                  vocab_file: Optional[str] = None) -> Start:
  """The start named by the BERT flags.

  An `init_checkpoint` that is a multi-task run (its folder or a TF2
  checkpoint of it) gives the MT-BlueBERT-Fine-Tune start, with config and
  vocab from the run folder unless given; anything else is a BlueBERT
  download resolved as `BertFiles.resolve` does (the baseline).
  """
  encoder_checkpoint = (_object_checkpoint(init_checkpoint)
                        if init_checkpoint else None)
  if encoder_checkpoint is None:
    return Start(BertFiles.resolve(bert_dir, bert_config_file,
                                   init_checkpoint, vocab_file))
  files_dir = bert_dir or _run_folder_of(encoder_checkpoint)
  if files_dir:
    bert_config_file = bert_config_file or os.path.join(files_dir,
                                                        run_dir.BERT_CONFIG)
    vocab_file = vocab_file or os.path.join(files_dir, run_dir.VOCAB)
  return Start(BertFiles.resolve(None, bert_config_file, None, vocab_file),
               encoder_checkpoint)


# --- runs -------------------------------------------------------------------

def train_once(config: TrainConfig, start: Start, tasks: Sequence) -> dict:
  """`trainer.train` from `start`: trains (or resumes) a run, or reads a
  finished one back; either must have `config`'s recipe and `start`
  (`run_dir.check_same_run`).

  Returns:
    results.json's content.
  """
  return trainer.train(config, start.bert_files, tasks,
                        start.encoder_checkpoint)


def finetune(config: TrainConfig, start: Start, task,
             seeds: Sequence[int] = (), keep: Collection[str] = ()) -> dict:
  """Fine-tunes one task into `config.output_dir`/<task>/.

  Args:
    config: the training recipe; its tasks and output_dir are replaced.
    start: where the encoder comes from (`resolve_start`).
    task: the `TaskSpec`.
    seeds: one run per seed in seed_<s>/ (empty: one run with config.seed).
    keep: `RECIPE_FIELDS` the task's recipe must not override.

  Returns:
    {task name: results.json entry}, as written to <task>/results.json.
  """
  folder = os.path.join(config.output_dir, task.name)
  config = dataclasses.replace(recipe_config(config, task.name, keep),
                               tasks=(task.name,), output_dir=folder)
  if not seeds:
    return train_once(config, start, [task])
  if len(set(seeds)) != len(seeds):
    raise ConfigError(f"--seeds repeats a seed: {list(seeds)}")
  per_seed = {
      seed: train_once(dataclasses.replace(
          config, seed=seed, output_dir=os.path.join(folder, f"seed_{seed}")),
                       start, [task])[task.name]
      for seed in seeds}
  results = {task.name: report.aggregate_seeds(per_seed)}
  run_dir.write_results(folder, results)
  return results
