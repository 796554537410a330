"""Padding waste of our batching over one epoch of the public BLUE mix.

  .venv/bin/python -m benchmarks.bench_padding [--batch_size=32]

Padding waste = tokens computed / real tokens, where a batch computes
batch_size rows x its padded length (rows padding a short last batch count
too: the model runs them) and real tokens are the packed inputs' lengths.
One epoch of the mix is every training batch of every task once (Algorithm
1), so the figure of the mix is the sum over the tasks.

Our batching (`datasets.training_stream`, epoch 0 of each task): shuffled,
sorted by length within windows of `datasets.SORT_WINDOW_BATCHES` batches,
each batch padded to its longest row (the default steps), or to it rounded
up to a multiple of `datasets.XLA_LENGTH_MULTIPLE` under `--jit_compile`.
For comparison, on the same examples:

  TF1 (pad all to max_seq_length)  every example padded to 128, as the
                                   original TF1 BlueBERT input pipeline does
  random batches                   shuffled, no length sorting, padded to
                                   the longest row
  whole-task sort                  sorted over the whole task (one window),
                                   padded to the longest row

Also printed: the same ratio weighted by T^2 per row (attention score work),
which grows faster with padding than the token count.
"""

from absl import app
from absl import flags

from benchmarks import common
from benchmarks import inputs
import numpy as np

from bluebert_mtl.data import datasets
from bluebert_mtl import tokenization

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch_size", 32, "Training batch size.")
flags.DEFINE_integer("max_seq_length", 128, "Longest packed input.")
flags.DEFINE_integer("seed", 2018, "The run's seed (TrainConfig default).")
flags.DEFINE_list("tasks", list(common.BLUE_PUBLIC_TASKS), "Tasks of the mix.")
# --smoke: the six tasks of data/sample/, small batches.
SMOKE = {"batch_size": 4}


def computed(lengths, batches, batch_size: int, multiple: int, power: int = 1):
  """Sum over batches of batch_size x (padded length)^power."""
  return sum(batch_size * datasets.padded_length(int(lengths[b].max()),
                                                 multiple)
             ** power for b in batches)


def our_batches(lengths, batch_size: int, stream_id: int):
  """Epoch 0 of the task's training stream, as the Trainer draws it."""
  stream = datasets.training_stream(lengths, batch_size, FLAGS.seed, stream_id)
  return [next(stream) for _ in
          range(datasets.num_training_batches(len(lengths), batch_size))]


def random_batches(lengths, batch_size: int, rng):
  order = rng.permutation(len(lengths))
  return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def sorted_batches(lengths, batch_size: int, rng):
  shuffled = rng.permutation(len(lengths))
  order = shuffled[np.argsort(lengths[shuffled], kind="stable")]
  return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def schemes(lengths, batch_size: int, stream_id: int):
  """name -> (computed tokens, computed T^2 work) of each batching scheme."""
  rng = np.random.default_rng(np.random.SeedSequence([FLAGS.seed, stream_id]))
  ours = our_batches(lengths, batch_size, stream_id)
  xla = datasets.length_multiple(jit_compile=True)
  full = FLAGS.max_seq_length
  result = {"TF1 (pad all to 128)": (len(lengths) * full,
                                     len(lengths) * full ** 2)}
  for name, batches, mult in (
      ("ours", ours, datasets.length_multiple(jit_compile=False)),
      ("ours, --jit_compile", ours, xla),
      ("random batches", random_batches(lengths, batch_size, rng), 1),
      ("whole-task sort", sorted_batches(lengths, batch_size, rng), 1)):
    result[name] = (computed(lengths, batches, batch_size, mult),
                    computed(lengths, batches, batch_size, mult, power=2))
  return result


def main(argv):
  del argv
  data = inputs.resolve(SMOKE, need_reference=False)
  common.print_header("Padding waste", common.command_line())
  tokenizer = tokenization.FullTokenizer(data.vocab_file, do_lower_case=True)
  features = common.load_train_features(FLAGS.tasks, tokenizer, data.data_dir,
                                        data.cache_dir, FLAGS.max_seq_length)
  totals, real_total, real_sq_total = {}, 0, 0
  rows = []
  for stream_id, name in enumerate(FLAGS.tasks):
    lengths = np.array([len(f.input_word_ids) for f in features[name]])
    real, real_sq = int(lengths.sum()), int((lengths ** 2).sum())
    real_total += real
    real_sq_total += real_sq
    figures = schemes(lengths, FLAGS.batch_size, stream_id)
    for scheme, (tokens, square) in figures.items():
      total = totals.setdefault(scheme, [0, 0])
      total[0] += tokens
      total[1] += square
    rows.append([name, len(lengths), float(lengths.mean()), real] +
                [tokens / real for tokens, _ in figures.values()])
  header = ["task", "examples", "mean length", "real tokens"] + list(totals)
  rows.append(["mix (one epoch)", sum(r[1] for r in rows),
               real_total / sum(r[1] for r in rows), real_total] +
              [tokens / real_total for tokens, _ in totals.values()])
  print("tokens computed / real tokens:")
  common.print_table(header, rows)
  print("T^2-weighted (attention scores) computed / real, mix:")
  common.print_table(list(totals),
                     [[square / real_sq_total
                       for _, square in totals.values()]])
  ours = totals["ours"][0] / real_total
  print(f"padding waste of our batching: {ours:.3f} (goal <= 1.15); with "
        f"--jit_compile: {totals['ours, --jit_compile'][0] / real_total:.3f}; "
        f"TF1 padding to {FLAGS.max_seq_length}: "
        f"{totals['TF1 (pad all to 128)'][0] / real_total:.3f}")
  common.print_footer()

if __name__ == "__main__":
  app.run(main)
