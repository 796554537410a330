"""Exports a training run's tasks as SavedModels for TF Serving.

  python export_savedmodel.py --model_dir=runs/mt --export_dir=serving \
      [--tasks=chemprot,bc5cdr-chemical] [--version=1] [--overwrite] \
      [--ids_only]

(also `bluebert-mtl-export`, `python -m bluebert_mtl.commands.export`)
writes, for each task, SERVING/<task>/<version>/ (raw text in, the tokenizer
in the graph) and SERVING/<task>_ids/<version>/ (token ids in, core TF ops
only), plus SERVING/preprocess/<version>/ (raw text -> token ids for every
task of the run). Each task's models hold the encoder and that task's head
with its best-dev weights (best/<task>/weights, else final/weights);
--model_dir may also name a checkpoint prefix inside a run folder, e.g.
runs/mt/checkpoints/ckpt-3000. Signatures: bluebert_mtl/serve/export.py;
serving them: docs/serving.md.
"""

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)

from bluebert_mtl.commands import export

if __name__ == "__main__":
  export.run()
