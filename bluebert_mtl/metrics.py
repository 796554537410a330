"""The official BLUE metric of every task, in numpy, scored after the loop.

Each function reproduces one BLUE evaluation script (`docs/original_system.md`
§2) number for number and returns a dict ready for `json.dumps`:

  {"metric": <function name>, "value": <headline float>, ...details}

Details are plain Python floats and ints: precision / recall / f1, the
tp / fp / fn counts behind them, per-class or per-type scores with their
support, and how many items were scored. A ratio whose denominator is 0 is
0.0, as BLUE's `pmetrics.divide` makes it, unless a function says otherwise.

  task                  function                                      script
  ClinicalSTS, BIOSSES  pearson                                       eval_sts.py
  MedNLI                micro_f1_all_classes (= accuracy)             eval_mednli.py
  ChemProt, i2b2 2010   micro_f1_excluding(..., "false")              eval_rel.py
  DDI                   macro_f1_excluding(..., "DDI-false", labels)  README since 2019
  NER (all three)       conlleval_chunk_f1                            conlleval (TF1, MT)
  HoC                   hoc_document_f1 (labels from hoc_decision)    eval_hoc.py

Inputs are gold and predicted values in the same order (gather predictions
by guid first). Mismatched lengths and empty inputs raise `BlueBertError`.
No TensorFlow here.
"""

import re
from typing import Collection, Dict, Hashable, List, Sequence, Set, Tuple

import numpy as np
from scipy import stats
from seqeval.metrics.sequence_labeling import get_entities

from bluebert_mtl.errors import BlueBertError

# A tag conlleval and seqeval's default mode read alike: "O", or "B" / "I"
# with an optional "-TYPE". Type "_" is refused: seqeval gives untyped tags
# that type, so it would merge with them.
_IOB_TAG = re.compile(r"O|[BI](-(?!_$).*)?")


def _check_paired(gold: Sequence, pred: Sequence, items: str) -> int:
  """Returns the number of items; raises unless both sides have as many > 0."""
  if len(gold) != len(pred):
    raise BlueBertError(
        f"{len(gold)} gold {items} but {len(pred)} predicted {items}")
  if len(gold) == 0:  # `not gold` is ambiguous for numpy arrays
    raise BlueBertError(f"no {items} to score")
  return len(gold)


def _check_known(gold: Sequence, pred: Sequence, labels: Sequence) -> None:
  """Raises on a gold or predicted label outside `labels` (the BLUE scripts'
  `labels.index` fails there too)."""
  unknown = (set(gold) | set(pred)) - set(labels)
  if unknown:
    raise BlueBertError(
        f"labels {sorted(map(str, unknown))} are not in the task's label list "
        f"{list(labels)}")


def _divide(numerator: float, denominator: float) -> float:
  """numerator / denominator, or 0.0 where the denominator is 0."""
  return float(numerator) / denominator if denominator else 0.0


def _f1(precision: float, recall: float) -> float:
  """Harmonic mean of precision and recall, 0.0 where both are 0."""
  return _divide(2 * precision * recall, precision + recall)


def _scores_from_counts(tp: int, fp: int, fn: int) -> Dict[str, float]:
  """Precision, recall, F1 and support (tp + fn) from the three counts."""
  tp, fp, fn = int(tp), int(fp), int(fn)
  precision = _divide(tp, tp + fp)
  recall = _divide(tp, tp + fn)
  return {"precision": precision, "recall": recall,
          "f1": _f1(precision, recall), "tp": tp, "fp": fp, "fn": fn,
          "support": tp + fn}


def _per_class_scores(gold: Sequence[str], pred: Sequence[str],
                      classes: Sequence[str]) -> Dict[str, Dict[str, float]]:
  """One-vs-rest counts and scores of each class in `classes`, in order.

  A row with gold a and prediction b != a is a FN of a and a FP of b; it
  counts only for the classes among `classes`.
  """
  gold = np.asarray(gold)
  pred = np.asarray(pred)
  scores = {}
  for name in classes:
    is_gold = gold == name
    is_pred = pred == name
    scores[name] = _scores_from_counts(
        tp=np.sum(is_gold & is_pred), fp=np.sum(is_pred & ~is_gold),
        fn=np.sum(is_gold & ~is_pred))
  return scores


def _micro_scores(per_class: Dict[str, Dict[str, float]]) -> Dict[str, float]:
  """Scores from the tp, fp and fn counts summed over the given classes."""
  return _scores_from_counts(*(sum(c[count] for c in per_class.values())
                               for count in ("tp", "fp", "fn")))


