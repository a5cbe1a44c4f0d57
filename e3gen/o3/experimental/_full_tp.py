"""e3nn 0.6.0's experimental tensor products (`o3.experimental.FullTensorProductv2` and
`ElementwiseTensorProductv2`, ported there from e3nn-jax) on e3gen's generated coupling kernels.

Each path (ir_1, ir_2 -> ir_out) is out_k = c * sum_ij C_ijk x_i y_j with C = wigner_3j(l1, l2, l3)
and c = sqrt(2 l3 + 1) ("component") or sqrt((2 l1 + 1)(2 l2 + 1)) ("norm"); no weights. The output
blocks are sorted by irrep (`Irreps.sort`), as in e3nn. Inputs are promoted to a common dtype and
their leading dimensions broadcast.
"""

from __future__ import annotations

import math
from typing import List, NamedTuple, Optional, Tuple

import torch

from e3gen.o3._coupling import coupling_product
from e3gen.o3._irreps import Irrep, Irreps
from e3gen.o3._wigner import wigner_3j


class _Path(NamedTuple):
    l1: int
    l2: int
    l3: int
    slice_1: slice
    slice_2: slice
    mul_1: int
    mul_2: int
    dim_1: int
    dim_2: int
    dim_out: int
    scale: float


def _filter(filter_ir_out) -> Optional[List[Irrep]]:
    if filter_ir_out is None:
        return None
    if isinstance(filter_ir_out, str) or hasattr(filter_ir_out, "num_irreps"):  # irreps (ours or e3nn's)
        return [Irrep(ir) for _, ir in Irreps(filter_ir_out)]
    return [Irrep(ir) for ir in filter_ir_out]  # a list of irreps, e.g. ["0e", "1o"]


def _path_scale(name: str, irrep_normalization: str, ir_1: Irrep, ir_2: Irrep, ir_out: Irrep) -> float:
    if irrep_normalization == "component":
        return math.sqrt(ir_out.dim)
    if irrep_normalization == "norm":
        return math.sqrt(ir_1.dim * ir_2.dim)
    raise ValueError(f"{name}: irrep_normalization={irrep_normalization} not supported (use 'component' or 'norm')")


def _prepare_inputs(input1: torch.Tensor, input2: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Size]:
    dtype = torch.promote_types(input1.dtype, input2.dtype)
    input1, input2 = input1.to(dtype=dtype), input2.to(dtype=dtype)
    leading_shape = torch.broadcast_shapes(input1.shape[:-1], input2.shape[:-1])
    return input1.broadcast_to(leading_shape + (-1,)), input2.broadcast_to(leading_shape + (-1,)), leading_shape


class _CouplingBlocks(torch.nn.Module):
    """Shared forward: every path's coupling, then the blocks in sorted-irrep order."""

    _outer: bool  # True: all pairs (u, v) of copies (full); False: copy u with copy u (elementwise)

    def _register_paths(self, paths: List[_Path], irreps_out: List[Tuple[int, Irrep]]) -> None:
        for p in paths:
            # e3nn keeps each scaled table as a buffer cg_{l1}_{l2}_{l3}; kept for its state dict keys.
            self.register_buffer(f"cg_{p.l1}_{p.l2}_{p.l3}", wigner_3j(p.l1, p.l2, p.l3) * p.scale)
        self._paths = paths
        self._ops = [coupling_product(p.l1, p.l2, p.l3) for p in paths]
        self.irreps_out, _, self.inv = Irreps(irreps_out).sort()

    def forward(self, input1: torch.Tensor, input2: torch.Tensor) -> torch.Tensor:
        for n, (x, irreps) in enumerate(((input1, self.irreps_in1), (input2, self.irreps_in2)), start=1):
            if x.dim() == 0 or x.shape[-1] != irreps.dim:
                raise ValueError(f"{type(self).__name__}: input{n} must have shape [..., {irreps.dim}] ({irreps}), got {list(x.shape)}")
        input1, input2, leading = _prepare_inputs(input1, input2)
        chunks = []
        for p, op in zip(self._paths, self._ops):
            x1 = input1[..., p.slice_1].reshape(leading + (p.mul_1, p.dim_1))
            x2 = input2[..., p.slice_2].reshape(leading + (p.mul_2, p.dim_2))
            if self._outer:
                x1, x2 = x1[..., :, None, :], x2[..., None, :, :]
            chunk = op.apply(x1, x2) * p.scale
            chunks.append(chunk.reshape(leading + (-1,)))
        if not chunks:
            return input1.new_zeros(leading + (0,))
        return torch.cat([chunks[i] for i in self.inv], dim=-1)


class FullTensorProduct(_CouplingBlocks):
    """All products of a copy of irreps_in1 with a copy of irreps_in2: [..., dim1], [..., dim2] -> [..., irreps_out.dim].

    With ``regroup_output`` (default) the inputs are regrouped first (`Irreps.regroup`), as e3nn's.
    """

    _outer = True

    def __init__(self, irreps_in1, irreps_in2, *, filter_ir_out=None, irrep_normalization: str = "component", regroup_output: bool = True):
        super().__init__()
        irreps_in1, irreps_in2 = Irreps(irreps_in1), Irreps(irreps_in2)
        if regroup_output:
            irreps_in1, irreps_in2 = irreps_in1.regroup(), irreps_in2.regroup()
        filter_ir_out = _filter(filter_ir_out)
        paths, irreps_out = [], []
        for (mul_1, ir_1), slice_1 in zip(irreps_in1, irreps_in1.slices()):
            for (mul_2, ir_2), slice_2 in zip(irreps_in2, irreps_in2.slices()):
                for ir_out in ir_1 * ir_2:
                    if filter_ir_out is not None and ir_out not in filter_ir_out:
                        continue
                    scale = _path_scale("FullTensorProductv2", irrep_normalization, ir_1, ir_2, ir_out)
                    paths.append(_Path(ir_1.l, ir_2.l, ir_out.l, slice_1, slice_2, mul_1, mul_2, ir_1.dim, ir_2.dim, ir_out.dim, scale))
                    irreps_out.append((mul_1 * mul_2, ir_out))
        self.irreps_in1, self.irreps_in2 = irreps_in1, irreps_in2
        self._register_paths(paths, irreps_out)
