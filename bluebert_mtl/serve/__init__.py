"""Using a trained run: TF Serving exports, in-graph preprocessing, features of raw text."""
