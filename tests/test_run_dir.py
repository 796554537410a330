"""A run folder is resumed or read back (by run_finetune.py and run_mtl.py
alike) only under its own recipe, start and data:
other training flags, other starting weights or changed data files are
refused with what differs, while paths, cadence and logging may change, and
the same weights or data copied elsewhere count as the same."""

import hashlib
import json
import os
import shutil

import pytest

import numpy_bert
from bluebert_mtl.runs import run_dir
from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl.train import trainer as trainer_lib
from bluebert_mtl.train.start import Start
from bluebert_mtl.config import BertFiles, TrainConfig
from bluebert_mtl.errors import ConfigError, RunFolderError
from conftest import SAMPLE_DIR, TINY_ENCODER_CONFIG

RESULTS = {"chemprot": {"dev": {"micro_f1": 0.5}, "test": {"micro_f1": 0.4}}}


def _config(output_dir, **overrides):
  values = dict(tasks=("chemprot",), data_dir=SAMPLE_DIR,
                output_dir=str(output_dir), max_seq_length=32,
                train_batch_size=8, learning_rate=1e-3, num_train_epochs=1)
  return TrainConfig(**dict(values, **overrides))


def _finished_run(folder, config, bert_dir, data=None):
  """A run folder as a finished run of `config` from `bert_dir` leaves it
  (with data.json of `data`, a data record, if given)."""
  files = BertFiles.resolve(bert_dir=bert_dir)
  run_dir.write_run_files(str(folder), config, files.config_file,
                          files.vocab_file, [tasks_lib.get_task("chemprot")],
                          files.checkpoint, data)
  run_dir.write_results(str(folder), RESULTS)
  run_dir.write_timing(str(folder), 1.0, resumed=False, scoring_seconds=0.25)


def _start(bert_dir):
  return Start(BertFiles.resolve(bert_dir=bert_dir))


@pytest.fixture(name="other_bert_dir")
def fixture_other_bert_dir(tiny_bert_dir, tmp_path):
  """The tiny BERT's config and vocab with other random weights."""
  folder = tmp_path / "other_bert"
  shutil.copytree(tiny_bert_dir, folder)
  numpy_bert.write_tf1_checkpoint(
      numpy_bert.random_tf1_weights(TINY_ENCODER_CONFIG, seed=1),
      str(folder / "bert_model.ckpt"))
  return str(folder)


def test_start_json_names_the_checkpoint_and_the_hash_of_its_index(
    tiny_bert_dir, tmp_path):
  config = _config(tmp_path / "run")
  _finished_run(tmp_path / "run", config, tiny_bert_dir)
  prefix = os.path.join(tiny_bert_dir, "bert_model.ckpt")
  with open(prefix + ".index", "rb") as f:
    expected = hashlib.sha256(f.read()).hexdigest()
  with open(tmp_path / "run" / "start.json") as f:
    assert json.load(f) == {"checkpoint": prefix, "index_sha256": expected}


def _run_finetune(config, bert_dir, task):
  return trainer_lib.train(config, _start(bert_dir), task)


def _run_mtl(config, bert_dir, task):
  return trainer_lib.train(config, _start(bert_dir), task)


@pytest.mark.parametrize("train", [_run_finetune, _run_mtl])
def test_a_finished_run_is_read_back_only_with_its_own_flags(
    tiny_bert_dir, tmp_path, train):
  config = _config(tmp_path / "run")
  _finished_run(tmp_path / "run", config, tiny_bert_dir)
  task = [tasks_lib.get_task("chemprot")]
  # Where the data and cache live and how often it logs do not count.
  elsewhere = tmp_path / "elsewhere"
  shutil.copytree(os.path.join(SAMPLE_DIR, "chemprot"), elsewhere / "chemprot")
  moved = _config(tmp_path / "run", data_dir=str(elsewhere),
                  cache_dir=str(tmp_path / "cache"), log_every_steps=1,
                  save_checkpoints_steps=7)
  assert train(moved, tiny_bert_dir, task) == RESULTS
  # Another learning rate and seed would be another run: refused, not read.
  other = _config(tmp_path / "run", learning_rate=5e-5, seed=3)
  with pytest.raises(ConfigError) as error:
    train(other, tiny_bert_dir, task)
  message = str(error.value)
  assert str(tmp_path / "run") in message
  assert "learning_rate: 0.001 != 5e-05" in message
  assert "seed: 2018 != 3" in message
  assert "data_dir" not in message and "log_every_steps" not in message


