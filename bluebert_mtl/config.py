"""Configuration dataclasses: the BERT architecture and where its files live.

`BertConfig` round-trips the original `bert_config.json` (google-research/bert
`modeling.py`). `BertFiles` resolves the three files of a BlueBERT download
from the original flag names (`--bert_config_file`, `--init_checkpoint`,
`--vocab_file`) or from one folder (`--bert_dir`): a TF1 download or a
Hugging Face model folder (docs/huggingface.md).
"""

import dataclasses
import json
import os
from typing import Optional

from bluebert_mtl.errors import ConfigError

# The weights of a Hugging Face model folder, in the order they are looked
# for (`model.hf_weights` reads them).
HF_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json",
                   "pytorch_model.bin", "pytorch_model.bin.index.json")


@dataclasses.dataclass(frozen=True)
class BertConfig:
  """Hyperparameters of a BERT encoder, as in `bert_config.json`.

  Attributes:
    vocab_size: number of WordPiece ids (30522 for BlueBERT).
    hidden_size: H, width of every layer.
    num_hidden_layers: L, number of Transformer blocks.
    num_attention_heads: N, attention heads per block (H % N == 0).
    intermediate_size: I, width of the feed-forward inner layer.
    hidden_act: feed-forward activation; "gelu" is BERT's exact erf GELU.
    hidden_dropout_prob: dropout on embeddings and block outputs.
    attention_probs_dropout_prob: dropout on attention probabilities.
    max_position_embeddings: P, longest sequence the position table holds.
    type_vocab_size: number of segment (token type) ids.
    initializer_range: stddev of the truncated-normal initializer.
  """
  vocab_size: int
  hidden_size: int = 768
  num_hidden_layers: int = 12
  num_attention_heads: int = 12
  intermediate_size: int = 3072
  hidden_act: str = "gelu"
  hidden_dropout_prob: float = 0.1
  attention_probs_dropout_prob: float = 0.1
  max_position_embeddings: int = 512
  type_vocab_size: int = 2
  initializer_range: float = 0.02

  def __post_init__(self):
    if self.hidden_size % self.num_attention_heads:
      raise ConfigError(
          f"hidden_size {self.hidden_size} is not a multiple of "
          f"num_attention_heads {self.num_attention_heads}")

  @classmethod
  def from_dict(cls, values: dict, source: str = "<dict>") -> "BertConfig":
    """Builds a config from a dict, ignoring keys BERT does not use."""
    names = {f.name for f in dataclasses.fields(cls)}
    if "vocab_size" not in values:
      raise ConfigError(f"{source}: missing required key 'vocab_size'")
    kwargs = {k: v for k, v in values.items() if k in names}
    return cls(**kwargs)

  @classmethod
  def from_json_file(cls, path: str) -> "BertConfig":
    try:
      with open(path, encoding="utf-8") as f:
        values = json.load(f)
    except FileNotFoundError as e:
      raise ConfigError(f"BERT config file not found: {path}") from e
    except json.JSONDecodeError as e:
      raise ConfigError(f"{path}: not valid JSON ({e})") from e
    return cls.from_dict(values, source=path)

  def to_dict(self) -> dict:
    return dataclasses.asdict(self)

  def to_json_string(self) -> str:
    return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"


@dataclasses.dataclass(frozen=True)
class BertFiles:
  """The three files of a BERT download.

  Attributes:
    config_file: path of `bert_config.json` (Hugging Face: `config.json`).
    checkpoint: checkpoint prefix, e.g. `DIR/bert_model.ckpt` (the files are
      `<prefix>.index` and `<prefix>.data-*`), or a Hugging Face / PyTorch
      weight file (one of `HF_WEIGHT_FILES`, an MT-BlueBERT `.pt`); None for
      random initialisation.
    vocab_file: path of `vocab.txt`.
  """
  config_file: str
  checkpoint: Optional[str]
  vocab_file: str

  @classmethod
  def resolve(cls, bert_dir: Optional[str] = None,
              bert_config_file: Optional[str] = None,
              init_checkpoint: Optional[str] = None,
              vocab_file: Optional[str] = None) -> "BertFiles":
    """Resolves the files from `--bert_dir` and/or the original flag names.

    An explicit file flag wins over the file found in `bert_dir`, whose
    config is `bert_config.json`, else (a Hugging Face folder) `config.json`.
    A checkpoint given as a folder resolves to the prefix named in its
    `checkpoint` file, to `bert_model.ckpt` inside it, or to the first of
    `HF_WEIGHT_FILES` there.
    """
    if bert_dir:
      if not os.path.isdir(bert_dir):
        raise ConfigError(f"--bert_dir is not a folder: {bert_dir}")
      tf1_config = os.path.join(bert_dir, "bert_config.json")
      hf_config = os.path.join(bert_dir, "config.json")
      if not (bert_config_file or os.path.isfile(tf1_config) or
              os.path.isfile(hf_config)):
        raise ConfigError(f"{bert_dir}: holds neither bert_config.json (a TF1 "
                          "BERT download) nor config.json (Hugging Face)")
      bert_config_file = bert_config_file or (
          tf1_config if os.path.isfile(tf1_config) else hf_config)
      vocab_file = vocab_file or os.path.join(bert_dir, "vocab.txt")
      init_checkpoint = init_checkpoint or bert_dir
    if not bert_config_file:
      raise ConfigError("give --bert_config_file or --bert_dir")
    if not vocab_file:
      raise ConfigError("give --vocab_file or --bert_dir")
    for path in (bert_config_file, vocab_file):
      if not os.path.isfile(path):
        raise ConfigError(f"file not found: {path}")
    if init_checkpoint and os.path.isdir(init_checkpoint):
      init_checkpoint = _checkpoint_prefix_in(init_checkpoint)
    return cls(bert_config_file, init_checkpoint, vocab_file)


