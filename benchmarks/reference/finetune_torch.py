"""Independent PyTorch / Hugging Face single-task fine-tuning on BLUE tasks.

A second implementation of single-task fine-tuning, to run side by side with
the TensorFlow port (run_finetune.py) and check that the port learns as well.
It shares no code with bluebert_mtl: the readers, the tokenization, the
metrics and the loop are written here from the data files and the BLUE
reference (docs/original_system.md §1, §2, §3); the model, the losses and
the optimizer step are those of `torch_mt` (transformers.BertModel, Adamax with
decoupled weight decay, global clip, linear warm-up then linear decay).

  benchmarks/reference/.venv/bin/python benchmarks/reference/finetune_torch.py \
      --task=chemprot,ddi2013-type --data_dir=../shared/data/blue-public \
      --model_dir=MODEL_DIR --output_dir=runs/torch_finetune --seeds=1,2,3

Tasks (keys as run_finetune.py's), read from DATA_DIR/<task>/{train,dev,test}.tsv
with csv quoting off (quote characters are kept as they are in the file):

  biosses          regression on [CLS] sent1 [SEP] sent2 [SEP] (type ids 0/1),
                   header row skipped, the last three columns are sent1,
                   sent2, score                                  -> pearson
  chemprot         classification of `index sentence label` rows (header
                   skipped); labels CPR:3 CPR:4 CPR:5 CPR:6 CPR:9 false
                   -> micro_f1 over every class but "false"
  ddi2013-type     the same; labels DDI-advise DDI-effect DDI-int
                   DDI-mechanism DDI-false -> macro_f1: the mean of the four
                   types' F1; a type with neither gold nor predicted rows
                   scores 0 and still counts (sklearn's f1_score with
                   labels=the four types, as BLUE's script)
  bc5cdr-chemical  tagging of CoNLL files (word first column, tag last
  bc5cdr-disease   column, a blank line between sentences); untyped B/I tags
                   are given the task's type (B -> B-Chemical); each word's
                   label sits on its first word piece, the other pieces are
                   labelled -1 (left out of the loss); words past
                   max_seq_length are predicted O (their number is logged)
                   -> chunk_f1: conlleval's exact-match chunk F1 (a chunk
                   starts at B-, or at I- after O or after another type)

Model: `torch_mt.MultiTaskBert` with one head (dropout 0.1 + Linear on the
pooled output, or on every token for tagging) on the Hugging Face folder
--model_dir (config.json, model.safetensors, vocab.txt). The head is
initialised normal(0, initializer_range) with a zero bias, as MT-DNN's and
BERT's heads are. The tokenizer is transformers' BERT WordPiece tokenizer of
the folder's vocab.txt, lower-casing.

Training: per epoch the train set is shuffled (numpy Generator of the seed;
torch.manual_seed(seed) fixes the head's initialisation and dropout) and cut
into batches of --train_batch_size (the last may be smaller), or with
--length_bucketing=N first sorted by length within windows of N batches
and the batches shuffled (the port's default batching, to compare); one
`torch_mt.Trainer` step per batch. After each epoch dev is scored with the
official metric; the weights of the best dev epoch (the first of equals) are
kept in memory and score test at the end. Without --num_train_epochs or
--learning_rate a task uses its released fine-tuning recipe
(run_blue_fine_tune.sh, docs/original_system.md §3.6).

Output, as run_finetune.py's (bluebert_mtl.study.report reads it):

  OUTPUT_DIR/<task>/results.json  {task: {"best_step", "dev": {metric: v},
                                          "test": {metric: v}}}
  OUTPUT_DIR/<task>/timing.json   {"wall_seconds": s, "resumed": false}
  OUTPUT_DIR/<task>/history.json  per epoch: loss, dev score, examples/s

With several --seeds each seed writes those three files into
OUTPUT_DIR/<task>/seed_<s>/, and OUTPUT_DIR/<task>/results.json holds
{task: {"seeds", "dev", "dev_sd", "test", "test_sd", "per_seed"}} (mean and
sample standard deviation over the seeds). The task folder then gets no
timing.json of its own: the report sums every timing.json under a run folder,
so one there would count the seeds' time twice. A folder that has a
timing.json is a finished run: its results are read back, not trained again.

This file imports only the standard library, numpy, torch and transformers.
"""

