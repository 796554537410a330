"""Tests of the per-step task schedules against their definitions."""

import collections

import numpy as np
import pytest

from bluebert_mtl.train import sampling
from bluebert_mtl import config
from bluebert_mtl.errors import ConfigError

# n = (10, 30, 60) batches, N = 100 steps per epoch.
BATCHES = {"sts": 10, "nli": 30, "ner": 60}

# p_t ∝ n_t^a, worked out by hand:
#   a = 1:   (10, 30, 60) / 100
#   a = 1/2: (3.162278, 5.477226, 7.745967) / 16.385470
#   a = 0.6: (3.981072, 7.696136, 11.665161) / 23.342369
#   a = 0.2: (1.584893, 1.974350, 2.267933) / 5.827176
PROPORTIONAL = [0.1, 0.3, 0.6]
SQRT = [0.192993, 0.334273, 0.472734]
POWER_0_6 = [0.170551, 0.329707, 0.499742]
POWER_0_2 = [0.271983, 0.338818, 0.389199]
UNIFORM = [1 / 3, 1 / 3, 1 / 3]

# (schedule name, temperature, p_t) of the sampled variants.
SAMPLED_CASES = [
    ("proportional", 1.0, PROPORTIONAL),
    ("temperature", 1.0, PROPORTIONAL),
    ("temperature", 2.0, SQRT),
    ("temperature", 0.5, [0.021739, 0.195652, 0.782609]),  # n² / 4600
    ("uniform", 1.0, UNIFORM),
]


def _frequencies(schedule, epochs):
  """Share of each task (in BATCHES order) over the steps of `epochs`."""
  counts = collections.Counter()
  for epoch in epochs:
    counts.update(schedule.tasks(epoch))
  total = sum(counts.values())
  return [counts[name] / total for name in BATCHES]


class TestMtdnnSchedule:

  def test_every_batch_of_every_task_once_per_epoch(self):
    schedule = sampling.MtdnnSchedule(BATCHES, seed=2018)
    assert schedule.steps_per_epoch == 100
    for epoch in range(3):
      tasks = schedule.tasks(epoch)
      assert len(tasks) == 100
      assert collections.Counter(tasks) == BATCHES

  def test_each_epoch_has_its_own_order(self):
    schedule = sampling.MtdnnSchedule(BATCHES, seed=2018)
    orders = [tuple(schedule.tasks(epoch)) for epoch in range(4)]
    assert len(set(orders)) == 4

  def test_list_is_shuffled_as_a_whole(self):
    # Under a uniform permutation of 100 slots every step position has mean
    # (0 + 99) / 2 = 49.5, whatever the task; a block layout would put
    # 'sts' at mean 4.5. Over 200 epochs the standard error of a task's
    # mean position is about 29 / sqrt(200 · n_t) < 0.7.
    schedule = sampling.MtdnnSchedule(BATCHES, seed=3)
    positions = collections.defaultdict(list)
    for epoch in range(200):
      for step, name in enumerate(schedule.tasks(epoch)):
        positions[name].append(step)
    for name in BATCHES:
      assert np.mean(positions[name]) == pytest.approx(49.5, abs=3.0)

  def test_same_seed_and_epoch_give_the_same_list(self):
    first = sampling.MtdnnSchedule(BATCHES, seed=11)
    resumed = sampling.MtdnnSchedule(BATCHES, seed=11)
    # The resumed run asks for epoch 2 straight away.
    assert resumed.tasks(2) == first.tasks(2)
    assert first.tasks(0) == resumed.tasks(0)
    assert resumed.tasks(2)[37:] == first.tasks(2)[37:]

  def test_different_seeds_give_different_lists(self):
    assert (sampling.MtdnnSchedule(BATCHES, seed=1).tasks(0) !=
            sampling.MtdnnSchedule(BATCHES, seed=2).tasks(0))

  def test_generator_in_the_same_state_gives_the_same_schedule(self):
    a = sampling.MtdnnSchedule(BATCHES, seed=np.random.default_rng(5))
    b = sampling.MtdnnSchedule(BATCHES, seed=np.random.default_rng(5))
    assert a.seed == b.seed
    assert a.tasks(1) == b.tasks(1)

  def test_global_numpy_state_is_not_touched(self):
    before = np.random.get_state()[1].copy()
    sampling.MtdnnSchedule(BATCHES, seed=1).tasks(0)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


