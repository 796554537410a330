"""Features -> `tf.data` batches, bucketed by length.

Batch plans are numpy index arrays made by pure, seeded functions; a
`tf.data.Dataset` then pads each planned batch to its longest row (rounded up
to `length_multiple(jit_compile)`: 1 for the default steps, traced once for
any length; `XLA_LENGTH_MULTIPLE` under XLA, which compiles once per shape)
and to exactly `batch_size` rows (padding rows have weight 0, so replicas always
get equal slices and padding never reaches a loss or a metric).

Every batch is a dict:
  input_word_ids   int32 [B, T]
  input_mask       int32 [B, T]   1 on real tokens
  input_type_ids   int32 [B, T]
  example_weight   float32 [B]    1 on real rows, 0 on padding rows
  example_index    int32 [B]      index into the feature list, -1 on padding
  label            (labelled data only) by task kind:
                     classification int32 [B]; regression float32 [B];
                     multilabel float32 [B, C]; tagging int32 [B, T]
                     (features.IGNORE_ID on positions out of the loss)
"""

from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from bluebert_mtl.data import features as features_lib

XLA_LENGTH_MULTIPLE = 8  # XLA compiles per shape: few distinct lengths
SORT_WINDOW_BATCHES = 50  # training batches are length-sorted within windows


def training_batches(lengths: Sequence[int], batch_size: int,
                     rng: np.random.Generator, bucketing: bool = True
                     ) -> List[np.ndarray]:
  """One epoch's training batches: shuffled, length-bucketed, shuffled again.

  The examples are shuffled, sorted by length within windows of
  `SORT_WINDOW_BATCHES` batches, cut into batches of `batch_size` and the
  batch order is shuffled. Without `bucketing` the shuffled examples are cut
  into batches as they come. Every example is in exactly one batch; only the
  last batch of the epoch may be short.

  Args:
    lengths: sequence length of each example.
    batch_size: rows per batch.
    rng: the epoch's random generator.
    bucketing: sort by length within windows (less padding).

  Returns:
    list of int64 arrays of example indices.
  """
  lengths = np.asarray(lengths)
  order = rng.permutation(len(lengths))
  if not bucketing:
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
  window = batch_size * SORT_WINDOW_BATCHES
  batches = []
  for start in range(0, len(order), window):
    chunk = order[start:start + window]
    chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
    batches.extend(chunk[i:i + batch_size]
                   for i in range(0, len(chunk), batch_size))
  return [batches[i] for i in rng.permutation(len(batches))]


def length_multiple(jit_compile: bool) -> int:
  """What batch lengths are rounded up to: few shapes only matter to XLA.

  Rounding to 8 costs 7 % more computed tokens on the BLUE mix
  (benchmarks/bench_padding.py) and buys nothing for steps traced once with
  open dimensions; an XLA step compiles once per length, so there it keeps
  the number of compilations to max_seq_length / 8.
  """
  return XLA_LENGTH_MULTIPLE if jit_compile else 1