import argparse
import csv
import dataclasses
import json
import math
import os
import statistics
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_mt  # pylint: disable=g-import-not-at-top,wrong-import-position

csv.field_size_limit(sys.maxsize)

RESULTS = "results.json"
TIMING = "timing.json"
HISTORY = "history.json"
SPLITS = ("train", "dev", "test")


@dataclasses.dataclass(frozen=True)
class Task:
  """A task: its kind, label set, official metric and released recipe."""
  name: str
  kind: str                        # regression, classification or tagging
  metric: str                      # key in results.json
  labels: Tuple[str, ...] = ()     # classification labels; tagging types
  negative: str = ""               # classification: the "no relation" label
  entity: str = ""                 # tagging: the entity type of the file
  epochs: int = 3                  # run_blue_fine_tune.sh recipe
  learning_rate: float = 5e-5

  @property
  def tags(self) -> Tuple[str, ...]:
    return ("O", f"B-{self.entity}", f"I-{self.entity}")

  @property
  def outputs(self) -> int:
    if self.kind == "regression":
      return 1
    return len(self.tags if self.kind == "tagging" else self.labels)


TASKS = {t.name: t for t in (
    Task("biosses", "regression", "pearson", epochs=20, learning_rate=5e-6),
    Task("chemprot", "classification", "micro_f1",
         labels=("CPR:3", "CPR:4", "CPR:5", "CPR:6", "CPR:9", "false"),
         negative="false", epochs=20, learning_rate=2e-5),
    Task("ddi2013-type", "classification", "macro_f1",
         labels=("DDI-advise", "DDI-effect", "DDI-int", "DDI-mechanism",
                 "DDI-false"),
         negative="DDI-false", epochs=10, learning_rate=5e-5),
    Task("bc5cdr-chemical", "tagging", "chunk_f1", entity="Chemical",
         epochs=20, learning_rate=5e-5),
    Task("bc5cdr-disease", "tagging", "chunk_f1", entity="Disease",
         epochs=20, learning_rate=6e-5),
)}


def log(message: str) -> None:
  print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# ------------------------------------------------------------------ readers


def _tsv_rows(path: str) -> List[List[str]]:
  """Tab-separated rows with quoting off: a `"` is an ordinary character."""
  with open(path, newline="", encoding="utf-8") as f:
    return list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def read_pairs(path: str) -> List[Tuple[str, str, float]]:
  """(sent1, sent2, score) rows of an STS file; row 0 is the header, the
  last three columns are sent1, sent2 and score (BLUE files may have more
  columns before them)."""
  examples = []
  for line, row in enumerate(_tsv_rows(path)[1:], start=2):
    if not row:
      continue
    if len(row) < 3:
      raise ValueError(f"{path}:{line}: {len(row)} columns, want >= 3")
    try:
      score = float(row[-1])
    except ValueError as e:
      raise ValueError(f"{path}:{line}: score {row[-1]!r}") from e
    examples.append((row[-3], row[-2], score))
  return examples


def read_relations(path: str, labels: Sequence[str]) -> List[Tuple[str, str]]:
  """(sentence, label) rows of an `index sentence label` file; row 0 is the
  header."""
  known = set(labels)
  examples = []
  for line, row in enumerate(_tsv_rows(path)[1:], start=2):
    if not row:
      continue
    if len(row) != 3:
      raise ValueError(f"{path}:{line}: {len(row)} columns, want 3 "
                       "(index, sentence, label)")
    if row[2] not in known:
      raise ValueError(f"{path}:{line}: unknown label {row[2]!r}")
    examples.append((row[1], row[2]))
  return examples


