"""Prediction on new text: predict.py's sentences/s and peak memory, beside
the exported SavedModel's batch throughput on the same sentences.

  .venv/bin/python -m benchmarks.bench_predict [--sentences=10000]
  .venv/bin/python -m benchmarks.bench_predict --smoke   # seconds, for CI

A run folder holds the MiniLM encoder (build/minilm_tf1) and fresh heads of
chemprot (relation classification) and bc5cdr-chemical (NER). Texts: the
first `--sentences` distinct texts of each task's public BLUE data (train,
then dev and test; an NER sentence is its words joined by spaces), as a
text-format input file, one text a line.

  predict   `Predictor.predict_file` on the file (what predict.py runs once
            the model is loaded): reading and checking the input, windows
            of 50 batches sorted by length, training's featurization and
            forward pass, decoding, one JSON line per text written to disk.
            Peak memory is the process's resident set, sampled every 0.1 s
            while it runs, against its size before.
  export    the task's exported raw-text SavedModel (`export_savedmodel.py`,
            loaded with `tf.saved_model.load`), `serving_default` called on
            `--batch_size` texts at a time, the outputs fetched: the TF
            Serving path's batch throughput, once in input order (as a
            server gets them) and once sorted by character length (what a
            client could do to pad less, like predict's windows).

Both at the same batch size and max_seq_length; each side runs once per
round, alternating, over `--rounds` rounds; the median round is reported.
`--smoke`: a random 2-layer encoder of width 32 with BERT's vocab, a few
sentences of data/sample, one round (nothing to read from build/ or the
public data).
"""

import os
import tempfile
import threading

from absl import app
from absl import flags

from benchmarks import common
from benchmarks import inputs
import tensorflow as tf

from bluebert_mtl import Predictor
from bluebert_mtl.config import BertFiles, TrainConfig
from bluebert_mtl.data import readers
from bluebert_mtl.model import checkpoints
from bluebert_mtl.model import multitask_model
from bluebert_mtl.runs import run_dir
from bluebert_mtl.serve import export
from bluebert_mtl import tasks as tasks_lib

FLAGS = flags.FLAGS
flags.DEFINE_integer("sentences", 10000, "Texts per task.")
flags.DEFINE_integer("batch_size", 32, "Texts per forward pass, both sides.")
flags.DEFINE_integer("max_seq_length", 128, "Truncation length.")
flags.DEFINE_integer("rounds", 2, "Rounds (alternating sides).")

TASKS = ("chemprot", "bc5cdr-chemical")
SMOKE = {"sentences": 40, "batch_size": 8, "rounds": 1}


def write_run(folder: str, files: BertFiles) -> None:
  """A run folder: the encoder of `files` and fresh heads of TASKS."""
  tasks = [tasks_lib.get_task(name) for name in TASKS]
  config = TrainConfig(tasks=TASKS, data_dir="", output_dir=folder,
                       max_seq_length=FLAGS.max_seq_length)
  run_dir.write_run_files(folder, config, files.config_file, files.vocab_file,
                          tasks, files.checkpoint)
  _, encoder = checkpoints.load_bert_encoder(files)
  model = multitask_model.build_multitask_model(encoder, tasks)
  multitask_model.model_checkpoint(model).write(run_dir.final_weights(folder))


def texts_of(data: str, name: str, count: int) -> list:
  """The first `count` distinct texts of a task in the data folder `data`
  (module docstring)."""
  task = tasks_lib.get_task(name)
  texts = {}
  for split in ("train", "dev", "test"):
    path = readers.find_split_file(os.path.join(data, name), split)
    for ex in task.read(path):
      texts[" ".join(ex.words) if task.task_kind.token_level
            else ex.text_a] = 0
  texts = list(texts)
  return (texts * (count // len(texts) + 1))[:count]


def _resident_mb() -> float:
  with open("/proc/self/statm") as f:
    return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class MemorySampler:
  """The process's resident set every `interval` s while in a `with`."""

  def __init__(self, interval: float = 0.1):
    self.interval = interval
    self.samples = []
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._run, daemon=True)

  def _run(self):
    while not self._stop.wait(self.interval):
      self.samples.append(_resident_mb())

  def __enter__(self):
    self.before = _resident_mb()
    self._thread.start()
    return self

  def __exit__(self, *exc):
    self._stop.set()
    self._thread.join()
    self.samples.append(_resident_mb())


def time_predict(predictor, name: str, input_file: str, work: str):
  """(seconds, MB before, peak MB, MB at the end) of one predict_file."""
  output = os.path.join(work, f"{name}.jsonl")
  with MemorySampler() as memory:
    seconds = common.timed(lambda: predictor.predict_file(
        input_file, output, "text", [name]))
  return seconds, memory.before, max(memory.samples), memory.samples[-1]


def time_export(serve, texts: list) -> float:
  """Seconds of the SavedModel's signature over the texts, in batches."""
  def run():
    for i in range(0, len(texts), FLAGS.batch_size):
      outputs = serve(text=tf.constant(texts[i:i + FLAGS.batch_size]))
      [value.numpy() for value in outputs.values()]
  return common.timed(run)


def main(argv):
  del argv
  data = inputs.resolve(SMOKE, need_reference=False)
  common.print_header("Prediction (predict.py) and the export's batch "
                      "throughput", common.command_line())
  count, rounds = FLAGS.sentences, FLAGS.rounds
  work = tempfile.mkdtemp(prefix="bench_predict_")
  run = os.path.join(work, "run")
  write_run(run, data.bert_files())
  export.export_run(run, os.path.join(work, "export"), list(TASKS))
  predictor = Predictor.from_run(run, batch_size=FLAGS.batch_size)
  rows = []
  for name in TASKS:
    texts = texts_of(data.data_dir, name, count)
    input_file = os.path.join(work, f"{name}.txt")
    with open(input_file, "w", encoding="utf-8") as f:
      f.write("".join(text + "\n" for text in texts))
    serve = tf.saved_model.load(os.path.join(work, "export", name, "1")
                                ).signatures["serving_default"]
    time_export(serve, texts[:2 * FLAGS.batch_size])  # warm-up, both sides
    predictor.predict(texts[:2 * FLAGS.batch_size], name)
    by_length = sorted(texts, key=len)
    predicted, exported, exported_sorted = [], [], []
    for _ in range(rounds):
      predicted.append(time_predict(predictor, name, input_file, work))
      exported.append(time_export(serve, texts))
      exported_sorted.append(time_export(serve, by_length))
    seconds, before, peak, end = sorted(predicted)[len(predicted) // 2]
    export_rate = count / common.median(exported)
    sorted_rate = count / common.median(exported_sorted)
    rows.append([name, count, count / seconds, export_rate, sorted_rate,
                 count / seconds / export_rate, count / seconds / sorted_rate,
                 before, peak, end])
    print(f"{name}: predict rounds {[round(p[0], 1) for p in predicted]} s, "
          f"export rounds {[round(x, 1) for x in exported]} s, sorted "
          f"{[round(x, 1) for x in exported_sorted]} s", flush=True)
  common.print_table(
      ["task", "sentences", "predict sentences/s", "export sentences/s",
       "export, sorted, sentences/s", "predict / export",
       "predict / export sorted", "RSS before MB", "RSS peak MB",
       "RSS end MB"], rows)
  common.print_footer()


if __name__ == "__main__":
  app.run(main)
