"""The training loop under `tf.distribute`: steps, evaluation, task
sampling, optimizers."""
