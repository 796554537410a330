"""The paper's experiments: fine-tuning stages, pairwise MTL, result tables."""