def _pearson_r(x: np.ndarray, y: np.ndarray) -> float:
  """Pearson r as pandas `Series.corr` computes it (`np.corrcoef`); nan where
  either side is constant, without numpy's division warning."""
  if np.ptp(x) == 0 or np.ptp(y) == 0:
    return float("nan")
  return float(np.corrcoef(x, y)[0, 1])


def pearson(gold_scores: Sequence[float],
            pred_scores: Sequence[float]) -> Dict:
  """Pearson r of the STS tasks (ClinicalSTS, BIOSSES), as BLUE's eval_sts.py.

  The official script takes pandas `Series.corr` of the gold and predicted
  `score` columns. Spearman's rho (ties get average ranks) is a detail.

  Edge cases: constant gold or constant predictions (one item included) give
  nan for r and rho, as pandas does; `json.dumps` writes it as NaN. A nan or
  infinite score raises (pandas would silently drop the pair).

  Args:
    gold_scores: float [N], gold similarity scores.
    pred_scores: float [N], predicted scores, same order.

  Returns:
    {"metric": "pearson", "value": r, "spearman": rho, "n": N}.
  """
  n = _check_paired(gold_scores, pred_scores, "scores")
  gold = np.asarray(gold_scores, dtype=np.float64)
  pred = np.asarray(pred_scores, dtype=np.float64)
  if not (np.isfinite(gold).all() and np.isfinite(pred).all()):
    raise BlueBertError("STS scores must be finite numbers (found nan or inf)")
  return {"metric": "pearson", "value": _pearson_r(gold, pred),
          "spearman": _pearson_r(stats.rankdata(gold), stats.rankdata(pred)),
          "n": n}


def micro_f1_all_classes(gold: Sequence[str], pred: Sequence[str],
                         labels: Sequence[str]) -> Dict:
  """Micro P/R/F over every class: MedNLI's metric, as BLUE's eval_mednli.py.

  Every wrong row is one FP and one FN, so micro P = R = F = accuracy
  (reported as a detail too).

  Args:
    gold: [N] gold labels.
    pred: [N] predicted labels, same order.
    labels: the task's labels, e.g. ["contradiction", "entailment",
      "neutral"]; any other label raises.

  Returns:
    {"metric", "value" (micro F1), "accuracy", "precision", "recall", "f1",
    "tp", "fp", "fn", "support", "per_class": {label: scores}, "n"}.
  """
  n = _check_paired(gold, pred, "labels")
  _check_known(gold, pred, labels)
  per_class = _per_class_scores(gold, pred, labels)
  micro = _micro_scores(per_class)
  return {"metric": "micro_f1_all_classes", "value": micro["f1"],
          "accuracy": _divide(micro["tp"], n), **micro,
          "per_class": per_class, "n": n}


def micro_f1_excluding(gold: Sequence[str], pred: Sequence[str],
                       negative_label: str) -> Dict:
  """Micro P/R/F over every class but the negative, as BLUE's eval_rel.py.

  ChemProt and i2b2 2010 (negative "false"); DDI's micro score as MT-BlueBERT
  reports it (negative "DDI-false"). tp, fp and fn are summed over the
  positive classes: a positive predicted as another positive is a FN of the
  gold class and a FP of the predicted one; positive -> negative is a FN;
  negative -> positive is a FP; negative -> negative counts nowhere.

  Edge cases (pmetrics' convention, a zero denominator gives 0): no positive
  prediction gives precision 0; no positive gold gives recall 0; F1 is 0
  whenever precision + recall is 0.

  Args:
    gold: [N] gold labels.
    pred: [N] predicted labels, same order.
    negative_label: the "no relation" label.

  Returns:
    {"metric", "value" (micro F1), "precision", "recall", "f1", "tp", "fp",
    "fn", "support", "negative_label", "per_class": {label: scores} over the
    positive labels seen in gold or pred (sorted, as eval_rel.py orders
    them), "n"}.
  """
  n = _check_paired(gold, pred, "labels")
  positives = sorted((set(gold) | set(pred)) - {negative_label})
  per_class = _per_class_scores(gold, pred, positives)
  micro = _micro_scores(per_class)
  return {"metric": "micro_f1_excluding", "value": micro["f1"], **micro,
          "negative_label": negative_label, "per_class": per_class, "n": n}