def read_conll(path: str, task: Optional[Task] = None
               ) -> List[Tuple[List[str], List[str]]]:
  """(words, tags) per sentence of a CoNLL file: one `word ... tag` line a
  word (first and last column), a blank line between sentences. With a
  tagging task, untyped B/I become B-/I-<entity> and any other tag is an
  error."""
  sentences, words, tags = [], [], []
  allowed = set(task.tags) if task else None
  for line, row in enumerate(_tsv_rows(path), start=1):
    if not row or not "".join(row).strip():
      if words:
        sentences.append((words, tags))
      words, tags = [], []
      continue
    if len(row) < 2:
      raise ValueError(f"{path}:{line}: want `word<TAB>...<TAB>tag`")
    tag = row[-1].strip()
    if task is not None:
      if tag in ("B", "I"):
        tag = f"{tag}-{task.entity}"
      if tag not in allowed:
        raise ValueError(f"{path}:{line}: tag {tag!r} not in {task.tags}")
    words.append(row[0])
    tags.append(tag)
  if words:
    sentences.append((words, tags))
  return sentences


def read_split(task: Task, data_dir: str, split: str):
  path = os.path.join(data_dir, task.name, f"{split}.tsv")
  if task.kind == "regression":
    return read_pairs(path)
  if task.kind == "classification":
    return read_relations(path, task.labels)
  return read_conll(path, task)


# ------------------------------------------------------------------ metrics


def pearson(gold: Sequence[float], predicted: Sequence[float]) -> float:
  """Pearson's r; nan when either side is constant (as pandas' corr)."""
  g = np.asarray(gold, np.float64)
  p = np.asarray(predicted, np.float64)
  g, p = g - g.mean(), p - p.mean()
  denominator = math.sqrt(float((g * g).sum()) * float((p * p).sum()))
  return float((g * p).sum()) / denominator if denominator > 0 else math.nan


def _f1(tp: int, fp: int, fn: int) -> float:
  """F1 of counts; precision, recall and F1 are 0 where undefined."""
  precision = tp / (tp + fp) if tp + fp else 0.0
  recall = tp / (tp + fn) if tp + fn else 0.0
  if precision + recall == 0:
    return 0.0
  return 2 * precision * recall / (precision + recall)


def micro_f1_without(gold: Sequence[str], predicted: Sequence[str],
                     negative: str) -> float:
  """Micro F1 over every class but `negative` (BLUE eval_rel.py): a row
  gold X predicted X (X positive) is a TP; a positive prediction that is
  wrong an FP; a positive gold that is missed an FN (confusing two positive
  classes is one of each)."""
  tp = fp = fn = 0
  for g, p in zip(gold, predicted, strict=True):
    if g == p:
      tp += g != negative
    else:
      fp += p != negative
      fn += g != negative
  return _f1(tp, fp, fn)


def macro_f1(gold: Sequence[str], predicted: Sequence[str],
             labels: Sequence[str]) -> float:
  """Mean over `labels` of each label's F1 (one-vs-rest counts). A label
  with no gold and no predicted row has F1 0 and counts in the mean, as
  sklearn's f1_score(labels=labels, average="macro")."""
  gold = np.asarray(gold, dtype=object)
  predicted = np.asarray(predicted, dtype=object)
  if gold.shape != predicted.shape:
    raise ValueError("gold and predicted differ in length")
  scores = []
  for label in labels:
    g, p = gold == label, predicted == label
    scores.append(_f1(int((g & p).sum()), int((~g & p).sum()),
                      int((g & ~p).sum())))
  return float(np.mean(scores))


def _split_tag(tag: str) -> Tuple[str, str]:
  if tag == "O":
    return "O", ""
  prefix, _, kind = tag.partition("-")
  if prefix not in ("B", "I"):
    raise ValueError(f"tag {tag!r} is not O, B-* or I-*")
  return prefix, kind


def chunks(tags: Sequence[str]) -> List[Tuple[int, int, str]]:
  """conlleval's chunks of one sentence as (start, end exclusive, type): a
  chunk starts at B-, or at I- after O or after a tag of another type, and
  ends before O, before a chunk start, or at the sentence end."""
  found = []
  start, current = None, None
  for i, tag in enumerate(tags):
    prefix, kind = _split_tag(tag)
    starts = prefix == "B" or (prefix == "I" and (start is None or
                                                  kind != current))
    if start is not None and (prefix == "O" or starts):
      found.append((start, i, current))
      start, current = None, None
    if starts:
      start, current = i, kind
  if start is not None:
    found.append((start, len(tags), current))
  return found


