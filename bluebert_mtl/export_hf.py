"""`python -m bluebert_mtl.export_hf`: the command of
`bluebert_mtl.commands.export_hf` under the name issue 20 gives it."""

from bluebert_mtl.commands import export_hf

if __name__ == "__main__":
  export_hf.run()
