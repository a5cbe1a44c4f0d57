"""Runnable examples built from e3gen's layers.

* `e3gen.examples.tetris`: classify the eight 3D tetrominoes, both mirror-image screws included,
  with a small NequIP-style network (``python -m e3gen.examples.tetris`` or ``e3gen demo``).
"""
