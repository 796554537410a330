"""Every benchmark runs to the end under --smoke (benchmarks/inputs.py).

A benchmark is any program in benchmarks/ (a module with a `__main__`
block), found here by reading the folder, so a new one is run without being
listed; one that does not take `--smoke`, or takes it without running at the
smoke sizes, fails. Each runs in its own process, as `make bench` runs it,
with the public BLUE data pointed away (smoke mode must not need it) and
its temporary folders under the test's. The PyTorch reference side runs
where its venv (benchmarks/reference/.venv) exists.
"""

import glob
import os
import re
import subprocess
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCHMARKS_DIR = os.path.join(REPO_ROOT, "benchmarks")
REFERENCE_PYTHON = os.path.join(BENCHMARKS_DIR, "reference", ".venv", "bin",
                                "python")
# What every smoke run prints first (benchmarks/inputs.py).
SMOKE_LINE = "smoke mode:"
# A hang guard only: a smoke run takes seconds on an idle machine.
TIMEOUT_SECONDS = 900


def benchmark_names():
  """Module names of the programs in benchmarks/, sorted."""
  names = []
  for path in glob.glob(os.path.join(BENCHMARKS_DIR, "*.py")):
    with open(path) as f:
      if re.search(r"^if __name__ == .__main__.:", f.read(), re.M):
        names.append(os.path.basename(path)[:-len(".py")])
  return sorted(names)


BENCHMARKS = benchmark_names()


def test_every_benchmark_is_found():
  assert {"bench_efficiency", "bench_padding", "bench_serving",
          "bench_tokenization", "bench_training", "check_training_steps",
          "profile_training"} <= set(BENCHMARKS)
  assert "common" not in BENCHMARKS and "inputs" not in BENCHMARKS


def tables(output: str):
  """The Markdown tables of `output`: each a list of rows of cells."""
  found, rows = [], None
  for line in output.splitlines():
    if line.startswith("|---"):
      rows = []
      found.append(rows)
    elif rows is not None and line.startswith("| "):
      rows.append([cell.strip() for cell in line.strip("|").split("|")])
    else:
      rows = None
  return found


def test_tables_reads_markdown_tables():
  output = ("x\n| a | b |\n|---|---|\n| 1 | 2.5 |\n| 3 | nan |\n\n"
            "| c |\n|---|\n| 4 |\n")
  assert tables(output) == [[["1", "2.5"], ["3", "nan"]], [["4"]]]


@pytest.mark.parametrize("name", BENCHMARKS)
def test_smoke(name, tmp_path):
  env = dict(os.environ, TMPDIR=str(tmp_path),
             BLUE_PUBLIC_DIR=str(tmp_path / "no-blue-data"))
  run = subprocess.run(
      [sys.executable, "-m", f"benchmarks.{name}", "--smoke"],
      cwd=REPO_ROOT, env=env, capture_output=True, text=True,
      timeout=TIMEOUT_SECONDS, check=False)
  output = run.stdout
  assert run.returncode == 0, (
      f"{name} --smoke exited {run.returncode}\n{output}\n{run.stderr[-4000:]}")
  assert SMOKE_LINE in output, f"{name} ignored --smoke:\n{output}"
  figures = tables(output)
  assert figures and all(figures), f"{name} printed no figures:\n{output}"
  cells = [cell for table in figures for row in table for cell in row]
  assert "nan" not in cells and "inf" not in cells, output


def test_reference_worker_answers():
  """The reference side of the smoke runs: skipped where its venv is not."""
  if not os.path.exists(REFERENCE_PYTHON):
    pytest.skip("PyTorch reference side not run: no benchmarks/reference/"
                ".venv (bash benchmarks/setup_reference.sh)")
  run = subprocess.run(
      [REFERENCE_PYTHON, os.path.join(BENCHMARKS_DIR, "reference",
                                      "worker.py")],
      input='{"op": "versions"}\n{"op": "quit"}\n', capture_output=True,
      text=True, timeout=TIMEOUT_SECONDS, check=True)
  assert '"torch": "2.13.0' in run.stdout.splitlines()[0], run.stdout
