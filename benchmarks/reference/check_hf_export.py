"""The `transformers` side of benchmarks/check_hf_export.py (reference venv).

Loads each exported task folder with `AutoModelForSequenceClassification` /
`AutoModelForTokenClassification` (as its config.json says) and
`AutoTokenizer`, and compares, on the ids our pipeline made:
  * the logits with ours (max |difference| over real positions),
  * the labels: argmax (classification, tagging at real positions),
    logit > 0 (multi-label); none for regression,
  * the HF tokenizer's ids of the same texts with ours (rows equal).
Then the round trip: MiniLM's `BertModel` and the folder our encoder wrote
after loading it must hold identical tensors. Last, it saves MiniLM's state
dict with `torch.save` in the zip and the legacy format for our reader.
Prints one JSON line.
"""

import argparse
import json
import os

import numpy as np
import torch
import transformers


def _hf_ids(tokenizer, texts, tagging, max_length):
  if tagging:
    return tokenizer(texts, is_split_into_words=True, truncation=True,
                     max_length=max_length)["input_ids"]
  pairs = [tuple(t) if len(t) > 1 else t[0] for t in texts]
  if isinstance(pairs[0], tuple):
    return tokenizer([a for a, _ in pairs], [b for _, b in pairs],
                     truncation=True, max_length=max_length)["input_ids"]
  return tokenizer(pairs, truncation=True, max_length=max_length)["input_ids"]


def check_task(folder, inputs_dir, name):
  with open(os.path.join(folder, "config.json")) as f:
    config = json.load(f)
  tagging = config["architectures"] == ["BertForTokenClassification"]
  auto = (transformers.AutoModelForTokenClassification if tagging else
          transformers.AutoModelForSequenceClassification)
  model = auto.from_pretrained(folder).eval()
  data = np.load(os.path.join(inputs_dir, f"{name}.npz"))
  with torch.no_grad():
    logits = model(input_ids=torch.from_numpy(data["ids"]).long(),
                   attention_mask=torch.from_numpy(data["mask"]).long(),
                   token_type_ids=torch.from_numpy(data["types"]).long()
                   ).logits.numpy()
  ours = data["logits"]
  real = data["mask"].astype(bool) if tagging else slice(None)
  report = {"architecture": config["architectures"][0],
            "problem_type": config.get("problem_type"),
            "rows": int(len(ours)),
            "max_abs_logit_diff": float(
                np.abs(logits[real] - ours[real]).max())}
  problem = config.get("problem_type")
  if problem == "multi_label_classification":
    report["labels_differ"] = int(((logits > 0) != (ours > 0)).any(-1).sum())
  elif problem != "regression":
    report["labels_differ"] = int(
        (logits.argmax(-1) != ours.argmax(-1))[real].sum())
  tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
  with open(os.path.join(inputs_dir, f"{name}.json")) as f:
    texts = json.load(f)
  hf_ids = _hf_ids(tokenizer, texts, tagging, tokenizer.model_max_length)
  our_ids = [row[m.astype(bool)].tolist()
             for row, m in zip(data["ids"], data["mask"])]
  report["tokenizer_rows_equal"] = sum(a == b for a, b in zip(hf_ids, our_ids))
  return report


def check_round_trip(minilm_dir, round_trip_dir):
  original = transformers.BertModel.from_pretrained(minilm_dir).state_dict()
  back = transformers.BertModel.from_pretrained(round_trip_dir).state_dict()
  differing = [k for k in original if k not in back or
               not torch.equal(original[k], back[k])]
  return {"tensors": len(original), "identical": not differing,
          "differing": differing}


def save_torch_files(minilm_dir, torch_dir):
  state = transformers.BertModel.from_pretrained(minilm_dir).state_dict()
  for form, zipped in (("zip", True), ("legacy", False)):
    os.makedirs(os.path.join(torch_dir, form), exist_ok=True)
    torch.save(state, os.path.join(torch_dir, form, "pytorch_model.bin"),
               _use_new_zipfile_serialization=zipped)


def main():
  parser = argparse.ArgumentParser()
  for name in ("hf_dir", "inputs_dir", "tasks", "minilm_dir",
               "round_trip_dir", "torch_dir"):
    parser.add_argument(f"--{name}", required=True)
  args = parser.parse_args()
  torch.set_num_threads(2)
  report = {"torch": torch.__version__,
            "transformers": transformers.__version__,
            "tasks": {name: check_task(os.path.join(args.hf_dir, name),
                                       args.inputs_dir, name)
                      for name in args.tasks.split(",")},
            "round_trip": check_round_trip(args.minilm_dir,
                                           args.round_trip_dir)}
  save_torch_files(args.minilm_dir, args.torch_dir)
  print(json.dumps(report))


if __name__ == "__main__":
  main()
