"""bluebert_mtl.serve.serving_dir: the export folder's models, recipes and
models.config, on folders written by hand (a `saved_model.pb` file marks a
version)."""

import os

import pytest

from bluebert_mtl import tasks as tasks_lib
from bluebert_mtl.errors import ConfigError
from bluebert_mtl.serve import serving_dir
from bluebert_mtl.serve.serving_dir import Recipe

CHEMPROT = tasks_lib.TASKS["chemprot"]


def _version(export_dir, model, version):
  folder = os.path.join(export_dir, model, str(version))
  os.makedirs(folder)
  open(os.path.join(folder, "saved_model.pb"), "w").close()
  return folder


def _recipe(tmp_path, task=CHEMPROT, run="runs/a", max_seq_length=128):
  vocab = tmp_path / "vocab.txt"
  vocab.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\n")
  return Recipe(task, str(vocab), True, max_seq_length, False,
                f"/abs/{run}", f"/abs/{run}/best/{task.name}/weights")


def _layout(export_dir):
  """chemprot (versions 1, 2; the raw-text one 1 only), hoc_ids, preprocess,
  a folder without a version and a temporary folder."""
  for model, version in (("chemprot", 1), ("chemprot_ids", 1),
                         ("chemprot_ids", 2), ("hoc_ids", 3),
                         ("preprocess", 3)):
    _version(export_dir, model, version)
  os.makedirs(os.path.join(export_dir, "notes", "draft"))
  os.makedirs(os.path.join(export_dir, "hoc_ids", ".4-tmp1234"))


EXPECTED_CONFIG = """\
model_config_list {
  config {
    name: "chemprot"
    base_path: "/models/serving/chemprot"
    model_platform: "tensorflow"
  }
  config {
    name: "chemprot_ids"
    base_path: "/models/serving/chemprot_ids"
    model_platform: "tensorflow"
  }
  config {
    name: "hoc_ids"
    base_path: "/models/serving/hoc_ids"
    model_platform: "tensorflow"
  }
  config {
    name: "preprocess"
    base_path: "/models/serving/preprocess"
    model_platform: "tensorflow"
  }
}
"""


EXPECTED_IDS_CONFIG = """\
model_config_list {
  config {
    name: "chemprot_ids"
    base_path: "/models/serving/chemprot_ids"
    model_platform: "tensorflow"
  }
  config {
    name: "hoc_ids"
    base_path: "/models/serving/hoc_ids"
    model_platform: "tensorflow"
  }
}
"""


def test_models_config_lists_every_model_folder(tmp_path):
  export_dir = str(tmp_path / "serving")
  _layout(export_dir)
  assert serving_dir.versions(os.path.join(export_dir, "chemprot_ids")) == [
      1, 2]
  server = serving_dir.server_path(export_dir, "/models/serving/")
  every, ids = serving_dir.write_models_config(export_dir, server)
  assert every == os.path.join(export_dir, "models.config")
  assert open(every).read() == EXPECTED_CONFIG
  assert open(ids).read() == EXPECTED_IDS_CONFIG
  assert sorted(os.listdir(export_dir)) == [
      "chemprot", "chemprot_ids", "hoc_ids", "models.config",
      "models_ids.config", "notes", "preprocess"]  # no temporary file left
  assert serving_dir.server_path(export_dir, None) == os.path.abspath(
      export_dir)
  assert serving_dir.server_path(export_dir, "gs://b/serving") == (
      "gs://b/serving")
  with pytest.raises(ConfigError, match=r"--server_export_dir 'serving' is "
                     "not absolute"):
    serving_dir.server_path(export_dir, "serving")


