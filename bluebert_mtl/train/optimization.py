"""Learning-rate schedule, optimizers and gradient clipping for training.

Two recipes exist (docs/original_system.md §3.4):
  paper (MT-BlueBERT §4.2): Adamax, lr 5e-5, linear decay with warm-up over
    the first 10 % of the steps, weight decay 0.01, gradient norm clipped at 1;
  released code (`run_blue_*.sh`): `pytorch_pretrained_bert` BertAdam with the
    `warmup_linear` schedule, global gradient clipping at 1.0 before the step
    and optional per-tensor clipping (`--grad_clipping`) inside it.

Both decay the weights decoupled from the gradient statistics and scaled by
the scheduled learning rate,

    θ ← θ − lr_t · (update_t + wd · θ),

with wd = 0 for biases and LayerNorm parameters. In tf-keras this is the
optimizer's `weight_decay` argument: `Optimizer._apply_weight_decay` subtracts
lr_t · wd · θ from every variable whose name matches none of the patterns
given to `exclude_from_weight_decay(var_names=...)` (`re.search`), then
`update_step` subtracts lr_t · update_t; update_t does not depend on θ, so the
two orders give the same θ. The tf-models-official BERT encoder names its
LayerNorm variables `.../layer_norm/{gamma,beta}`,
`.../self_attention_layer_norm/...` and `.../output_layer_norm/...`
(embeddings: `embeddings/layer_norm/...`), and its biases `.../bias`, so the
default patterns ("LayerNorm", "layer_norm", "bias") exclude exactly those.

Usage in a custom loop, all inside `strategy.scope()`:

    schedule = WarmupLinearDecay(5e-5, total_steps, 0.1 * total_steps)
    optimizer = create_optimizer("adamax", schedule)
    build_optimizer_for(optimizer, model.trainable_variables)
    ...  # per step, in the replica function:
    optimizer.apply_gradients(zip(grads, variables))

The optimizer sums the replicas' gradients, clips their global norm (when
`global_clipnorm` is set), decays, then updates; `optimizer.iterations` is the
step count t that the schedule reads.
"""

from typing import NamedTuple, Optional, Sequence, Tuple, Union

from absl import logging
import numpy as np
import tensorflow as tf
import tf_keras

from bluebert_mtl.config import LR_SCHEDULES, OPTIMIZERS
from bluebert_mtl.errors import ConfigError

# `--adam_eps` of MT-BlueBERT and ε of BertAdam (docs/original_system.md §3.4).
ADAM_EPSILON = 1e-6

# Weight decay is not applied to variables whose name matches one of these.
NO_DECAY_PATTERNS = ("LayerNorm", "layer_norm", "bias")

# "linear": the paper's linear decay to 0 after warm-up.
# "warmup_linear": `pytorch_pretrained_bert` 0.6.0, drops at the warm-up end.

LearningRate = Union[float, tf_keras.optimizers.schedules.LearningRateSchedule]


def _warmup_then_decay(step, peak_learning_rate, total_steps, warmup_steps,
                       variant, ops):
  """The learning rate of both variants; `ops` is `numpy` or `tensorflow`.

  The denominators are Python numbers; a zero one belongs to a branch that
  is never selected, so it is replaced by 1.
  """
  warmup = step / (warmup_steps or 1.0)
  if variant == "linear":
    decay = (total_steps - step) / ((total_steps - warmup_steps) or 1.0)
  else:
    decay = 1.0 - step / total_steps
  return peak_learning_rate * ops.maximum(
      0.0, ops.where(step < warmup_steps, warmup, decay))


@tf_keras.saving.register_keras_serializable(package="bluebert_mtl")
class WarmupLinearDecay(tf_keras.optimizers.schedules.LearningRateSchedule):
  """Linear warm-up from 0, then linear decay (docs/original_system.md §3.4).

  With peak η, T = total_steps, w = warmup_steps and t the 0-based step:

    "linear" (paper):   lr(t) = η·t/w                     if t < w
                                η·max(0, (T − t)/(T − w))  otherwise
    "warmup_linear" (released code, x = t/T, warmup fraction w/T):
                        lr(t) = η·x/(w/T) = η·t/w          if t < w
                                η·max(0, 1 − x)            otherwise

  Both start at lr(0) = 0, so the first update does not move the weights.
  "warmup_linear" jumps from about η down to η·(1 − w/T) at t = w and reaches
  0 at t = T; the original goes negative after T, here it stays at 0.
  "linear" equals tf-models-official's `LinearWarmup` over
  `PolynomialDecayWithOffset(offset=w, decay_steps=T − w, power=1)`.

  Args:
    peak_learning_rate: η.
    total_steps: T > 0, e.g. epochs · Σ_tasks batches per epoch.
    warmup_steps: w in [0, T]; may be fractional, e.g. 0.1 · T, which keeps
      the original's test t/T < 0.1 exact.
    variant: one of `LR_SCHEDULES`.
    name: name scope of the ops.
  """

  def __init__(self, peak_learning_rate: float, total_steps: int,
               warmup_steps: float, variant: str = "linear",
               name: Optional[str] = None):
    super().__init__()
    if variant not in LR_SCHEDULES:
      raise ConfigError(f"unknown learning-rate schedule {variant!r}; choose "
                        f"one of {', '.join(LR_SCHEDULES)}")
    if total_steps <= 0:
      raise ConfigError(f"total_steps must be > 0, got {total_steps}")
    if not 0 <= warmup_steps <= total_steps:
      raise ConfigError(f"warmup_steps must be in [0, total_steps="
                        f"{total_steps}], got {warmup_steps}")
    self.peak_learning_rate = peak_learning_rate
    self.total_steps = total_steps
    self.warmup_steps = warmup_steps
    self.variant = variant
    self.name = name

  def __call__(self, step):
    """float32 scalar Tensor: lr at `step` (the optimizer's iterations)."""
    with tf.name_scope(self.name or "WarmupLinearDecay"):
      return _warmup_then_decay(
          tf.cast(step, tf.float32), self.peak_learning_rate,
          self.total_steps, self.warmup_steps, self.variant, tf)

  def learning_rate_at(self, step: int) -> float:
    """lr at `step` in plain Python floats, for logging and tests."""
    return float(_warmup_then_decay(
        np.float64(step), self.peak_learning_rate, self.total_steps,
        self.warmup_steps, self.variant, np))

  def get_config(self):
    return {
        "peak_learning_rate": self.peak_learning_rate,
        "total_steps": self.total_steps,
        "warmup_steps": self.warmup_steps,
        "variant": self.variant,
        "name": self.name,
    }


