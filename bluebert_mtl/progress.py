"""A one-line progress display for long loops: step, task, loss, speed, ETA
(training), or items done, items/s, ETA (prediction)."""

import sys
import time


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

  def advance(self, items: int, unit: str):
    """Records `items` more items done, for a loop whose steps are the items
    themselves (`total` of them); prints `N/M unit | x unit/s | ETA`."""
    self.examples += items
    done = self.start + self.examples
    if self._due(done >= self.total):
      self._print(f"{done}/{self.total} {unit} | "
                  f"{self.examples_per_second():.1f} {unit}/s | "
                  f"ETA {self._eta(done)}", done)

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
