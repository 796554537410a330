"""Runs `bluebert_mtl.commands.train`; --help prints its docstring."""

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)

from bluebert_mtl.commands import train

if __name__ == "__main__":
  train.run()
