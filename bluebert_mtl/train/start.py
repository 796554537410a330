"""Where a run's encoder weights come from (the paper's stages, docs/stages).

  baseline / MT-Refinement  an original BlueBERT download (TF1 checkpoint),
                            or random weights when it has none;
  MT-BlueBERT-Fine-Tune     the encoder of a multi-task run of this port (its
                            folder or one of its checkpoints), heads fresh:
                            the paper's "strip" of every task layer.
"""

import dataclasses
import os
from typing import Optional

import tensorflow as tf

from bluebert_mtl.config import BertFiles
from bluebert_mtl.runs import run_dir


@dataclasses.dataclass(frozen=True)
class Start:
  """Where a run's encoder comes from.

  Attributes:
    bert_files: config and vocab of the encoder; `bert_files.checkpoint` is
      the TF1 checkpoint of a download, None when `encoder_checkpoint` is set.
    encoder_checkpoint: prefix of a multi-task run's checkpoint whose encoder
      the run starts from (heads fresh), or None.
  """
  bert_files: BertFiles
  encoder_checkpoint: Optional[str] = None

  @property
  def checkpoint(self) -> Optional[str]:
    """The prefix the encoder's weights come from (None: random)."""
    return self.encoder_checkpoint or self.bert_files.checkpoint


def _object_checkpoint(path: str) -> Optional[str]:
  """The TF2 object-based checkpoint `path` names or holds (a run folder
  holds its latest in checkpoints/), or None (e.g. a TF1 checkpoint)."""
  prefix = run_dir.latest_checkpoint(path) if os.path.isdir(path) else path
  if not prefix or not os.path.exists(prefix + ".index"):
    return None
  names = {name for name, _ in tf.train.list_variables(prefix)}
  return prefix if "_CHECKPOINTABLE_OBJECT_GRAPH" in names else None


def resolve_start(bert_dir: Optional[str] = None,
                  bert_config_file: Optional[str] = None,
                  init_checkpoint: Optional[str] = None,
                  vocab_file: Optional[str] = None) -> Start:
  """The start named by the BERT flags.

  An `init_checkpoint` that is a multi-task run (its folder or a TF2
  checkpoint of it) gives the MT-BlueBERT-Fine-Tune start, with config and
  vocab from the run folder unless given; anything else is a BlueBERT
  download resolved as `BertFiles.resolve` does (the baseline).
  """
  encoder_checkpoint = (_object_checkpoint(init_checkpoint)
                        if init_checkpoint else None)
  if encoder_checkpoint is None:
    return Start(BertFiles.resolve(bert_dir, bert_config_file,
                                   init_checkpoint, vocab_file))
  files_dir = bert_dir or run_dir.run_folder_of(encoder_checkpoint)
  if files_dir:
    bert_config_file = bert_config_file or os.path.join(files_dir,
                                                        run_dir.BERT_CONFIG)
    vocab_file = vocab_file or os.path.join(files_dir, run_dir.VOCAB)
  return Start(BertFiles.resolve(None, bert_config_file, None, vocab_file),
               encoder_checkpoint)
