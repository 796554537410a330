"""Checks the Hugging Face route against `transformers` itself (issue 20).

  .venv/bin/python -m benchmarks.check_hf_export     (about 3 minutes)

Not a speed figure. In order:
1. trains a short run of one task of each kind (biosses regression, chemprot
   classification, hoc multi-label, bc5cdr-chemical tagging) on data/sample
   from the MiniLM stand-in given as a Hugging Face folder (`--bert_dir`
   route, no conversion), and exports it with `export_hf`;
2. featurizes 50 real sentences (pairs for biosses) of each task's
   blue-public train.tsv with our pipeline and computes our logits;
3. writes MiniLM loaded into our encoder back out as a Hugging Face folder;
4. runs `reference/check_hf_export.py` in the reference venv (torch,
   transformers): each exported folder through `AutoModelFor...` on the
   same ids (max |logit difference|, same labels), the HF tokenizer's ids
   against ours, the round trip's tensors against MiniLM's, and MiniLM saved
   with `torch.save` (zip and legacy formats);
5. reads those torch files with our reader and compares them with MiniLM's
   safetensors.
Prints one JSON report (also build/hf_check/report.json); exits 1 when a
logit differs by more than --tolerance, a label differs, or a round-trip
tensor is not identical. Under --smoke (benchmarks/inputs.py) the encoder is
the tiny random one, the sentences are data/sample's, and where the reference
venv is missing only steps 1-3 run.
"""

import json
import os
import subprocess
import sys
import tempfile

from absl import app
from absl import flags
import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)
import numpy as np
from safetensors.numpy import load_file

from benchmarks import common
from benchmarks import inputs
from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl import tokenization
from bluebert_mtl.config import BertFiles, TrainConfig
from bluebert_mtl.data import datasets
from bluebert_mtl.data import task_data
from bluebert_mtl.model import checkpoints
from bluebert_mtl.model import hf_weights
from bluebert_mtl.model import multitask_model
from bluebert_mtl.runs import run_dir
from bluebert_mtl.serve import export_hf
from bluebert_mtl.train import trainer
from bluebert_mtl.train.start import Start

FLAGS = flags.FLAGS
flags.DEFINE_string("work_dir", os.path.join(common.REPO_ROOT, "build",
                                             "hf_check"), "Where it writes.")
flags.DEFINE_integer("max_steps", 40, "Training steps of the short run.")
flags.DEFINE_integer("sentences", 50, "Real sentences per task.")
flags.DEFINE_float("tolerance", 1e-4, "Largest |logit difference| allowed.")
# --smoke: the tiny encoder as the Hugging Face folder, the sentences of
# data/sample/, in a temporary work_dir.
SMOKE = {"max_steps": 2, "sentences": 4}

# One task of each kind.
TASKS = ("biosses", "chemprot", "hoc", "bc5cdr-chemical")
MAX_SEQ_LENGTH = 128


def _train(minilm_dir: str, work_dir: str) -> str:
  output = os.path.join(work_dir, "run")
  config = TrainConfig(
      tasks=TASKS, data_dir=os.path.join(common.REPO_ROOT, "data", "sample"),
      output_dir=output, max_seq_length=MAX_SEQ_LENGTH, train_batch_size=16,
      max_steps=FLAGS.max_steps, num_train_epochs=100, eval_every_epochs=0,
      distribution_strategy="one_device")
  trainer.train(config, Start(BertFiles.resolve(bert_dir=minilm_dir)),
                [tasks_lib.TASKS[name] for name in TASKS])
  return output


def _our_logits(run: str, name: str, tokenizer, data_dir: str) -> dict:
  """Inputs, texts and our logits of the task's first real sentences."""
  task = tasks_lib.TASKS[name]
  split = task_data.load_split(
      task, os.path.join(data_dir, name, "train.tsv"),
      tokenizer, MAX_SEQ_LENGTH)
  pieces = split.pieces[:FLAGS.sentences]
  batch = datasets.pad_batch(split.features, np.arange(len(pieces)),
                             len(pieces), with_labels=False)
  ids, mask, types = (batch[key] for key in multitask_model.INPUT_NAMES)
  view = multitask_model.load_task_model(
      task, checkpoints.hf_source.read_bert_config(
          os.path.join(run, "bert_config.json")),
      run_dir.RunSource(run).weights(name))
  logits = view(multitask_model.model_inputs(batch), training=False).numpy()
  if task.kind == "tagging":
    texts = [list(piece.words) for piece in pieces]
  else:
    texts = [[piece.text_a] + ([piece.text_b] if piece.text_b else [])
             for piece in pieces]
  return {"ids": ids, "mask": mask, "types": types,
          "logits": logits.reshape(len(ids), *logits.shape[1:] or [1]),
          "texts": texts}


