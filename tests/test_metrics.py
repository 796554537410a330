"""Tests of bluebert_mtl.metrics: hand-worked cases and independent references.

Expected numbers are worked out by hand in the comments, or come from
formulas that share no code with the module: scipy.stats, sklearn's
precision_recall_fscore_support with an explicit positive-label list, and a
conlleval counting loop written below from the CoNLL-2000 rules.
"""

import json
import math
import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as sk_metrics

from bluebert_mtl import metrics
from bluebert_mtl.errors import BlueBertError

MEDNLI_LABELS = ["contradiction", "entailment", "neutral"]
DDI_LABELS = ["DDI-advise", "DDI-effect", "DDI-int", "DDI-mechanism",
              "DDI-false"]


def _is_plain_json(result):
  """True when the result prints as strict JSON (no numpy types, no NaN)."""
  return json.loads(json.dumps(result, allow_nan=False)) == result


# --- pearson -----------------------------------------------------------------


def test_pearson_hand_worked():
  # gold deviations -1, 0, 1; pred mean 7/3, deviations -4/3, -1/3, 5/3:
  # r = 3 / sqrt(2 * 14/3). Both rise together, so Spearman's rho is 1.
  result = metrics.pearson([1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
  assert result["metric"] == "pearson"
  assert result["value"] == pytest.approx(3 / math.sqrt(28 / 3), abs=1e-15)
  assert result["spearman"] == pytest.approx(1.0)
  assert result["n"] == 3
  assert _is_plain_json(result)


def test_spearman_gives_ties_average_ranks():
  # Ranks: gold 1, 2.5, 2.5, 4; pred 1, 3, 2, 4. Deviations -1.5, 0, 0, 1.5
  # and -1.5, .5, -.5, 1.5: rho = 4.5 / sqrt(4.5 * 5) = sqrt(0.9).
  result = metrics.pearson([1, 2, 2, 3], [1, 3, 2, 4])
  assert result["spearman"] == pytest.approx(math.sqrt(0.9), abs=1e-15)


def test_pearson_perfect_and_reversed():
  assert metrics.pearson([0, 1, 5], [2, 4, 12])["value"] == pytest.approx(1.0)
  assert metrics.pearson([0, 1, 5], [3, 2, -2])["value"] == pytest.approx(-1.0)


def test_pearson_matches_scipy():
  rng = np.random.default_rng(0)
  gold = rng.uniform(0, 5, size=50)
  pred = gold + rng.normal(0, 1, size=50)
  pred[:5] = pred[5]  # ties for the rank correlation
  result = metrics.pearson(gold, pred)
  assert result["value"] == pytest.approx(stats.pearsonr(gold, pred)[0],
                                          abs=1e-12)
  assert result["spearman"] == pytest.approx(stats.spearmanr(gold, pred)[0],
                                             abs=1e-12)


def test_pearson_constant_predictions_give_nan_without_warning():
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    result = metrics.pearson([1.0, 2.0, 3.0], [2.5, 2.5, 2.5])
    single = metrics.pearson([4.0], [3.0])
  assert math.isnan(result["value"]) and math.isnan(result["spearman"])
  assert math.isnan(single["value"])
  assert "NaN" in json.dumps(result)


@pytest.mark.parametrize("gold, pred", [
    ([1.0, 2.0], [1.0]),
    ([], []),
    ([1.0, 2.0], [1.0, float("nan")]),
])
def test_pearson_rejects_bad_input(gold, pred):
  with pytest.raises(BlueBertError):
    metrics.pearson(gold, pred)


# --- micro F1 over all classes (MedNLI) --------------------------------------


def test_micro_f1_all_classes_is_accuracy():
  gold = ["contradiction", "entailment", "neutral", "neutral", "entailment"]
  pred = ["contradiction", "neutral", "neutral", "entailment", "entailment"]
  # 3 of 5 right; each wrong row is one FP and one FN: tp 3, fp 2, fn 2.
  result = metrics.micro_f1_all_classes(gold, pred, MEDNLI_LABELS)
  assert result["metric"] == "micro_f1_all_classes"
  assert result["value"] == pytest.approx(0.6)
  assert result["accuracy"] == pytest.approx(0.6)
  assert (result["tp"], result["fp"], result["fn"]) == (3, 2, 2)
  assert result["per_class"]["neutral"] == {
      "precision": 0.5, "recall": 0.5, "f1": 0.5, "tp": 1, "fp": 1, "fn": 1,
      "support": 2}
  assert result["n"] == 5
  assert _is_plain_json(result)


def test_micro_f1_all_classes_matches_sklearn():
  rng = np.random.default_rng(1)
  gold = rng.choice(MEDNLI_LABELS, size=40)
  pred = rng.choice(MEDNLI_LABELS, size=40)
  result = metrics.micro_f1_all_classes(gold, pred, MEDNLI_LABELS)
  p, r, f, _ = sk_metrics.precision_recall_fscore_support(
      gold, pred, labels=MEDNLI_LABELS, average="micro")
  assert (result["precision"], result["recall"]) == pytest.approx((p, r))
  assert result["value"] == pytest.approx(f)
  assert result["accuracy"] == pytest.approx(
      sk_metrics.accuracy_score(gold, pred))


def test_micro_f1_all_classes_rejects_unknown_label():
  with pytest.raises(BlueBertError, match="maybe"):
    metrics.micro_f1_all_classes(["neutral"], ["maybe"], MEDNLI_LABELS)


# --- micro F1 excluding the negative class (ChemProt, i2b2, DDI micro) -------


def test_micro_f1_excluding_counts_each_kind_of_error():
  gold = ["CPR:3", "CPR:3", "CPR:4", "false", "false", "CPR:4", "CPR:5",
          "false"]
  pred = ["CPR:3", "CPR:4", "false", "CPR:9", "false", "CPR:4", "CPR:5",
          "CPR:3"]
  # row 0 TP CPR:3; row 1 positive confusion: FN CPR:3 + FP CPR:4; row 2
  # positive -> false: FN CPR:4; row 3 false -> positive: FP CPR:9; row 4
  # counts nowhere; rows 5, 6 TP; row 7 FP CPR:3.
  # tp 3, fp 3, fn 2: P = .5, R = .6, F = 2 * .3 / 1.1 = 6/11.
  result = metrics.micro_f1_excluding(gold, pred, "false")
  assert result["metric"] == "micro_f1_excluding"
  assert (result["tp"], result["fp"], result["fn"]) == (3, 3, 2)
  assert result["precision"] == pytest.approx(0.5)
  assert result["recall"] == pytest.approx(0.6)
  assert result["value"] == pytest.approx(6 / 11)
  assert list(result["per_class"]) == ["CPR:3", "CPR:4", "CPR:5", "CPR:9"]
  assert result["per_class"]["CPR:3"]["support"] == 2
  assert result["per_class"]["CPR:9"] == {
      "precision": 0.0, "recall": 0.0, "f1": 0.0, "tp": 0, "fp": 1, "fn": 0,
      "support": 0}
  assert result["negative_label"] == "false"
  assert _is_plain_json(result)


def test_micro_f1_excluding_edge_cases_give_zero():
  # No positive prediction: P undefined -> 0.
  none_predicted = metrics.micro_f1_excluding(
      ["i2b2:TrIP", "false"], ["false", "false"], "false")
  assert (none_predicted["precision"], none_predicted["recall"],
          none_predicted["value"]) == (0.0, 0.0, 0.0)
  assert none_predicted["fn"] == 1
  # All-negative gold: R undefined -> 0.
  no_gold = metrics.micro_f1_excluding(
      ["DDI-false", "DDI-false"], ["DDI-int", "DDI-false"], "DDI-false")
  assert (no_gold["precision"], no_gold["recall"], no_gold["value"]) == (
      0.0, 0.0, 0.0)
  assert no_gold["fp"] == 1
  # Nothing positive anywhere.
  assert metrics.micro_f1_excluding(["false"], ["false"], "false")["value"] == 0


def test_micro_f1_excluding_perfect():
  labels = ["CPR:3", "false", "CPR:9", "CPR:3"]
  assert metrics.micro_f1_excluding(labels, labels, "false")["value"] == 1.0


def test_micro_f1_excluding_matches_sklearn():
  rng = np.random.default_rng(2)
  labels = ["CPR:3", "CPR:4", "CPR:5", "CPR:6", "CPR:9", "false"]
  gold = rng.choice(labels, size=200, p=[.1, .1, .05, .05, .1, .6])
  pred = rng.choice(labels, size=200, p=[.1, .1, .05, .05, .1, .6])
  result = metrics.micro_f1_excluding(gold, pred, "false")
  p, r, f, _ = sk_metrics.precision_recall_fscore_support(
      gold, pred, labels=labels[:-1], average="micro", zero_division=0)
  assert (result["precision"], result["recall"], result["value"]) == (
      pytest.approx((p, r, f)))


@pytest.mark.parametrize("gold, pred", [(["false"], []), ([], [])])
def test_micro_f1_excluding_rejects_bad_input(gold, pred):
  with pytest.raises(BlueBertError):
    metrics.micro_f1_excluding(gold, pred, "false")


# --- macro F1 excluding the negative class (DDI) -----------------------------


def test_macro_f1_excluding_hand_worked():
  gold = ["DDI-advise", "DDI-advise", "DDI-effect", "DDI-mechanism",
          "DDI-false", "DDI-false"]
  pred = ["DDI-advise", "DDI-effect", "DDI-effect", "DDI-false",
          "DDI-mechanism", "DDI-false"]
  # advise    tp 1 fp 0 fn 1: P 1,  R .5, F 2/3
  # effect    tp 1 fp 1 fn 0: P .5, R 1,  F 2/3
  # int       never seen:     P 0,  R 0,  F 0 (still averaged in)
  # mechanism tp 0 fp 1 fn 1: P 0,  R 0,  F 0
  # macro F = (2/3 + 2/3) / 4 = 1/3; macro P = macro R = 1.5 / 4.
  # micro: tp 2, fp 2, fn 2 -> .5.
  result = metrics.macro_f1_excluding(gold, pred, "DDI-false", DDI_LABELS)
  assert result["metric"] == "macro_f1_excluding"
  assert result["value"] == pytest.approx(1 / 3)
  assert result["precision"] == pytest.approx(0.375)
  assert result["recall"] == pytest.approx(0.375)
  assert list(result["per_class"]) == DDI_LABELS[:4]
  assert result["per_class"]["DDI-int"]["f1"] == 0.0
  assert result["micro"]["f1"] == pytest.approx(0.5)
  assert (result["micro"]["tp"], result["micro"]["fp"],
          result["micro"]["fn"]) == (2, 2, 2)
  assert _is_plain_json(result)


def test_macro_f1_excluding_matches_sklearn():
  rng = np.random.default_rng(3)
  gold = rng.choice(DDI_LABELS, size=300, p=[.05, .1, .02, .08, .75])
  pred = rng.choice(DDI_LABELS, size=300, p=[.05, .1, .02, .08, .75])
  result = metrics.macro_f1_excluding(gold, pred, "DDI-false", DDI_LABELS)
  for average, scores in (("macro", result), ("micro", result["micro"])):
    p, r, f, _ = sk_metrics.precision_recall_fscore_support(
        gold, pred, labels=DDI_LABELS[:4], average=average, zero_division=0)
    assert (scores["precision"], scores["recall"], scores["f1"]) == (
        pytest.approx((p, r, f)))
  micro_alone = metrics.micro_f1_excluding(gold, pred, "DDI-false")
  assert micro_alone["value"] == result["micro"]["f1"]


def test_macro_f1_excluding_rejects_labels_outside_the_list():
  with pytest.raises(BlueBertError, match="DDI-other"):
    metrics.macro_f1_excluding(["DDI-int"], ["DDI-other"], "DDI-false",
                               DDI_LABELS)
  with pytest.raises(BlueBertError, match="negative"):
    metrics.macro_f1_excluding(["DDI-int"], ["DDI-int"], "false", DDI_LABELS)


# --- conlleval chunk F1 (NER) ------------------------------------------------


def _conlleval_counts(gold_sentences, pred_sentences):
  """(correct, gold, predicted) chunk counts by conlleval's own counting loop.

  Written from the CoNLL-2000 rules for O / B / I tags: a chunk starts at B,
  at I after O, or at a type change; it ends before B or O after B / I, or at
  a type change. Chunks are counted when they start; a chunk is correct when
  gold and prediction start together with one type and end together. A
  sentence boundary reads as an O.
  """
  def split(tag):
    prefix, _, chunk_type = tag.partition("-")
    return prefix, chunk_type

  def ends(last, current):
    (prev, prev_type), (tag, chunk_type) = last, current
    return ((prev in ("B", "I") and tag in ("B", "O"))
            or (prev != "O" and prev_type != chunk_type))

  def starts(last, current):
    (prev, prev_type), (tag, chunk_type) = last, current
    return (tag == "B" or (prev == "O" and tag == "I")
            or (tag != "O" and prev_type != chunk_type))

  correct = found_gold = found_pred = 0
  in_correct = False
  last_gold = last_pred = ("O", "")
  for gold_tags, pred_tags in zip(gold_sentences, pred_sentences):
    for gold_tag, pred_tag in zip(list(gold_tags) + ["O"],
                                  list(pred_tags) + ["O"]):
      gold, pred = split(gold_tag), split(pred_tag)
      gold_ends, pred_ends = ends(last_gold, gold), ends(last_pred, pred)
      if in_correct:
        if gold_ends and pred_ends and last_gold[1] == last_pred[1]:
          correct += 1
          in_correct = False
        elif gold_ends != pred_ends or gold[1] != pred[1]:
          in_correct = False
      gold_starts = starts(last_gold, gold)
      pred_starts = starts(last_pred, pred)
      if gold_starts and pred_starts and gold[1] == pred[1]:
        in_correct = True
      found_gold += gold_starts
      found_pred += pred_starts
      last_gold, last_pred = gold, pred
  return correct, found_gold, found_pred


def _chunk_counts(result):
  return (result["correct_chunks"], result["gold_chunks"],
          result["pred_chunks"])


def test_conlleval_typed_tags():
  gold = [["B-Chemical", "I-Chemical", "O", "B-Chemical"]]
  pred = [["B-Chemical", "I-Chemical", "O", "O"]]
  # Chunks: gold (0-1), (3); pred (0-1). P = 1, R = 1/2, F = 2/3.
  result = metrics.conlleval_chunk_f1(gold, pred)
  assert result["metric"] == "conlleval_chunk_f1"
  assert _chunk_counts(result) == (1, 2, 1)
  assert (result["precision"], result["recall"]) == (1.0, 0.5)
  assert result["value"] == pytest.approx(2 / 3)
  assert list(result["per_type"]) == ["Chemical"]
  assert (result["sentences"], result["words"]) == (1, 4)
  assert _is_plain_json(result)


def test_conlleval_untyped_tags_need_the_exact_span():
  gold = [["B", "I", "O", "B", "O"]]
  pred = [["B", "I", "O", "B", "I"]]
  # Second chunk: gold (3), pred (3-4): wrong. 1 correct of 2 and 2.
  result = metrics.conlleval_chunk_f1(gold, pred)
  assert _chunk_counts(result) == (1, 2, 2)
  assert result["value"] == pytest.approx(0.5)
  assert list(result["per_type"]) == ["_"]


def test_conlleval_discontiguous_mention_is_two_chunks():
  # CLEFE "left atrium is moderately dilated": I after O opens a new chunk.
  gold = [["B", "I", "O", "O", "I"]]
  pred = [["B", "I", "O", "O", "O"]]
  assert _chunk_counts(metrics.conlleval_chunk_f1(gold, pred)) == (1, 2, 1)
  assert _chunk_counts(metrics.conlleval_chunk_f1(gold, gold)) == (2, 2, 2)


def test_conlleval_chunk_may_start_with_i():
  # I-I and B-I cover the same words with the same type: a correct chunk.
  result = metrics.conlleval_chunk_f1([["I", "I", "O"]], [["B", "I", "O"]])
  assert _chunk_counts(result) == (1, 1, 1)
  assert result["value"] == 1.0


def test_conlleval_type_change_and_b_after_b_split_chunks():
  # Gold: Chemical (0), Disease (1); pred: Chemical (0-1). None correct.
  result = metrics.conlleval_chunk_f1(
      [["B-Chemical", "I-Disease", "O"]], [["B-Chemical", "I-Chemical", "O"]])
  assert _chunk_counts(result) == (0, 2, 1)
  assert result["per_type"]["Disease"]["fn"] == 1
  # B B is two chunks; B I one.
  assert _chunk_counts(metrics.conlleval_chunk_f1([["B", "B"]],
                                                  [["B", "I"]])) == (0, 2, 1)


def test_conlleval_sentence_boundary_ends_chunks():
  # The I opening sentence 2 is a new chunk, not a continuation.
  gold = [["O", "B"], ["I", "O"]]
  assert _chunk_counts(metrics.conlleval_chunk_f1(
      gold, [["O", "B"], ["B", "O"]])) == (2, 2, 2)


def test_conlleval_without_chunks_gives_zero():
  none_predicted = metrics.conlleval_chunk_f1([["B", "O"]], [["O", "O"]])
  assert (none_predicted["precision"], none_predicted["value"]) == (0.0, 0.0)
  nothing = metrics.conlleval_chunk_f1([["O"], []], [["O"], []])
  assert _chunk_counts(nothing) == (0, 0, 0) and nothing["value"] == 0.0


def test_conlleval_matches_conlleval_counting_loop():
  rng = np.random.default_rng(4)
  tags = ["O", "O", "O", "B", "I", "B-A", "I-A", "B-C", "I-C"]
  lengths = rng.integers(0, 12, size=300)
  gold = [list(rng.choice(tags, size=n)) for n in lengths]
  pred = [[t if rng.random() < .7 else rng.choice(tags) for t in s]
          for s in gold]
  result = metrics.conlleval_chunk_f1(gold, pred)
  correct, found_gold, found_pred = _conlleval_counts(gold, pred)
  assert _chunk_counts(result) == (correct, found_gold, found_pred)
  assert result["value"] == pytest.approx(
      2 * correct / (found_gold + found_pred))


@pytest.mark.parametrize("gold, pred", [
    ([["B", "X"]], [["B", "O"]]),           # MT's sub-token label
    ([["B", "O"]], [["SEP", "O"]]),         # seqeval would read S(ingle)-EP
    ([["B-_", "O"]], [["B", "O"]]),         # type seqeval keeps for untyped
    ([["B", "O"]], [["B"]]),                # sentence lengths differ
    ([["B"]], []),                          # sentence counts differ
])
def test_conlleval_rejects_bad_input(gold, pred):
  with pytest.raises(BlueBertError):
    metrics.conlleval_chunk_f1(gold, pred)


# --- HoC ---------------------------------------------------------------------


def _hoc_reference(gold_docs, pred_docs):
  """eval_hoc.py's F from multi-hot document rows, by sklearn per document."""
  names = sorted(set().union(*gold_docs, *pred_docs))
  precisions, recalls = [], []
  for gold, pred in zip(gold_docs, pred_docs):
    gold_row = [name in gold for name in names]
    pred_row = [name in pred for name in names]
    p, r, _, _ = sk_metrics.precision_recall_fscore_support(
        gold_row, pred_row, average="binary", zero_division=0)
    precisions.append(p)
    recalls.append(r)
  p, r = np.mean(precisions), np.mean(recalls)
  return p, r, 2 * p * r / (p + r)


def test_hoc_document_f1_hand_worked():
  row_ids = ["1_s0", "1_s1", "2_s0", "3_s0", "3_s1"]
  gold = [("A",), ("B",), ("C",), ("A",), ()]
  pred = [("A",), (), (), ("A", "B"), ("C",)]
  # doc 1: G {A, B}, P {A}:    P 1,   R 1/2
  # doc 2: G {C},    P {}:     P 0,   R 0
  # doc 3: G {A},    P {A,B,C}: P 1/3, R 1
  # mean P 4/9, mean R 1/2: F = 2 * (4/9) * (1/2) / (17/18) = 8/17, not the
  # mean of per-document F1s (2/3 + 0 + 1/2) / 3 = 7/18.
  result = metrics.hoc_document_f1(row_ids, gold, pred)
  assert result["metric"] == "hoc_document_f1"
  assert result["precision"] == pytest.approx(4 / 9)
  assert result["recall"] == pytest.approx(1 / 2)
  assert result["value"] == pytest.approx(8 / 17)
  assert (result["documents"], result["rows"]) == (3, 5)
  assert _is_plain_json(result)


def test_hoc_document_f1_matches_per_document_sklearn():
  rng = np.random.default_rng(5)
  names = [f"{i}_1" for i in range(10)]
  row_ids = [f"{doc}_s{k}" for doc in range(40) for k in range(3)]
  gold = [tuple(rng.choice(names, size=rng.integers(1, 3), replace=False))
          for _ in row_ids]
  pred = [tuple(rng.choice(names, size=rng.integers(0, 3), replace=False))
          for _ in row_ids]
  result = metrics.hoc_document_f1(row_ids, gold, pred)
  gold_docs = [set().union(*gold[i:i + 3]) for i in range(0, 120, 3)]
  pred_docs = [set().union(*pred[i:i + 3]) for i in range(0, 120, 3)]
  assert (result["precision"], result["recall"], result["value"]) == (
      pytest.approx(_hoc_reference(gold_docs, pred_docs)))


def test_hoc_document_keys():
  assert metrics.hoc_document_key("11872299_s0") == "11872299"
  assert metrics.hoc_document_key("11872299") == "11872299"
  # Document ids are accepted as row ids: rows 10 and 10 are one document.
  result = metrics.hoc_document_f1(["10", "10", "11"],
                                   [("A",), ("B",), ("A",)],
                                   [("A", "B"), (), ()])
  assert result["documents"] == 2
  assert result["precision"] == pytest.approx(0.5)  # (1 + 0) / 2


def test_hoc_document_f1_perfect_and_empty_predictions():
  row_ids = ["1_s0", "1_s1", "2_s0"]
  gold = [("A",), (), ("B", "C")]
  assert metrics.hoc_document_f1(row_ids, gold, gold)["value"] == 1.0
  nothing = metrics.hoc_document_f1(row_ids, gold, [(), (), ()])
  assert (nothing["precision"], nothing["recall"], nothing["value"]) == (
      0.0, 0.0, 0.0)


@pytest.mark.parametrize("row_ids, gold, pred, message", [
    (["1_s0", "2_s0"], [("A",), ()], [("A",), ()], "document 2"),
    (["1_s0"], ["A"], [("A",)], "string"),
    (["1_s0"], [("A",)], [], "label sets"),
    (["1_s0", "1_s1"], [("A",)], [("A",)], "row ids"),
])
def test_hoc_document_f1_rejects_bad_input(row_ids, gold, pred, message):
  with pytest.raises(BlueBertError, match=message):
    metrics.hoc_document_f1(row_ids, gold, pred)


def test_hoc_decision_thresholds_strictly_above():
  probabilities = np.array([[0.9, 0.5, 0.2],
                            [0.1, 0.51, 0.7],
                            [0.0, 0.0, 0.0]])
  assert metrics.hoc_decision(probabilities, ["a", "b", "c"]) == [
      ("a",), ("b", "c"), ()]
  assert metrics.hoc_decision(probabilities, ["a", "b", "c"],
                              threshold=0.8) == [("a",), (), ()]
  with pytest.raises(BlueBertError, match="expected"):
    metrics.hoc_decision(probabilities, ["a", "b"])
