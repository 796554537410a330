"""Choosing a `tf.distribute` strategy from a flag and the visible devices,
and where each process of a multi-worker run writes.

The chief (task "chief", or worker 0 of a cluster without one) writes the run
folder; every other worker writes its own copy of the weights into
`worker_<type>_<id>/` under it, so no two processes write the same file.
"""

import os

from absl import logging
import tensorflow as tf

from bluebert_mtl.config import DISTRIBUTION_STRATEGIES
from bluebert_mtl.errors import ConfigError



def _mirrored() -> tf.distribute.MirroredStrategy:
  """MirroredStrategy over every GPU, or over the logical CPU devices where
  no GPU is visible (one CPU device unless the process split the CPU with
  `tf.config.set_logical_device_configuration`, as the tests do)."""
  if tf.config.list_physical_devices("GPU"):
    return tf.distribute.MirroredStrategy()
  cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
  logging.warning(
      "--distribution_strategy=mirrored but no GPU is visible: %d replica(s) "
      "on the CPU device(s) %s. Is the GPU build of TensorFlow installed "
      "(docs/distributed.md)?", len(cpus), ", ".join(cpus))
  return tf.distribute.MirroredStrategy(cpus)


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
  """Builds the named strategy. Call it before any other TensorFlow work.

  "auto" picks MirroredStrategy over all GPUs where more than one is
  visible, else OneDeviceStrategy on the GPU or the CPU.
  "mirrored" is MirroredStrategy over every GPU (over the CPU devices, with
  a warning, where there is none).
  "multi_worker_mirrored" reads the cluster from the TF_CONFIG variable.
  The devices, the strategy and the replica count are logged.
  """
  if name not in DISTRIBUTION_STRATEGIES:
    raise ConfigError(f"unknown --distribution_strategy {name!r}; choose "
                      f"one of {', '.join(DISTRIBUTION_STRATEGIES)}")
  # Physical devices only: a multi-worker strategy must be made before the
  # TF context starts, which listing logical devices would do.
  gpus = tf.config.list_physical_devices("GPU")
  if name == "auto":
    name = "mirrored" if len(gpus) > 1 else "one_device"
  if name == "one_device":
    strategy = tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
  elif name == "mirrored":
    strategy = _mirrored()
  else:
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
  logging.info("Distribution: %s (%s) with %d replica(s) on %s; GPUs "
               "visible: %s", name, type(strategy).__name__,
               strategy.num_replicas_in_sync,
               ", ".join(strategy.extended.worker_devices),
               ", ".join(g.name for g in gpus) or "none")
  return strategy


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """Whether this process writes the run folder (see module docstring)."""
  resolver = strategy.cluster_resolver
  if resolver is None or not resolver.task_type:
    return True
  return (resolver.task_type == "chief" or
          (resolver.task_type == "worker" and resolver.task_id == 0 and
           "chief" not in resolver.cluster_spec().as_dict()))


def worker_dir(strategy: tf.distribute.Strategy, output_dir: str) -> str:
  """Where this process writes checkpoints, weights and TensorBoard logs."""
  if is_chief(strategy):
    return output_dir
  resolver = strategy.cluster_resolver
  return os.path.join(output_dir,
                      f"worker_{resolver.task_type}_{resolver.task_id}")
