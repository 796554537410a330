"""Runs `bluebert_mtl.commands.export`; --help prints its docstring."""

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)

from bluebert_mtl.commands import export

if __name__ == "__main__":
  export.run()
