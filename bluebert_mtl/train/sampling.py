"""Per-step task schedules for multi-task training: which task each step trains.

Every step trains one mini-batch of one task. A schedule maps an epoch to the
list of task names of its steps, one per step; the data pipeline then takes
the next batch of that task. Batches are single-task and their composition is
fixed by the pipeline (docs/original_system.md §3.3); a schedule only orders
tasks.

Variants (n_t = number of mini-batches per epoch of task t, N = Σ_t n_t):

  `mtdnn`         MT-DNN Algorithm 1 (Liu et al., 2019), as run by MT-BlueBERT
                  (`blue_train.py:306-375`, `--ratio 0 --mix_opt 0`): the list
                  holds every batch of every task exactly once, i.e. task t
                  n_t times, and is shuffled as a whole. The default.
  `proportional`  N independent draws with p_t = n_t / Σ_s n_s.
  `temperature`   N draws with p_t ∝ n_t^(1/T): T = 1 is proportional,
                  T → ∞ uniform, T < 1 favours large tasks further.
  `uniform`       N draws with p_t = 1 / #tasks (temperature with T = ∞).
  `annealed`      N draws with p_t ∝ n_t^α(e), α annealed from 1 to 0.2 over
                  the run (Stickland & Murray, ICML 2019, "BERT and PALs").

Schedules are deterministic and resumable: the list of epoch e is a pure
function of (seed, e), drawn from its own generator seeded with
`np.random.SeedSequence([seed, e])`. A run resumed at (epoch, step) rebuilds
the schedule from the same seed and continues with `tasks(epoch)[step:]`.
No global random state is read or written.

Epochs are numbered from 0, as in `for epoch in range(num_epochs)`.
"""

import abc
import math
from typing import List, Mapping, Optional, Union

import numpy as np

from bluebert_mtl.config import SAMPLERS
from bluebert_mtl.errors import ConfigError

# A base seed, or a generator from which the base seed is drawn once.
SeedOrGenerator = Union[int, np.random.Generator]


# Exponent α of the annealed schedule at the last epoch (Stickland & Murray).
_ANNEALED_FINAL_EXPONENT = 0.2


class TaskSchedule(abc.ABC):
  """The per-epoch list of task names, one per training step.

  Args:
    batches_per_task: task name -> n_t, the number of mini-batches of that
      task in one epoch (> 0). Its iteration order is the fixed task order
      that probabilities are reported in.
    seed: the base seed, or a `np.random.Generator` from which one
      base seed is drawn at construction (so two generators in the same
      state give the same schedule).
  """

  def __init__(self, batches_per_task: Mapping[str, int],
               seed: SeedOrGenerator):
    if not batches_per_task:
      raise ConfigError("a task schedule needs at least one task")
    for name, count in batches_per_task.items():
      if int(count) != count or count < 1:
        raise ConfigError(
            f"task {name!r}: the number of batches per epoch must be a "
            f"positive integer, got {count!r}")
    self.task_names = tuple(batches_per_task)
    self.batch_counts = np.array(
        [int(batches_per_task[name]) for name in self.task_names])
    self.seed = _base_seed(seed)

  @property
  def steps_per_epoch(self) -> int:
    """N = Σ_t n_t: one epoch has as many steps as batches in all tasks."""
    return int(self.batch_counts.sum())

  def epoch_rng(self, epoch: int) -> np.random.Generator:
    """The generator of epoch `epoch`: a pure function of (seed, epoch)."""
    if epoch < 0:
      raise ConfigError(f"epoch must be >= 0, got {epoch}")
    return np.random.default_rng(np.random.SeedSequence([self.seed, epoch]))

  def tasks(self, epoch: int) -> List[str]:
    """The task name of each step of epoch `epoch` (length N)."""
    indices = self._task_indices(epoch, self.epoch_rng(epoch))
    return [self.task_names[i] for i in indices]

  @abc.abstractmethod
  def _task_indices(self, epoch: int, rng: np.random.Generator) -> np.ndarray:
    """int [N]: the index (in `task_names`) of each step's task."""


class MtdnnSchedule(TaskSchedule):
  """MT-DNN Algorithm 1: each batch of each task once per epoch, shuffled.

  The epoch's list is task t repeated n_t times, then permuted uniformly at
  random, so every task appears exactly n_t times and its share of the
  epoch is n_t / N (docs/original_system.md §3.3).
  """

  def _task_indices(self, epoch: int, rng: np.random.Generator) -> np.ndarray:
    del epoch  # Every epoch has the same multiset; only its order differs.
    return rng.permutation(
        np.repeat(np.arange(len(self.task_names)), self.batch_counts))