@tf_keras.saving.register_keras_serializable(package="bluebert_mtl")
class BertAdam(tf_keras.optimizers.Optimizer):
  """Adam without bias correction: `pytorch_pretrained_bert` 0.6.0 BertAdam.

  The optimizer of the released MT-BlueBERT scripts (docs/original_system.md
  §3.4). For each variable θ with gradient g (after the optional global clipping
  of the base class):

    g ← g · c / max(‖g‖₂, c)            if per_tensor_clipnorm c is set
    m ← β1·m + (1 − β1)·g
    v ← β2·v + (1 − β2)·g²
    θ ← θ − lr_t · (m / (√v + ε) + wd·θ)   (wd = 0 for excluded names)

  m and v are not divided by (1 − β^t). The per-tensor clip is PyTorch's
  `clip_grad_norm_(p, c)` up to its 1e-6 added to ‖g‖₂. Sparse gradients
  (embedding lookups) are made dense first, so every row's moments decay on
  every step, as for PyTorch's dense embedding gradients. lr_t follows the
  optimizer's global step; PyTorch counts steps per parameter, which differs
  only for a task head, by the number of steps before its first batch.

  Args:
    learning_rate: a float or a `LearningRateSchedule` of the step.
    beta_1: β1.
    beta_2: β2.
    epsilon: ε, added to √v.
    per_tensor_clipnorm: c, or None for no per-tensor clipping.
    weight_decay: wd, or None; see `exclude_from_weight_decay`.
    global_clipnorm: clip the global norm of all gradients to this first.
    name: name of the optimizer.
    **kwargs: other `tf_keras.optimizers.Optimizer` arguments.
  """

  def __init__(self, learning_rate: LearningRate = 1e-3, beta_1: float = 0.9,
               beta_2: float = 0.999, epsilon: float = ADAM_EPSILON,
               per_tensor_clipnorm: Optional[float] = None,
               weight_decay: Optional[float] = None,
               global_clipnorm: Optional[float] = None,
               name: str = "BertAdam", **kwargs):
    super().__init__(name=name, weight_decay=weight_decay,
                     global_clipnorm=global_clipnorm, **kwargs)
    self._learning_rate = self._build_learning_rate(learning_rate)
    self.beta_1 = beta_1
    self.beta_2 = beta_2
    self.epsilon = epsilon
    self.per_tensor_clipnorm = per_tensor_clipnorm

  def build(self, var_list):
    """Creates the slots m and v (zeros, shaped like each variable)."""
    super().build(var_list)
    if getattr(self, "_built", False):
      return
    self._built = True
    self._m = [self.add_variable_from_reference(v, "m") for v in var_list]
    self._v = [self.add_variable_from_reference(v, "v") for v in var_list]

  def update_step(self, gradient, variable):
    """Updates m, v and θ for one variable (the decay is done by the base)."""
    gradient = tf.convert_to_tensor(gradient)
    if self.per_tensor_clipnorm:
      gradient = tf.clip_by_norm(gradient, self.per_tensor_clipnorm)
    index = self._index_dict[self._var_key(variable)]
    m, v = self._m[index], self._v[index]
    m.assign(self.beta_1 * m + (1.0 - self.beta_1) * gradient)
    v.assign(self.beta_2 * v + (1.0 - self.beta_2) * tf.square(gradient))
    lr = tf.cast(self.learning_rate, variable.dtype)
    variable.assign_sub(lr * m / (tf.sqrt(v) + self.epsilon))

  def get_config(self):
    config = super().get_config()
    config.update({
        "learning_rate": self._serialize_hyperparameter(self._learning_rate),
        "beta_1": self.beta_1,
        "beta_2": self.beta_2,
        "epsilon": self.epsilon,
        "per_tensor_clipnorm": self.per_tensor_clipnorm,
    })
    return config


