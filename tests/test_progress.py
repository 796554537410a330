"""progress.py: the one-line progress display."""

import io
import re

from bluebert_mtl.progress import Progress


def test_advance_counts_items():
  stream = io.StringIO()
  progress = Progress(total=5, stream=stream, interval=0.0)
  progress.advance(2, "sentences")
  progress.advance(3, "sentences")
  lines = stream.getvalue().splitlines()
  assert [line.split(" |")[0] for line in lines] == ["2/5 sentences",
                                                     "5/5 sentences"]
  assert all(re.fullmatch(r"\d+/5 sentences \| [\d.]+ sentences/s \| "
                          r"ETA \d+:\d\d *", line) for line in lines)
  assert lines[-1].split("ETA ")[1].strip() == "0:00"


def test_update_shows_step_task_and_loss():
  stream = io.StringIO()
  Progress(total=10, start=4, stream=stream, interval=0.0).update(
      5, "chemprot", 0.25, examples=32)
  assert stream.getvalue().startswith("step 5/10 [chemprot] loss 0.2500 | ")
