"""Runs `bluebert_mtl.commands.predict`; --help prints its docstring."""

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)

from bluebert_mtl.commands import predict

if __name__ == "__main__":
  predict.run()
