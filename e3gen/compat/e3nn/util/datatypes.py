# Adapted from e3nn 0.6.0 (MIT licence, copyright the e3nn developers) for e3gen's e3nn namespace.
from typing import NamedTuple, Optional


class Chunk(NamedTuple):
    mul: int
    dim: int
    slice: Optional[slice] = None


class Path(NamedTuple):
    input_1_slice: Chunk
    input_2_slice: Chunk
    output_slice: Chunk
