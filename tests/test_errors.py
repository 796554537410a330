"""Every bad input of docs/errors.md, through the command that meets it:
exit status 2, one line `error: <what>: ...` on stderr naming the culprit
(the flag, file and line, key or folder), no traceback, nothing written.

Commands run in this process (`run_command`), most of them stopping before
any model is built; the two training failures (disk full while
checkpointing, a NaN loss) train the tiny BERT on the sample data for a few
steps. docs/errors.md and `CASES` list the same ids.
"""

import dataclasses
import importlib
import json
import os
import re
import shutil
from typing import Callable, List

import pytest
import tensorflow as tf

from bluebert_mtl.config import TrainConfig
from bluebert_mtl.runs import run_dir
from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl.train import step as step_lib
from bluebert_mtl.train import trainer as trainer_lib
from conftest import REPO_ROOT, SAMPLE_DIR

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
    run_dir.write_timing(self.run, 1.0, resumed=False)
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


def _text(text: str) -> Callable:
  """A culprit the case knows as it is."""
  return lambda i, args: text


def _arg(prefix: str) -> Callable:
  """The value of the last argument that starts with `prefix` (absl's)."""
  return lambda i, args: [a for a in args if a.startswith(prefix)][-1][
      len(prefix):]


def _data_file(split: str, line=None) -> Callable:
  suffix = "" if line is None else f":{line}"
  return lambda i, args: f"{_arg('--data_dir=')(i, args)}/chemprot/" \
                         f"{split}.tsv{suffix}"


def _train_flag(case_id: str, arg: str, named: str,
                command: str = "train") -> Case:
  """A training command refusing flag `arg`, its message naming `named`."""
  return Case(case_id, command, lambda i: i.train_args(arg), "flag",
              _text(named))


_TASK_DEF = "name: mine\ntype: classification\nformat: relation\n" \
            "labelz: [a, b]\nmetric: accuracy\n"


def _truncated(bert_dir: str) -> str:
  path = os.path.join(bert_dir, BERT_FILES[3])
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) // 2)
  return bert_dir


def _after_finished_run(i: Inputs, *extra: str) -> List[str]:
  i.finished_run()
  return i.train_args(*extra)


def _version_exists(i: Inputs) -> List[str]:
  os.makedirs(i.tmp / "serving" / "chemprot" / "1")
  return i.export_args("--tasks=chemprot")


def _tree(folder) -> List[str]:
  return sorted(os.path.relpath(os.path.join(root, name), folder)
                for root, dirs, names in os.walk(folder)
                for name in dirs + names)


def _changed_data_run(i: Inputs) -> List[str]:
  """A finished run of the sample chemprot whose dev file changed since."""
  data_dir = i.chemprot("dev")
  i.finished_run(data_dir)
  with open(os.path.join(data_dir, "chemprot", "dev.tsv"), "ab") as f:
    f.write(b"9.T1\t@CHEMICAL$ and @GENE$ .\tfalse\n")
  return i.train_args(data_dir=data_dir)


