"""progress.py: training's one-line step display, and the bar long work
draws on stderr when stderr is a terminal, nothing when it is not (a log
file, a pipe)."""

import io
import os
import sys

import pytest
import tensorflow as tf

from bluebert_mtl import progress
from bluebert_mtl.progress import Progress
from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl import tokenization
from bluebert_mtl.data import task_data
from bluebert_mtl.model import inference
from conftest import SAMPLE_DIR


class _Terminal(io.StringIO):
  def isatty(self):
    return True


STREAMS = pytest.mark.parametrize("stream", [_Terminal, io.StringIO],
                                  ids=["terminal", "file"])


def _stderr(stream, monkeypatch):
  """A new `stream` as sys.stderr (set in the test itself: pytest sets its
  own capture again between fixtures and the test)."""
  stderr = stream()
  monkeypatch.setattr(sys, "stderr", stderr)
  return stderr


def _shown(stderr, what: str) -> bool:
  """Whether `what` was drawn; nothing at all is drawn off a terminal."""
  text = stderr.getvalue()
  if not stderr.isatty():
    assert text == ""
  return what in text


@STREAMS
def test_bar(stream, monkeypatch):
  stderr = _stderr(stream, monkeypatch)
  with progress.bar(4, "chemprot train.tsv features", unit="ex") as bar:
    bar.update(3)
    bar.update(1)
  assert _shown(stderr, "chemprot train.tsv features: ") == stderr.isatty()
  assert _shown(stderr, "| 0/4 ") == stderr.isatty()


@STREAMS
def test_featurization_and_prediction_show_progress(stream, monkeypatch,
                                                    minilm_dir):
  stderr = _stderr(stream, monkeypatch)
  task = tasks_lib.get_task("chemprot")
  tokenizer = tokenization.FullTokenizer(os.path.join(minilm_dir,
                                                      "vocab.txt"))
  split = task_data.load_split(
      task, os.path.join(SAMPLE_DIR, "chemprot", "dev.tsv"), tokenizer, 32)
  assert _shown(stderr, "chemprot dev.tsv features") == stderr.isatty()
  outputs = inference.predict(
      lambda inputs: tf.zeros([tf.shape(inputs["input_word_ids"])[0], 6]),
      split, 4, what="chemprot dev prediction")
  assert len(outputs) == len(split.features)
  assert _shown(stderr, "chemprot dev prediction") == stderr.isatty()


def test_update_shows_step_task_and_loss():
  stream = io.StringIO()
  Progress(total=10, start=4, stream=stream, interval=0.0).update(
      5, "chemprot", 0.25, examples=32)
  assert stream.getvalue().startswith("step 5/10 [chemprot] loss 0.2500 | ")
