"""Progress of long work on stderr: training's one-line step display (step,
task, loss, speed, ETA), and a progress bar (tqdm) for everything else that
takes a while: featurization, dev and test prediction, predict.py, export,
feature extraction. The bar stays quiet when stderr is not a terminal (a
log file, a pipe, a test).
"""

import sys
import time

import tqdm


def bar(total: int, what: str, unit: str = "it",
        shown: bool = True) -> tqdm.tqdm:
  """A progress bar of `total` units of work on stderr, drawn only when
  stderr is a terminal and cleared when done; `update(n)` it as work ends.

  Args:
    total: the units of work.
    what: the words before the bar ("chemprot train.tsv features").
    unit: the unit's name ("ex" examples, "batch", "line").
    shown: False: never drawn (work that is part of a larger bar's).
  """
  return tqdm.tqdm(total=total, desc=what, unit=unit, file=sys.stderr,
                   disable=None if shown else True, leave=False,
                   dynamic_ncols=True)


def _clock(seconds: float) -> str:
  minutes, secs = divmod(int(seconds), 60)
  hours, minutes = divmod(minutes, 60)
  return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Progress:
  """Prints `step N/M [task] loss x | ex/s | ETA` at most every `interval` s.

  Args:
    total: steps in all.
    start: the step the loop starts from (a resumed run).
    stream: where to print (stderr); a terminal gets one updating line.
    interval: seconds between prints.
  """

  def __init__(self, total: int, start: int = 0, stream=None,
               interval: float = 1.0):
    self.total = total
    self.start = start
    self.stream = stream or sys.stderr
    self.interval = interval
    self.began = time.monotonic()
    self.last_print = 0.0
    self.examples = 0
    self.tty = self.stream.isatty()

  def update(self, step: int, task: str, loss: float, examples: int,
             force: bool = False):
    """Records `examples` more trained rows; prints if it is time to."""
    self.examples += examples
    if self._due(force):
      self._print(f"step {step}/{self.total} [{task}] loss {loss:.4f} | "
                  f"{self.examples_per_second():.1f} ex/s | "
                  f"ETA {self._eta(step)}", step)

  def _due(self, force: bool) -> bool:
    """Whether to print now (every `interval` seconds, or when forced)."""
    now = time.monotonic()
    if not force and now - self.last_print < self.interval:
      return False
    self.last_print = now
    return True

  def _eta(self, step: int) -> str:
    elapsed = max(time.monotonic() - self.began, 1e-9)
    return _clock((self.total - step) * elapsed / max(step - self.start, 1))

  def _print(self, line: str, step: int):
    end = "\r" if self.tty and step < self.total else "\n"
    self.stream.write(line.ljust(78) + end)
    self.stream.flush()

  def examples_per_second(self) -> float:
    return self.examples / max(time.monotonic() - self.began, 1e-9)
