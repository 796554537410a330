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
`task_kinds.KINDS[kind].decode`, as in training; probabilities are rounded
to `PROBABILITY_DECIMALS` decimals; a score is the model's float32 output.
One table, `KIND_IO`, so that nothing else tests a kind's name.
"""

import dataclasses
from typing import Callable, Dict, Sequence, Tuple

import numpy as np
from scipy import special

from bluebert_mtl.data.examples import Example, TaggedExample
from bluebert_mtl.serve import spans

PROBABILITY_DECIMALS = 6
RELATION_FORMAT = "relation"  # the file format whose tasks mask entities


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


def _sentence_item(task, record, index: int, do_lower_case: bool) -> Item:
  del do_lower_case  # the tokenizer lower-cases
  if record.example is not None:
    return Item(dataclasses.replace(record.example, guid=str(index)))
  text_a = record.texts[0]
  if record.entities and task.file_format == RELATION_FORMAT:
    text_a = spans.mask_entities(text_a, record.entities)
  text_b = record.texts[1] if len(record.texts) == 2 else None
  return Item(Example(str(index), text_a, text_b, None, record.line))


def _tagged_item(task, record, index: int, do_lower_case: bool) -> Item:
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


def _regression_result(task, score: float, output, item: Item) -> dict:
  del task, output, item
  return {"score": score}


def _classification_result(task, label: str, logits, item: Item) -> dict:
  del item
  return {"label": label, "probabilities": _probabilities(
      task.labels, special.softmax(np.asarray(logits, np.float64)))}


def _multilabel_result(task, labels, logits, item: Item) -> dict:
  del item
  return {"labels": list(labels), "probabilities": _probabilities(
      task.labels, special.expit(np.asarray(logits, np.float64)))}


def _tagging_result(task, tags, output, item: Item) -> dict:
  del task, output
  return {"words": [item.text[start:end] for start, end in item.word_spans],
          "tags": list(tags),
          "entities": spans.mentions(item.text, item.word_spans, tags)}


@dataclasses.dataclass(frozen=True)
class KindIO:
  """How prediction reads and writes the tasks of one kind.

  Attributes:
    item: (task, record, position, do_lower_case) -> `Item`.
    result: (task, decoded label, model output row, item) -> JSON dict.
  """
  item: Callable
  result: Callable


KIND_IO: Dict[str, KindIO] = {
    "regression": KindIO(_sentence_item, _regression_result),
    "classification": KindIO(_sentence_item, _classification_result),
    "multilabel": KindIO(_sentence_item, _multilabel_result),
    "tagging": KindIO(_tagged_item, _tagging_result),
}