CASES = [
    # --- flags, as absl parses them
    _train_flag("unknown_flag", "--learnig_rate=1", "'learnig_rate'"),
    _train_flag("flag_value_not_a_number", "--train_batch_size=lots",
                "--train_batch_size=lots"),
    _train_flag("flag_value_not_a_choice", "--optimizer=sgd",
                "--optimizer=sgd"),
    Case("required_flag_missing", "train",
         lambda i: [a for a in i.train_args() if "--data_dir" not in a],
         "flag", _text("Flag --data_dir must have a value")),
    _train_flag("positional_argument", "chemprot",
                "unexpected arguments: chemprot"),
    Case("flag_below_bound", "extract_features",
         lambda i: i.features_args("--batch_size=0"), "flag",
         _text("--batch_size=0")),
    # --- flags, as the training commands check them before any work
    _train_flag("batch_size_not_positive", "--train_batch_size=0",
                "--train_batch_size must be > 0, got 0"),
    _train_flag("epochs_not_positive", "--num_train_epochs=0",
                "--num_train_epochs must be > 0"),
    _train_flag("max_steps_not_positive", "--max_steps=-5",
                "--max_steps must be > 0, got -5", "finetune"),
    _train_flag("checkpoint_cadence_not_positive", "--save_checkpoints_steps=0",
                "--save_checkpoints_steps must be > 0"),
    _train_flag("logging_cadence_not_positive", "--log_every_steps=0",
                "--log_every_steps must be > 0"),
    _train_flag("learning_rate_negative", "--learning_rate=-1e-5",
                "--learning_rate must be >= 0, got -1e-05"),
    _train_flag("warmup_outside_0_1", "--warmup_proportion=1.5",
                "--warmup_proportion must be in [0, 1], got 1.5"),
    Case("more_micro_batches_than_rows", "train",
         lambda i: i.train_args("--train_batch_size=4",
                                "--gradient_accumulation_steps=8"), "flag",
         _text("--gradient_accumulation_steps=8 is more than "
               "--train_batch_size=4")),
    _train_flag("task_named_twice", "--tasks=chemprot,hoc,chemprot",
                "--tasks names a task twice: chemprot,hoc,chemprot"),
    Case("max_seq_length_above_positions", "train",
         lambda i: i.train_args("--max_seq_length=1024"), "flag",
         lambda i, args: f"--max_seq_length=1024 must be in [3, 512] "
                         f"(max_position_embeddings of {i.bert}/"
                         "bert_config.json)"),
    _train_flag("loss_weight_not_a_number", "--loss_weights=chemprot=heavy",
                "--loss_weights: 'chemprot=heavy'"),
    Case("output_dir_is_a_file", "train",
         lambda i: i.train_args(f"--output_dir={i.file('taken')}"), "flag",
         lambda i, args: f"--output_dir={i.tmp / 'taken'} is a file"),
    Case("output_dir_not_writable", "train",
         lambda i: i.train_args(
             f"--output_dir={i.unwritable_folder()}/run"), "flag",
         lambda i, args: f"{_arg('--output_dir=')(i, args)}: the folder "
                         f"{os.path.dirname(_arg('--output_dir=')(i, args))}"
                         " is not writable"),
    Case("cache_dir_is_a_file", "train",
         lambda i: i.train_args(f"--cache_dir={i.file('cache')}"), "flag",
         lambda i, args: f"--cache_dir={i.tmp / 'cache'} is a file"),
    _train_flag("seeds_not_integers", "--seeds=1,two", "--seeds", "finetune"),
    Case("export_dir_under_a_file", "export",
         lambda i: i.export_args()[:1] + [f"--export_dir={i.file('f')}/models"],
         "flag", lambda i, args: f"lies under the file {i.tmp / 'f'}"),
    Case("output_file_is_a_folder", "extract_features",
         lambda i: i.features_args(f"--output_file={i.tmp}"), "flag",
         lambda i, args: f"--output_file={i.tmp} is a folder"),
    Case("input_dir_not_a_folder", "convert_checkpoint",
         lambda i: [f"--input_dir={i.tmp / 'hf'}",
                    f"--output_dir={i.tmp / 'tf1'}"], "flag",
         lambda i, args: f"--input_dir={i.tmp / 'hf'} is not a folder"),
    # --- configuration: tasks, BERT files
    Case("unknown_task", "train", lambda i: i.train_args("--tasks=chemprot2"),
         "config", _text("unknown task 'chemprot2'")),
    Case("task_definition_unknown_key", "train",
         lambda i: i.train_args(f"--task_def={i.file('t.yaml', _TASK_DEF)}",
                                "--tasks=mine"), "config",
         lambda i, args: f"{i.tmp / 't.yaml'}: unknown keys ['labelz']"),
    Case("bert_config_not_json", "train",
         lambda i: i.train_args(
             f"--bert_config_file={i.file('c.json', '{vocab')}"), "config",
         lambda i, args: f"{i.tmp / 'c.json'}: not valid JSON"),
    Case("bert_dir_missing", "extract_features",
         lambda i: i.features_args(bert=str(i.tmp / "nowhere")), "config",
         lambda i, args: f"--bert_dir is not a folder: {i.tmp / 'nowhere'}"),
    Case("casing_against_vocab", "train",
         lambda i: i.train_args("--nodo_lower_case"), "config",
         lambda i, args: f"{i.bert}/vocab.txt: an uncased vocab"),
    Case("vocab_size_against_config", "convert_checkpoint",
         lambda i: [f"--input_dir={i.bert_copy(vocab_size=100)}",
                    f"--output_dir={i.tmp / 'tf1'}"], "config",
         lambda i, args: f"{i.tmp / 'bert'}/vocab.txt"),
    # --- checkpoints
    Case("no_weights", "extract_features",
         lambda i: i.features_args(bert=i.bert_copy(weights=False)), "config",
         lambda i, args: f"{i.tmp / 'bert'}: no weights found"),
    Case("weights_do_not_fit_config", "extract_features",
         lambda i: i.features_args(bert=i.bert_copy(intermediate_size=48)),
         "checkpoint",
         lambda i, args: f"{i.tmp / 'bert'}/bert_model.ckpt.index: variable "
                         "bert/encoder/layer_0/intermediate/dense/kernel has "
                         "shape [32, 64] but the BERT config gives [32, 48]"),
    Case("truncated_checkpoint", "extract_features",
         lambda i: i.features_args(bert=_truncated(i.bert_copy())),
         "checkpoint",
         lambda i, args: f"{i.tmp / 'bert'}/bert_model.ckpt.data-*: cannot "
                         "read variable"),
    Case("torch_file_not_a_pickle", "import_mtdnn",
         lambda i: [f"--bert_dir={i.bert}", "--tasks=chemprot",
                    f"--init_checkpoint={i.file('mt.pt', b'PK')}",
                    f"--output_dir={i.tmp / 'imported'}"], "checkpoint",
         lambda i, args: f"{i.tmp / 'mt.pt'}: not a readable torch"),
    # --- data files
    Case("data_folder_missing", "train",
         lambda i: i.train_args(data_dir=str(i.tmp / "nowhere")), "data",
         lambda i, args: f"{i.tmp / 'nowhere'}/chemprot: cannot list"),
    Case("split_file_missing", "train",
         lambda i: i.train_args(data_dir=i.chemprot("dev", drop=True)),
         "data", lambda i, args: f"{i.tmp / 'data'}/chemprot: no dev file"),
    Case("row_with_wrong_columns", "train",
         lambda i: i.train_args(data_dir=i.chemprot(append=b"9.T1\tx\n")),
         "data", _data_file("train", 32)),
    Case("unknown_label", "train",
         lambda i: i.train_args(data_dir=i.chemprot(
             append=b"9.T1\t@CHEMICAL$ binds @GENE$ .\tCPR:99\n")),
         "data", _data_file("train", 32)),
    Case("not_utf8", "train",
         lambda i: i.train_args(data_dir=i.chemprot(
             "dev", append=b"9.T1\tcaf\xe9\tfalse\n")),
         "data", _data_file("dev", 12)),
    Case("unterminated_quote", "train",
         lambda i: i.train_args(data_dir=i.chemprot(
             "test", append=b'9.T1\t"open quote\tfalse\n')),
         "data", _data_file("test", 12)),
    Case("input_text_missing", "extract_features",
         lambda i: i.features_args(f"--input_file={i.tmp / 'none.txt'}"),
         "data", lambda i, args: f"{i.tmp / 'none.txt'}: cannot read it"),
    # --- prediction files (evaluate)
    Case("gold_file_missing", "evaluate",
         lambda i: i.evaluate_args(os.path.join(CHEMPROT, "dev.tsv"),
                             gold=str(i.tmp / "gold.tsv")), "data",
         lambda i, args: f"{i.tmp / 'gold.tsv'}: cannot read it"),
    Case("prediction_rows_not_gold_rows", "evaluate",
         lambda i: i.evaluate_args(os.path.join(CHEMPROT, "test.tsv")), "data",
         lambda i, args: f"{CHEMPROT}/test.tsv: its rows are not those of "
                         f"the gold file {CHEMPROT}/dev.tsv"),
    Case("prediction_unknown_label", "evaluate",
         lambda i: i.evaluate_args(i.edited(os.path.join(CHEMPROT, "dev.tsv"),
                                         "CPR:3", "CPR:99")), "data",
         lambda i, args: f"{i.tmp / 'edited/dev.tsv'}:2"),
    Case("prediction_file_empty", "evaluate",
         lambda i: i.evaluate_args(i.file("pred.tsv")), "data",
         lambda i, args: f"{i.tmp / 'pred.tsv'}: empty file"),
    Case("evaluate_unknown_task", "evaluate",
         lambda i: ["--task=chemprt"] + i.evaluate_args("p.tsv")[1:], "config",
         _text("unknown task 'chemprt'")),
    # --- run folders
    Case("run_recipe_changed", "train",
         lambda i: _after_finished_run(i, "--learning_rate=1e-4"),
         "run folder",
         lambda i, args: f"{i.run}: this run was trained with other settings"
                         " or data than now (run != now): learning_rate: "
                         "5e-05 != 0.0001"),
    Case("run_data_changed", "train", lambda i: _changed_data_run(i),
         "run folder",
         lambda i, args: f"data chemprot/dev: {i.tmp / 'data'}/chemprot/"
                         "dev.tsv (sha256 "),
    Case("not_a_run_folder", "export",
         lambda i: [f"--model_dir={i.tmp}", f"--export_dir={i.tmp / 'out'}"],
         "run folder",
         lambda i, args: f"--model_dir {i.tmp} is neither a run folder"),
    Case("checkpoint_outside_a_run", "export_hf",
         lambda i: [f"--model_dir={i.bert}/bert_model.ckpt",
                    f"--export_dir={i.tmp / 'hf'}"], "run folder",
         lambda i, args: f"checkpoint {i.bert}/bert_model.ckpt is not inside "
                         "a training run folder"),
    Case("export_version_exists", "export", _version_exists, "config",
         lambda i, args: f"version 1 of task chemprot exists already "
                         f"({i.tmp}/serving/chemprot/1)"),
    Case("export_task_not_in_run", "export",
         lambda i: i.export_args("--tasks=hoc"), "config",
         lambda i, args: f"task 'hoc' is in none of the runs {i.run}"),
    Case("report_run_not_name_folder", "report",
         lambda i: [f"--runs={i.run}", f"--output={i.tmp / 'r.md'}"],
         "config", lambda i, args: f"--runs: '{i.run}' is not name=folder"),
    Case("report_run_without_results", "report",
         lambda i: [f"--runs=MT={i.tmp}", f"--output={i.tmp / 'r.md'}"],
         "config",
         lambda i, args: f"--runs: {i.tmp} holds no results.json"),
    Case("pairwise_one_task", "pairwise", lambda i: i.train_args(), "config",
         _text("--tasks: give two or more distinct tasks")),
]