def chunk_f1(gold: Sequence[Sequence[str]],
             predicted: Sequence[Sequence[str]]) -> float:
  """conlleval's overall F1: a predicted chunk is correct when a gold chunk
  has the same sentence, start, end and type."""
  gold_set, predicted_set = set(), set()
  for n, (g, p) in enumerate(zip(gold, predicted, strict=True)):
    if len(g) != len(p):
      raise ValueError(f"sentence {n}: {len(g)} gold, {len(p)} predicted tags")
    gold_set.update((n,) + c for c in chunks(g))
    predicted_set.update((n,) + c for c in chunks(p))
  tp = len(gold_set & predicted_set)
  return _f1(tp, len(predicted_set) - tp, len(gold_set) - tp)


# ------------------------------------------------------------- tokenization


def load_vocab(vocab_file: str) -> Dict[str, int]:
  """vocab.txt as {token: line number}, as BERT reads it."""
  vocab = {}
  with open(vocab_file, encoding="utf-8") as f:
    for index, line in enumerate(f):
      vocab[line.strip()] = index
  return vocab


def make_tokenizer(vocab_file: str, do_lower_case: bool = True):
  """transformers' fast BERT tokenizer of `vocab_file`.

  transformers 5 takes the vocab as `vocab=` (a `vocab_file=` argument is
  ignored there, leaving a 5-token vocab), 4 as `vocab_file=`; the result is
  checked against the file either way.
  """
  vocab = load_vocab(vocab_file)
  if int(transformers.__version__.split(".")[0]) >= 5:
    tokenizer = transformers.BertTokenizerFast(vocab=vocab,
                                               do_lower_case=do_lower_case)
  else:
    tokenizer = transformers.BertTokenizerFast(vocab_file=vocab_file,
                                               do_lower_case=do_lower_case)
  got = tokenizer.get_vocab()
  if len(got) != len(vocab) or any(
      got.get(t) != vocab[t] for t in ("[CLS]", "[SEP]", "[PAD]", "[UNK]")):
    raise ValueError(f"the tokenizer did not take {vocab_file} "
                     f"({len(got)} of {len(vocab)} tokens)")
  if vocab["[PAD]"] != 0:
    raise ValueError(f"{vocab_file}: [PAD] is not token 0")
  return tokenizer


@dataclasses.dataclass
class Features:
  """Token ids and labels of one split (unpadded, one list per example)."""
  ids: List[List[int]]
  types: List[List[int]]
  labels: list                    # float, label index, or per-token indices
  first_piece: Optional[List[List[int]]] = None  # tagging: per word, or -1
  cut_words: int = 0              # tagging: words past max_seq_length


def encode_words(tokenizer, sentences: Sequence[Sequence[str]],
                 tag_ids: Sequence[Sequence[int]], max_seq_length: int
                 ) -> Features:
  """Tagging features: each word's label on its first word piece, -1 on its
  other pieces and on [CLS] / [SEP]; words cut off by max_seq_length (or
  with no piece at all) get position -1."""
  encoded = tokenizer([list(s) for s in sentences], is_split_into_words=True,
                      truncation=True, max_length=max_seq_length)
  labels, first_piece, cut = [], [], 0
  for n, (words, tags) in enumerate(zip(sentences, tag_ids)):
    word_ids = encoded.word_ids(n)
    label = [-1] * len(word_ids)
    first = [-1] * len(words)
    previous = None
    for position, word in enumerate(word_ids):
      if word is not None and word != previous:
        first[word] = position
        label[position] = tags[word]
      previous = word
    cut += sum(1 for p in first if p < 0)
    labels.append(label)
    first_piece.append(first)
  return Features(encoded["input_ids"], encoded["token_type_ids"], labels,
                  first_piece, cut)