class SampledSchedule(TaskSchedule):
  """N independent draws (with replacement) from p_t(e) ∝ n_t^a(e).

  Subclasses give the exponent a(e) of epoch e. Computed stably as
  p_t = exp(a·(ln n_t − ln max_s n_s)) / Σ_s exp(a·(ln n_s − ln max_s n_s)).
  """

  @abc.abstractmethod
  def exponent(self, epoch: int) -> float:
    """a(e): 1 is proportional to n_t, 0 is uniform."""

  def probabilities(self, epoch: int) -> np.ndarray:
    """float64 [#tasks]: p_t of epoch `epoch`, in `task_names` order."""
    log_counts = np.log(self.batch_counts)
    weights = np.exp(self.exponent(epoch) * (log_counts - log_counts.max()))
    return weights / weights.sum()

  def _task_indices(self, epoch: int, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(len(self.task_names), size=self.steps_per_epoch,
                      p=self.probabilities(epoch))


class TemperatureSchedule(SampledSchedule):
  """Temperature sampling: p_t ∝ n_t^(1/T), the same in every epoch.

  T = 1 gives proportional sampling, T = math.inf uniform sampling.

  Args:
    batches_per_task: as `TaskSchedule`.
    seed: as `TaskSchedule`.
    temperature: T > 0.
  """

  def __init__(self, batches_per_task: Mapping[str, int],
               seed: SeedOrGenerator, temperature: float = 1.0):
    super().__init__(batches_per_task, seed)
    if not temperature > 0:
      raise ConfigError(f"sampling temperature must be > 0, got {temperature}")
    self.temperature = temperature

  def exponent(self, epoch: int) -> float:
    del epoch  # Constant over the run.
    return 1.0 / self.temperature


class AnnealedSchedule(SampledSchedule):
  """Annealed sampling (Stickland & Murray, 2019): p_t ∝ n_t^α(e).

  With the paper's 1-based epoch e' = epoch + 1 and E epochs in all,
  α = 1 − 0.8·(e' − 1)/(E − 1) = 1 − 0.8·epoch/(E − 1): proportional in the
  first epoch (α = 1), flattened linearly to α = 0.2 in the last. α = 1
  throughout when E = 1. (tf-models-official's `AnnealingTaskSampler`
  puts its 0-based epoch into (e − 1), which starts it at α > 1.)

  Args:
    batches_per_task: as `TaskSchedule`.
    seed: as `TaskSchedule`.
    num_epochs: E >= 1, the length of the run.
  """

  def __init__(self, batches_per_task: Mapping[str, int],
               seed: SeedOrGenerator, num_epochs: int):
    super().__init__(batches_per_task, seed)
    if num_epochs is None or num_epochs < 1:
      raise ConfigError(
          f"annealed sampling needs num_epochs >= 1, got {num_epochs}")
    self.num_epochs = num_epochs

  def exponent(self, epoch: int) -> float:
    if not 0 <= epoch < self.num_epochs:
      raise ConfigError(
          f"epoch {epoch} is outside the run of {self.num_epochs} epochs")
    if self.num_epochs == 1:
      return 1.0
    progress = epoch / (self.num_epochs - 1)
    return 1.0 - (1.0 - _ANNEALED_FINAL_EXPONENT) * progress


def make_schedule(name: str, batches_per_task: Mapping[str, int],
                  seed: SeedOrGenerator, num_epochs: Optional[int] = None,
                  temperature: float = 1.0) -> TaskSchedule:
  """Builds the schedule called `name` (one of `SAMPLERS`).

  Args:
    name: "mtdnn" (default of the original), "proportional", "temperature",
      "uniform" or "annealed".
    batches_per_task: task name -> mini-batches per epoch.
    seed: base seed or generator (see `TaskSchedule`).
    num_epochs: length of the run; required by "annealed" only.
    temperature: T of "temperature"; ignored by the others.

  Returns:
    A `TaskSchedule`; the sampled variants also have `probabilities(epoch)`.

  Raises:
    ConfigError: an unknown name or an invalid argument.
  """
  if name == "mtdnn":
    return MtdnnSchedule(batches_per_task, seed)
  if name == "proportional":
    return TemperatureSchedule(batches_per_task, seed, temperature=1.0)
  if name == "temperature":
    return TemperatureSchedule(batches_per_task, seed, temperature)
  if name == "uniform":
    return TemperatureSchedule(batches_per_task, seed, temperature=math.inf)
  if name == "annealed":
    return AnnealedSchedule(batches_per_task, seed, num_epochs)
  raise ConfigError(f"unknown task schedule {name!r}; "
                    f"choose one of {', '.join(SAMPLERS)}")


def _base_seed(seed: SeedOrGenerator) -> int:
  """A non-negative int seed: `seed` itself, or one draw from a generator."""
  if isinstance(seed, np.random.Generator):
    return int(seed.integers(0, 2**63))
  if int(seed) != seed or seed < 0:
    raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
  return int(seed)
