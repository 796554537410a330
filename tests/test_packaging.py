"""pyproject.toml against what the project tests: the installed stack (the
exact pins of requirements*.txt under `make install`) falls in its dependency
ranges, and every command has a console script that resolves."""

import glob
import importlib
from importlib import metadata
import os
import tomllib

from packaging.requirements import Requirement

from conftest import REPO_ROOT


def _pyproject() -> dict:
  with open(os.path.join(REPO_ROOT, "pyproject.toml"), "rb") as f:
    return tomllib.load(f)


def test_installed_stack_is_within_every_dependency_range():
  for text in _pyproject()["project"]["dependencies"]:
    requirement = Requirement(text)
    installed = metadata.version(requirement.name)
    assert requirement.specifier.contains(installed), (text, installed)


def test_every_command_has_a_console_script_that_resolves():
  scripts = _pyproject()["project"]["scripts"]
  commands = {os.path.basename(path)[:-3] for path in glob.glob(
      os.path.join(REPO_ROOT, "bluebert_mtl", "commands", "*.py"))}
  commands -= {"__init__", "cli", "program"}  # helpers, not commands
  assert set(scripts) == {"bluebert-mtl-" + name.replace("_", "-")
                          for name in commands}
  for name, target in scripts.items():
    module_name, function = target.split(":")
    assert module_name == "bluebert_mtl.commands." + name[
        len("bluebert-mtl-"):].replace("-", "_")
    assert callable(getattr(importlib.import_module(module_name), function))