def make_features(task: Task, tokenizer, examples, max_seq_length: int
                  ) -> Features:
  if task.kind == "regression":
    a, b, scores = zip(*examples)
    encoded = tokenizer(list(a), list(b), truncation="longest_first",
                        max_length=max_seq_length)
    return Features(encoded["input_ids"], encoded["token_type_ids"],
                    list(scores))
  if task.kind == "classification":
    texts, labels = zip(*examples)
    encoded = tokenizer(list(texts), truncation=True,
                        max_length=max_seq_length)
    index = {label: i for i, label in enumerate(task.labels)}
    return Features(encoded["input_ids"], encoded["token_type_ids"],
                    [index[label] for label in labels])
  index = {tag: i for i, tag in enumerate(task.tags)}
  return encode_words(tokenizer, [w for w, _ in examples],
                      [[index[t] for t in tags] for _, tags in examples],
                      max_seq_length)


def collate(task: Task, features: Features, rows, device: str = "cpu"
            ) -> Dict[str, torch.Tensor]:
  """A batch padded to its longest row, in torch_mt.Trainer's keys, on
  `device`."""
  length = max(len(features.ids[i]) for i in rows)
  ids = np.zeros((len(rows), length), np.int64)
  types = np.zeros_like(ids)
  mask = np.zeros_like(ids)
  tagged = task.kind == "tagging"
  labels = (np.full((len(rows), length), -1, np.int64) if tagged else
            np.zeros(len(rows), np.float32 if task.kind == "regression"
                     else np.int64))
  for j, i in enumerate(rows):
    n = len(features.ids[i])
    ids[j, :n] = features.ids[i]
    types[j, :n] = features.types[i]
    mask[j, :n] = 1
    if tagged:
      labels[j, :n] = features.labels[i]
    else:
      labels[j] = features.labels[i]
  batch = {"input_word_ids": torch.from_numpy(ids),
           "input_mask": torch.from_numpy(mask),
           "input_type_ids": torch.from_numpy(types),
           "label": torch.from_numpy(labels),
           "example_weight": torch.ones(len(rows))}
  return {k: v.to(device) for k, v in batch.items()}


# ---------------------------------------------------------------- scoring


@torch.inference_mode()
def predict(model, task: Task, features: Features, batch_size: int,
            device: str = "cpu") -> list:
  """Per example: the score, the label index, or the per-token tag indices
  (dropout off; rows are batched by length and returned in file order)."""
  was_training = model.training
  model.eval()
  order = np.argsort([len(x) for x in features.ids], kind="stable")
  out = [None] * len(order)
  for start in range(0, len(order), batch_size):
    rows = order[start:start + batch_size].tolist()
    batch = collate(task, features, rows, device)
    result = model(task.name, batch["input_word_ids"], batch["input_mask"],
                   batch["input_type_ids"])
    if task.kind == "regression":
      values = result.float().tolist()
    else:
      values = result.argmax(-1).cpu().numpy()
    for j, i in enumerate(rows):
      out[i] = values[j]
  model.train(was_training)
  return out


def word_tags(task: Task, features: Features, predictions) -> List[List[str]]:
  """Each word's predicted tag: that of its first piece, O where it has
  none (cut off by max_seq_length)."""
  return [[task.tags[int(pred[p])] if p >= 0 else "O" for p in first]
          for pred, first in zip(predictions, features.first_piece)]


def score(task: Task, examples, features: Features, predictions) -> float:
  """The task's official metric of `predictions` (as `predict` returns)."""
  if task.kind == "regression":
    return pearson([e[2] for e in examples], predictions)
  if task.kind == "classification":
    gold = [label for _, label in examples]
    predicted = [task.labels[int(i)] for i in predictions]
    if task.metric == "micro_f1":
      return micro_f1_without(gold, predicted, task.negative)
    return macro_f1(gold, predicted,
                    [x for x in task.labels if x != task.negative])
  return chunk_f1([tags for _, tags in examples],
                  word_tags(task, features, predictions))


def _better(value: float, best: Optional[float]) -> bool:
  """Strictly better; nan is worse than any number (first epoch wins ties)."""
  if best is None:
    return True
  if math.isnan(value):
    return False
  return math.isnan(best) or value > best


# ---------------------------------------------------------------- training