def test_models_config_parses_as_tf_serving_model_server_config(tmp_path):
  protos = pytest.importorskip(
      "tensorflow_serving.config.model_server_config_pb2",
      reason="TF Serving's protos are in the pip package "
      "tensorflow-serving-api (not a dependency of the project): install it "
      "(pinned to the TensorFlow version) to parse models.config with them")
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  export_dir = str(tmp_path / "serving")
  _layout(export_dir)
  server = '/srv/odd "quoted" \\dir'
  text = open(serving_dir.write_models_config(export_dir, server)[0]).read()
  config = text_format.Parse(text, protos.ModelServerConfig())
  assert [(c.name, c.base_path, c.model_platform)
          for c in config.model_config_list.config] == [
              (name, f"{server}/{name}", "tensorflow") for name in
              ("chemprot", "chemprot_ids", "hoc_ids", "preprocess")]


def test_recipe_round_trip_and_newest_versions(tmp_path):
  export_dir = str(tmp_path / "serving")
  _layout(export_dir)
  old = _recipe(tmp_path, max_seq_length=64)
  new = _recipe(tmp_path, run="runs/b")
  hoc = _recipe(tmp_path, tasks_lib.TASKS["hoc"])
  old.write(os.path.join(export_dir, "chemprot_ids", "1"))
  new.write(os.path.join(export_dir, "chemprot_ids", "2"))
  hoc.write(os.path.join(export_dir, "hoc_ids", "3"))
  served = serving_dir.served_recipes(export_dir)
  assert sorted(served) == ["chemprot", "hoc"]
  version, read = served["chemprot"]
  assert version == 2 and read.task == CHEMPROT
  assert read.vocab_file == os.path.join(export_dir, "chemprot_ids", "2",
                                         "assets.extra", "vocab.txt")
  assert open(read.vocab_file).read() == open(new.vocab_file).read()
  assert (read.do_lower_case, read.max_seq_length, read.second_text_first,
          read.run_dir, read.weights) == (
              True, 128, False, "/abs/runs/b",
              "/abs/runs/b/best/chemprot/weights")
  assert served["hoc"][1].task == tasks_lib.TASKS["hoc"]
  # Same vocab bytes and settings preprocess alike, wherever the file is.
  assert read.preprocessing() == new.preprocessing() != old.preprocessing()


def test_refusals(tmp_path):
  export_dir = str(tmp_path / "serving")
  ids = _version(export_dir, "chemprot_ids", 1)
  for exporting in (None, {"hoc": 1}, {"chemprot": 0}):
    with pytest.raises(ConfigError, match=r"chemprot_ids/1: no preprocessing "
                       r"recipe .*exported before recipes were kept"):
      serving_dir.served_recipes(export_dir, exporting)
  # An export of chemprot's version 1 (or newer) replaces it as the newest.
  assert serving_dir.served_recipes(export_dir, {"chemprot": 1}) == {}
  _recipe(tmp_path, tasks_lib.TASKS["hoc"]).write(ids)
  with pytest.raises(ConfigError, match="its recipe is of task 'hoc', not "
                     "'chemprot'"):
    serving_dir.served_recipes(export_dir)
  _recipe(tmp_path).write(ids)
  b = _recipe(tmp_path, run="runs/b")
  with pytest.raises(ConfigError, match=(
      r"version 1 of task chemprot exists already \(.*chemprot_ids/1\), "
      r"exported from run /abs/runs/a \(weights .*\); this export's is from "
      r"run /abs/runs/b \(weights /abs/runs/b/best/chemprot/weights\)\. "
      r"Give --overwrite")):
    serving_dir.replaced_folders(export_dir, {"chemprot": b}, 1, False)
  assert serving_dir.replaced_folders(export_dir, {"chemprot": b}, 1,
                                      True) == [ids]
  assert serving_dir.replaced_folders(export_dir, {"chemprot": b}, 2,
                                      False) == []
  with pytest.raises(ConfigError, match="model folders chemprot_ids would "
                     "serve two models"):
    serving_dir.check_names(["chemprot_ids"], ["chemprot"])
  with pytest.raises(ConfigError, match="model folders preprocess would"):
    serving_dir.check_names(["preprocess"], [])
