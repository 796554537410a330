"""The run folder: its layout, and the one reader and writer of each file
in it."""
