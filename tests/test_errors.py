"""Every bad input of docs/errors.md but the flags (tests/test_checks.py),
through the command that meets it: exit status 2, one line
`error: <what>: ...` on stderr naming the culprit (the file and line, key
or folder), no traceback, nothing written (`bad_inputs.assert_refused`).

Commands run in this process (`run_command`), most of them stopping before
any model is built; the two training failures (disk full while
checkpointing, a NaN loss) train the tiny BERT on the sample data for a few
steps. docs/errors.md and the cases list the same ids.
"""

import os
import re

import pytest
import tensorflow as tf

from bluebert_mtl.runs import run_dir
from bluebert_mtl.train import step as step_lib
from conftest import REPO_ROOT
import test_checks
from bad_inputs import (CHEMPROT, Case, Inputs, assert_refused,
                        after_finished_run, changed_data_run, data_file,
                        TASK_DEF, named, truncated, version_exists)

CASES = [
    # --- configuration: tasks, BERT files
    Case("unknown_task", "train", lambda i: i.train_args("--tasks=chemprot2"),
         "config", named("unknown task 'chemprot2'")),
    Case("task_definition_unknown_key", "train",
         lambda i: i.train_args(f"--task_def={i.file('t.yaml', TASK_DEF)}",
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
         lambda i: i.features_args(bert=truncated(i.bert_copy())),
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
         "data", data_file("train", 32)),
    Case("unknown_label", "train",
         lambda i: i.train_args(data_dir=i.chemprot(
             append=b"9.T1\t@CHEMICAL$ binds @GENE$ .\tCPR:99\n")),
         "data", data_file("train", 32)),
    Case("not_utf8", "train",
         lambda i: i.train_args(data_dir=i.chemprot(
             "dev", append=b"9.T1\tcaf\xe9\tfalse\n")),
         "data", data_file("dev", 12)),
    Case("unterminated_quote", "train",
         lambda i: i.train_args(data_dir=i.chemprot(
             "test", append=b'9.T1\t"open quote\tfalse\n')),
         "data", data_file("test", 12)),
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
         named("unknown task 'chemprt'")),
    # --- run folders
    Case("run_recipe_changed", "train",
         lambda i: after_finished_run(i, "--learning_rate=1e-4"),
         "run folder",
         lambda i, args: f"{i.run}: this run was trained with other settings"
                         " or data than now (run != now): learning_rate: "
                         "5e-05 != 0.0001"),
    Case("run_data_changed", "train", lambda i: changed_data_run(i),
         "run folder",
         lambda i, args: f"data chemprot/dev: {i.tmp / 'data'}/chemprot/"
                         "dev.tsv (sha256 "),
    Case("not_a_run_folder", "export",
         lambda i: [f"--model_dir={i.tmp}", f"--export_dir={i.tmp / 'out'}"],
         "run folder",
         lambda i, args: f"--model_dir {i.tmp} is neither a run folder"),
    Case("predict_model_dir_not_a_run", "predict",
         lambda i: i.predict_args(model_dir=str(i.tmp / "in.txt")),
         "run folder",
         lambda i, args: f"--model_dir {i.tmp / 'in.txt'} is neither a run "
                         "folder nor a checkpoint prefix"),
    Case("checkpoint_outside_a_run", "export_hf",
         lambda i: [f"--model_dir={i.bert}/bert_model.ckpt",
                    f"--export_dir={i.tmp / 'hf'}"], "run folder",
         lambda i, args: f"checkpoint {i.bert}/bert_model.ckpt is not inside "
                         "a training run folder"),
    Case("export_version_exists", "export", version_exists, "config",
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
         named("--tasks: give two or more distinct tasks")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_stops_with_one_line_naming_it(case, run_command,
                                                 tiny_bert_dir, tmp_path):
  assert_refused(case, run_command, tiny_bert_dir, tmp_path)


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


def test_disk_full_while_writing_best_weights_names_them(
    run_command, tiny_bert_dir, tmp_path, monkeypatch):
  original = tf.train.Checkpoint.write

  def write(checkpoint, file_prefix, options=None):
    if f"{os.sep}best{os.sep}" in file_prefix:
      raise tf.errors.ResourceExhaustedError(None, None,
                                             "No space left on device")
    return original(checkpoint, file_prefix, options)

  monkeypatch.setattr(tf.train.Checkpoint, "write", write)
  code, err, _ = _train(run_command, tiny_bert_dir, tmp_path)
  assert code == 2 and "Traceback" not in err
  assert err.splitlines()[-1] == (
      f"error: output: {tmp_path}/run/best/chemprot: no space left on the "
      "device while writing the best weights of chemprot")


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
  assert ids == [c.id for c in test_checks.CASES + CASES] + [
      "disk_full", "disk_full_best_weights", "nan_loss"]
  assert len(ids) >= 30
