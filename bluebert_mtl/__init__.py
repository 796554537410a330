"""bluebert_mtl: a TensorFlow 2 / Keras port of MT-BlueBERT.

`from bluebert_mtl import Predictor` gives the prediction API
(`serve/predictor.py`); it is imported on first use, so importing the
package stays cheap.

Importing the package selects Keras 2 semantics (tf-keras) for TensorFlow:
tf-models-official's BERT encoder and TF Hub layers do not run inside Keras 3
models, and `TF_USE_LEGACY_KERAS` must be set before TensorFlow is first
imported. Every module of the package imports Keras as `tf_keras`.

It also turns on TensorFlow's oneDNN CPU kernels, which TF enables by default
only on CPUs with AVX-512 VNNI/BF16 or AMX: on an AVX2 CPU they made the
training step 12-14 % faster and exported-model latency 27 % lower
(BENCHMARKS.md). Results differ from the default kernels by float rounding
only. Set TF_ENABLE_ONEDNN_OPTS=0 before importing to keep TF's default.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

__version__ = "0.1.0"


def __getattr__(name):
  """Lazy attributes: `Predictor` (loads TensorFlow on first use)."""
  if name == "Predictor":
    from bluebert_mtl.serve.predictor import Predictor  # pylint: disable=g-import-not-at-top
    return Predictor
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
