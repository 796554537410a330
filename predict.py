"""Predicts on new text with a trained run: one JSON line per input line.

  python predict.py --model_dir=runs/mt --tasks=bc5cdr-chemical,chemprot \
      --input_file=in.jsonl --output_file=out.jsonl

(also `python -m bluebert_mtl.commands.predict`). Flags, input formats and
the output of every task kind: bluebert_mtl/commands/predict.py and
docs/prediction.md.
"""

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)

from bluebert_mtl.commands import predict

if __name__ == "__main__":
  predict.run()