# name -> optimizer class; all take learning_rate, weight_decay,
# global_clipnorm and epsilon.
_OPTIMIZERS = {
    # The paper's optimizer. tf-keras Adamax divides m by (1 − β1^t) and keeps
    # u = max(β2·u, |g|); MT-DNN's own Adamax (`module/bert_optim.py`) has no
    # bias correction and keeps u = max(β2·u, |g| + ε).
    "adamax": tf_keras.optimizers.Adamax,
    # The released scripts' optimizer (docs/original_system.md §3.4).
    "bert_adam": BertAdam,
    # Adam with bias correction and decoupled weight decay.
    "adamw": tf_keras.optimizers.AdamW,
}


def create_optimizer(
    name: str, learning_rate_schedule: LearningRate,
    weight_decay: float = 0.01, global_clipnorm: Optional[float] = 1.0,
    exclude_from_weight_decay: Sequence[str] = NO_DECAY_PATTERNS,
    per_tensor_clipnorm: Optional[float] = None,
) -> tf_keras.optimizers.Optimizer:
  """Builds the optimizer called `name` (one of `config.OPTIMIZERS`).

  Call it inside the distribution strategy's scope, then
  `build_optimizer_for` before the first step.

  Args:
    name: "adamax" (paper), "bert_adam" (released code) or "adamw".
    learning_rate_schedule: e.g. a `WarmupLinearDecay`, or a float.
    weight_decay: decoupled decay rate wd (θ ← θ − lr·wd·θ); 0 for none.
    global_clipnorm: the optimizer clips the global norm of the (replica-
      summed) gradients to this before the update; None for no clipping.
    exclude_from_weight_decay: regular expressions; a variable whose name
      matches one is not decayed.
    per_tensor_clipnorm: "bert_adam" only: clip each gradient tensor's norm
      (MT-BlueBERT's `--grad_clipping`); None for no clipping.

  Returns:
    A tf-keras optimizer, not yet built.

  Raises:
    ConfigError: an unknown name, or per-tensor clipping for another
      optimizer than "bert_adam".
  """
  if name not in _OPTIMIZERS:
    raise ConfigError(f"unknown optimizer {name!r}; "
                      f"choose one of {', '.join(OPTIMIZERS)}")
  extra = {}
  if per_tensor_clipnorm:
    if name != "bert_adam":
      raise ConfigError(
          f"per_tensor_clipnorm is a BertAdam option, not one of {name!r}")
    extra["per_tensor_clipnorm"] = per_tensor_clipnorm
  optimizer = _OPTIMIZERS[name](
      learning_rate=learning_rate_schedule, weight_decay=weight_decay,
      global_clipnorm=global_clipnorm or None, epsilon=ADAM_EPSILON, **extra)
  optimizer.exclude_from_weight_decay(var_names=list(exclude_from_weight_decay))
  return optimizer


class WeightDecaySplit(NamedTuple):
  """Names of the variables an optimizer decays and of those it does not."""
  decayed: Tuple[str, ...]
  not_decayed: Tuple[str, ...]


def build_optimizer_for(optimizer: tf_keras.optimizers.Optimizer,
                        variables: Sequence[tf.Variable]) -> WeightDecaySplit:
  """Creates the optimizer's slots for all `variables` and logs the decay.

  A tf-keras (Keras 2) optimizer creates its slots once, for the variables of
  its first `apply_gradients`, and raises `KeyError` ("The optimizer cannot
  recognize variable ...") for any other variable later. In multi-task
  training the first step sees the encoder and one task's head only, so the
  first step of another task would fail: build on ALL trainable variables
  (`model.trainable_variables`) before the first step, inside the strategy's
  scope.

  Variables that get a None gradient in a step are neither decayed nor
  updated in it. (PyTorch's MT-BlueBERT keeps updating a head after its first
  use with zero gradients, docs/original_system.md §3.4; pass zeros to do the
  same.)

  Args:
    optimizer: from `create_optimizer`, not yet built.
    variables: every variable the optimizer will ever update.

  Returns:
    The names of the variables that are and are not weight-decayed.
  """
  variables = list(variables)
  optimizer.build(variables)
  decays = [bool(optimizer.weight_decay) and
            optimizer._use_weight_decay(v)  # pylint: disable=protected-access
            for v in variables]
  split = WeightDecaySplit(
      decayed=tuple(v.name for v, d in zip(variables, decays) if d),
      not_decayed=tuple(v.name for v, d in zip(variables, decays) if not d))
  sizes = [int(np.prod(v.shape)) for v in variables]
  logging.info(
      "%s: weight decay %s on %d tensors (%d parameters), none on %d tensors "
      "(%d parameters)", optimizer.name, optimizer.weight_decay,
      len(split.decayed), sum(s for s, d in zip(sizes, decays) if d),
      len(split.not_decayed), sum(s for s, d in zip(sizes, decays) if not d))
  return split
