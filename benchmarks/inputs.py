"""What a benchmark runs on, in full or under `--smoke`.

In full (the default), a benchmark runs on the MiniLM stand-in
(build/minilm_tf1, `make minilm`), the public BLUE data (`BLUE_PUBLIC_DIR`)
and, where it has one, the PyTorch reference (benchmarks/reference/.venv);
`resolve` stops with the command that makes whichever is missing.

With `--smoke`, the same code path runs at the smallest sizes, on inputs
every clone has, so tests/test_benchmarks.py can run each benchmark in CI
in seconds:

  encoder    TINY_CONFIG (2 layers, H=32) with random weights and BERT's
             uncased vocab (that of the MiniLM package, installed with the
             stack), written as a Hugging Face folder and converted to a TF1
             checkpoint by the package's own converter, as `make minilm`
             does: both sides load the very same weights
  data       data/sample/ (the six public BLUE tasks are there)
  sizes      the benchmark's `smoke_sizes` flag values (a few steps,
             sentences, rounds), except flags given on the command line
  reference  run where its venv exists; elsewhere a line says it is skipped

Smoke figures mean nothing; that the benchmark ran them to the end does.
"""

import atexit
import dataclasses
import json
import os
import shutil
import tempfile
from typing import Dict, Optional

from absl import flags

from benchmarks import common
import numpy as np

from bluebert_mtl.config import BertConfig, BertFiles

FLAGS = flags.FLAGS
flags.DEFINE_bool("smoke", False,
                  "Smoke mode: the same code path at the smallest sizes, on "
                  "a tiny random encoder and data/sample/ (benchmarks/"
                  "inputs.py); its figures mean nothing.")

SAMPLE_DIR = os.path.join(common.REPO_ROOT, "data", "sample")
# The smoke encoder: BERT's layout and vocab, a few thousand weights a layer.
TINY_CONFIG = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2,
                         num_attention_heads=2, intermediate_size=64)
# Printed first by every smoke run; tests/test_benchmarks.py looks for it.
SMOKE_LINE = "smoke mode:"


@dataclasses.dataclass(frozen=True)
class Inputs:
  """The folders a benchmark reads.

  Attributes:
    bert_dir: TF1 BERT folder (bert_config.json, bert_model.ckpt.*,
      vocab.txt); None where the benchmark needs no encoder.
    hf_dir: the same weights as a Hugging Face folder (config.json,
      model.safetensors, vocab.txt), for the reference; None as bert_dir.
    data_dir: BLUE data root, one folder per task key.
    cache_dir: where tokenized features are cached.
    reference: whether the PyTorch reference side runs.
  """
  bert_dir: Optional[str]
  hf_dir: Optional[str]
  data_dir: str
  cache_dir: str
  reference: bool

  @property
  def vocab_file(self) -> str:
    return os.path.join(self.bert_dir, "vocab.txt")

  def bert_files(self) -> BertFiles:
    return BertFiles.resolve(bert_dir=self.bert_dir)


def resolve(smoke_sizes: Optional[Dict[str, object]] = None,
            need_minilm: bool = True, need_data: bool = True,
            need_reference: bool = True) -> Inputs:
  """The benchmark's inputs; under `--smoke` also sets its smoke sizes.

  Args:
    smoke_sizes: flag name -> value under `--smoke` (flags given on the
      command line keep theirs).
    need_minilm, need_data, need_reference: what the full run needs; a
      missing one stops it (`common.require_inputs`). Under `--smoke` the
      encoder (only where needed: it loads TensorFlow) and data are made or
      shipped, and a missing reference venv skips the reference side with
      one printed line.
  """
  if not FLAGS.smoke:
    common.require_inputs(need_minilm, need_data, need_reference)
    hf_dir = common.hf_minilm_dir() if need_minilm else None
    return Inputs(common.MINILM_TF1_DIR if need_minilm else None, hf_dir,
                  common.BLUE_PUBLIC_DIR, common.CACHE_DIR, need_reference)
  for name, value in (smoke_sizes or {}).items():
    if not FLAGS[name].present:
      FLAGS[name].value = value
  folder = tempfile.mkdtemp(prefix="bench_smoke_")
  atexit.register(shutil.rmtree, folder, ignore_errors=True)
  hf_dir, bert_dir = (write_tiny_encoder(folder) if need_minilm
                      else (None, None))
  reference = need_reference and os.path.exists(common.REFERENCE_PYTHON)
  used = ([f"random encoder L={TINY_CONFIG.num_hidden_layers} "
           f"H={TINY_CONFIG.hidden_size}"] * need_minilm +
          ["data/sample/"] * need_data +
          [FLAGS[name].serialize() for name in smoke_sizes or {}])
  print(f"{SMOKE_LINE} {', '.join(used)}; figures mean nothing")
  if need_reference and not reference:
    print(f"reference side skipped: {common.REFERENCE_PYTHON} is missing "
          "(bash benchmarks/setup_reference.sh)")
  return Inputs(bert_dir, hf_dir, SAMPLE_DIR, os.path.join(folder, "cache"),
                reference)


def _initial_value(tf1_name: str, shape, rng) -> np.ndarray:
  """BERT's initialisation: LayerNorm gamma 1, biases and beta 0, other
  weights normal with stddev `initializer_range`."""
  leaf = tf1_name.rsplit("/", 1)[-1]
  if leaf == "gamma":
    return np.ones(shape, np.float32)
  if leaf in ("beta", "bias"):
    return np.zeros(shape, np.float32)
  return (TINY_CONFIG.initializer_range *
          rng.standard_normal(shape)).astype(np.float32)


def write_tiny_encoder(folder: str, seed: int = 0):
  """Writes a random TINY_CONFIG BERT as a Hugging Face folder and as a TF1
  folder converted from it (`hf_checkpoint.convert_hf_to_tf1`).

  Returns:
    (Hugging Face folder, TF1 folder), both under `folder`.
  """
  # Imported here, not above: they load TensorFlow, which programs without
  # an encoder (pure-Python estimates) need not.
  # pylint: disable=g-import-not-at-top
  from safetensors.numpy import save_file
  from bluebert_mtl.model import checkpoints
  from bluebert_mtl.model import hf_checkpoint
  from bluebert_mtl.model import hf_source
  # pylint: enable=g-import-not-at-top
  hf_dir, bert_dir = os.path.join(folder, "hf"), os.path.join(folder, "tf1")
  os.makedirs(hf_dir)
  rng = np.random.default_rng(seed)
  weights = {}
  for mapping in checkpoints.tf1_variable_table(TINY_CONFIG):
    key, transposed = hf_source.hf_key(mapping.tf1_name)
    shape = mapping.tf1_shape[::-1] if transposed else mapping.tf1_shape
    weights[key] = _initial_value(mapping.tf1_name, shape, rng)
  save_file(weights, os.path.join(hf_dir, "model.safetensors"))
  config = dict(json.loads(TINY_CONFIG.to_json_string()), model_type="bert",
                architectures=["BertModel"], layer_norm_eps=1e-12)
  with open(os.path.join(hf_dir, "config.json"), "w") as f:
    json.dump(config, f, indent=2)
  shutil.copyfile(os.path.join(common.hf_minilm_dir(), "vocab.txt"),
                  os.path.join(hf_dir, "vocab.txt"))
  hf_checkpoint.convert_hf_to_tf1(hf_dir, bert_dir)
  return hf_dir, bert_dir
