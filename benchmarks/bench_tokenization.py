"""Sentences/s of the in-graph tokenizer vs the pure-Python reference.

  .venv/bin/python -m benchmarks.bench_tokenization [--rounds=3]

Texts: every distinct sentence of the six public BLUE tasks (train, dev and
test; both texts of a pair; an NER sentence is its words joined by spaces),
read with the package's readers. Tokenizers, both with BERT's uncased vocab
(build/minilm_tf1/vocab.txt) and lower-casing:

  in-graph, chunks    `tokenization.FullTokenizer.tokenize` on chunks of 4096
                      texts (as `features.tokenize_texts` featurizes), the
                      ids brought back as Python lists (`to_list`)
  in-graph, one text  one call per text (a serving request), first
                      `--single_texts` texts only
  reference           tests/reference_tokenizer.py's `ReferenceTokenizer`
                      (the original algorithm, pure Python), one text a call

Each is timed `--rounds` times, alternating; the medians are reported, and
the ids of the two tokenizers are compared text by text.
"""

import os
import sys

from absl import app
from absl import flags

from benchmarks import common
from benchmarks import inputs
import tensorflow as tf

from bluebert_mtl.data import features as features_lib
from bluebert_mtl.data import readers
from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl import tokenization

sys.path.insert(0, os.path.join(common.REPO_ROOT, "tests"))
import reference_tokenizer  # pylint: disable=g-import-not-at-top,wrong-import-position

FLAGS = flags.FLAGS
flags.DEFINE_integer("rounds", 3, "Timed rounds per tokenizer (alternating).")
flags.DEFINE_integer("single_texts", 2000,
                     "Texts tokenized one call each by the in-graph tokenizer.")
flags.DEFINE_integer("chunk_size", 4096, "Texts per in-graph call (chunks).")
# --smoke: the texts of data/sample/, several chunks.
SMOKE = {"rounds": 1, "single_texts": 20, "chunk_size": 256}


def blue_public_texts(data_dir: str):
  """Every distinct text of the six tasks' splits in `data_dir`, in
  first-seen order."""
  texts = {}
  for name in common.BLUE_PUBLIC_TASKS:
    task = tasks_lib.get_task(name)
    for split in ("train", "dev", "test"):
      path = readers.find_split_file(
          os.path.join(data_dir, name), split)
      for ex in task.read(path):
        if task.kind == "tagging":
          texts[" ".join(ex.words)] = None
        else:
          texts[ex.text_a] = None
          if ex.text_b is not None:
            texts[ex.text_b] = None
  return list(texts)


def main(argv):
  del argv
  data = inputs.resolve(SMOKE, need_reference=False)
  common.print_header("Tokenization", common.command_line())
  vocab_file = data.vocab_file
  ours = tokenization.FullTokenizer(vocab_file, do_lower_case=True)
  reference = reference_tokenizer.ReferenceTokenizer(
      tokenization.load_vocab(vocab_file), do_lower_case=True)
  texts = blue_public_texts(data.data_dir)
  single = texts[:FLAGS.single_texts]
  characters = sum(len(t) for t in texts)
  print(f"texts: {len(texts)} distinct ({characters} characters, "
        f"{characters / len(texts):.0f} per text)")

  results = {}
  def chunks():
    results["ours"] = features_lib.tokenize_texts(ours, texts,
                                                  FLAGS.chunk_size)

  def one_by_one():
    for text in single:
      ours.tokenize(tf.constant([text]))

  def pure_python():
    results["reference"] = [reference.tokenize_to_ids(t) for t in texts]

  ours.tokenize(tf.constant(texts[:2]))  # traces
  runs = {"in-graph, chunks": (chunks, len(texts)),
          "in-graph, one text a call": (one_by_one, len(single)),
          "reference (pure Python)": (pure_python, len(texts))}
  seconds = {name: [] for name in runs}
  for _ in range(FLAGS.rounds):
    for name, (fn, _) in runs.items():
      seconds[name].append(common.timed(fn))
  rows = []
  reference_rate = len(texts) / common.median(
      seconds["reference (pure Python)"])
  for name, (_, count) in runs.items():
    rate = count / common.median(seconds[name])
    rows.append([name, count, common.median(seconds[name]), rate,
                 rate / reference_rate])
  common.print_table(["tokenizer", "texts", "median s", "sentences/s",
                      "x reference"], rows)
  differing = sum(a != b for a, b in zip(results["ours"],
                                         results["reference"]))
  print(f"texts whose ids differ between the two: {differing} of "
        f"{len(texts)}")
  common.print_footer()

if __name__ == "__main__":
  app.run(main)