@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_stops_with_one_line_naming_it(case, run_command,
                                                 tiny_bert_dir, tmp_path):
  inputs = Inputs(tmp_path, tiny_bert_dir)
  args = case.args(inputs)
  before = _tree(tmp_path)
  module = importlib.import_module(f"bluebert_mtl.commands.{case.command}")
  code, out, err = run_command(module.define_flags, module.main, *args)
  assert code == 2, err
  assert "Traceback" not in err and out == ""
  assert err.count("\n") == 1 and err.startswith(f"error: {case.what}: ")
  assert case.culprit(inputs, args) in err
  assert _tree(tmp_path) == before  # nothing written


# --- training: a failed checkpoint write and a diverged loss ---------------

def _train(run_command, tiny_bert_dir, tmp_path, *extra: str):
  """The train command on the sample chemprot (4 steps an epoch), checkpoint
  every 2 steps: (exit status, stderr, the run's checkpoints folder). The
  step display's lines come before the error's."""
  from bluebert_mtl.commands import train  # pylint: disable=g-import-not-at-top
  args = Inputs(tmp_path, tiny_bert_dir).train_args(
      "--train_batch_size=8", "--num_train_epochs=1",
      "--save_checkpoints_steps=2", *extra)
  code, _, err = run_command(train.define_flags, train.main, *args)
  return code, err, os.path.join(tmp_path, "run", run_dir.CHECKPOINTS)


