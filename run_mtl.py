"""Multi-task training of BlueBERT on BLUE tasks (MT-BlueBERT-Refinement).

  python run_mtl.py --flagfile=flags/mt_bluebert_biomedical.flags \
      --bert_dir=NCBI_BERT_pubmed_uncased_L-12_H-768_A-12 --output_dir=runs/mt

(also `bluebert-mtl-train`, `python -m bluebert_mtl.commands.train`).
Rerunning the same command resumes from the run's last checkpoint, or reads a
finished run (one with timing.json) back. Results:
OUTPUT_DIR/results.json, OUTPUT_DIR/predictions/<task>_{dev,test}.tsv,
TensorBoard logs in OUTPUT_DIR/tensorboard.
"""

import bluebert_mtl  # noqa: F401  (selects tf-keras before TensorFlow loads)

from bluebert_mtl.commands import train

if __name__ == "__main__":
  train.run()
