"""The bad inputs of docs/errors.md as data: a `Case` is a command, its
arguments (made from `Inputs`, files written on demand in a test's tmp
folder), the kind word of its error line and the culprit the line must
name; `assert_refused` runs one (tests/test_checks.py,
tests/test_errors.py)."""

import dataclasses
import importlib
import json
import os
import shutil
from typing import Callable, List

import pytest

from bluebert_mtl.config import TrainConfig
from bluebert_mtl.runs import run_dir
from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl.train import trainer as trainer_lib
from conftest import SAMPLE_DIR

CHEMPROT = os.path.join(SAMPLE_DIR, "chemprot")
BERT_FILES = ("bert_config.json", "vocab.txt", "bert_model.ckpt.index",
              "bert_model.ckpt.data-00000-of-00001")


class Inputs:
  """The inputs a case is made of, written on demand under `tmp`."""

  def __init__(self, tmp, bert_dir: str):
    self.tmp = tmp
    self.bert = bert_dir
    self.run = str(tmp / "run")

  def file(self, name: str, content=b"") -> str:
    path = self.tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str)
                     else content)
    return str(path)

  def chemprot(self, split: str = "train", append: bytes = b"",
               drop: bool = False, folder: str = "data") -> str:
    """A data folder holding the sample chemprot, `append` added to the
    split's file or (`drop`) that file left out."""
    path = self.tmp / folder / "chemprot" / f"{split}.tsv"
    shutil.copytree(CHEMPROT, path.parent, dirs_exist_ok=True)
    if drop:
      path.unlink()
    else:
      with open(path, "ab") as f:
        f.write(append)
    return str(self.tmp / folder)

  def edited(self, path: str, old: str, new: str) -> str:
    """A copy of `path` with its first `old` replaced by `new`."""
    with open(path, encoding="utf-8") as f:
      text = f.read()
    return self.file(f"edited/{os.path.basename(path)}",
                     text.replace(old, new, 1))

  def bert_copy(self, weights: bool = True, **config) -> str:
    """The tiny BERT's files (without weights if not `weights`), with
    values of bert_config.json replaced by `config`."""
    folder = self.tmp / "bert"
    folder.mkdir()
    for name in BERT_FILES[:2] + (BERT_FILES[2:] if weights else ()):
      shutil.copyfile(os.path.join(self.bert, name), folder / name)
    values = json.loads((folder / BERT_FILES[0]).read_text())
    (folder / BERT_FILES[0]).write_text(json.dumps({**values, **config}))
    return str(folder)

  def train_args(self, *extra: str, data_dir: str = SAMPLE_DIR) -> List[str]:
    return [f"--bert_dir={self.bert}", f"--data_dir={data_dir}",
            "--tasks=chemprot", f"--output_dir={self.run}",
            "--max_seq_length=32", *extra]

  def export_args(self, *extra: str) -> List[str]:
    return [f"--model_dir={self.finished_run()}",
            f"--export_dir={self.tmp / 'serving'}", *extra]

  def evaluate_args(self, pred: str,
                    gold: str = os.path.join(CHEMPROT, "dev.tsv")):
    return ["--task=chemprot", f"--gold_file={gold}", f"--pred_file={pred}"]

  def predict_args(self, *extra: str, model_dir: str = "") -> List[str]:
    return [f"--model_dir={model_dir or self.finished_run()}",
            f"--input_file={self.file('in.txt', 'a')}",
            f"--output_file={self.tmp / 'out.jsonl'}", *extra]

  def features_args(self, *extra: str, bert: str = "") -> List[str]:
    return [f"--bert_dir={bert or self.bert}",
            f"--input_file={self.file('in.txt', 'a')}",
            f"--output_file={self.tmp / 'out.jsonl'}", *extra]

  def finished_run(self, data_dir: str = SAMPLE_DIR) -> str:
    """The folder a finished run of `train_args()` leaves, its weights an
    empty index file (no case reads them)."""
    config = TrainConfig(tasks=("chemprot",), data_dir=data_dir,
                         output_dir=self.run, max_seq_length=32)
    bert = os.path.join(self.bert, "bert_model.ckpt")
    run_dir.write_run_files(self.run, config,
                            os.path.join(self.bert, BERT_FILES[0]),
                            os.path.join(self.bert, BERT_FILES[1]),
                            [tasks_lib.get_task("chemprot")], bert,
                            trainer_lib.data_record(config))
    run_dir.write_results(self.run, {"chemprot": {}})
    run_dir.write_timing(self.run, 1.0, resumed=False, scoring_seconds=0.0)
    self.file("run/final/weights.index")
    return self.run

  def unwritable_folder(self) -> str:
    """A folder this process may not write into (skips where none can be
    made: root ignores permissions, and /proc/sys is writable here)."""
    folder = self.tmp / "read_only"
    folder.mkdir(mode=0o555)
    for candidate in (str(folder), "/proc/sys"):
      if os.path.isdir(candidate) and not os.access(candidate, os.W_OK):
        return candidate
    pytest.skip("no unwritable folder can be made here")