def _checkpoint_prefix_in(folder: str) -> str:
  """The checkpoint inside `folder`: a TF1 prefix (`checkpoint` file or
  default), else a Hugging Face weight file."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  latest = tf.train.latest_checkpoint(folder)
  if latest:
    return latest
  default = os.path.join(folder, "bert_model.ckpt")
  if os.path.exists(default + ".index"):
    return default
  for name in HF_WEIGHT_FILES:
    if os.path.isfile(os.path.join(folder, name)):
      return os.path.join(folder, name)
  raise ConfigError(f"{folder}: no weights found: neither a TF1 checkpoint "
                    f"(bert_model.ckpt.index) nor {', '.join(HF_WEIGHT_FILES)}")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """One multi-task (or single-task) training run.

  Defaults are the paper's recipe (Peng et al. 2020, section 4.2): Adamax,
  lr 5e-5, batch 32, linear warm-up over 10 % then linear decay, weight decay
  0.01, global gradient-norm clip 1.0, sequences of at most 128 tokens.

  Attributes:
    tasks: task keys of the registry (`tasks.py`), in head order.
    data_dir: folder with one sub-folder per task key.
    output_dir: where checkpoints, TensorBoard logs, predictions and
      results.json go.
    do_lower_case: lower-case and strip accents (uncased BlueBERT: True).
    max_seq_length: longest packed input, in WordPieces.
    train_batch_size: global batch size of a training step.
    eval_batch_size: global batch size of prediction.
    learning_rate: peak learning rate.
    num_train_epochs: epochs; one epoch = every batch of every task once
      (Algorithm 1).
    max_steps: stop after this many steps in all (None: the epochs decide).
    warmup_proportion: share of all steps spent warming up linearly.
    lr_schedule: "linear" (warm-up then linear decay to 0; the paper) or
      "warmup_linear" (the released code's, reference.md 3.6).
    optimizer: "adamax" (the paper), "bert_adam" (the released code) or
      "adamw".
    weight_decay: decoupled weight decay, not on LayerNorm and biases.
    clip_norm: global gradient-norm clip.
    grad_clipping: per-tensor gradient-norm clip inside the optimizer,
      "bert_adam" only (MT-BlueBERT's `--grad_clipping`, reference.md 3.6;
      0: none).
    sampler: task schedule (`sampling.SCHEDULE_NAMES`).
    sampling_temperature: T of the "temperature" sampler.
    loss_weights: task key -> weight of its loss (default 1).
    seed: seed of schedules, batch plans, initialisation and dropout.
    eval_every_epochs: dev scores every this many epochs (0: only at the end).
    patience: stop after this many evaluations without a new best dev score
      on any task (None: never).
    save_checkpoints_steps: write a resumable checkpoint every this many steps.
    keep_checkpoint_max: resumable checkpoints kept.
    distribution_strategy: "auto", "one_device", "mirrored",
      "multi_worker_mirrored" or "tpu".
    mixed_precision: None, "bf16" or "fp16" (with loss scaling).
    jit_compile: compile each step with XLA.
    length_bucketing: sort training examples by length within windows of
      `datasets.SORT_WINDOW_BATCHES` batches before cutting batches (less
      padding); False: plain random batches, as MT-BlueBERT's BatchGen
      (reference.md 3.5).
    cache_dir: feature cache folder ("" disables the cache).
    train_on_dev: also train on dev, as MT-BlueBERT's code does (its dev
      scores are then on training data; reference.md 3.5). Off by default.
    second_text_first: pack pairs as [CLS] b [SEP] a [SEP], as MT-BlueBERT's
      code does (reference.md 3.3). Off by default (BERT's a-first order).
    variational_dropout: one dropout mask per row on NER heads, as
      MT-BlueBERT's code (reference.md 3.4). Off by default.
    log_every_steps: TensorBoard and progress every this many steps.
  """
  tasks: tuple
  data_dir: str
  output_dir: str
  do_lower_case: bool = True
  max_seq_length: int = 128
  train_batch_size: int = 32
  eval_batch_size: int = 64
  learning_rate: float = 5e-5
  num_train_epochs: float = 3.0
  max_steps: Optional[int] = None
  warmup_proportion: float = 0.1
  lr_schedule: str = "linear"
  optimizer: str = "adamax"
  weight_decay: float = 0.01
  clip_norm: float = 1.0
  grad_clipping: float = 0.0
  sampler: str = "mtdnn"
  sampling_temperature: float = 2.0
  loss_weights: tuple = ()
  seed: int = 2018
  eval_every_epochs: int = 1
  patience: Optional[int] = None
  save_checkpoints_steps: int = 1000
  keep_checkpoint_max: int = 2
  distribution_strategy: str = "auto"
  mixed_precision: Optional[str] = None
  jit_compile: bool = False
  length_bucketing: bool = True
  cache_dir: str = ""
  train_on_dev: bool = False
  second_text_first: bool = False
  variational_dropout: bool = False
  log_every_steps: int = 10

  def loss_weight(self, task: str) -> float:
    return dict(self.loss_weights).get(task, 1.0)

  def to_json_string(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"
