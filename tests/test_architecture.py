"""The package's layering (docs/architecture.md): each part imports only the
parts below it, and no module outside task_kinds.py tests a kind's name."""

import ast
import glob
import os

from conftest import REPO_ROOT

PACKAGE = os.path.join(REPO_ROOT, "bluebert_mtl")
LEAVES = {"config", "errors", "files", "tokenization", "progress",
          "metrics"}
# The registry and the per-kind building blocks it composes from serve/.
REGISTRY = {"tasks", "task_kinds", "serve.decoding", "serve.preprocess",
            "serve.task_io", "serve.spans"}
# part -> the parts it may import (itself always).
ALLOWED = {
    "facade": {"leaf", "data", "model", "registry", "runs", "train", "serve"},
    "leaf": {"leaf"},
    "data": {"leaf"},
    "model": {"leaf", "data"},
    "registry": {"leaf", "data", "model"},
    "runs": {"leaf", "model", "registry"},
    "train": {"leaf", "data", "model", "registry", "runs"},
    "serve": {"leaf", "data", "model", "registry", "runs"},
    "study": {"leaf", "data", "model", "registry", "runs", "train", "serve"},
    "commands": {"leaf", "data", "model", "registry", "runs", "train",
                 "serve", "study"},
}


def _module_name(path: str) -> str:
  relative = os.path.relpath(path, PACKAGE)[:-len(".py")]
  return relative.replace(os.sep, ".").removesuffix(".__init__")


def _part(module: str) -> str:
  if module == "__init__":
    return "facade"  # the package's public names, imported lazily
  if module in LEAVES:
    return "leaf"
  if module in REGISTRY:
    return "registry"
  return module.split(".")[0]


def _imports(path: str):
  """The package modules a file imports (bluebert_mtl.X -> X)."""
  tree = ast.parse(open(path, encoding="utf-8").read())
  for node in ast.walk(tree):
    if isinstance(node, ast.ImportFrom) and node.module and (
        node.module.startswith("bluebert_mtl.") or
        node.module == "bluebert_mtl"):
      base = node.module.removeprefix("bluebert_mtl").lstrip(".")
      for alias in node.names:
        name = f"{base}.{alias.name}" if base else alias.name
        yield name if os.path.exists(os.path.join(
            PACKAGE, *name.split("."))) or os.path.exists(os.path.join(
                PACKAGE, *name.split(".")) + ".py") else base


def test_each_part_imports_only_the_parts_below_it():
  wrong = []
  for path in glob.glob(os.path.join(PACKAGE, "**", "*.py"), recursive=True):
    part = _part(_module_name(path))
    for imported in _imports(path):
      imported_part = _part(imported)
      if imported_part != part and imported_part not in ALLOWED[part]:
        wrong.append(f"{_module_name(path)} ({part}) imports {imported} "
                     f"({imported_part})")
  assert not wrong, "\n".join(wrong)


def test_only_task_kinds_names_kinds():
  kinds = ("regression", "classification", "multilabel", "tagging")
  offenders = []
  for path in glob.glob(os.path.join(PACKAGE, "**", "*.py"), recursive=True):
    if os.path.basename(path) == "task_kinds.py":
      continue
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
      if isinstance(node, ast.Compare) and any(
          isinstance(c, ast.Constant) and c.value in kinds
          for c in [node.left, *node.comparators]):
        offenders.append(f"{_module_name(path)}:{node.lineno}")
  assert not offenders, offenders