@dataclasses.dataclass
class TaskData:
  task: Task
  examples: Dict[str, list]
  features: Dict[str, Features]


def load_task(task: Task, data_dir: str, tokenizer, max_seq_length: int
              ) -> TaskData:
  examples, features = {}, {}
  for split in SPLITS:
    examples[split] = read_split(task, data_dir, split)
    features[split] = make_features(task, tokenizer, examples[split],
                                    max_seq_length)
    message = f"{task.name} {split}: {len(examples[split])} examples"
    if task.kind == "tagging":
      words = sum(len(w) for w, _ in examples[split])
      cut_sentences = sum(1 for first in features[split].first_piece
                          if min(first, default=0) < 0)
      message += (f", {words} words; {features[split].cut_words} words in "
                  f"{cut_sentences} sentences past max_seq_length="
                  f"{max_seq_length} (predicted O)")
    else:
      full = sum(1 for x in features[split].ids if len(x) >= max_seq_length)
      message += f", {full} at max_seq_length={max_seq_length} (truncated)"
    log(message)
  return TaskData(task, examples, features)


def epoch_batches(train: Features, batch_size: int, rng: np.random.Generator,
                  bucketing_window: int) -> List[List[int]]:
  """One epoch's batches: the shuffled examples cut in order, or with
  `bucketing_window` > 0 sorted by length within windows of that many
  batches first and the batches shuffled (to measure what length bucketing
  does to training)."""
  order = rng.permutation(len(train.ids))
  if not bucketing_window:
    return [order[i:i + batch_size].tolist()
            for i in range(0, len(order), batch_size)]
  window = batch_size * bucketing_window
  batches = []
  for start in range(0, len(order), window):
    chunk = sorted(order[start:start + window].tolist(),
                   key=lambda i: len(train.ids[i]))
    batches.extend(chunk[i:i + batch_size]
                   for i in range(0, len(chunk), batch_size))
  return [batches[i] for i in rng.permutation(len(batches))]


def train_once(task: Task, data: Optional[TaskData], args, seed: int,
               folder: str) -> dict:
  """Trains one seed into `folder` (or reads a finished run back: then
  `data` may be None); returns its results.json entry."""
  if os.path.isfile(os.path.join(folder, TIMING)):
    log(f"{folder} has {TIMING}: reading its results back")
    with open(os.path.join(folder, RESULTS)) as f:
      return json.load(f)[task.name]
  os.makedirs(folder, exist_ok=True)
  started = time.time()
  epochs = args.num_train_epochs or task.epochs
  learning_rate = args.learning_rate or task.learning_rate
  torch.manual_seed(seed)
  rng = np.random.default_rng(seed)
  model = torch_mt.MultiTaskBert(args.model_dir, [
      {"name": task.name, "kind": task.kind, "outputs": task.outputs}])
  head = model.heads[task.name].linear
  with torch.no_grad():
    head.weight.normal_(0.0, model.bert.config.initializer_range)
    head.bias.zero_()
  model.to(args.device)  # after the head's init: the same on every device
  train = data.features["train"]
  size = len(train.ids)
  batch_size = args.train_batch_size
  steps_per_epoch = math.ceil(size / batch_size)
  total_steps = epochs * steps_per_epoch
  trainer = torch_mt.Trainer(
      model, learning_rate, args.warmup_proportion * total_steps, total_steps,
      weight_decay=args.weight_decay, clip_norm=args.clip_norm)
  log(f"{task.name} seed {seed}: {epochs} epochs x {steps_per_epoch} steps "
      f"of {batch_size}, lr {learning_rate:g}, warm-up "
      f"{args.warmup_proportion * total_steps:.1f} steps, threads "
      f"{torch.get_num_threads()}, device {args.device}")
  history, best, best_state, best_step, step = [], None, None, -1, 0
  for epoch in range(1, epochs + 1):
    losses = []
    tick = time.time()
    for rows in epoch_batches(train, batch_size, rng, args.length_bucketing):
      losses.append(trainer.step(task.name,
                                 collate(task, train, rows, args.device)))
      step += 1
    train_seconds = time.time() - tick
    tick = time.time()
    dev = score(task, data.examples["dev"], data.features["dev"],
                predict(model, task, data.features["dev"],
                        args.eval_batch_size, args.device))
    dev_seconds = time.time() - tick
    improved = _better(dev, best)
    if improved:
      best, best_step = dev, step
      best_state = {k: v.detach().clone()
                    for k, v in model.state_dict().items()}
    history.append({"epoch": epoch, "step": step,
                    "train_loss": float(np.mean(losses)),
                    "dev": {task.metric: dev},
                    "train_examples_per_second": size / train_seconds,
                    "train_seconds": train_seconds,
                    "dev_seconds": dev_seconds})
    log(f"{task.name} seed {seed} epoch {epoch}/{epochs} step {step}: "
        f"loss {np.mean(losses):.4f}, dev {task.metric} {dev:.4f}"
        f"{' (best)' if improved else ''}, {size / train_seconds:.1f} "
        f"train examples/s, dev scored in {dev_seconds:.1f}s")
  model.load_state_dict(best_state)
  test = score(task, data.examples["test"], data.features["test"],
               predict(model, task, data.features["test"],
                       args.eval_batch_size, args.device))
  log(f"{task.name} seed {seed}: best dev {task.metric} {best:.4f} at step "
      f"{best_step}; test {task.metric} {test:.4f}")
  entry = {"best_step": best_step, "dev": {task.metric: best},
           "test": {task.metric: test}}
  with open(os.path.join(folder, HISTORY), "w") as f:
    json.dump({"task": task.name, "seed": seed, "epochs": epochs,
               "learning_rate": learning_rate, "best_step": best_step,
               "device": args.device,
               "length_bucketing": args.length_bucketing,
               "epochs_history": history}, f, indent=2)
  with open(os.path.join(folder, RESULTS), "w") as f:
    json.dump({task.name: entry}, f, indent=2, sort_keys=True)
  # Written last: its presence marks a finished run.
  with open(os.path.join(folder, TIMING), "w") as f:
    json.dump({"wall_seconds": time.time() - started, "resumed": False}, f,
              indent=2)
  return entry


