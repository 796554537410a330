"""Using a trained run: TF Serving and Hugging Face exports, in-graph
preprocessing, prediction on new text, features of raw text."""
