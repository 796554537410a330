"""The task heads of an MT-DNN / MT-BlueBERT PyTorch checkpoint, as ours.

Dims: H hidden, C a head's classes (ours), K the same head's classes in
MT-BlueBERT.

MT-BlueBERT saves `torch.save({"state": state_dict, "config": ..., ...})`
(docs/original_system.md §3.2, §3.6; docs/huggingface.md): the encoder under
`bert.*`, which `hf_source.HFSource` reads like any PyTorch BERT (so
`--bert_dir` / `--init_checkpoint` take the file as it is), and one linear head
per training task, `scoring_list.<i>.weight` float32 [K, H] and `.bias` [K], i
in the order of its `--train_datasets`. The file does not name the tasks: the
caller lists them in that order.

Head rows follow MT-BlueBERT's label order (`MTDNN_LABELS`, its
blue_task_def.yml) and are moved to this port's order by label name (MedNLI
differs: contradiction, neutral, entailment there). Its NER heads score six
classes, O, B-x, I-x and X, CLS, SEP: the last three are trained on
non-first sub-tokens, [CLS] and [SEP], positions this port's tag heads never
read (a word's tag is the argmax at its first sub-token), so their rows are
dropped. A first sub-token MT-BlueBERT tagged X, CLS or SEP (its scorer
counts that wrong) gets the best of O, B and I here; every other prediction
is unchanged.
"""

import re
from typing import Dict, Mapping, Sequence, Tuple

import numpy as np

from bluebert_mtl.model import heads as heads_lib
from bluebert_mtl.errors import CheckpointError
from bluebert_mtl.errors import ConfigError
from bluebert_mtl.model import hf_weights

_NER = ("O", "B-{}", "I-{}", "X", "CLS", "SEP")
# MT-BlueBERT's label order of each BLUE task (blue_task_def.yml); () for
# regression (one output).
MTDNN_LABELS = {
    "clinicalsts": (),
    "biosses": (),
    "mednli": ("contradiction", "neutral", "entailment"),
    "chemprot": ("CPR:3", "CPR:4", "CPR:5", "CPR:6", "CPR:9", "false"),
    "ddi2013-type": ("DDI-advise", "DDI-effect", "DDI-int", "DDI-mechanism",
                     "DDI-false"),
    "i2b2-2010-re": ("PIP", "TeCP", "TeRP", "TrAP", "TrCP", "TrIP", "TrNAP",
                     "TrWP", "false"),
    "bc5cdr-disease": tuple(t.format("Disease") for t in _NER),
    "bc5cdr-chemical": tuple(t.format("Chemical") for t in _NER),
    "shareclefe": tuple(t.format("Disease") for t in _NER),
}
_HEAD_KEY = re.compile(r"^scoring_list\.(\d+)\.(weight|bias)$")


def _rows(task, path: str) -> list:
  """Which of MT-BlueBERT's head rows each of our outputs is."""
  if task.name not in MTDNN_LABELS:
    raise ConfigError(f"{path}: task {task.name} has no head in MT-BlueBERT "
                      f"(its tasks: {', '.join(MTDNN_LABELS)})")
  labels = MTDNN_LABELS[task.name]
  if not labels:
    return [0]
  missing = [label for label in task.labels if label not in labels]
  if missing:
    raise ConfigError(f"{path}: task {task.name}'s label {missing[0]!r} is "
                      f"not one of MT-BlueBERT's ({', '.join(labels)})")
  return [labels.index(label) for label in task.labels]


def read_mtdnn_heads(path: str, tasks: Sequence
                     ) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
  """The heads of an MT-BlueBERT checkpoint in our label order.

  Args:
    path: the `.pt` file.
    tasks: `TaskSpec`s in the order of the checkpoint's heads (its
      `--train_datasets`), one per head.

  Returns:
    task name -> (kernel float32 [H, C], bias float32 [C]).

  Raises:
    CheckpointError: naming the file and key, when it is unreadable, holds
      another number of heads than `tasks`, or a head of another shape than
      its task's MT-BlueBERT labels.
    ConfigError: a task MT-BlueBERT has no head for, or a label it lacks.
  """
  weights = hf_weights.read_weights(path)
  count = len({m[1] for m in map(_HEAD_KEY.match, weights) if m})
  if count != len(tasks):
    raise CheckpointError(
        f"{path}: holds {count} task heads (scoring_list.*) but "
        f"{len(tasks)} tasks were given ({', '.join(t.name for t in tasks)})")
  heads = {}
  for i, task in enumerate(tasks):
    rows = _rows(task, path)
    weight, bias = (weights.get(f"scoring_list.{i}.{leaf}")
                    for leaf in ("weight", "bias"))
    classes = len(MTDNN_LABELS.get(task.name) or (0,))
    if weight is None or bias is None or weight.shape[0] != classes or (
        bias.shape != (classes,)):
      raise CheckpointError(
          f"{path}: key scoring_list.{i}.weight/bias (task {task.name}) "
          f"missing or not of {classes} classes (MT-BlueBERT's labels of "
          f"{task.name}): {None if weight is None else list(weight.shape)}")
    heads[task.name] = (weight[rows].T.astype(np.float32),  # [K, H] -> [H, C]
                        bias[rows].astype(np.float32))
  return heads


def assign_heads(model, heads: Mapping[str, Tuple[np.ndarray, np.ndarray]]):
  """Sets the dense layers of the model's heads to `read_mtdnn_heads`'s.

  Raises:
    CheckpointError: a head of another shape than the model's.
  """
  for name, (kernel, bias) in heads.items():
    dense = model.get_layer(heads_lib.head_name(name)).dense
    if tuple(dense.kernel.shape) != kernel.shape:
      raise CheckpointError(
          f"head of task {name}: MT-BlueBERT's is {list(kernel.shape)}, the "
          f"model's {list(dense.kernel.shape)} (another hidden size?)")
    dense.kernel.assign(kernel)
    dense.bias.assign(bias)
