"""Files -> examples -> features -> `tf.data` batches (pure Python before
tf.data)."""
