"""Per task kind: a record as the task's example, a prediction as JSON.

  kind            example of a record             result (docs/prediction.md)
  regression      Example (text, or a pair)       {"score": float}
  classification  Example; a relation task's      {"label": str, "probabilities":
                  two entities masked               {label: softmax p}}
  multilabel      Example                         {"labels": [str], "probabilities":
                                                    {label: sigmoid p}}
  tagging         TaggedExample of the words      {"words": [str], "tags": [str],
                  `spans.word_spans` splits         "entities": [{"text", "type",
                                                    "start", "end"}]}

A BLUE record keeps the example its task's reader made. Labels come from
`TaskKind.decode`, as in training; probabilities are rounded to
`PROBABILITY_DECIMALS` decimals; a score is the model's float32 output.
Each function is a field of its kind in `task_kinds.py` (`prediction_item`,
`prediction_result`).
"""

import dataclasses
from typing import Sequence, Tuple

import numpy as np
from scipy import special

from bluebert_mtl.data.examples import Example, TaggedExample
from bluebert_mtl.serve import spans

PROBABILITY_DECIMALS = 6


@dataclasses.dataclass(frozen=True)
class Item:
  """One record as one task's input.

  Attributes:
    example: an `Example` or `TaggedExample` whose guid is the record's
      position (its sentence_index too, for a TaggedExample).
    text: tagging: the text the word spans index.
    word_spans: tagging: (start, end) of each word in `text`.
  """
  example: object
  text: str = ""
  word_spans: Tuple[spans.Span, ...] = ()


def sentence_item(task, record, index: int, do_lower_case: bool) -> Item:
  del do_lower_case  # the tokenizer lower-cases
  if record.example is not None:
    return Item(dataclasses.replace(record.example, guid=str(index)))
  text_a = record.texts[0]
  if record.entities and task.entities_masked:
    text_a = spans.mask_entities(text_a, record.entities)
  text_b = record.texts[1] if len(record.texts) == 2 else None
  return Item(Example(str(index), text_a, text_b, None, record.line))


def tagged_item(task, record, index: int, do_lower_case: bool) -> Item:
  del task
  if record.example is not None:
    example = dataclasses.replace(record.example, guid=str(index),
                                  sentence_index=index)
    text, word_spans = spans.joined_words(example.words)
    return Item(example, text, tuple(word_spans))
  text = record.texts[0]
  word_spans = tuple(spans.word_spans(text, do_lower_case))
  words = tuple(text[start:end] for start, end in word_spans)
  return Item(TaggedExample(str(index), words, None, index, 0, record.line),
              text, word_spans)


def _probabilities(labels: Sequence[str], values: np.ndarray) -> dict:
  return {label: round(float(p), PROBABILITY_DECIMALS)
          for label, p in zip(labels, values)}


def regression_result(task, score: float, output, item: Item) -> dict:
  del task, output, item
  return {"score": score}


def classification_result(task, label: str, logits, item: Item) -> dict:
  del item
  return {"label": label, "probabilities": _probabilities(
      task.labels, special.softmax(np.asarray(logits, np.float64)))}


def multilabel_result(task, labels, logits, item: Item) -> dict:
  del item
  return {"labels": list(labels), "probabilities": _probabilities(
      task.labels, special.expit(np.asarray(logits, np.float64)))}


def tagging_result(task, tags, output, item: Item) -> dict:
  del task, output
  return {"words": [item.text[start:end] for start, end in item.word_spans],
          "tags": list(tags),
          "entities": spans.mentions(item.text, item.word_spans, tags)}
