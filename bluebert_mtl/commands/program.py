"""How every command runs: its flags, its usage text and one-line errors.

Each command module's `run()` is
`program.run_command(define_flags, main, __doc__)`, so that every program,
however it is started (a top-level shim such as run_mtl.py, `python -m
bluebert_mtl.commands.X`, a `bluebert-mtl-*` console script):

  * prints its command module's docstring and flags for `--help`;
  * stops on bad input with one line on stderr, `error: <what>: <message>`,
    and exit status 2, no traceback. Bad input is a project error
    (`errors.BlueBertError`; `what` is its class's word: data, config,
    flag, checkpoint, run folder, training) and absl's own flag errors (an
    unknown flag, a value of the wrong type or out of bounds, a missing
    required flag), which become a `FlagError`, as do positional arguments:
    no command takes any;
  * lets any other exception through with its traceback: that is a bug.

docs/errors.md lists every bad input handled, each with its test.
"""

import sys
from typing import Callable, List

from absl import app
from absl import flags

from bluebert_mtl.errors import BlueBertError, FlagError

FLAGS = flags.FLAGS
EXIT_BAD_INPUT = 2  # the exit status of a program stopped by bad input


def one_line(text: str) -> str:
  """`text` on one line: its non-blank lines stripped and joined by "; "."""
  return "; ".join(line.strip() for line in text.splitlines()
                   if line.strip())


def parse_flags(argv: List[str]) -> List[str]:
  """absl's flag parsing, with its errors and positional arguments raised
  as `FlagError`s naming the flag (or the arguments).

  Args:
    argv: the program name, then its command-line arguments.

  Returns:
    [program name]: what `main` receives.
  """
  try:
    rest = FLAGS(argv)
  except flags.Error as e:
    raise FlagError(one_line(str(e))) from e
  if len(rest) > 1:
    raise FlagError(f"unexpected arguments: {' '.join(rest[1:])} (this "
                    "program takes --flags only)")
  return rest


def _define_as_main_flags(define_flags: Callable[[], None]):
  """Calls `define_flags` and makes each flag it defines a key flag of the
  program absl names main (sys.argv[0]), so that `--help` lists them
  wherever they are defined (the training flags are defined in `cli`)."""
  before = set(FLAGS)
  define_flags()
  for name in sorted(set(FLAGS) - before):
    FLAGS.register_key_flag_for_module(sys.argv[0], FLAGS[name])


def run_command(define_flags: Callable[[], None],
                main: Callable[[List[str]], None], doc: str):
  """Defines a command's flags and runs its `main` under absl (module
  docstring). Exits the process: 0 when `main` returns, 2 on bad input.

  Args:
    define_flags: defines the command's flags.
    main: the command; receives [program name].
    doc: the usage text of `--help` (the command module's docstring).
  """
  _define_as_main_flags(define_flags)
  sys.modules["__main__"].__doc__ = doc  # what absl prints for --help
  try:
    app.run(main, flags_parser=parse_flags)
  except BlueBertError as e:
    print(f"error: {e.what}: {one_line(str(e))}", file=sys.stderr)
    sys.exit(EXIT_BAD_INPUT)
