"""Every flagfile in flags/ parses with its program's flags.

absl rejects an unknown flag, so a flag renamed or removed in the code but
left in a flagfile fails here instead of at the start of a long run.
"""

import glob
import os
import subprocess
import sys

from conftest import REPO_ROOT

# Parsed before each file, so files that leave these to the command line
# (e.g. the baselines' --bert_dir and --data_dir) still satisfy the required
# flags; the file's own values come later and win.
PLACEHOLDERS = ["--data_dir=unused", "--tasks=chemprot",
                "--output_dir=unused"]

PARSE_ALL = """
import sys
sys.path.insert(0, {root!r})
from bluebert_mtl.commands import {program}
from absl import flags
{program}.define_flags()
for path in sys.argv[1:]:
  flags.FLAGS.unparse_flags()
  flags.FLAGS(["prog"] + {placeholders!r} + ["--flagfile=" + path])
  print("parsed", path)
"""


def _program(path: str) -> str:
  name = os.path.basename(path)
  return "finetune" if ("finetune" in name or "baseline" in name) \
      else "train"


def test_every_flagfile_parses_with_its_program():
  paths = sorted(glob.glob(os.path.join(REPO_ROOT, "flags", "**", "*.flags"),
                           recursive=True))
  assert len(paths) >= 10
  by_program = {}
  for path in paths:
    by_program.setdefault(_program(path), []).append(path)
  for program, files in by_program.items():
    code = PARSE_ALL.format(root=REPO_ROOT, program=program,
                            placeholders=PLACEHOLDERS)
    result = subprocess.run([sys.executable, "-c", code, *files],
                            cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, (program, result.stderr[-2000:])
    assert result.stdout.count("parsed ") == len(files), result.stdout
