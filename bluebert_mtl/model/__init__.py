"""The encoder, its checkpoint loaders, the task heads and losses, the
multi-task model and its forward pass."""
