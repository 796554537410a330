"""Head outputs -> named serving outputs, per task kind, inside the graph.

The outputs of each kind are listed in `serve/export.py`'s docstring. Each
function here is a field of its kind in `task_kinds.py`:

  ids outputs       (task, head output of token-id rows) -> outputs dict
  text outputs      (task, model view, preprocessor, texts) -> outputs dict
  preprocess rows   (task, preprocessor, texts) -> encoder rows dict

Sentence kinds (classification, regression, multilabel) read one row per
text; tagging reads rows of words (`preprocess.WordPieces`) and answers per
word.
"""

import tensorflow as tf

from bluebert_mtl.serve.preprocess import WordPieces


def _softmax_decode(labels, logits):
  """(string [...] argmax label names, float32 [..., C] softmax) of float32
  logits [..., C]."""
  return (tf.gather(tf.constant(labels), tf.argmax(logits, -1)),
          tf.nn.softmax(logits, -1))


def classification(task, logits):
  """logits float32 [B, C] -> label, probabilities."""
  label, probabilities = _softmax_decode(task.labels, logits)
  return {"label": label, "probabilities": probabilities}


def regression(task, score):
  """score float32 [B] -> score."""
  del task
  return {"score": score}


def multilabel(task, logits):
  """logits float32 [B, C] -> probabilities, predicted, labels."""
  predicted = logits > 0.0  # sigmoid(logit) > 0.5
  names = tf.broadcast_to(tf.constant(task.labels), tf.shape(logits))
  labels = tf.ragged.boolean_mask(names, predicted).to_tensor(
      "", shape=tf.shape(logits))
  return {"probabilities": tf.sigmoid(logits), "predicted": predicted,
          "labels": labels}


def _token_tags(task, logits):
  """logits float32 [B, T, C] -> token_tags, probabilities."""
  tags, probabilities = _softmax_decode(task.labels, logits)
  return {"token_tags": tags, "probabilities": probabilities}


def with_logits(decode):
  """`decode` whose outputs also hold the head's logits (ids signatures)."""
  def decode_with_logits(task, logits):
    return dict(decode(task, logits), logits=logits)
  return decode_with_logits


token_tags = with_logits(_token_tags)


def _word_outputs(task, logits: tf.Tensor, pieces: WordPieces):
  """Tagging outputs of serving_default from row logits [R, T, C]."""
  found = pieces.word_positions >= 0
  at = tf.stack([pieces.word_row, tf.maximum(pieces.word_positions, 0)], 1)
  tags, probabilities = _softmax_decode(task.labels, tf.gather_nd(logits, at))
  tags = tf.where(found, tags, "O")  # as task_kinds decodes a word without one
  probabilities = tf.where(found[:, None], probabilities, 0.0)
  words = pieces.words
  return {"tags": words.with_flat_values(tags).to_tensor(""),
          "num_words": tf.cast(words.row_lengths(), tf.int32),
          "probabilities": words.with_flat_values(probabilities).to_tensor(
              0.0)}


def sentence_text_outputs(decode):
  """Text outputs of a sentence kind: one encoder row per text (or pair),
  decoded by `decode`."""
  def outputs(task, view, preprocessor, texts):
    return decode(task, view(preprocessor.texts(*texts), training=False))
  return outputs


def word_text_outputs(task, view, preprocessor, texts):
  """Text outputs of tagging: rows of at most max_words words, one tag per
  word (`_word_outputs`)."""
  pieces = preprocessor.words(texts[0], task.max_words)
  return _word_outputs(task, view(pieces.inputs, training=False), pieces)


def sentence_rows(task, preprocessor, texts):
  """The preprocess model's rows of a sentence kind: one per text (pair)."""
  del task
  return preprocessor.texts(*texts)


def word_rows(task, preprocessor, texts):
  """The preprocess model's rows of tagging: pieces of max_words words."""
  return preprocessor.words(texts[0], task.max_words).row_outputs(
      task.max_words)
