"""N replicas train exactly as one replica (issue 18).

Every run here goes through the command line (run_mtl.py's flags) on the
same four-kind MT run (regression, classification, multilabel, tagging) with
dropout off (a tiny BERT whose bert_config.json has no dropout, and
--head_dropout=0), and is compared with the one-replica run at the same
global batch: the per-step losses (TensorBoard's train_loss, logged every
step) and the final weights. The replicas are logical CPU devices
(MirroredStrategy) or localhost processes (MultiWorkerMirroredStrategy with
TF_CONFIG), in subprocesses so that each has its own TensorFlow.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import REPO_ROOT, SAMPLE_DIR
from test_trainer import _env, _final_weights

TASKS = ("biosses", "chemprot", "hoc", "bc5cdr-chemical")
STEPS = 20
TOLERANCE = 1e-5  # max abs difference of weights and losses, N vs 1 replica

# Splits the CPU into `replicas` logical devices before TensorFlow starts,
# then runs the training command with the given flags.
_RUN = """
import sys
import bluebert_mtl
import tensorflow as tf
replicas = int(sys.argv[1])
if replicas > 1:
  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
from bluebert_mtl.commands import train
sys.argv = ["run_mtl.py"] + sys.argv[2:]
train.run()
"""


def _flags(output_dir, bert_dir, *extra):
  return [f"--bert_dir={bert_dir}", f"--data_dir={SAMPLE_DIR}",
          f"--tasks={','.join(TASKS)}", f"--output_dir={output_dir}",
          "--max_seq_length=48", "--train_batch_size=8",
          "--learning_rate=1e-4", f"--max_steps={STEPS}",
          "--num_train_epochs=100", "--eval_every_epochs=0",
          "--head_dropout=0", "--log_every_steps=1", "--seed=5", *extra]


def _train(output_dir, bert_dir, replicas=1, *extra, env=None):
  """Runs the training command; returns its output (stdout and stderr)."""
  done = subprocess.run(
      [sys.executable, "-c", _RUN, str(replicas),
       *_flags(output_dir, bert_dir, *extra)],
      cwd=REPO_ROOT, env=env or _env(), capture_output=True, text=True,
      timeout=900, check=False)
  assert done.returncode == 0, done.stderr[-4000:]
  return done.stdout + done.stderr


def _step_losses(run_dir):
  """step -> (task, loss) of every training step, from TensorBoard."""
  losses = {}
  folder = os.path.join(run_dir, "tensorboard")
  for name in os.listdir(folder):
    for event in tf.compat.v1.train.summary_iterator(
        os.path.join(folder, name)):
      for value in event.summary.value:
        if value.tag.startswith("train_loss/"):
          losses[event.step] = (value.tag.split("/", 1)[1],
                                float(tf.make_ndarray(value.tensor)))
  return losses


def _assert_same_run(run_a, run_b, tolerance=TOLERANCE):
  """Same per-step tasks and losses, same final weights, within tolerance;
  returns the largest weight difference."""
  losses_a, losses_b = _step_losses(run_a), _step_losses(run_b)
  assert sorted(losses_a) == list(range(1, STEPS + 1)) == sorted(losses_b)
  for step in losses_a:
    assert losses_a[step][0] == losses_b[step][0], step
    assert abs(losses_a[step][1] - losses_b[step][1]) <= tolerance, (
        step, losses_a[step], losses_b[step])
  weights_a, weights_b = _final_weights(run_a), _final_weights(run_b)
  assert weights_a.keys() == weights_b.keys() and len(weights_a) > 20
  by_part = {}  # "encoder" or "heads/<task>" -> largest difference
  for name in weights_a:
    part = "/".join(name.split("/")[:2]) if name.startswith("heads/") else (
        "encoder")
    by_part[part] = max(by_part.get(part, 0.0), float(
        np.max(np.abs(weights_a[name] - weights_b[name]))))
  loss_gap = max(abs(losses_a[s][1] - losses_b[s][1]) for s in losses_a)
  print(f"{os.path.basename(os.path.dirname(run_b))}: largest weight "
        f"difference {by_part}, largest loss difference {loss_gap:.2e}")
  worst = max(by_part.values())
  assert worst <= tolerance, by_part
  return worst


@pytest.fixture(scope="module")
def one_replica(no_dropout_bert_dir, tmp_path_factory):
  """The reference: one replica, global batch 8, one micro-batch."""
  run = str(tmp_path_factory.mktemp("one") / "run")
  _train(run, no_dropout_bert_dir, 1, "--distribution_strategy=one_device")
  return run


def test_the_reference_trains_every_kind(one_replica):
  tasks = {task for task, _ in _step_losses(one_replica).values()}
  assert tasks == set(TASKS)


def test_mirrored_over_two_cpu_devices_equals_one_replica(
    one_replica, no_dropout_bert_dir, tmp_path):
  run = str(tmp_path / "run")
  log = _train(run, no_dropout_bert_dir, 2, "--distribution_strategy=mirrored")
  assert "Distribution: mirrored (MirroredStrategy) with 2 replica(s)" in log
  assert "no GPU is visible" in log
  _assert_same_run(one_replica, run)


def _free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def test_two_localhost_workers_equal_one_replica(one_replica,
                                                 no_dropout_bert_dir,
                                                 tmp_path):
  cluster = {"worker": [f"localhost:{_free_port()}" for _ in range(2)]}
  run = str(tmp_path / "run")
  workers = []
  for index in range(2):
    env = dict(_env(), TF_CONFIG=json.dumps(
        {"cluster": cluster, "task": {"type": "worker", "index": index}}))
    workers.append(subprocess.Popen(
        [sys.executable, "-c", _RUN, "1",
         *_flags(run, no_dropout_bert_dir,
                 "--distribution_strategy=multi_worker_mirrored")],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True))
  logs = [w.communicate(timeout=900)[0] for w in workers]
  for w, log in zip(workers, logs):
    assert w.returncode == 0, log[-4000:]
  assert "Distribution: multi_worker_mirrored" in logs[0]
  assert "with 2 replica(s)" in logs[0]
  _assert_same_run(one_replica, run)


def test_uneven_batch_over_two_replicas_trains_every_row(
    no_dropout_bert_dir, tmp_path):
  """Batch 15 over 2 replicas: 8 + 7 real rows (one padding row), the same
  update as one replica with all 15."""
  one, two = str(tmp_path / "one"), str(tmp_path / "two")
  _train(one, no_dropout_bert_dir, 1, "--train_batch_size=15",
         "--distribution_strategy=one_device")
  _train(two, no_dropout_bert_dir, 2, "--train_batch_size=15",
         "--distribution_strategy=mirrored")
  _assert_same_run(one, two)


@pytest.mark.parametrize("replicas, accumulation", [(1, 3), (2, 2)])
def test_gradient_accumulation_equals_one_batch(one_replica,
                                                no_dropout_bert_dir, tmp_path,
                                                replicas, accumulation):
  """K micro-batches of 8 / K rows (padded to K x replicas parts) make the
  update of one batch of 8."""
  run = str(tmp_path / "run")
  strategy = "mirrored" if replicas > 1 else "one_device"
  _train(run, no_dropout_bert_dir, replicas,
         f"--gradient_accumulation_steps={accumulation}",
         f"--distribution_strategy={strategy}")
  _assert_same_run(one_replica, run)
