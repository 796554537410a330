"""Fine-tunes BlueBERT on one BLUE task at a time.

MT-BlueBERT-Fine-Tune: the encoder of a multi-task run (--init_checkpoint:
run_mtl.py's output folder, or one of its checkpoints), a fresh head per task:

  python run_finetune.py --init_checkpoint=runs/mt_bluebert_biomedical \
      --tasks=chemprot,ddi2013-type --data_dir=BLUE --output_dir=runs/ft

The single-task baseline: the same from an original BlueBERT checkpoint
(--bert_dir, or --init_checkpoint with --bert_config_file and --vocab_file):

  python run_finetune.py --flagfile=flags/baseline_biomedical.flags \
      --bert_dir=NCBI_BERT_pubmed_uncased_L-12_H-768_A-12 --data_dir=BLUE

(also `bluebert-mtl-finetune`, `python -m bluebert_mtl.commands.finetune`).
Each task of --task / --tasks trains alone into OUTPUT_DIR/<task>/ with its
released epochs and learning rate (`finetune.RECIPES`) unless
--num_train_epochs or --learning_rate is given. --seeds=1,2,3 trains each
seed into OUTPUT_DIR/<task>/seed_<s>/ and writes their mean ± sd to
OUTPUT_DIR/<task>/results.json. Each task's dev-selected predictions and
results.json are as run_mtl.py's; timing.json holds the wall time. Rerunning
resumes unfinished runs and reads finished ones back. flags/finetune_*.flags
and flags/baseline_*.flags run the paper's stages.
"""

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)

from bluebert_mtl.commands import finetune

if __name__ == "__main__":
  finetune.run()
