"""e3nn 0.6.0's `o3.experimental.ElementwiseTensorProductv2` (see `_full_tp` for the conventions)."""

from __future__ import annotations

from e3gen.o3._irreps import Irreps, split_to_common_multiplicities
from e3gen.o3.experimental._full_tp import _CouplingBlocks, _filter, _Path, _path_scale


class ElementwiseTensorProduct(_CouplingBlocks):
    """Copy u of irreps_in1 times copy u of irreps_in2 (all allowed outputs): [..., dim1], [..., dim2] -> [..., irreps_out.dim]."""

    _outer = False

    def __init__(self, irreps_in1, irreps_in2, *, filter_ir_out=None, irrep_normalization: str = "component"):
        super().__init__()
        irreps_in1, irreps_in2 = Irreps(irreps_in1), Irreps(irreps_in2)
        if irreps_in1.num_irreps != irreps_in2.num_irreps:
            raise ValueError(
                "o3.ElementwiseTensorProductv2: inputs must have the same number of irreps, "
                f"got {irreps_in1.num_irreps} and {irreps_in2.num_irreps}"
            )
        irreps_in1, irreps_in2 = split_to_common_multiplicities(irreps_in1, irreps_in2)
        filter_ir_out = _filter(filter_ir_out)
        paths, irreps_out = [], []
        for (mul_1, ir_1), slice_1, (_, ir_2), slice_2 in zip(irreps_in1, irreps_in1.slices(), irreps_in2, irreps_in2.slices()):
            for ir_out in ir_1 * ir_2:
                if filter_ir_out is not None and ir_out not in filter_ir_out:
                    continue
                scale = _path_scale("ElementwiseTensorProductv2", irrep_normalization, ir_1, ir_2, ir_out)
                paths.append(_Path(ir_1.l, ir_2.l, ir_out.l, slice_1, slice_2, mul_1, mul_1, ir_1.dim, ir_2.dim, ir_out.dim, scale))
                irreps_out.append((mul_1, ir_out))
        self.irreps_in1, self.irreps_in2 = irreps_in1, irreps_in2
        self._register_paths(paths, irreps_out)
