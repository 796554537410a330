"""Hugging Face `transformers` folders of a training run's tasks.

  EXPORT_DIR/<task>/    config.json, model.safetensors, vocab.txt,
                        tokenizer_config.json, README.md (model card)
  EXPORT_DIR/encoder/   the same for the encoder alone, as a `BertModel`

A task folder holds the encoder and that task's head with the task's best-dev
weights (`best/<task>/weights`, else `final/weights`; `run_dir.RunSource`),
and loads with `AutoModelForSequenceClassification` or
`AutoModelForTokenClassification` (docs/huggingface.md):

  kind            architecture                   problem_type (num_labels)
  classification  BertForSequenceClassification  single_label_classification (C)
  multilabel      BertForSequenceClassification  multi_label_classification (C)
  regression      BertForSequenceClassification  regression (1)
  tagging         BertForTokenClassification     - (C)

Weights (C labels, H hidden): every row of `checkpoints.tf1_variable_table`
under its HF key (`hf_source.hf_key`; dense kernels transposed to torch's
[out, in]), `bert.`-prefixed in task folders; the head's dense layer as
`classifier.weight` float32 [C, H] and `classifier.bias` [C], rows in the
order of the task's labels (`id2label`). Our PooledHead is dropout + dense on
the pooled output, as HF's sequence classifier; TokenHead is dropout + dense
on the sequence output, as HF's token classifier, which has no pooler (none
is written). `hidden_act` "gelu" is the exact erf GELU in both.

Tokenization matches the run's: `do_lower_case` and the vocab of the run,
`model_max_length` = its max_seq_length (HF truncates pairs longest-first, as
the run did). A run trained with --second_text_first packed pairs
hypothesis-first; its model cards say to pass the texts in that order.
"""

import json
import os
import shutil
from typing import Dict, List, Optional, Sequence

from absl import logging
import numpy as np
from safetensors.numpy import save_file
import tf_keras

from bluebert_mtl.model import heads
from bluebert_mtl.config import BertConfig, TrainConfig
from bluebert_mtl.errors import ConfigError
from bluebert_mtl.model import checkpoints
from bluebert_mtl.model import hf_source
from bluebert_mtl.model import modeling
from bluebert_mtl.model import multitask_model
from bluebert_mtl.runs import run_dir


ENCODER_FOLDER = "encoder"
WEIGHTS_FILE = "model.safetensors"

CITATION = """\
@inproceedings{peng2020empirical,
  title = {An Empirical Study of Multi-Task Learning on {BERT} for
           Biomedical Text Mining},
  author = {Peng, Yifan and Chen, Qingyu and Lu, Zhiyong},
  booktitle = {Proceedings of the 19th SIGBioMed Workshop on Biomedical
               Language Processing (BioNLP 2020)},
  pages = {205--214},
  year = {2020},
  note = {arXiv:2005.02799}
}"""


def encoder_tensors(encoder: tf_keras.layers.Layer, config: BertConfig,
                    prefix: str = "", pooler: bool = True
                    ) -> Dict[str, np.ndarray]:
  """The encoder's weights under their HF keys, in torch layout.

  Args:
    encoder: a layer made by `modeling.build_bert_encoder(config)`.
    config: its architecture.
    prefix: put before every key ("bert." inside a task model).
    pooler: include the pooler (BertForTokenClassification has none).

  Returns:
    HF key -> float32 array: dense kernels [out, in], the rest as in TF1.
  """
  variables = checkpoints.encoder_variables(encoder)
  tensors = {}
  for mapping in checkpoints.tf1_variable_table(config):
    if not pooler and mapping.tf1_name in hf_source.OPTIONAL_NAMES:
      continue
    key, transpose = hf_source.hf_key(mapping.tf1_name)
    value = variables[mapping.encoder_name].numpy().reshape(mapping.tf1_shape)
    tensors[prefix + key] = np.ascontiguousarray(value.T if transpose
                                                 else value)  # [out, in]
  return tensors


def _label_names(task) -> List[str]:
  return list(task.labels) if task.labels else ["score"]


def hf_config(config: BertConfig, task=None) -> dict:
  """config.json of a `BertModel` (task None) or of the task's model."""
  values = {"architectures": ["BertModel"], "model_type": "bert",
            **config.to_dict(), "layer_norm_eps": 1e-12,
            "position_embedding_type": "absolute",
            "pad_token_id": 0}  # What padding holds (datasets.py).
  if task is None:
    return values
  kind = task.task_kind
  labels = _label_names(task)
  values.update(architectures=[kind.hf_architecture],
                classifier_dropout=task.head_dropout,
                id2label={str(i): name for i, name in enumerate(labels)},
                label2id={name: i for i, name in enumerate(labels)})
  if kind.hf_problem_type:
    values["problem_type"] = kind.hf_problem_type
  return values


def tokenizer_config(train_config: TrainConfig) -> dict:
  return {"tokenizer_class": "BertTokenizer",
          "do_lower_case": train_config.do_lower_case,
          "model_max_length": train_config.max_seq_length,
          "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
          "cls_token": "[CLS]", "mask_token": "[MASK]"}


def _scores(task, results: dict) -> str:
  entry = results.get(task.name, {})
  cells = []
  for split in ("dev", "test"):
    value = (entry.get(split) or {}).get(task.metric)
    cells.append(f"{value:.4f}" if isinstance(value, (int, float))
                 else "not scored")
  return (f"| task | metric | dev | test |\n|---|---|---|---|\n"
          f"| {task.name} | {task.metric} | {cells[0]} | {cells[1]} |")


