"""digit-edge training stage: the seed's models, MNIST loading and a reproducible recipe."""