def test_disk_full_while_checkpointing_keeps_the_last_good_checkpoint(
    run_command, tiny_bert_dir, tmp_path, monkeypatch):
  original = tf.train.CheckpointManager.save
  saves = []

  def save(manager, checkpoint_number=None, **kwargs):
    saves.append(checkpoint_number)
    if len(saves) == 2:  # the second checkpoint fills the disk half-written
      def write(prefix, options=None):
        del options
        os.makedirs(prefix + "_temp")
        with open(prefix + "_temp/part-00000-of-00001.index", "wb") as f:
          f.write(b"half")
        raise tf.errors.ResourceExhaustedError(
            None, None, f"{prefix}_temp: No space left on device")
      # pylint: disable-next=protected-access
      monkeypatch.setattr(manager._checkpoint, "_write", write)
    return original(manager, checkpoint_number, **kwargs)

  monkeypatch.setattr(tf.train.CheckpointManager, "save", save)
  code, err, folder = _train(run_command, tiny_bert_dir, tmp_path)
  kept = os.path.join(folder, "ckpt-2")
  assert saves == [2, 4] and code == 2 and "Traceback" not in err
  assert err.splitlines()[-1] == (
      f"error: output: {folder}: no space left on the device while writing "
      f"checkpoint 4 (the last good checkpoint, {kept}, is kept)")
  assert tf.train.latest_checkpoint(folder) == kept
  assert sorted(os.listdir(folder)) == [
      "checkpoint", "ckpt-2.data-00000-of-00001", "ckpt-2.index"]
  reader = tf.train.load_checkpoint(kept)
  assert "global_step/.ATTRIBUTES/VARIABLE_VALUE" in \
      reader.get_variable_to_shape_map()
  assert reader.get_tensor("global_step/.ATTRIBUTES/VARIABLE_VALUE") == 2


