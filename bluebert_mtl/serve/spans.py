"""Character spans of raw text: its words, BLUE's entity masks, NER mentions.

Offsets count Python string positions (Unicode code points) of the text as
given, end exclusive, so `text[start:end]` is the span's own text.

  word_spans       the words BERT's BasicTokenizer makes of a text (what the
                   in-graph tokenizer splits on, `tokenization.py` steps 2-5),
                   each as (start, end) in the original text
  mask_entities    a relation's two entities replaced as BLUE's converters
                   replace them: `@CHEMICAL$`, or one `@CHEMICAL-GENE$` for
                   spans that overlap or touch
  mentions         the entities conlleval reads in word tags, as spans

docs/prediction.md states the rules with examples.
"""

import dataclasses
import unicodedata
from typing import List, Sequence, Tuple

from seqeval.metrics.sequence_labeling import get_entities

from bluebert_mtl import tokenization

Span = Tuple[int, int]  # (start, end) character offsets, end exclusive
_UNTYPED = "_"  # seqeval's type of an untyped B / I chunk


@dataclasses.dataclass(frozen=True)
class Entity:
  """One entity of a relation: text[start:end], of type `type`."""
  start: int
  end: int
  type: str

  @property
  def mask(self) -> str:
    return f"@{self.type.upper()}$"


def _normalized(char: str, do_lower_case: bool) -> str:
  """What tokenization step 4 makes of one character (maybe nothing)."""
  if not do_lower_case:
    return char
  return "".join(c for c in unicodedata.normalize("NFD", char.lower())
                 if not tokenization.is_nonspacing(c))


def word_spans(text: str, do_lower_case: bool = True) -> List[Span]:
  """The words of `text` as BERT's BasicTokenizer splits it, as spans.

  Spaces (tab, newline, category Zs, U+2028, U+2029) end a word; every CJK
  ideograph and every punctuation character (judged after lower-casing and
  NFD, as the tokenizer judges it) is a word of its own. A character that
  cleaning drops or lower-casing strips (U+200B, a combining accent) joins
  the word it stands in, so `text[start:end]` keeps it; on its own it makes
  no word, as in the tokenizer.

  Args:
    text: the raw text.
    do_lower_case: the run's setting (uncased BlueBERT: True).

  Returns:
    (start, end) of each word, in text order.
  """
  spans = []
  word = []  # the open word's [start, end], or [] between words
  for i, char in enumerate(text):
    if tokenization.is_space(char) or tokenization.is_cjk(char):
      _close(spans, word)
      if not tokenization.is_space(char):
        spans.append((i, i + 1))
      continue
    kept = ("" if tokenization.is_dropped(char)
            else _normalized(char, do_lower_case))
    if word and not kept:
      word[1] = i + 1
    for piece in kept:
      if tokenization.is_punctuation(piece):
        _close(spans, word)
        spans.append((i, i + 1))
      elif word:
        word[1] = i + 1
      else:
        word[:] = [i, i + 1]
  _close(spans, word)
  return spans


def _close(spans: List[Span], word: list) -> None:
  """Appends the open word, if there is one, and closes it."""
  if word:
    spans.append((word[0], word[1]))
    word.clear()


def mask_entities(text: str, entities: Sequence[Entity]) -> str:
  """The text with a relation's two entities masked as BLUE masks them.

  Each entity becomes `@` + its type upper-cased + `$`. Two spans that
  overlap or touch (each starts at most where the other ends) become one
  mask over their union, `@TYPE1-TYPE2$` in the order given (BLUE's
  create_ddi_bert.py; its ChemProt converter wrote `@CHEM-GENE$` there).

  Args:
    text: the raw text.
    entities: two `Entity`s with 0 <= start < end <= len(text).

  Returns:
    the masked text.
  """
  first, second = entities
  if first.start <= second.end and second.start <= first.end:
    start = min(first.start, second.start)
    end = max(first.end, second.end)
    union = f"@{first.type.upper()}-{second.type.upper()}$"
    return text[:start] + union + text[end:]
  a, b = sorted(entities, key=lambda entity: entity.start)
  return (text[:a.start] + a.mask + text[a.end:b.start] + b.mask +
          text[b.end:])


def mentions(text: str, spans: Sequence[Span],
             tags: Sequence[str]) -> List[dict]:
  """The entities in one tag per word, as conlleval chunks them (`metrics`).

  Args:
    text: the text the word spans index.
    spans: (start, end) of each word.
    tags: one IOB tag per word ("O", "B-Chemical", ...).

  Returns:
    {"text", "type", "start", "end"} per mention, in text order; `text` is
    text[start:end], from the first word's start to the last word's end;
    an untyped tag's mention has type "".
  """
  found = []
  for chunk_type, first, last in get_entities(list(tags)):
    start, end = spans[first][0], spans[last][1]
    found.append({"text": text[start:end],
                  "type": "" if chunk_type == _UNTYPED else chunk_type,
                  "start": start, "end": end})
  return found


def joined_words(words: Sequence[str]) -> Tuple[str, List[Span]]:
  """Words of a BLUE NER file as one text, joined by spaces, and their spans."""
  spans, start = [], 0
  for word in words:
    spans.append((start, start + len(word)))
    start += len(word) + 1
  return " ".join(words), spans