def aggregate(per_seed: Dict[int, dict]) -> dict:
  """Seeds' entries -> mean ("dev", "test") and sample sd ("dev_sd",
  "test_sd"; 0 for one seed), with the seeds and each seed's entry."""
  entries = list(per_seed.values())
  result = {"seeds": list(per_seed)}
  for split in ("dev", "test"):
    means, sds = {}, {}
    for metric in entries[0][split]:
      values = [e[split][metric] for e in entries]
      means[metric] = statistics.fmean(values)
      sds[metric] = statistics.stdev(values) if len(values) > 1 else 0.0
    result[split], result[f"{split}_sd"] = means, sds
  result["per_seed"] = {str(s): e for s, e in per_seed.items()}
  return result


def run_task(task: Task, args, tokenizer) -> dict:
  """Trains every seed of a task (one seed: into OUTPUT_DIR/<task>/, several:
  into its seed_<s>/ folders); returns {task: results.json entry}."""
  folder = os.path.join(args.output_dir, task.name)
  one = len(args.seeds) == 1
  run_dirs = ([folder] if one else
              [os.path.join(folder, f"seed_{s}") for s in args.seeds])
  if one and os.path.isdir(folder) and any(
      n.startswith("seed_") for n in os.listdir(folder)):
    raise SystemExit(f"{folder} holds a several-seed run; use another "
                     "--output_dir for one seed")
  if not one and os.path.isfile(os.path.join(folder, TIMING)):
    raise SystemExit(f"{folder} holds a one-seed run; use another "
                     "--output_dir for several seeds")
  data = None  # read and tokenized only when some seed still has to train
  if not all(os.path.isfile(os.path.join(d, TIMING)) for d in run_dirs):
    data = load_task(task, args.data_dir, tokenizer, args.max_seq_length)
  per_seed = {s: train_once(task, data, args, s, d)
              for s, d in zip(args.seeds, run_dirs)}
  if one:
    return {task.name: per_seed[args.seeds[0]]}
  results = {task.name: aggregate(per_seed)}
  with open(os.path.join(folder, RESULTS), "w") as f:
    json.dump(results, f, indent=2, sort_keys=True)
  return results