class TestSampledSchedules:

  @pytest.mark.parametrize("name, temperature, expected", SAMPLED_CASES)
  def test_probabilities(self, name, temperature, expected):
    schedule = sampling.make_schedule(name, BATCHES, seed=0,
                                      temperature=temperature)
    np.testing.assert_allclose(schedule.probabilities(0), expected, atol=1e-6)
    np.testing.assert_allclose(schedule.probabilities(7), expected, atol=1e-6)

  def test_large_temperature_tends_to_uniform(self):
    schedule = sampling.TemperatureSchedule(BATCHES, 0, temperature=1e6)
    np.testing.assert_allclose(schedule.probabilities(0), UNIFORM, atol=1e-5)

  @pytest.mark.parametrize("name, temperature, expected", SAMPLED_CASES)
  def test_empirical_frequencies(self, name, temperature, expected):
    # 300 epochs · 100 steps = 30000 draws: standard error <= 0.0029.
    schedule = sampling.make_schedule(name, BATCHES, seed=42,
                                      temperature=temperature)
    assert all(len(schedule.tasks(e)) == 100 for e in range(3))
    np.testing.assert_allclose(
        _frequencies(schedule, range(300)), expected, atol=0.012)

  def test_draws_are_with_replacement(self):
    # Counts vary between epochs, unlike MT-DNN's fixed n_t.
    schedule = sampling.make_schedule("proportional", BATCHES, seed=4)
    counts = {collections.Counter(schedule.tasks(e))["ner"] for e in range(20)}
    assert len(counts) > 1

  def test_same_seed_and_epoch_give_the_same_list(self):
    a = sampling.make_schedule("temperature", BATCHES, 9, temperature=2.0)
    b = sampling.make_schedule("temperature", BATCHES, 9, temperature=2.0)
    assert a.tasks(3) == b.tasks(3)
    assert a.tasks(3) != a.tasks(4)


class TestAnnealedSchedule:

  def test_exponent_goes_from_one_to_one_fifth(self):
    # α = 1 − 0.8 · epoch / (E − 1) with E = 5.
    schedule = sampling.make_schedule("annealed", BATCHES, 0, num_epochs=5)
    assert [schedule.exponent(e) for e in range(5)] == pytest.approx(
        [1.0, 0.8, 0.6, 0.4, 0.2])

  def test_probabilities_at_first_middle_and_last_epoch(self):
    schedule = sampling.make_schedule("annealed", BATCHES, 0, num_epochs=5)
    np.testing.assert_allclose(schedule.probabilities(0), PROPORTIONAL,
                               atol=1e-6)
    np.testing.assert_allclose(schedule.probabilities(2), POWER_0_6,
                               atol=1e-6)
    np.testing.assert_allclose(schedule.probabilities(4), POWER_0_2,
                               atol=1e-6)

  def test_empirical_frequencies_of_the_last_epoch(self):
    # Same shares, 100 times the batches: the last epoch of a 2-epoch run
    # (α = 0.2) makes 10000 draws, standard error <= 0.005.
    schedule = sampling.AnnealedSchedule(
        {name: 100 * n for name, n in BATCHES.items()}, 8, num_epochs=2)
    np.testing.assert_allclose(_frequencies(schedule, [1]), POWER_0_2,
                               atol=0.02)

  def test_single_epoch_run_is_proportional(self):
    schedule = sampling.AnnealedSchedule(BATCHES, 0, num_epochs=1)
    np.testing.assert_allclose(schedule.probabilities(0), PROPORTIONAL)

  def test_epoch_outside_the_run_is_an_error(self):
    schedule = sampling.AnnealedSchedule(BATCHES, 0, num_epochs=3)
    with pytest.raises(ConfigError, match="outside the run"):
      schedule.probabilities(3)


class TestMakeSchedule:

  @pytest.mark.parametrize("name, cls", [
      ("mtdnn", sampling.MtdnnSchedule),
      ("proportional", sampling.TemperatureSchedule),
      ("temperature", sampling.TemperatureSchedule),
      ("uniform", sampling.TemperatureSchedule),
      ("annealed", sampling.AnnealedSchedule),
  ])
  def test_every_name_builds(self, name, cls):
    assert name in config.SAMPLERS
    schedule = sampling.make_schedule(name, BATCHES, 0, num_epochs=3,
                                      temperature=2.0)
    assert isinstance(schedule, cls)
    assert schedule.task_names == ("sts", "nli", "ner")

  def test_unknown_name(self):
    with pytest.raises(ConfigError, match="unknown task schedule 'roundrobin'"):
      sampling.make_schedule("roundrobin", BATCHES, 0)

  def test_annealed_needs_num_epochs(self):
    with pytest.raises(ConfigError, match="num_epochs"):
      sampling.make_schedule("annealed", BATCHES, 0)

  @pytest.mark.parametrize("batches", [{}, {"a": 0}, {"a": 2.5}])
  def test_bad_batch_counts(self, batches):
    with pytest.raises(ConfigError):
      sampling.make_schedule("mtdnn", batches, 0)

  def test_bad_temperature(self):
    with pytest.raises(ConfigError, match="temperature"):
      sampling.make_schedule("temperature", BATCHES, 0, temperature=0.0)

  def test_bad_seed_and_epoch(self):
    with pytest.raises(ConfigError, match="seed"):
      sampling.make_schedule("mtdnn", BATCHES, -1)
    with pytest.raises(ConfigError, match="epoch"):
      sampling.make_schedule("mtdnn", BATCHES, 0).tasks(-1)
