"""bluebert_mtl: a TensorFlow 2 / Keras port of MT-BlueBERT.

Importing the package selects Keras 2 semantics (tf-keras) for TensorFlow:
tf-models-official's BERT encoder and TF Hub layers do not run inside Keras 3
models, and `TF_USE_LEGACY_KERAS` must be set before TensorFlow is first
imported. Every module of the package imports Keras as `tf_keras`.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