def check_model_dir(model_dir: str) -> str:
  """The folder's vocab.txt; stops when BertModel could not load it."""
  missing = [n for n in ("config.json", "vocab.txt")
             if not os.path.isfile(os.path.join(model_dir, n))]
  if not any(os.path.isfile(os.path.join(model_dir, n))
             for n in ("model.safetensors", "pytorch_model.bin")):
    missing.append("model.safetensors")
  if missing:
    raise SystemExit(f"--model_dir {model_dir} lacks {', '.join(missing)}")
  return os.path.join(model_dir, "vocab.txt")


def parse_args(argv=None):
  parser = argparse.ArgumentParser(
      description=__doc__.split("\n\n")[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--task", required=True,
                      help=f"task key or comma list of {', '.join(TASKS)}; "
                      "each trains separately")
  parser.add_argument("--data_dir", required=True,
                      help="folder with <task>/{train,dev,test}.tsv")
  parser.add_argument("--model_dir", required=True,
                      help="Hugging Face BERT folder (config.json, "
                      "model.safetensors, vocab.txt)")
  parser.add_argument("--output_dir", required=True)
  parser.add_argument("--seeds", default="1",
                      help="comma list; several: seed_<s>/ folders and "
                      "mean / sd")
  parser.add_argument("--num_train_epochs", type=int, default=None,
                      help="default: the task's released recipe")
  parser.add_argument("--learning_rate", type=float, default=None,
                      help="peak; default: the task's released recipe")
  parser.add_argument("--train_batch_size", type=int, default=32)
  parser.add_argument("--eval_batch_size", type=int, default=64)
  parser.add_argument("--max_seq_length", type=int, default=128)
  parser.add_argument("--warmup_proportion", type=float, default=0.1)
  parser.add_argument("--weight_decay", type=float, default=0.01)
  parser.add_argument("--clip_norm", type=float, default=1.0)
  parser.add_argument("--threads", type=int, default=None,
                      help="torch.set_num_threads (default: torch's)")
  parser.add_argument("--length_bucketing", type=int, default=0,
                      metavar="BATCHES",
                      help="sort training examples by length within windows "
                      "of this many batches (0: random batches)")
  parser.add_argument("--device", default="cpu",
                      help="torch device to train and score on, e.g. cuda "
                      "(float32 throughout; TF32 matmuls are turned off)")
  parser.add_argument("--no_lower_case", action="store_true",
                      help="keep case (for a cased vocab)")
  args = parser.parse_args(argv)
  names = [t.strip() for t in args.task.split(",") if t.strip()]
  unknown = [t for t in names if t not in TASKS]
  if unknown or not names:
    parser.error(f"--task: unknown {unknown}; known: {', '.join(TASKS)}")
  args.tasks = [TASKS[t] for t in names]
  try:
    args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
  except ValueError:
    parser.error(f"--seeds: {args.seeds!r} is not a comma list of integers")
  if not args.seeds or len(set(args.seeds)) != len(args.seeds):
    parser.error(f"--seeds: empty or repeated: {args.seeds}")
  return args


def main(argv=None) -> Dict[str, dict]:
  args = parse_args(argv)
  if args.threads:
    torch.set_num_threads(args.threads)
  if args.device.startswith("cuda"):
    # float32 as on the CPU: no TF32 in matrix products or convolutions.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
  transformers.utils.logging.disable_progress_bar()
  tokenizer = make_tokenizer(check_model_dir(args.model_dir),
                             do_lower_case=not args.no_lower_case)
  log(f"torch {torch.__version__}, transformers {transformers.__version__}, "
      f"{torch.get_num_threads()} threads, device {args.device}; model "
      f"{args.model_dir}")
  results = {}
  for task in args.tasks:
    results.update(run_task(task, args, tokenizer))
  for name, entry in results.items():
    log(f"{name}: dev {entry['dev']}, test {entry['test']}")
  return results


if __name__ == "__main__":
  main()
