"""The named records data flows through: files -> examples -> features.

No TensorFlow here. Readers (`readers.py`) produce `Example` or
`TaggedExample`; `features.py` turns them into `Features`.
"""

import dataclasses
from typing import Optional, Tuple, Union

# A label as read from a file:
#   str              classification / relation / inference ("CPR:4")
#   float            regression (STS score)
#   Tuple[str, ...]  multi-label: the names of the positive labels, in label-list order
Label = Union[str, float, Tuple[str, ...]]


@dataclasses.dataclass(frozen=True)
class Example:
  """One sentence or sentence pair of a classification, regression or
  multi-label task.

  Attributes:
    guid: id of the row (the file's index column where it has one, else
      "<split>-<row number>"). Relation files repeat a pair's guid on one row
      per gold label; scoring is per row, predictions per guid.
    text_a: first sentence (sentence1 / premise / the masked relation sentence).
    text_b: second sentence of a pair task, else None.
    label: gold label (see `Label`), or None where the file has no labels.
    line: 1-based line of the row in its file, for error messages.
  """
  guid: str
  text_a: str
  text_b: Optional[str]
  label: Optional[Label]
  line: int = 0


@dataclasses.dataclass(frozen=True)
class TaggedExample:
  """One sentence of a sequence-labelling (NER) task, or a piece of one.

  Attributes:
    guid: unique id ("<sentence number>" or "<docid>.<offset>"; pieces of a
      split sentence add ".<word_start>").
    words: the sentence's words (whitespace tokens as the file has them).
    tags: gold IOB tags, typed ("B-Chemical") as the task's tag list has
      them, or None where the file has no tags.
    sentence_index: 0-based index of the unsplit sentence in its file.
    word_start: position of words[0] within that unsplit sentence.
    line: 1-based line of the sentence's first word in its file.
    document: the sentence's document id where the file has one (BLUE's
      4-column files), else None.
  """
  guid: str
  words: Tuple[str, ...]
  tags: Optional[Tuple[str, ...]]
  sentence_index: int
  word_start: int = 0
  line: int = 0
  document: Optional[str] = None