def macro_f1_excluding(gold: Sequence[str], pred: Sequence[str],
                       negative_label: str, labels: Sequence[str]) -> Dict:
  """Macro F1 over the positive classes: DDI's metric per the BLUE README.

  As pmetrics' macro row: each positive class of `labels` gets P, R and F1
  from its own counts (0 where undefined, so a class absent from gold and
  pred scores 0); macro P, R and F1 are their arithmetic means. Macro F1 is
  the mean of the per-class F1s, not F1 of macro P and R. The micro scores
  over the same positive classes (what MT-BlueBERT reported for DDI) are
  the "micro" detail.

  Args:
    gold: [N] gold labels.
    pred: [N] predicted labels, same order.
    negative_label: the "no interaction" label, e.g. "DDI-false".
    labels: the task's labels, negative included; any other label raises.

  Returns:
    {"metric", "value" (macro F1), "precision", "recall", "f1" (macro),
    "micro": {micro scores and counts}, "negative_label",
    "per_class": {positive label: scores}, "n"}.
  """
  n = _check_paired(gold, pred, "labels")
  _check_known(gold, pred, labels)
  if negative_label not in labels:
    raise BlueBertError(
        f"negative label {negative_label!r} is not in the labels {labels}")
  positives = [name for name in labels if name != negative_label]
  per_class = _per_class_scores(gold, pred, positives)
  macro = {score: float(np.mean([c[score] for c in per_class.values()]))
           for score in ("precision", "recall", "f1")}
  return {"metric": "macro_f1_excluding", "value": macro["f1"], **macro,
          "micro": _micro_scores(per_class), "negative_label": negative_label,
          "per_class": per_class, "n": n}


def _chunks(sentences: Sequence[Sequence[str]],
            ) -> Dict[str, Set[Tuple[int, int]]]:
  """conlleval's chunks of IOB tag sentences: {type: {(start, end)}}.

  seqeval's default (non-strict) `get_entities` ports conlleval's
  start/end-of-chunk rules; for the tags `_IOB_TAG` admits both read a tag
  the same way (conlleval's "B" has type "", seqeval's "_"), so its chunks
  are conlleval's. Sentences are joined with an "O" between them, as
  conlleval reads the blank line. Positions count over the joined sequence;
  untyped chunks have type "_".
  """
  for i, tags in enumerate(sentences):
    for j, tag in enumerate(tags):
      if not _IOB_TAG.fullmatch(tag):
        raise BlueBertError(
            f"NER tag {tag!r} (sentence {i}, word {j}) is not an IOB tag "
            "(O, B, I, B-TYPE, I-TYPE); map predicted X / CLS / SEP to O "
            "before scoring")
  chunks = {}
  for chunk_type, start, end in get_entities([list(s) for s in sentences]):
    chunks.setdefault(chunk_type, set()).add((start, end))
  return chunks


def conlleval_chunk_f1(gold_tags: Sequence[Sequence[str]],
                       pred_tags: Sequence[Sequence[str]]) -> Dict:
  """Exact-match chunk P/R/F of NER, as conlleval (CoNLL-2000) scores it.

  What BlueBERT's TF1 NER script (untyped B/I/O) and MT-BlueBERT (typed
  B-Chemical ...) report. A chunk starts at B, or at I after O or after a
  chunk of another type; it ends before B, O or a type change. So a
  discontiguous CLEFE mention (`B I O O I`) is two chunks, and a chunk may
  start with I. A predicted chunk is correct when its type, first and last
  word equal a gold chunk's. P = correct / predicted, R = correct / gold,
  micro over types; 0 where undefined (conlleval's convention).

  BLUE's official eval_ner.py scores character spans per document instead
  (`docs/original_system.md` §2); that needs offsets and is not this function.

  Args:
    gold_tags: per sentence, its gold tags ("O", "B", "I" or "B-TYPE",
      "I-TYPE"). Anything else, e.g. MT's X / CLS / SEP labels, raises.
    pred_tags: per sentence, the predicted tags, same shapes.

  Returns:
    {"metric", "value" (F1), "precision", "recall", "f1", "gold_chunks",
    "pred_chunks", "correct_chunks", "per_type": {type: scores} (untyped
    chunks have type "_"), "sentences", "words"}.
  """
  n = _check_paired(gold_tags, pred_tags, "sentences")
  for i, (gold, pred) in enumerate(zip(gold_tags, pred_tags)):
    if len(gold) != len(pred):
      raise BlueBertError(
          f"sentence {i}: {len(gold)} gold tags but {len(pred)} predicted")
  gold_chunks = _chunks(gold_tags)
  pred_chunks = _chunks(pred_tags)
  per_type = {}
  for chunk_type in sorted(set(gold_chunks) | set(pred_chunks)):
    gold = gold_chunks.get(chunk_type, set())
    pred = pred_chunks.get(chunk_type, set())
    per_type[chunk_type] = _scores_from_counts(
        tp=len(gold & pred), fp=len(pred - gold), fn=len(gold - pred))
  micro = _micro_scores(per_type)
  return {"metric": "conlleval_chunk_f1", "value": micro["f1"],
          "precision": micro["precision"], "recall": micro["recall"],
          "f1": micro["f1"], "gold_chunks": micro["support"],
          "pred_chunks": micro["tp"] + micro["fp"],
          "correct_chunks": micro["tp"], "per_type": per_type,
          "sentences": n, "words": sum(len(tags) for tags in gold_tags)}


