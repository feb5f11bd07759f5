"""Side-by-side timings of one recurrent training step: tinygrad_rnn against NumPy by hand,
PyTorch and JAX (when installed). Run ``python -m benchmarks --help``."""