def model_card(task, train_config: TrainConfig, results: dict) -> str:
  """README.md of a task folder: task, data, metric, scores, usage, citation."""
  architecture = task.task_kind.hf_architecture
  pair = task.is_pair
  order = ("hypothesis (second text) first: `tokenizer(text_b, text_a)`, as "
           "the run packed pairs (--second_text_first)"
           if train_config.second_text_first else
           "`tokenizer(text_a, text_b)`")
  usage = (f"Inputs are text pairs: {order}." if pair else
           "Each input is one text" + (
               "; a tag is predicted at each word's first WordPiece."
               if task.task_kind.token_level else "."))
  return f"""---
language: en
library_name: transformers
tags: [bluebert, mt-bluebert, blue-benchmark, biomedical]
---

# {task.name} ({task.kind}), trained with bluebert-mtl

A BERT encoder and a `{architecture}` head trained on the BLUE task
`{task.name}` (data folder `{train_config.data_dir}`, file format
`{task.file_format}`; tasks of the run: {", ".join(train_config.tasks)}),
exported from the weights with the best dev score. Labels: {
", ".join(_label_names(task))}.

Scores (official BLUE metric `{task.metric}`, from the run's results.json):

{_scores(task, results)}

Usage: `AutoTokenizer` and `AutoModelFor{architecture[len("BertFor"):]}` from
this folder; at most {train_config.max_seq_length} WordPieces,
lower-casing {"on" if train_config.do_lower_case else "off"}. {usage}

Training as in MT-BlueBERT:

```bibtex
{CITATION}
```
"""


def _write_folder(folder: str, tensors: Dict[str, np.ndarray], config: dict,
                  vocab_file: str, tokenizer: dict, card: str) -> None:
  """Writes a model folder whole (`run_dir.replace_folder`)."""

  def write(path):
    save_file(tensors, os.path.join(path, WEIGHTS_FILE),
              metadata={"format": "pt"})
    for name, value in (("config.json", config),
                        ("tokenizer_config.json", tokenizer)):
      with open(os.path.join(path, name), "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2)
    shutil.copyfile(vocab_file, os.path.join(path, "vocab.txt"))
    with open(os.path.join(path, "README.md"), "w", encoding="utf-8") as f:
      f.write(card)

  run_dir.replace_folder(folder, write)
  logging.info("Wrote %s", folder)


def write_encoder_folder(encoder: tf_keras.layers.Layer, config: BertConfig,
                         vocab_file: str, train_config: TrainConfig,
                         folder: str) -> None:
  """Writes `encoder` as a Hugging Face `BertModel` folder."""
  card = (f"# BERT encoder trained with bluebert-mtl\n\nThe shared encoder of "
          f"a run on {', '.join(train_config.tasks)}, as a `BertModel`.\n\n"
          f"```bibtex\n{CITATION}\n```\n")
  _write_folder(folder, encoder_tensors(encoder, config),
                hf_config(config),
                vocab_file, tokenizer_config(train_config), card)


def _task_tensors(model, task, config: BertConfig) -> Dict[str, np.ndarray]:
  tensors = encoder_tensors(multitask_model.encoder_of(model), config,
                            prefix="bert.",
                            pooler=not task.task_kind.token_level)
  dense = model.get_layer(heads.head_name(task.name)).dense
  tensors["classifier.weight"] = np.ascontiguousarray(
      dense.kernel.numpy().T)  # [H, C] -> [C, H]
  tensors["classifier.bias"] = dense.bias.numpy()  # [C]
  return tensors


def export_run_hf(model_dir: str, export_dir: str,
                  task_names: Optional[Sequence[str]] = None,
                  encoder_only: bool = False,
                  overwrite: bool = False) -> List[str]:
  """Writes the Hugging Face folders of a run (module docstring).

  Args:
    model_dir: a run folder, or a checkpoint prefix inside one (every task
      then reads it).
    export_dir: where the folders go.
    task_names: tasks of the run to export (None: all of them).
    encoder_only: write EXPORT_DIR/encoder alone (from the checkpoint given,
      else the run's final weights).
    overwrite: replace existing folders.

  Returns:
    the folders written.

  Raises:
    ConfigError: unknown task, existing folders without `overwrite`, or a
      folder that is not a run.
    CheckpointError: a checkpoint without the encoder or a task's head.
  """
  source = run_dir.RunSource.resolve(model_dir)
  tasks, task_names = run_dir.select_tasks(source.run_dir, task_names)
  names = [ENCODER_FOLDER] if encoder_only else task_names
  folders = [os.path.join(export_dir, name) for name in names]
  existing = [folder for folder in folders if os.path.exists(folder)]
  if existing and not overwrite:
    raise ConfigError(f"{', '.join(existing)} exist already; give --overwrite "
                      "to replace them")
  train_config = run_dir.read_train_config(source.run_dir)
  config = BertConfig.from_json_file(
      os.path.join(source.run_dir, run_dir.BERT_CONFIG))
  vocab_file = os.path.join(source.run_dir, run_dir.VOCAB)
  if encoder_only:
    encoder = modeling.build_bert_encoder(config)
    multitask_model.restore_encoder_layer(
        encoder, source.checkpoint or run_dir.final_weights(source.run_dir))
    write_encoder_folder(encoder, config, vocab_file, train_config,
                         folders[0])
    return folders
  results = (run_dir.read_results(source.run_dir)
             if os.path.isfile(os.path.join(source.run_dir, run_dir.RESULTS))
             else {})
  for name, folder in zip(task_names, folders):
    task = tasks[name]
    model = multitask_model.build_multitask_model(
        modeling.build_bert_encoder(config), [task])
    multitask_model.restore_task_weights(model, name, source.weights(name))
    _write_folder(folder, _task_tensors(model, task, config),
                  hf_config(config, task), vocab_file,
                  tokenizer_config(train_config),
                  model_card(task, train_config, results))
  return folders
