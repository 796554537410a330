"""What each task kind does (`task_kinds.py`), field by field, on registry
tasks; expected values are worked out by hand."""

import numpy as np
import pytest
import tensorflow as tf

from bluebert_mtl import task_kinds
from bluebert_mtl import tasks
from bluebert_mtl.data.examples import Example, TaggedExample
from bluebert_mtl.errors import ConfigError
from bluebert_mtl.model import heads
from test_features import CLS, SEP, FakeTokenizer

CHEMPROT = tasks.TASKS["chemprot"]  # classification, 6 labels
BIOSSES = tasks.TASKS["biosses"]  # regression, pairs
HOC = tasks.TASKS["hoc"]  # multilabel, 10 aspects
CHEMICAL = tasks.TASKS["bc5cdr-chemical"]  # tagging: O, B-Chemical, I-Chemical


def test_every_kind_is_registered_under_its_name():
  assert sorted(task_kinds.KINDS) == ["classification", "multilabel",
                                      "regression", "tagging"]
  for name, kind in task_kinds.KINDS.items():
    assert kind.name == name


@pytest.mark.parametrize("task, head_type, outputs", [
    (CHEMPROT, heads.PooledHead, 6), (BIOSSES, heads.PooledHead, 1),
    (HOC, heads.PooledHead, 10), (CHEMICAL, heads.TokenHead, 3)])
def test_heads(task, head_type, outputs):
  head = task.task_kind.build_head(task)
  assert isinstance(head, head_type)
  assert head.name == task.name and head.num_outputs == outputs
  assert task.num_outputs == outputs
  assert getattr(head, "squeeze", False) == (task is BIOSSES)


def test_sentence_kinds_feed_whole_examples_with_encoded_labels():
  rows = [Example("r1", "aspirin induced", None, "CPR:4"),
          Example("r2", "x", None, "false")]
  pieces = CHEMPROT.task_kind.pieces(CHEMPROT, rows)
  assert pieces == rows
  feats = CHEMPROT.task_kind.featurize(CHEMPROT, pieces, FakeTokenizer(), 16,
                                       False)
  assert [f.label for f in feats] == [1, 5]  # indices in the label list
  assert feats[0].input_word_ids == (CLS, 1, 2, 3, SEP)
  hoc = HOC.task_kind.featurize(
      HOC, [Example("d_s1", "x", None, (HOC.labels[2], HOC.labels[9]))],
      FakeTokenizer(), 16, False)
  assert hoc[0].label == (0, 0, 1, 0, 0, 0, 0, 0, 0, 1)
  sts = BIOSSES.task_kind.featurize(
      BIOSSES, [Example("1", "x", "y", 2.5)], FakeTokenizer(), 16, True)
  assert sts[0].label == 2.5
  assert sts[0].input_word_ids == (CLS, 7, 8, 9, SEP, 6, SEP)  # b first


def test_tagging_splits_long_sentences_and_joins_them_back():
  words = ("x",) * 5
  sentence = TaggedExample("s0", words, ("O",) * 5, 0)
  task = tasks.TaskSpec("tiny-ner", "tagging", "ner", "chunk_f1",
                        labels=CHEMICAL.labels, max_words=2)
  kind = task.task_kind
  pieces = kind.pieces(task, [sentence])
  assert [p.words for p in pieces] == [("x", "x"), ("x", "x"), ("x",)]
  tags = {p.guid: ("B-Chemical",) + ("O",) * (len(p.words) - 1)
          for p in pieces}
  joined = kind.join_pieces([sentence], pieces, tags)
  assert joined == {"s0": ("B-Chemical", "O", "B-Chemical", "O",
                           "B-Chemical")}


def test_gold_labels_are_labels_or_tags():
  assert CHEMPROT.task_kind.gold(Example("r", "x", None, "CPR:3")) == "CPR:3"
  assert CHEMICAL.task_kind.gold(
      TaggedExample("s", ("x",), ("O",), 0)) == ("O",)


def test_decoding_rows():
  assert CHEMPROT.task_kind.decode(
      CHEMPROT, np.array([0, 3, 1, 0, 0, 0.]), None) == "CPR:4"
  assert BIOSSES.task_kind.decode(BIOSSES, np.float32(1.5), None) == 1.5
  logits = np.full(10, -1.0)
  logits[[1, 7]] = 2.0  # sigmoid > 0.5 exactly where the logit is positive
  assert HOC.task_kind.decode(HOC, logits, None) == (HOC.labels[1],
                                                      HOC.labels[7])
  token_logits = np.array([[9, 0, 0], [0, 9, 0], [0, 0, 9.]])
  # Word positions 1 and 2; a word without a sub-token (-1) is "O".
  assert CHEMICAL.task_kind.decode(CHEMICAL, token_logits, (1, -1, 2)) == (
      "B-Chemical", "O", "I-Chemical")


def test_ids_outputs_carry_logits_except_for_regression():
  logits = tf.constant([[0.0, 2.0, 0, 0, 0, 0]])
  outputs = CHEMPROT.task_kind.ids_outputs(CHEMPROT, logits)
  assert outputs["label"].numpy().tolist() == [b"CPR:4"]
  np.testing.assert_allclose(outputs["probabilities"].numpy().sum(), 1.0,
                             rtol=1e-6)
  assert "logits" in outputs
  scores = BIOSSES.task_kind.ids_outputs(BIOSSES, tf.constant([0.7]))
  assert set(scores) == {"score"}
  hoc = HOC.task_kind.ids_outputs(HOC, tf.constant([[1.0] + [-1.0] * 9]))
  assert hoc["labels"].numpy()[0].tolist()[:2] == [HOC.labels[0].encode(),
                                                   b""]
  tags = CHEMICAL.task_kind.ids_outputs(CHEMICAL,
                                        tf.constant([[[0.0, 0.0, 5.0]]]))
  assert tags["token_tags"].numpy().tolist() == [[b"I-Chemical"]]
  assert "logits" in tags


def test_regression_has_no_labels():
  assert not task_kinds.KINDS["regression"].has_labels
  with pytest.raises(ConfigError, match="needs labels"):
    tasks.TaskSpec("t", "classification", "relation", "accuracy")
  tasks.TaskSpec("t", "regression", "sts", "pearson")  # no labels needed