def _check_torch_files(minilm_dir: str, torch_dir: str) -> dict:
  """Our reader on MiniLM as torch.save wrote it, against its safetensors."""
  want = load_file(os.path.join(minilm_dir, "model.safetensors"))
  report = {}
  for form in ("zip", "legacy"):
    got = hf_weights.read_weights(os.path.join(torch_dir, form,
                                               "pytorch_model.bin"))
    buffers = {"embeddings.position_ids"}  # not in every state dict
    report[form] = {
        "keys": len(got),
        "same_keys": set(got) - buffers == set(want) - buffers,
        "identical": all(np.array_equal(got[k], want[k]) for k in want
                         if k in got)}
  return report


def _our_side(data: inputs.Inputs, work_dir: str):
  """Steps 1-3: (the exported folder, the folder of our inputs and logits,
  the round trip's folder)."""
  run = _train(data.hf_dir, work_dir)
  hf_dir = os.path.join(work_dir, "hf")
  export_hf.export_run_hf(run, hf_dir, overwrite=True)
  tokenizer = tokenization.FullTokenizer(os.path.join(run, "vocab.txt"))
  inputs_dir = os.path.join(work_dir, "inputs")
  os.makedirs(inputs_dir, exist_ok=True)
  rows = []
  for name in TASKS:
    values = _our_logits(run, name, tokenizer, data.data_dir)
    with open(os.path.join(inputs_dir, f"{name}.json"), "w") as f:
      json.dump(values.pop("texts"), f)
    np.savez(os.path.join(inputs_dir, f"{name}.npz"), **values)
    rows.append([name, len(values["ids"]), int(values["mask"].sum()),
                 "x".join(map(str, values["logits"].shape))])
  common.print_table(["task", "sentences", "real tokens", "our logits"], rows)
  config, encoder = checkpoints.load_bert_encoder(
      BertFiles.resolve(bert_dir=data.hf_dir))
  round_trip = os.path.join(work_dir, "minilm_round_trip")
  export_hf.write_encoder_folder(
      encoder, config, os.path.join(data.hf_dir, "vocab.txt"),
      TrainConfig(tasks=(), data_dir="", output_dir=""), round_trip)
  return hf_dir, inputs_dir, round_trip


def main(argv):
  del argv
  data = inputs.resolve(SMOKE)
  work_dir = (tempfile.mkdtemp(prefix="check_hf_export_") if FLAGS.smoke
              else FLAGS.work_dir)
  os.makedirs(work_dir, exist_ok=True)
  hf_dir, inputs_dir, round_trip = _our_side(data, work_dir)
  if not data.reference:
    return
  torch_dir = os.path.join(work_dir, "torch_files")
  done = subprocess.run(
      [common.REFERENCE_PYTHON,
       os.path.join(common.REFERENCE_DIR, "check_hf_export.py"),
       f"--hf_dir={hf_dir}", f"--inputs_dir={inputs_dir}",
       f"--tasks={','.join(TASKS)}", f"--minilm_dir={data.hf_dir}",
       f"--round_trip_dir={round_trip}", f"--torch_dir={torch_dir}"],
      capture_output=True, text=True, check=False)
  if done.returncode:
    sys.exit(f"reference failed:\n{done.stderr[-4000:]}")
  report = json.loads(done.stdout.strip().splitlines()[-1])
  report["our_reader_on_torch_files"] = _check_torch_files(data.hf_dir,
                                                           torch_dir)
  with open(os.path.join(work_dir, "report.json"), "w") as f:
    json.dump(report, f, indent=2)
  print(json.dumps(report, indent=2))
  failed = ([name for name, r in report["tasks"].items()
             if r["max_abs_logit_diff"] > FLAGS.tolerance
             or r.get("labels_differ", 0)] +
            ["round trip"] * (not report["round_trip"]["identical"]) +
            [form for form, r in report["our_reader_on_torch_files"].items()
             if not (r["same_keys"] and r["identical"])])
  if failed:
    sys.exit(f"check_hf_export: failed: {', '.join(failed)}")


if __name__ == "__main__":
  app.run(main)
