"""Single-task fine-tuning: MT-BlueBERT-Fine-Tune and the BlueBERT baseline.

One code path serves both stages of the paper (docs/original_system.md §3.6);
only the start differs (`train/start.py`): MT-BlueBERT-Fine-Tune starts from the
encoder of a multi-task run with a fresh head, the baseline from an original
BlueBERT checkpoint.

Each task trains alone into OUTPUT_DIR/<task>/ with its released recipe
(`RECIPES`) unless the caller fixes epochs or learning rate. With seeds, each
seed trains into OUTPUT_DIR/<task>/seed_<s>/ and OUTPUT_DIR/<task>/results.json
holds the mean and sample standard deviation over seeds beside each seed's
entry. Every run folder also gets timing.json (its wall time); a folder that
has one is complete and is read back instead of trained again.
"""

import dataclasses
import os
from typing import Collection, Dict, Sequence

from bluebert_mtl.config import TrainConfig
from bluebert_mtl.errors import ConfigError
from bluebert_mtl.runs import results as results_lib
from bluebert_mtl.runs import run_dir
from bluebert_mtl.train import trainer
from bluebert_mtl.train.start import Start


@dataclasses.dataclass(frozen=True)
class Recipe:
  """A task's fine-tuning epochs, peak learning rate and per-tensor clip.

  `grad_clipping` belongs to the released code's optimizer: it applies only
  with --optimizer=bert_adam (with the paper's Adamax, only the global clip).
  """
  num_train_epochs: float
  learning_rate: float
  grad_clipping: float = 0.0


# `run_blue_fine_tune.sh:21-94` (docs/original_system.md §3.6); MedNLI's second,
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


# --- runs -------------------------------------------------------------------

def finetune(config: TrainConfig, start: Start, task,
             seeds: Sequence[int] = (), keep: Collection[str] = ()) -> dict:
  """Fine-tunes one task into `config.output_dir`/<task>/.

  Args:
    config: the training recipe; its tasks and output_dir are replaced.
    start: where the encoder comes from (`start.resolve_start`).
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
    return trainer.train(config, start, [task])
  if len(set(seeds)) != len(seeds):
    raise ConfigError(f"--seeds repeats a seed: {list(seeds)}")
  per_seed = {
      seed: trainer.train(dataclasses.replace(
          config, seed=seed, output_dir=run_dir.seed_folder(folder, seed)),
                          start, [task])[task.name]
      for seed in seeds}
  results = {task.name: results_lib.aggregate_seeds(per_seed)}
  run_dir.write_results(folder, results)
  return results