def num_training_batches(num_examples: int, batch_size: int) -> int:
  """How many batches `training_batches` makes of `num_examples`."""
  window = batch_size * SORT_WINDOW_BATCHES
  full, rest = divmod(num_examples, window)
  return full * SORT_WINDOW_BATCHES + -(-rest // batch_size)


def padded_length(longest: int, multiple: int) -> int:
  """The length a batch whose longest row has `longest` tokens is padded to:
  rounded up to a multiple of `multiple` (`length_multiple`)."""
  return -(-longest // multiple) * multiple


def prediction_batches(lengths: Sequence[int], batch_tokens: int,
                       multiple: int = 1) -> List[np.ndarray]:
  """Batches for prediction, by a token budget: every example once, sorted by
  length (shortest first), each batch as many rows as fit `batch_tokens`.

  A batch of n rows padded to length L (its longest row, rounded up to
  `multiple`) computes n x L tokens; a batch takes the next example as long
  as that stays within `batch_tokens`, so short inputs come many to a batch
  and long ones few. A batch has at least one row, whatever its length.

  Args:
    lengths: sequence length of each example.
    batch_tokens: the budget of rows x padded length per batch.
    multiple: what padded lengths are rounded up to.

  Returns:
    list of int64 arrays of example indices.
  """
  lengths = np.asarray(lengths)
  order = np.argsort(lengths, kind="stable")
  batches, start = [], 0
  for end in range(1, len(order) + 1):
    rows = end - start + 1  # with the next example
    if (end == len(order) or
        rows * padded_length(lengths[order[end]], multiple) > batch_tokens):
      batches.append(order[start:end])
      start = end
  return batches


def _label_spec(feature: features_lib.Features):
  """(numpy dtype, per-row shape rank, padding value) of a feature's label."""
  if feature.word_positions is not None:
    return np.int32, 1, features_lib.IGNORE_ID
  if isinstance(feature.label, tuple):
    return np.float32, 1, 0.0
  if isinstance(feature.label, float):
    return np.float32, 0, 0.0
  return np.int32, 0, 0


def pad_batch(feats: Sequence[features_lib.Features], indices: np.ndarray,
              batch_size: int, with_labels: bool,
              multiple: int = 1) -> dict:
  """Pads the features at `indices` into one numpy batch (module docstring).

  The length is the longest row's, rounded up to a multiple of `multiple`.
  """
  rows = [feats[i] for i in indices]
  length = padded_length(max(len(f.input_word_ids) for f in rows), multiple)
  word_ids = np.zeros([batch_size, length], np.int32)
  type_ids = np.zeros([batch_size, length], np.int32)
  mask = np.zeros([batch_size, length], np.int32)
  for r, f in enumerate(rows):
    n = len(f.input_word_ids)
    word_ids[r, :n] = f.input_word_ids
    type_ids[r, :n] = f.input_type_ids
    mask[r, :n] = 1
  weight = np.zeros([batch_size], np.float32)
  weight[:len(rows)] = 1.0
  index = np.full([batch_size], -1, np.int32)
  index[:len(rows)] = indices
  batch = {"input_word_ids": word_ids, "input_mask": mask,
           "input_type_ids": type_ids, "example_weight": weight,
           "example_index": index}
  if with_labels:
    dtype, rank, pad = _label_spec(rows[0])
    if rank == 0:
      label = np.full([batch_size], pad, dtype)
      label[:len(rows)] = [f.label for f in rows]
    else:
      tagging = rows[0].word_positions is not None
      width = length if tagging else len(rows[0].label)
      label = np.full([batch_size, width], pad, dtype)
      for r, f in enumerate(rows):
        label[r, :len(f.label)] = f.label
    batch["label"] = label
  return batch


def batch_signature(feats: Sequence[features_lib.Features],
                    with_labels: bool) -> dict:
  """`tf.TensorSpec`s of the batches `pad_batch` makes (open B and T)."""
  spec = {name: tf.TensorSpec([None, None], tf.int32)
          for name in ("input_word_ids", "input_mask", "input_type_ids")}
  spec["example_weight"] = tf.TensorSpec([None], tf.float32)
  spec["example_index"] = tf.TensorSpec([None], tf.int32)
  if with_labels:
    dtype, rank, _ = _label_spec(feats[0])
    shape = [None] * (rank + 1)
    spec["label"] = tf.TensorSpec(shape, tf.as_dtype(dtype))
  return spec


def batch_dataset(feats: Sequence[features_lib.Features],
                  batches: Sequence[np.ndarray], batch_size: int,
                  with_labels: bool, multiple: int = 1,
                  prefetch: int = 2) -> tf.data.Dataset:
  """A `tf.data.Dataset` of the planned batches, padded, prefetched.

  Args:
    feats: the task's features.
    batches: index arrays, e.g. from `training_batches`.
    batch_size: rows per padded batch (the global batch size).
    with_labels: whether to include `label`.
    multiple: batch lengths are rounded up to a multiple of this.
    prefetch: batches made ahead in tf.data's background thread.

  Returns:
    a dataset of dict batches (module docstring).
  """
  def generate():
    for indices in batches:
      yield pad_batch(feats, indices, batch_size, with_labels, multiple)
  dataset = tf.data.Dataset.from_generator(
      generate, output_signature=batch_signature(feats, with_labels))
  return dataset.prefetch(prefetch)


def training_stream(lengths: Sequence[int], batch_size: int, seed: int,
                    stream_id: int, start: int = 0, bucketing: bool = True):
  """An endless stream of one task's training batches, from batch `start`.

  Pass k over the task's data is `training_batches` drawn with the generator
  of `SeedSequence([seed, stream_id, k])`, so the stream is a pure function of
  its arguments and a resumed run continues it exactly where it stopped.

  Args:
    lengths: sequence length of each training example.
    batch_size: rows per batch.
    seed: the run's seed.
    stream_id: distinguishes the tasks of a run (their index).
    start: batches of the stream already consumed.
    bucketing: `training_batches`' length bucketing.

  Yields:
    int64 arrays of example indices.
  """
  per_pass = num_training_batches(len(lengths), batch_size)
  pass_index, offset = divmod(start, per_pass)
  while True:
    rng = np.random.default_rng(
        np.random.SeedSequence([seed, stream_id, pass_index]))
    yield from training_batches(lengths, batch_size, rng, bucketing)[offset:]
    offset = 0
    pass_index += 1


class TrainingBatches:
  """Every task's endless stream of padded training batches.

  Task i's stream is `training_stream(lengths, batch_size, seed, i, ...)`, a
  pure function of its arguments, so a resumed run continues each stream
  where it stopped and two runs with the same seed see the same batches.

  Args:
    features: task name -> its training `Features`, in head order.
    batch_size: the global batch size.
    seed: the run's seed.
    bucketing: `training_batches`' length bucketing.
    multiple: batch lengths are rounded up to a multiple of this
      (`length_multiple`).
    rows: rows of a padded batch (>= batch_size; default batch_size): the
      training step's `padded_rows` for its replicas and micro-batches.
  """

  def __init__(self, features: Dict[str, list], batch_size: int, seed: int,
               bucketing: bool = True, multiple: int = 1,
               rows: Optional[int] = None):
    self.features = features
    self.batch_size = batch_size
    self.rows = rows or batch_size
    self.seed = seed
    self.bucketing = bucketing
    self.multiple = multiple
    self._index = {name: i for i, name in enumerate(features)}

  def batches_per_pass(self, name: str) -> int:
    """How many batches one pass over task `name`'s data makes."""
    return num_training_batches(len(self.features[name]), self.batch_size)

  def plan(self, name: str, start: int = 0):
    """Task `name`'s endless stream of batch index arrays, from its batch
    number `start` on."""
    lengths = [len(f.input_word_ids) for f in self.features[name]]
    return training_stream(lengths, self.batch_size, self.seed,
                           self._index[name], start=start,
                           bucketing=self.bucketing)

  def dataset(self, name: str, start: int = 0) -> tf.data.Dataset:
    """Task `name`'s padded batches (module docstring), from batch `start`."""
    return batch_dataset(self.features[name], self.plan(name, start),
                         self.rows, with_labels=True,
                         multiple=self.multiple)

  def signature(self, name: str) -> dict:
    """`tf.TensorSpec`s of task `name`'s batches."""
    return batch_signature(self.features[name], with_labels=True)
