"""Recurrent cells and layers as compositions of primitives."""
