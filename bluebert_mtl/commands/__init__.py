"""One module per command-line program, each with its own flags."""
