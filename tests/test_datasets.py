"""Tests of the training batch plans (`datasets.training_batches`)."""

import numpy as np
import pytest

from bluebert_mtl.data import datasets

# 1,000 examples of random lengths 5-128: three sort windows of 50 batches of
# 8 (400 examples each, the last one 200), 125 batches in all.
NUM_EXAMPLES, BATCH = 1000, 8
LENGTHS = np.random.default_rng(0).integers(5, 129, NUM_EXAMPLES)


def _padded_tokens(batches):
  """Tokens computed when each batch is padded to its longest row."""
  return sum(len(b) * LENGTHS[b].max() for b in batches)


@pytest.mark.parametrize("bucketing", [True, False])
def test_every_example_once_in_full_batches(bucketing):
  batches = datasets.training_batches(
      LENGTHS, BATCH, np.random.default_rng(1), bucketing)
  assert len(batches) == 125 == datasets.num_training_batches(
      NUM_EXAMPLES, BATCH)
  assert sorted(np.concatenate(batches).tolist()) == list(range(NUM_EXAMPLES))
  assert all(len(b) == BATCH for b in batches)


def test_random_batches_are_the_epoch_permutation_cut_in_order():
  # MT-BlueBERT's BatchGen: shuffle, then consecutive slices.
  order = np.random.default_rng(1).permutation(NUM_EXAMPLES)
  batches = datasets.training_batches(
      LENGTHS, BATCH, np.random.default_rng(1), bucketing=False)
  assert np.array_equal(np.concatenate(batches), order)


def test_bucketed_batches_sort_lengths_within_windows():
  batches = datasets.training_batches(
      LENGTHS, BATCH, np.random.default_rng(1), bucketing=True)
  # By definition: the epoch's permutation cut into windows of 50 batches,
  # each window's examples ordered by length (ties in permutation order) and
  # cut into consecutive batches; the batch order is then shuffled.
  order = np.random.default_rng(1).permutation(NUM_EXAMPLES)
  window = 50 * BATCH
  expected = set()
  for start in range(0, NUM_EXAMPLES, window):
    chunk = sorted(order[start:start + window], key=lambda i: LENGTHS[i])
    expected.update(tuple(chunk[i:i + BATCH])
                    for i in range(0, len(chunk), BATCH))
  assert {tuple(b) for b in batches} == expected
  random = datasets.training_batches(
      LENGTHS, BATCH, np.random.default_rng(1), bucketing=False)
  # Uniform lengths 5-128: a random batch of 8 pads to its maximum (about
  # 114 on average) while sorted batches pad by a few tokens.
  assert _padded_tokens(batches) < 0.7 * _padded_tokens(random)


def test_stream_continues_a_pass_from_any_batch_in_both_modes():
  for bucketing in (True, False):
    whole = datasets.training_stream(LENGTHS, BATCH, seed=3, stream_id=0,
                                     bucketing=bucketing)
    first = [next(whole) for _ in range(200)]  # 1.6 passes
    resumed = datasets.training_stream(LENGTHS, BATCH, seed=3, stream_id=0,
                                       start=150, bucketing=bucketing)
    for expected in first[150:]:
      assert np.array_equal(next(resumed), expected)


@pytest.mark.parametrize("budget,multiple,want", [
    # lengths sorted: 2 (#5), 3 (#1), 4 (#3), 5 (#0), 9 (#2), 9 (#4)
    (12, 1, [[5, 1, 3], [0], [2], [4]]),         # 3 x 4 = 12 fits, 4 x 5 not
    (18, 1, [[5, 1, 3], [0, 2], [4]]),           # 2 x 9 = 18 fits
    (24, 8, [[5, 1, 3], [0], [2], [4]]),         # 3 x 8 = 24; 2 x 16 > 24
    (1, 1, [[5], [1], [3], [0], [2], [4]]),      # a row over budget alone
])
def test_prediction_batches_fill_a_token_budget(budget, multiple, want):
  lengths = [5, 3, 9, 4, 9, 2]
  got = datasets.prediction_batches(lengths, budget, multiple)
  assert [b.tolist() for b in got] == want


def test_prediction_batches_of_real_lengths_fit_the_budget():
  budget = 1000
  batches = datasets.prediction_batches(LENGTHS, budget)
  assert sorted(np.concatenate(batches).tolist()) == list(range(NUM_EXAMPLES))
  order = np.concatenate(batches)
  assert (np.diff(LENGTHS[order]) >= 0).all()  # shortest first
  for batch, following in zip(batches, batches[1:]):
    assert len(batch) * LENGTHS[batch].max() <= budget
    # greedy: the next example would not have fitted
    assert (len(batch) + 1) * LENGTHS[following[0]] > budget
