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
from typing import Optional, Tuple

from bluebert_mtl.errors import ConfigError, FlagError

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

  def check_sequence_length(self, max_seq_length: int, source: str):
    """Refuses a --max_seq_length the position table cannot hold (a
    position past it would read no embedding on a GPU, silently).

    Raises:
      FlagError: naming the flag and `source`, the config file.
    """
    if not 3 <= max_seq_length <= self.max_position_embeddings:
      raise FlagError(
          f"--max_seq_length={max_seq_length} must be in [3, "
          f"{self.max_position_embeddings}] (max_position_embeddings of "
          f"{source})")

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


# The choices of TrainConfig's enumerated fields; the modules that implement
# them (train/sampling.py, train/optimization.py, train/distribution.py,
# train/step.py) build exactly these.
SAMPLERS = ("mtdnn", "proportional", "temperature", "uniform", "annealed")
OPTIMIZERS = ("adamax", "bert_adam", "adamw")
LR_SCHEDULES = ("linear", "warmup_linear")
DISTRIBUTION_STRATEGIES = ("auto", "one_device", "mirrored",
                           "multi_worker_mirrored")
MIXED_PRECISIONS = ("bf16", "fp16")
# Dropout on a task head's input, as the paper trains its task layers.
PAPER_HEAD_DROPOUT = 0.1


