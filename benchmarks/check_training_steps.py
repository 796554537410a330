"""Do our training steps move the model as the PyTorch reference's do?

  .venv/bin/python -m benchmarks.check_training_steps [--tasks=chemprot]
      [--steps=30] [--learning_rate=2e-4] [--optimizer=adamax]

Both sides start from the same weights (MiniLM from build/minilm_tf1 here, the
package's safetensors there; our freshly initialised heads are copied into
the reference's), train with dropout off on the very same batches (the
Trainer's `batch_plan` and `pad_plan`, handed over as numpy arrays) in the
Algorithm 1 order of epoch 0, with the same recipe (Adamax, warm-up then
linear decay over the Trainer's total steps, weight decay, global clip).
With no randomness left, any difference in the per-step losses comes from
the model, the loss, the clipping, the decay or the optimizer update. Prints
both loss curves and their largest difference; exits 1 when it exceeds
--tolerance (float32 summation order alone moves the losses by about 1e-5
per step, growing slowly with the steps).

The reference venv must exist (`make bench` or benchmarks/setup_reference.sh),
except under --smoke, where without it only our losses are printed.
"""

import dataclasses
import json
import os
import sys
import tempfile

from absl import app
from absl import flags

from benchmarks import bench_training
from benchmarks import common
from benchmarks import inputs
import numpy as np

from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl.config import BertFiles, TrainConfig

FLAGS = flags.FLAGS
# bench_training's flags: --tasks, --steps (compared here), --batch_size,
# --max_seq_length, --optimizer; this check's defaults below.
FLAGS.set_default("tasks", ["chemprot"])
FLAGS.set_default("steps", 30)
flags.DEFINE_float("learning_rate", 2e-4, "Peak learning rate.")
flags.DEFINE_float("num_train_epochs", 2.0, "Epochs the schedule spans (the "
                   "compared steps are its first ones).")
flags.DEFINE_float("tolerance", 1e-3, "Largest per-step loss difference "
                   "accepted, relative to the loss.")
# --smoke: a few short chemprot batches of data/sample/.
SMOKE = {"batch_size": 4, "max_seq_length": 32, "steps": 3}


def no_dropout_config(bert_dir: str, folder: str) -> str:
  """A copy of bert_dir's bert_config.json with both dropouts 0; its path."""
  with open(os.path.join(bert_dir, "bert_config.json")) as f:
    config = json.load(f)
  config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
  path = os.path.join(folder, "bert_config.json")
  with open(path, "w") as f:
    json.dump(config, f)
  return path


def head_weights(trainer, path: str) -> None:
  """Writes each task head's kernel [H, C] and bias [C] to an .npz."""
  arrays = {}
  for task in trainer.tasks:
    dense = trainer.model.get_layer(task.name).dense
    arrays[f"{task.name}/kernel"] = dense.kernel.numpy()
    arrays[f"{task.name}/bias"] = dense.bias.numpy()
  np.savez(path, **arrays)


def our_side(data: inputs.Inputs, folder: str):
  """Our Trainer with dropout off in `folder`; (OurSide, task of each
  compared step: epoch 0's schedule)."""
  config = TrainConfig(
      tasks=tuple(FLAGS.tasks), data_dir=data.data_dir,
      output_dir=folder, learning_rate=FLAGS.learning_rate,
      train_batch_size=FLAGS.batch_size, max_seq_length=FLAGS.max_seq_length,
      optimizer=FLAGS.optimizer,
      num_train_epochs=FLAGS.num_train_epochs, cache_dir=data.cache_dir)
  files = BertFiles.resolve(
      bert_dir=data.bert_dir,
      bert_config_file=no_dropout_config(data.bert_dir, folder))
  specs = [dataclasses.replace(tasks_lib.get_task(name), dropout=0.0)
           for name in config.tasks]
  ours = bench_training.OurSide(config, files, specs)
  return ours, bench_training.step_order(ours, 0, FLAGS.steps)[len(specs):]


def reference_losses(data: inputs.Inputs, ours, names, folder: str):
  """The reference's losses on our batches from our weights, dropout off."""
  trainer = ours.trainer
  batches_path = os.path.join(folder, "batches.npz")
  common.save_batches(batches_path, names,
                      bench_training.numpy_batches(ours, names))
  heads_path = os.path.join(folder, "heads.npz")
  head_weights(trainer, heads_path)
  with common.ReferenceWorker() as reference:
    reference.call(
        "train_setup", model_dir=data.hf_dir,
        tasks=bench_training.reference_tasks(trainer), batches=batches_path,
        learning_rate=trainer.config.learning_rate,
        warmup_steps=trainer.lr_schedule.warmup_steps,  # rounded down, as BERT
        total_steps=trainer.total_steps,
        weight_decay=trainer.config.weight_decay,
        clip_norm=trainer.config.clip_norm, heads=heads_path, dropout=False)
    return reference.call("train", start=0, end=len(names))["losses"]


def main(argv):
  del argv
  data = inputs.resolve(SMOKE, need_reference=True)
  common.print_header("Training steps vs the reference", common.command_line())
  folder = tempfile.mkdtemp(prefix="check_training_steps_")
  ours, names = our_side(data, folder)
  theirs = reference_losses(data, ours, names, folder) if data.reference \
      else None
  _, our_losses = ours.run(names)

  config = ours.trainer.config
  print(f"tasks {', '.join(config.tasks)}: {len(names)} steps of "
        f"{config.train_batch_size}, lr {config.learning_rate:g} over "
        f"{ours.trainer.total_steps} steps, dropout off")
  if theirs is None:
    common.print_table(["step", "task", "ours"], [
        [step, name, f"{a:.6f}"]
        for step, (name, a) in enumerate(zip(names, our_losses))])
    common.print_footer()
    return
  relative = [abs(a - b) / max(abs(b), 1e-6)
              for a, b in zip(our_losses, theirs)]
  common.print_table(
      ["step", "task", "ours", "reference", "relative difference"],
      [[step, name, f"{a:.6f}", f"{b:.6f}", f"{r:.2e}"]
       for step, (name, a, b, r)
       in enumerate(zip(names, our_losses, theirs, relative))])
  worst = max(relative)
  print(f"largest relative difference {worst:.2e} "
        f"(tolerance {FLAGS.tolerance:g})")
  common.print_footer()
  sys.exit(0 if worst <= FLAGS.tolerance else 1)


if __name__ == "__main__":
  app.run(main)
