"""Numba kernels: hand-written ones for reductions and matmul, and a generator that writes
elementwise kernels as source files in an on-disk cache, so that Numba's ``cache=True``
keeps their machine code across processes."""
