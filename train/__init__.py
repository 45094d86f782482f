"""digit-edge training stage: the registered models, MNIST loading and a reproducible recipe."""