def hoc_document_key(row_id: str) -> str:
  """The document a HoC row belongs to: its id up to the first "_".

  "12345_s3" -> "12345", as eval_hoc.py's `index[:index.find('_')]`. An id
  without "_" is taken as a document id and returned whole (the official
  slice would cut its last character).
  """
  cut = row_id.find("_")
  return row_id if cut < 0 else row_id[:cut]


def _document_label_sets(row_ids: Sequence[str],
                         label_sets: Sequence[Collection[Hashable]],
                         ) -> Dict[str, Set[Hashable]]:
  """{document: union of its rows' label sets}, documents in first-seen order."""
  documents = {}
  for row_id, labels in zip(row_ids, label_sets):
    if isinstance(labels, str):
      raise BlueBertError(
          f"HoC row {row_id}: labels must be a collection of label names, "
          f"not the string {labels!r}")
    documents.setdefault(hoc_document_key(row_id), set()).update(labels)
  return documents


def hoc_document_f1(row_ids: Sequence[str],
                    gold_label_sets: Sequence[Collection[Hashable]],
                    pred_label_sets: Sequence[Collection[Hashable]]) -> Dict:
  """HoC's document-level F1, as BLUE's eval_hoc.py computes it.

  Rows (sentences) are grouped into documents by `hoc_document_key`; a
  document's gold and predicted label sets are the unions over its rows.
  Per document, P = |G & P| / |P| (0 where nothing is predicted) and
  R = |G & P| / |G|. The score is the harmonic mean of the averages,
  F = 2 * mean(P) * mean(R) / (mean(P) + mean(R)) (0 where both are 0),
  not the mean of per-document F1s.

  "precision" and "recall" here are mean P and mean R; eval_hoc.py prints
  them under each other's names (F is symmetric, so unaffected). It also
  asserts 315 test documents; check that where it matters.

  Edge case: a document without gold labels has no defined R (eval_hoc.py
  dies dividing by zero) and raises. BLUE keeps only labelled abstracts.

  Args:
    row_ids: [N] row ids ("<pmid>_s<k>") or document ids.
    gold_label_sets: [N] gold label names of each row (any collection,
      e.g. a tuple; may be empty).
    pred_label_sets: [N] predicted label names of each row.

  Returns:
    {"metric", "value" (F), "precision" (mean P), "recall" (mean R), "f1",
    "documents", "rows"}.
  """
  n = _check_paired(gold_label_sets, pred_label_sets, "label sets")
  if len(row_ids) != n:
    raise BlueBertError(f"{len(row_ids)} row ids for {n} label sets")
  gold_docs = _document_label_sets(row_ids, gold_label_sets)
  pred_docs = _document_label_sets(row_ids, pred_label_sets)
  precisions, recalls = [], []
  for document, gold in gold_docs.items():
    if not gold:
      raise BlueBertError(
          f"HoC document {document} has no gold label: its recall is "
          "undefined (BLUE scores only labelled abstracts)")
    pred = pred_docs[document]
    precisions.append(_divide(len(gold & pred), len(pred)))
    recalls.append(len(gold & pred) / len(gold))
  precision = float(np.mean(precisions))
  recall = float(np.mean(recalls))
  f1 = _f1(precision, recall)
  return {"metric": "hoc_document_f1", "value": f1, "precision": precision,
          "recall": recall, "f1": f1, "documents": len(gold_docs), "rows": n}


def hoc_decision(probabilities: np.ndarray, labels: Sequence[str],
                 threshold: float = 0.5) -> List[Tuple[str, ...]]:
  """Turns per-label sigmoid probabilities into HoC label sets.

  A label is chosen when its probability is strictly above `threshold`
  (0.5: the logit is positive). BLUE does not publish a decision rule; TF1's
  evaluation code meant a per-aspect argmax over ("<i>_0", "<i>_1"), which
  equals this rule on "<i>_1" only where the two outputs sum to 1.

  Args:
    probabilities: float [N, C], one sigmoid output per row and label.
    labels: the C label names, in column order.
    threshold: the probability a label must exceed.

  Returns:
    N tuples of the chosen label names, in `labels` order (possibly empty).
  """
  probabilities = np.asarray(probabilities, dtype=np.float64)
  if probabilities.ndim != 2 or probabilities.shape[1] != len(labels):
    raise BlueBertError(
        f"probabilities of shape {probabilities.shape} do not fit "
        f"{len(labels)} labels: expected [N, {len(labels)}]")
  chosen = probabilities > threshold  # bool [N, C]
  return [tuple(name for name, on in zip(labels, row) if on) for row in chosen]