def test_a_run_is_read_back_only_from_the_same_weights(
    tiny_bert_dir, other_bert_dir, tmp_path):
  config = _config(tmp_path / "run")
  _finished_run(tmp_path / "run", config, tiny_bert_dir)
  task = [tasks_lib.get_task("chemprot")]
  copied = tmp_path / "copied_bert"
  shutil.copytree(tiny_bert_dir, copied)
  assert trainer_lib.train(config, _start(str(copied)), task) == RESULTS
  with pytest.raises(ConfigError) as error:
    trainer_lib.train(config, _start(other_bert_dir), task)
  message = str(error.value)
  assert "encoder start: " in message
  assert os.path.join(tiny_bert_dir, "bert_model.ckpt") in message
  assert os.path.join(other_bert_dir, "bert_model.ckpt") in message


def test_a_begun_run_is_not_resumed_with_other_flags(tiny_bert_dir, tmp_path):
  config = _config(tmp_path / "run")
  files = BertFiles.resolve(bert_dir=tiny_bert_dir)
  run_dir.write_run_files(str(tmp_path / "run"), config, files.config_file,
                          files.vocab_file, [tasks_lib.get_task("chemprot")],
                          files.checkpoint)
  with pytest.raises(ConfigError, match=r"num_train_epochs: 1 != 3"):
    trainer_lib.Trainer(_config(tmp_path / "run", num_train_epochs=3),
                        Start(files),
                     [tasks_lib.get_task("chemprot")])
  with pytest.raises(ConfigError, match=r"tasks: \('chemprot',\) != "
                     r"\('chemprot', 'hoc'\)"):
    trainer_lib.Trainer(_config(tmp_path / "run", tasks=("chemprot", "hoc")),
                        Start(files),
                        [tasks_lib.get_task(n) for n in ("chemprot", "hoc")])


def test_a_run_from_before_start_json_is_checked_on_its_flags_only(
    tiny_bert_dir, other_bert_dir, tmp_path):
  config = _config(tmp_path / "run")
  _finished_run(tmp_path / "run", config, tiny_bert_dir)
  os.remove(tmp_path / "run" / "start.json")
  assert trainer_lib.train(config, _start(other_bert_dir),
                             [tasks_lib.get_task("chemprot")]) == RESULTS


def test_train_config_of_an_unknown_version_is_named(tmp_path):
  with open(tmp_path / "train_config.json", "w") as f:
    json.dump({"tasks": ["chemprot"], "dropout_schedule": "cosine"}, f)
  with pytest.raises(ConfigError, match=r"train_config.json: fields this "
                     r"version does not know: dropout_schedule"):
    run_dir.read_train_config(str(tmp_path))


def _chemprot_copy(folder) -> str:
  """A data folder holding a copy of the sample chemprot files."""
  shutil.copytree(os.path.join(SAMPLE_DIR, "chemprot"), folder / "chemprot")
  return str(folder)


def test_data_json_holds_the_sha256_of_every_data_file(tiny_bert_dir,
                                                        tmp_path):
  config = _config(tmp_path / "run", data_dir=_chemprot_copy(tmp_path / "d"))
  _finished_run(tmp_path / "run", config, tiny_bert_dir,
                trainer_lib.data_record(config))
  expected = {}
  for split in ("train", "dev", "test"):
    path = os.path.join(config.data_dir, "chemprot", f"{split}.tsv")
    with open(path, "rb") as f:
      expected[f"chemprot/{split}"] = {
          "file": path, "sha256": hashlib.sha256(f.read()).hexdigest()}
  with open(tmp_path / "run" / "data.json") as f:
    assert json.load(f) == expected


@pytest.mark.parametrize("finished", [True, False])
def test_a_run_whose_data_changed_is_refused_naming_the_file(
    tiny_bert_dir, tmp_path, finished):
  config = _config(tmp_path / "run", data_dir=_chemprot_copy(tmp_path / "d"))
  _finished_run(tmp_path / "run", config, tiny_bert_dir,
                trainer_lib.data_record(config))
  if not finished:
    os.remove(tmp_path / "run" / "timing.json")
  task = [tasks_lib.get_task("chemprot")]
  # The same bytes elsewhere are the same data.
  moved = _config(tmp_path / "run",
                  data_dir=_chemprot_copy(tmp_path / "moved"))
  if finished:
    assert trainer_lib.train(moved, _start(tiny_bert_dir), task) == RESULTS
  dev = os.path.join(moved.data_dir, "chemprot", "dev.tsv")
  with open(dev, encoding="utf-8") as f:
    text = f.read()
  with open(dev, "w", encoding="utf-8") as f:
    f.write(text.replace("CPR:3", "CPR:4", 1))
  with pytest.raises(RunFolderError) as error:
    trainer_lib.train(moved, _start(tiny_bert_dir), task)
  message = str(error.value)
  assert f"data chemprot/dev: {config.data_dir}/chemprot/dev.tsv " in message
  assert f" != {dev} (sha256 " in message
  assert "chemprot/train" not in message
