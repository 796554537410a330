"""docs/distributed.md's tables are gpu_estimates' output; its arithmetic."""

import os
import subprocess
import sys

import pytest

from benchmarks import bert_costs
from benchmarks import gpu_estimates
from bluebert_mtl.errors import ConfigError

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _check(doc) -> subprocess.CompletedProcess:
  return subprocess.run(
      [sys.executable, "-m", "benchmarks.gpu_estimates", "--check",
       f"--doc={doc}"], cwd=REPO_ROOT, capture_output=True, text=True)


def test_the_docs_tables_are_the_scripts_output():
  assert gpu_estimates.is_current(gpu_estimates.DOC), (
      "run `python -m benchmarks.gpu_estimates`")


def test_check_fails_on_an_edited_table_and_write_mends_it(tmp_path):
  doc = tmp_path / "distributed.md"
  doc.write_text(f"# Title\n\n{gpu_estimates.BEGIN}\n| stale |\n"
                 f"{gpu_estimates.END}\n\nAfter.\n", encoding="utf-8")
  stale = _check(doc)
  assert stale.returncode == 1 and "differ" in stale.stdout
  assert gpu_estimates.write(str(doc))
  text = doc.read_text(encoding="utf-8")
  assert text.startswith("# Title\n\n") and text.endswith("\n\nAfter.\n")
  assert "| stale |" not in text and "| BERT-large | 335,148,038 |" in text
  assert _check(doc).returncode == 0
  assert not gpu_estimates.write(str(doc))


def test_a_doc_without_markers_is_an_error_naming_it(tmp_path):
  doc = tmp_path / "plain.md"
  doc.write_text("no tables here\n", encoding="utf-8")
  with pytest.raises(ConfigError, match="plain.md"):
    gpu_estimates.write(str(doc))


def test_step_time_by_hand():
  # BERT-base, 32 x 128, 6 classes: 6 N B T = 2,087,354,105,856, attention
  # 57,982,058,496, pooler and head 114,130,944 FLOPs; at 40 % of the
  # A100's 312 TFLOP/s bf16: 2,145,450,295,296 / 124.8e12 s = 17.19 ms; at
  # 40 % of its 156 TFLOP/s TF32 (fp32), twice that.
  a100 = gpu_estimates.GPUS[0]
  assert gpu_estimates.step_ms(bert_costs.BERT_BASE, 32, 128, "bf16",
                               a100) == pytest.approx(17.1911, abs=1e-4)
  assert gpu_estimates.step_ms(bert_costs.BERT_BASE, 32, 128, "fp32",
                               a100) == pytest.approx(2 * 17.1911, abs=2e-4)


def test_fits_in_leaves_a_tenth_of_the_memory_free():
  gib = 2 ** 30
  assert gpu_estimates.fits_in(int(14.4 * gib)) == "16 GB"
  assert gpu_estimates.fits_in(int(14.5 * gib)) == "24 GB"
  assert gpu_estimates.fits_in(200 * gib) == "> 141 GB"
