"""Serving: the exported raw-text SavedModel vs the PyTorch reference, eager.

  .venv/bin/python -m benchmarks.bench_serving [--texts=200] [--rounds=3]

Ours: a run folder holding the MiniLM encoder (build/minilm_tf1) and a
chemprot head is exported by `export.export_run` (what export_savedmodel.py
does), and EXPORT/chemprot/1 is loaded back with `tf.saved_model.load`; its
`serving_default` signature takes raw text and returns the label and the
probabilities, with the tokenizer in the graph. Two exports of the same
weights: as export_savedmodel.py writes them (the last block at [CLS]
alone, all a sentence head reads) and with the full last block
(`cls_only_last_layer=False`), to show what the saving is worth.

The reference (benchmarks/reference/torch_mt.py `TextClassifier`): the Hugging
Face BertModel with the same MiniLM weights and the same head weights, in
eval mode under torch.inference_mode, tokenizing with transformers' own
tokenizers built from the same vocab.txt (lower-casing), one reference row
each: `BertTokenizerLegacy` (pure Python; transformers 4's `BertTokenizer`)
and `BertTokenizer` (transformers 5: the Rust tokenizers library, formerly
`BertTokenizerFast`).

Texts: chemprot test sentences of the public BLUE data. Latency: one text a
call, `--texts` calls; throughput: `--batch_size` texts a call over
`--batch_texts` texts. Every side runs each measurement once per round,
alternating, over `--rounds` rounds; p50/p95 are over all calls of all
rounds, throughput over the median round. The two sides' probabilities are
compared on the first batch.
"""

import contextlib
import os
import tempfile

from absl import app
from absl import flags

from benchmarks import common
from benchmarks import inputs
import numpy as np
import tensorflow as tf

from bluebert_mtl.model import checkpoints
from bluebert_mtl.serve import export
from bluebert_mtl.model import multitask_model
from bluebert_mtl.data import readers
from bluebert_mtl.runs import run_dir
from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl.config import TrainConfig

FLAGS = flags.FLAGS
flags.DEFINE_integer("texts", 200, "One-text calls per side and round.")
flags.DEFINE_integer("batch_size", 32, "Texts per call for throughput.")
flags.DEFINE_integer("batch_texts", 640, "Texts per side and round for "
                     "throughput.")
flags.DEFINE_integer("rounds", 3, "Rounds (alternating sides).")
flags.DEFINE_integer("max_seq_length", 128, "Truncation length.")
# --smoke: a few chemprot sentences of data/sample/, one round.
SMOKE = {"texts": 4, "batch_size": 4, "batch_texts": 8, "rounds": 1,
         "max_seq_length": 32}

TASK = tasks_lib.get_task("chemprot")
TOKENIZERS = {"python": "BertTokenizerLegacy", "rust": "BertTokenizer"}


def write_run(data: inputs.Inputs, folder: str):
  """A run folder with the encoder of `data` and a fresh chemprot head;
  returns the head's (kernel [H, C], bias [C])."""
  files = data.bert_files()
  config = TrainConfig(tasks=(TASK.name,), data_dir=data.data_dir,
                       output_dir=folder,
                       max_seq_length=FLAGS.max_seq_length)
  run_dir.write_run_files(folder, config, files.config_file, files.vocab_file,
                          [TASK], files.checkpoint)
  _, encoder = checkpoints.load_bert_encoder(files)
  model = multitask_model.build_multitask_model(encoder, [TASK])
  multitask_model.model_checkpoint(model).write(run_dir.final_weights(folder))
  head = model.get_layer(TASK.name).dense
  return head.kernel.numpy(), head.bias.numpy()


