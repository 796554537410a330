"""Runs `bluebert_mtl.commands.finetune`; --help prints its docstring."""

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)

from bluebert_mtl.commands import finetune

if __name__ == "__main__":
  finetune.run()
