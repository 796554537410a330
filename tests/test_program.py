"""Every command runs through `program.run_command`: bad input (the
project's errors and absl's flag errors) stops it with one line,
`error: <what>: <message>`, and exit status 2; any other exception keeps its
traceback; --help prints the command's docstring and flags however the
program is started."""

import subprocess
import sys

from absl import flags
import pytest

from bluebert_mtl.errors import (CheckpointError, ConfigError, DataError,
                                 FlagError, OutputError, RunFolderError)
from bluebert_mtl.train.trainer import TrainingDivergedError
from conftest import REPO_ROOT

def _define_size():
  flags.DEFINE_integer("size", None, "Rows.", lower_bound=1)
  flags.mark_flag_as_required("size")


def _raising(error):
  def main(argv):
    del argv
    raise error
  return main


@pytest.mark.parametrize("error, line", [
    (DataError("x/train.tsv", 7, "2 columns; the header has 3"),
     "error: data: x/train.tsv:7: 2 columns; the header has 3"),
    (ConfigError("unknown task 'x'"), "error: config: unknown task 'x'"),
    (FlagError("--size must be > 0"), "error: flag: --size must be > 0"),
    (CheckpointError("m.ckpt: no variable bert/pooler"),
     "error: checkpoint: m.ckpt: no variable bert/pooler"),
    (RunFolderError("run: no tasks.json"),
     "error: run folder: run: no tasks.json"),
    (OutputError("run/checkpoints: no space left"),
     "error: output: run/checkpoints: no space left"),
    (TrainingDivergedError("the loss of task hoc is nan at step 3"),
     "error: training: the loss of task hoc is nan at step 3"),
    (ConfigError("first line\n  second line\n"),
     "error: config: first line; second line"),
])
def test_bad_input_stops_with_one_line_and_status_2(run_command, error,
                                                    line):
  code, out, err = run_command(_define_size, _raising(error), "--size=3")
  assert (code, out, err) == (2, "", line + "\n")


@pytest.mark.parametrize("args, line", [
    (["--size=3", "--sise=4"],
     "error: flag: Unknown command line flag 'sise'. Did you mean: size ?"),
    (["--size=three"], "error: flag: flag --size=three: invalid literal for "
     "int() with base 10: 'three'"),
    (["--size=0"], "error: flag: flag --size=0: 0 is not a positive integer"),
    ([], "error: flag: flag --size=None: Flag --size must have a value other "
     "than None."),
    (["--size=3", "more", "args"], "error: flag: unexpected arguments: more "
     "args (this program takes --flags only)"),
])
def test_absl_flag_errors_are_one_line_too(run_command, args, line):
  ran = []
  code, _, err = run_command(_define_size, ran.append, *args)
  assert (code, err, ran) == (2, line + "\n", [])


def test_a_command_that_returns_exits_0(run_command):
  seen = []
  def main(argv):
    seen.append((argv, flags.FLAGS.size))
  assert run_command(_define_size, main, "--size=3")[0] in (0, None)
  assert seen == [(["test_command.py"], 3)]


def test_an_unexpected_exception_keeps_its_traceback(run_command):
  with pytest.raises(ZeroDivisionError):
    run_command(_define_size, lambda argv: 1 / 0, "--size=3")
  script = ("from bluebert_mtl.commands import program\n"
            "program.run_command(lambda: None, lambda argv: 1 / 0, 'doc')\n")
  done = subprocess.run([sys.executable, "-c", script], capture_output=True,
                        text=True, check=False, cwd=REPO_ROOT)
  assert done.returncode == 1
  assert "Traceback" in done.stderr
  assert done.stderr.splitlines()[-1] == (
      "ZeroDivisionError: division by zero")


def test_help_prints_the_commands_docstring_and_all_its_flags(run_command):
  from bluebert_mtl.commands import train  # pylint: disable=g-import-not-at-top
  code, out, _ = run_command(train.define_flags, train.main, "--help",
                     doc=train.__doc__)
  assert code == 1  # absl's status for --help
  assert out.startswith(train.__doc__)
  # Defined in commands/cli.py, listed under the program all the same.
  for flag in ("--train_batch_size", "--bert_dir", "--task_def"):
    assert f"  {flag}:" in out


def test_help_of_a_shim_is_its_commands():
  """run_mtl.py's own docstring is one line; --help prints the command's."""
  from bluebert_mtl.commands import train  # pylint: disable=g-import-not-at-top
  done = subprocess.run([sys.executable, "run_mtl.py", "--help"],
                        capture_output=True, text=True, check=False,
                        cwd=REPO_ROOT)
  assert done.stdout.startswith(train.__doc__)
  assert "  --train_batch_size:" in done.stdout