def option(help_text: str, default=dataclasses.MISSING, *,
           choices: Optional[Tuple[str, ...]] = None,
           bookkeeping: bool = False):
  """A `TrainConfig` field that is also a command-line flag of the same name
  (`commands/cli.py` defines the flags from these fields).

  Args:
    help_text: what the field means (the flag's help).
    default: the default (none: a required flag).
    choices: the allowed values of a string field.
    bookkeeping: the field says where a run lives or how it reports, not
      what it learns: a run folder may be resumed or read back by a call
      whose config differs from the run's in bookkeeping fields only
      (`runs/run_dir.check_same_run`).
  """
  return dataclasses.field(default=default, metadata={
      "help": help_text, "choices": choices, "bookkeeping": bookkeeping})


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """One multi-task (or single-task) training run.

  Defaults are the paper's recipe (Peng et al. 2020, section 4.2): Adamax,
  lr 5e-5, batch 32, linear warm-up over 10 % then linear decay, weight decay
  0.01, global gradient-norm clip 1.0, sequences of at most 128 tokens.
  Each field is a flag of the training commands; its meaning is its `help`
  (`option`), which `--helpfull` prints.
  """
  tasks: tuple = option("Task keys, e.g. chemprot,ddi2013-type, in head "
                        "order.")
  data_dir: str = option(
      "Folder with one sub-folder per task key holding train.tsv, dev.tsv "
      "and test.tsv.", bookkeeping=True)
  output_dir: str = option(
      "Where the run writes everything; rerunning with the same folder "
      "resumes the run.", bookkeeping=True)
  do_lower_case: bool = option(
      "Lower-case and strip accents (BlueBERT is uncased).", True)
  max_seq_length: int = option(
      "Longest input in WordPieces, [CLS] and [SEP] included.", 128)
  train_batch_size: int = option(
      "Global batch size of one update (split over the replicas and the "
      "accumulation steps; need not divide by either).", 32)
  gradient_accumulation_steps: int = option(
      "K: each update sums the gradients of K micro-batches of "
      "train_batch_size / K rows, one after the other (less activation "
      "memory; the update equals one batch of train_batch_size rows).", 1)
  eval_batch_size: int = option(
      "Prediction batches (dev and test scoring) hold this many rows of "
      "max_seq_length tokens: a token budget, so shorter (length-sorted) "
      "inputs come more to a batch. 16 x 128 = 2,048 tokens was the fastest "
      "budget on 2 CPU cores (BENCHMARKS.md); a GPU wants more.", 16,
      bookkeeping=True)
  learning_rate: float = option("Peak learning rate.", 5e-5)
  num_train_epochs: float = option(
      "Epochs (one epoch: every batch of every task once, Algorithm 1).", 3.0)
  max_steps: Optional[int] = option(
      "Stop after this many steps in all (default: the epochs decide).", None)
  warmup_proportion: float = option(
      "Share of all steps spent in linear warm-up.", 0.1)
  lr_schedule: str = option(
      "linear: the paper's warm-up then linear decay to 0; warmup_linear: "
      "the released code's (drops at the warm-up boundary, "
      "docs/original_system.md §3.4).", "linear", choices=LR_SCHEDULES)
  optimizer: str = option(
      "adamax: the paper; bert_adam: the released code; adamw.", "adamax",
      choices=OPTIMIZERS)
  weight_decay: float = option(
      "Decoupled weight decay (not on LayerNorm and biases).", 0.01)
  clip_norm: float = option("Global gradient-norm clip (0: none).", 1.0)
  grad_clipping: float = option(
      "Per-tensor gradient-norm clip inside the optimizer, "
      "--optimizer=bert_adam only (the released code's --grad_clipping, "
      "docs/original_system.md §3.4; 0: none).", 0.0)
  sampler: str = option(
      "Which task each step trains; mtdnn = Algorithm 1.", "mtdnn",
      choices=SAMPLERS)
  sampling_temperature: float = option(
      "T of --sampler=temperature: p_t ~ n_t^(1/T).", 2.0)
  loss_weights: tuple = option(
      "Per-task loss weights, as task=weight pairs (default 1).", ())
  seed: int = option(
      "Seed of schedules, batch plans, initialisation and dropout.", 2018)
  eval_every_epochs: int = option(
      "Dev evaluation every this many epochs (0: only at the end).", 1)
  patience: Optional[int] = option(
      "Stop after this many evaluations without a new best dev score on any "
      "task (default: never).", None)
  save_checkpoints_steps: int = option(
      "Resumable checkpoint every this many steps.", 1000, bookkeeping=True)
  keep_checkpoint_max: int = option("Resumable checkpoints kept.", 2,
                                    bookkeeping=True)
  distribution_strategy: str = option(
      "auto: mirrored over several GPUs, else one device; "
      "multi_worker_mirrored reads the cluster from TF_CONFIG.", "auto",
      choices=DISTRIBUTION_STRATEGIES, bookkeeping=True)
  mixed_precision: Optional[str] = option(
      "Mixed precision (fp16 with dynamic loss scaling).", None,
      choices=MIXED_PRECISIONS)
  jit_compile: bool = option(
      "Compile each training step and the dev/test prediction with XLA.",
      False)
  cls_only_last_layer: bool = option(
      "Heads that read [CLS] (regression, classification, multi-label) take "
      "an encoder pass whose last block computes keys and values at every "
      "position but everything else at [CLS] alone: their outputs equal the "
      "full block's, for less work (modeling.BlueBertEncoder); tagging heads "
      "always take the full block. --nocls_only_last_layer: the full block "
      "for every head.", True)
  deterministic: bool = option(
      "TensorFlow op determinism (tf.config.experimental."
      "enable_op_determinism): on a GPU, what bit-identical results and "
      "resumes need; slower there. CPU runs are deterministic without it.",
      False, bookkeeping=True)
  length_bucketing: bool = option(
      "Batch training examples of similar length: sorted within windows of "
      "datasets.SORT_WINDOW_BATCHES batches (less padding); "
      "--nolength_bucketing: random batches, as MT-BlueBERT's BatchGen "
      "(docs/original_system.md §3.3).", True)
  cache_dir: str = option("Feature cache folder (empty: none).", "",
                          bookkeeping=True)
  train_on_dev: bool = option(
      "Also train on dev, as MT-BlueBERT's code does (its dev scores are then "
      "on training data; docs/original_system.md §3.3).", False)
  second_text_first: bool = option(
      "Pack pairs hypothesis-first, [CLS] b [SEP] a [SEP], as MT-BlueBERT's "
      "code does (docs/original_system.md §3.1).", False)
  head_dropout: float = option(
      "Dropout on each task head's input (paper: 0.1); a task definition "
      "file's `dropout` wins for its task. The encoder's dropout is "
      "bert_config.json's hidden_dropout_prob and "
      "attention_probs_dropout_prob.", PAPER_HEAD_DROPOUT)
  variational_dropout: bool = option(
      "One dropout mask per row on NER heads, as MT-BlueBERT's code "
      "(docs/original_system.md §3.2).", False)
  log_every_steps: int = option(
      "TensorBoard logging every this many steps.", 10, bookkeeping=True)

  def loss_weight(self, task: str) -> float:
    return dict(self.loss_weights).get(task, 1.0)

  def to_json_string(self) -> str:
    return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n"


# TrainConfig fields that may differ between a run and a call that resumes or
# reads it back (`option`'s bookkeeping).
BOOKKEEPING_FIELDS = frozenset(
    field.name for field in dataclasses.fields(TrainConfig)
    if field.metadata["bookkeeping"])