@dataclasses.dataclass(frozen=True)
class Case:
  """A bad input: the row `id` of docs/errors.md.

  Attributes:
    id: the row's id.
    command: its module in bluebert_mtl.commands.
    args: (Inputs) -> the command-line arguments.
    what: the kind word the line starts with (`error: <what>: `).
    culprit: (Inputs, args) -> what the message must name.
  """
  id: str
  command: str
  args: Callable
  what: str
  culprit: Callable


def named(text: str) -> Callable:
  """A culprit the case knows as it is."""
  return lambda i, args: text


def arg_value(prefix: str) -> Callable:
  """The value of the last argument that starts with `prefix` (absl's)."""
  return lambda i, args: [a for a in args if a.startswith(prefix)][-1][
      len(prefix):]


def data_file(split: str, line=None) -> Callable:
  suffix = "" if line is None else f":{line}"
  return lambda i, args: f"{arg_value('--data_dir=')(i, args)}/chemprot/" \
                         f"{split}.tsv{suffix}"


def train_flag(case_id: str, arg: str, culprit: str,
               command: str = "train") -> Case:
  """A training command refusing flag `arg`, its message naming `culprit`."""
  return Case(case_id, command, lambda i: i.train_args(arg), "flag",
              named(culprit))


TASK_DEF = "name: mine\ntype: classification\nformat: relation\n" \
            "labelz: [a, b]\nmetric: accuracy\n"


def truncated(bert_dir: str) -> str:
  path = os.path.join(bert_dir, BERT_FILES[3])
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) // 2)
  return bert_dir


def after_finished_run(i: Inputs, *extra: str) -> List[str]:
  i.finished_run()
  return i.train_args(*extra)


def version_exists(i: Inputs) -> List[str]:
  os.makedirs(i.tmp / "serving" / "chemprot" / "1")
  return i.export_args("--tasks=chemprot")


def _tree(folder) -> List[str]:
  return sorted(os.path.relpath(os.path.join(root, name), folder)
                for root, dirs, names in os.walk(folder)
                for name in dirs + names)


def changed_data_run(i: Inputs) -> List[str]:
  """A finished run of the sample chemprot whose dev file changed since."""
  data_dir = i.chemprot("dev")
  i.finished_run(data_dir)
  with open(os.path.join(data_dir, "chemprot", "dev.tsv"), "ab") as f:
    f.write(b"9.T1\t@CHEMICAL$ and @GENE$ .\tfalse\n")
  return i.train_args(data_dir=data_dir)


def assert_refused(case: Case, run_command, bert_dir: str, tmp) -> None:
  """Runs `case`'s command on its input: exit status 2, one line
  `error: <what>: ` naming the culprit on stderr, nothing on stdout, no
  traceback, nothing written."""
  inputs = Inputs(tmp, bert_dir)
  args = case.args(inputs)
  before = _tree(tmp)
  module = importlib.import_module(f"bluebert_mtl.commands.{case.command}")
  code, out, err = run_command(module.define_flags, module.main, *args)
  assert code == 2, err
  assert "Traceback" not in err and out == ""
  assert err.count("\n") == 1 and err.startswith(f"error: {case.what}: ")
  assert case.culprit(inputs, args) in err
  assert _tree(tmp) == before  # nothing written