def chemprot_texts(data: inputs.Inputs, count: int):
  path = readers.find_split_file(os.path.join(data.data_dir, TASK.name),
                                 "test")
  texts = list(dict.fromkeys(ex.text_a for ex in TASK.read(path)))
  return (texts * (count // len(texts) + 1))[:count]


def our_calls(serve, texts, batch_size):
  """Seconds of each call of the SavedModel signature on the texts."""
  seconds = []
  for i in range(0, len(texts), batch_size):
    batch = tf.constant(texts[i:i + batch_size])
    seconds.append(common.timed(lambda b=batch: serve(text=b)["label"].numpy()))
  return seconds


def export_ours(data: inputs.Inputs, work: str):
  """Exports a run of the encoder of `data` in both last-block modes;
  ({side: its serving_default signature}, the head's .npz for the
  reference)."""
  kernel, bias = write_run(data, os.path.join(work, "run"))
  serves = {}
  for side, cls_only in (("ours", True), ("ours_full", False)):
    export.export_run(os.path.join(work, "run"), os.path.join(work, side),
                      [TASK.name], cls_only_last_layer=cls_only)
    serves[side] = tf.saved_model.load(
        os.path.join(work, side, TASK.name, "1")).signatures[
            "serving_default"]
  head_file = os.path.join(work, "head.npz")
  np.savez(head_file, kernel=kernel, bias=bias)
  return serves, head_file


def compare_modes(serves, texts):
  """Prints how far the two last-block modes' probabilities are apart."""
  probabilities = [serves[side](text=tf.constant(texts))["probabilities"]
                   for side in ("ours", "ours_full")]
  diff = np.abs(probabilities[0].numpy() - probabilities[1].numpy()).max()
  print(f"last block at [CLS] alone vs full: max |probability difference| "
        f"{diff:.2e} over {len(texts)} texts")


def setup_reference(data: inputs.Inputs, reference, head_file, serve, check):
  """Loads the reference's classifiers and compares them with ours on the
  texts `check`."""
  for tokenizer in TOKENIZERS:
    reference.call("serve_setup", model_dir=data.hf_dir,
                   head=head_file, labels=list(TASK.labels),
                   vocab_file=data.vocab_file, tokenizer=tokenizer,
                   max_seq_length=FLAGS.max_seq_length)
  print(f"reference: {common.describe_reference(reference)}")
  ours_out = serve(text=tf.constant(check))
  for tokenizer in TOKENIZERS:
    theirs = reference.call("predict", tokenizer=tokenizer, texts=check)
    diff = np.abs(ours_out["probabilities"].numpy() -
                  np.array(theirs["probabilities"])).max()
    same = sum(a.decode() == b for a, b in
               zip(ours_out["label"].numpy(), theirs["labels"]))
    print(f"check vs {TOKENIZERS[tokenizer]}: same label {same} of "
          f"{len(check)}, max |probability difference| {diff:.2e}")


def measure(serves, reference, latency_texts, batch_texts):
  """Seconds of every call, side -> [round][call], for latency (one text a
  call) and throughput (batches); sides those of `serves` and, with a
  reference worker, each of TOKENIZERS."""
  sides = list(serves) + (list(TOKENIZERS) if reference else [])

  def calls(side, texts, size):
    if side in serves:
      return our_calls(serves[side], texts, size)
    return reference.call("serve", tokenizer=side, texts=texts,
                          batch_size=size)["seconds"]
  for side in sides:  # warm-up: both call sizes
    calls(side, batch_texts[:2 * FLAGS.batch_size], FLAGS.batch_size)
    calls(side, latency_texts[:10], 1)
  latency = {side: [] for side in sides}
  throughput = {side: [] for side in sides}
  for r in range(FLAGS.rounds):
    for side in sides if r % 2 == 0 else sides[::-1]:
      latency[side].append(calls(side, latency_texts, 1))
      throughput[side].append(calls(side, batch_texts, FLAGS.batch_size))
  return latency, throughput


def report(latency, throughput, batch_texts):
  names = {"ours": "ours: exported SavedModel (raw text, in-graph "
                  "tokenizer; last block at [CLS] alone)",
           "ours_full": "ours, full last block",
           "python": "reference: HF BertModel eager + BertTokenizerLegacy "
                     "(Python)",
           "rust": "reference: HF BertModel eager + BertTokenizer (Rust)"}
  rows = []
  for side in latency:
    calls = [s for round_ in latency[side] for s in round_]
    rates = [len(batch_texts) / sum(round_) for round_ in throughput[side]]
    rows.append([names[side], 1000 * common.percentile(calls, 50),
                 1000 * common.percentile(calls, 95), common.median(rates)])
  common.print_table(["model", "p50 ms (1 text)", "p95 ms (1 text)",
                      f"texts/s (batch {FLAGS.batch_size})"], rows)
  full = list(latency).index("ours_full")
  print(f"last block at [CLS] alone / full: p50 latency x"
        f"{rows[0][1] / rows[full][1]:.3f}, throughput x"
        f"{rows[0][3] / rows[full][3]:.3f}")
  for i, side in enumerate(list(latency)[full + 1:], start=full + 1):
    print(f"ours / {TOKENIZERS[side]} reference: p50 latency x"
          f"{rows[0][1] / rows[i][1]:.3f}, p95 x{rows[0][2] / rows[i][2]:.3f} "
          f"(goal <= 0.7), throughput x{rows[0][3] / rows[i][3]:.3f}")


def main(argv):
  del argv
  data = inputs.resolve(SMOKE)
  common.print_header("Serving latency and throughput", common.command_line())
  serves, head_file = export_ours(data, tempfile.mkdtemp(
      prefix="bench_serving_"))
  latency_texts = chemprot_texts(data, FLAGS.texts)
  batch_texts = chemprot_texts(data, FLAGS.batch_texts)
  compare_modes(serves, batch_texts[:FLAGS.batch_size])
  with contextlib.ExitStack() as stack:
    reference = None
    if data.reference:
      reference = stack.enter_context(common.ReferenceWorker())
      setup_reference(data, reference, head_file, serves["ours"],
                      batch_texts[:FLAGS.batch_size])
    latency, throughput = measure(serves, reference, latency_texts,
                                  batch_texts)
  report(latency, throughput, batch_texts)
  common.print_footer()

if __name__ == "__main__":
  app.run(main)
