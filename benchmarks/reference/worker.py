"""The reference's worker process: JSON-line requests on stdin, replies on stdout.

Started by `benchmarks/common.py` (`ReferenceWorker`) with the reference venv's
Python; it never imports TensorFlow or bluebert_mtl. Requests ({"op": ...}):

  versions                     -> torch / transformers versions, threads
  train_setup  model_dir, tasks, batches (.npz of common.save_batches),
               learning_rate, warmup_steps, total_steps, weight_decay,
               clip_norm, optional heads (.npz: "<task>/kernel" [H, C],
               "<task>/bias") and dropout (false: off)
                               -> {"steps": number of batches}
  train        start, end      -> {"seconds": [per step], "losses": [...]}
                                  (steps start..end-1 of the batches)
  serve_setup  model_dir, head (.npz with kernel, bias), labels, vocab_file,
               tokenizer ("python" or "rust", `make_tokenizer`),
               max_seq_length  -> {}  (one classifier per tokenizer)
  serve        tokenizer, texts, batch_size -> {"seconds": [per call]}
  predict      tokenizer, texts -> {"labels": [...], "probabilities": [...]}
  matmul       m, k, n, seconds -> {"flops_per_second": float32 torch.matmul
                                  [m, k] x [k, n], repeated for `seconds`}
  quit

A step's time runs from the numpy batch to the loss as a Python float, the
conversion to tensors included (what a DataLoader would hand over).
"""

import json
import os
import sys
import time
import traceback

import numpy as np
import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_mt  # pylint: disable=g-import-not-at-top,wrong-import-position


def load_batches(path: str):
  """(task names, numpy batch dicts) of an .npz of `common.save_batches`."""
  data = np.load(path)
  tasks = [str(t) for t in data["tasks"]]
  batches = [{} for _ in tasks]
  for key in data.files:
    if key != "tasks":
      index, name = key.split("/", 1)
      batches[int(index)][name] = data[key]
  return tasks, batches


def make_tokenizer(kind: str, vocab_file: str):
  """A transformers BERT tokenizer of vocab_file, lower-casing.

  transformers 5 renamed them: `BertTokenizer` is now the Rust (tokenizers
  library) one, and takes the vocab as `vocab=` (a `vocab_file=` argument is
  silently ignored, leaving an empty vocab); the pure-Python one of
  transformers 4 is `BertTokenizerLegacy(vocab_file=...)`.

  Args:
    kind: "python" or "rust".
    vocab_file: path of vocab.txt.
  """
  if kind == "python":
    return transformers.BertTokenizerLegacy(vocab_file=vocab_file,
                                            do_lower_case=True)
  if kind == "rust":
    return transformers.BertTokenizer(vocab=vocab_file, do_lower_case=True)
  raise ValueError(f"unknown tokenizer {kind!r}")


def set_heads(model, weights):
  """Copies "<task>/kernel" [H, C] and "<task>/bias" [C] into the heads."""
  with torch.no_grad():
    for name, head in model.heads.items():
      head.linear.weight.copy_(torch.from_numpy(weights[f"{name}/kernel"]).T)
      head.linear.bias.copy_(torch.from_numpy(weights[f"{name}/bias"]))


class Worker:
  """Holds the reference's state between requests."""

  def __init__(self):
    threads = os.environ.get("REFERENCE_THREADS")
    if threads:
      torch.set_num_threads(int(threads))
    self.trainer = None
    self.tasks, self.batches = [], []
    self.classifiers = {}

  def versions(self):
    return {"torch": torch.__version__,
            "transformers": transformers.__version__,
            "torch threads": torch.get_num_threads(),
            "interop threads": torch.get_num_interop_threads()}

  def train_setup(self, model_dir, tasks, batches, learning_rate,
                  warmup_steps, total_steps, weight_decay, clip_norm,
                  heads=None, dropout=True):
    torch.manual_seed(0)
    model = torch_mt.MultiTaskBert(model_dir, tasks)
    if heads:
      set_heads(model, np.load(heads))
    self.trainer = torch_mt.Trainer(model, learning_rate, warmup_steps,
                                    total_steps, weight_decay, clip_norm)
    if not dropout:
      model.eval()  # dropout off; BertModel has no other train-only layer
    self.tasks, self.batches = load_batches(batches)
    return {"steps": len(self.tasks),
            "attention": model.bert.config._attn_implementation}  # pylint: disable=protected-access

  def train(self, start, end):
    seconds, losses = [], []
    for i in range(start, end):
      t0 = time.perf_counter()
      batch = {k: torch.from_numpy(v) for k, v in self.batches[i].items()}
      losses.append(self.trainer.step(self.tasks[i], batch))
      seconds.append(time.perf_counter() - t0)
    return {"seconds": seconds, "losses": losses}

  def serve_setup(self, model_dir, head, labels, vocab_file, tokenizer,
                  max_seq_length):
    weights = np.load(head)
    self.classifiers[tokenizer] = torch_mt.TextClassifier(
        model_dir, weights["kernel"], weights["bias"], labels,
        make_tokenizer(tokenizer, vocab_file), max_seq_length)
    return {}

  def serve(self, tokenizer, texts, batch_size):
    classifier = self.classifiers[tokenizer]
    seconds = []
    for i in range(0, len(texts), batch_size):
      t0 = time.perf_counter()
      classifier(texts[i:i + batch_size])
      seconds.append(time.perf_counter() - t0)
    return {"seconds": seconds}

  def predict(self, tokenizer, texts):
    labels, probabilities = self.classifiers[tokenizer](texts)
    return {"labels": labels, "probabilities": probabilities.tolist()}


  def matmul(self, m, k, n, seconds):
    a, b = torch.randn(m, k), torch.randn(k, n)
    torch.matmul(a, b)
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
      torch.matmul(a, b)
      reps += 1
    return {"flops_per_second":
            2.0 * m * k * n * reps / (time.perf_counter() - start)}


def main():
  worker = Worker()
  for line in sys.stdin:
    request = json.loads(line)
    op = request.pop("op")
    if op == "quit":
      print(json.dumps({}), flush=True)
      return
    try:
      reply = getattr(worker, op)(**request)
    except Exception as e:  # pylint: disable=broad-except
      traceback.print_exc()
      reply = {"error": f"{op}: {type(e).__name__}: {e}"}
    print(json.dumps(reply), flush=True)


if __name__ == "__main__":
  main()