def test_nan_loss_stops_naming_the_task_step_and_last_checkpoint(
    run_command, tiny_bert_dir, tmp_path, monkeypatch):
  make_train_step = step_lib.make_train_step

  def diverging(*args, **kwargs):
    train_step = make_train_step(*args, **kwargs)
    calls = []
    def step(batch):
      calls.append(1)
      loss, norm, applied = train_step(batch)
      return (float("nan") if len(calls) == 3 else loss), norm, applied
    return step

  monkeypatch.setattr(step_lib, "make_train_step", diverging)
  code, err, folder = _train(run_command, tiny_bert_dir, tmp_path)
  assert code == 2 and "Traceback" not in err
  assert err.splitlines()[-1] == (
      "error: training: the loss of task chemprot is nan at step 3; the last "
      f"good checkpoint is {folder}/ckpt-2")


def test_docs_table_lists_every_case():
  with open(os.path.join(REPO_ROOT, "docs", "errors.md"),
            encoding="utf-8") as f:
    table = f.read().split("## Every bad input handled")[1]
  rows = [line for line in table.splitlines()
          if re.match(r"\| [^-]", line)][1:]
  ids = [re.findall(r"`([a-z0-9_]+)`", row.split("|")[-2])[0]
         for row in rows]
  assert ids == [c.id for c in CASES] + ["disk_full", "nan_loss"]
  assert len(ids) >= 30
