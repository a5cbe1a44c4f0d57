"""Pick terms of an irreps tensor (e3nn 0.6.0's `nn.Extract`, `nn.ExtractIr`)."""

from typing import List, Sequence, Tuple, Union

import torch

from e3gen.o3 import Irrep, Irreps


class Extract(torch.nn.Module):
    """x [..., irreps_in.dim] -> one tensor [..., irreps_outs[k].dim] per output (a tuple).

    ``instructions[k]`` lists, for each term of ``irreps_outs[k]``, the index of the term of
    ``irreps_in`` copied there. With ``squeeze_out`` and a single output, that tensor is returned
    instead of a 1-tuple.

    >>> Extract('1e + 0e + 0e', ['0e', '0e'], [(1,), (2,)])(torch.tensor([0.0, 0.0, 0.0, 1.0, 2.0]))
    (tensor([1.]), tensor([2.]))
    """

    def __init__(self, irreps_in, irreps_outs, instructions, squeeze_out: bool = False) -> None:
        super().__init__()
        self.irreps_in = Irreps(irreps_in)
        self.irreps_outs = tuple(Irreps(irreps) for irreps in irreps_outs)
        self.instructions = instructions
        if len(self.irreps_outs) != len(self.instructions):
            raise AssertionError(f"Extract: {len(self.irreps_outs)} irreps_outs but {len(self.instructions)} instructions; give one tuple per output")
        starts = [s.start for s in self.irreps_in.slices()]
        self._copies: List[List[Tuple[int, int]]] = []  # per output: (start in x, length), in output order
        for irreps_out, ins in zip(self.irreps_outs, self.instructions):
            if len(irreps_out) != len(ins):
                raise AssertionError(f"Extract: output {irreps_out} has {len(irreps_out)} terms but its instruction {ins} has {len(ins)}")
            copies = []
            for (mul, ir), i_in in zip(irreps_out, ins):
                if not 0 <= i_in < len(self.irreps_in) and not -len(self.irreps_in) <= i_in < 0:
                    raise IndexError(f"Extract: instruction index {i_in} is out of range for irreps_in {self.irreps_in} ({len(self.irreps_in)} terms)")
                if self.irreps_in[i_in].dim != mul * ir.dim:
                    raise AssertionError(f"Extract: term {i_in} of irreps_in is {self.irreps_in[i_in]}, which does not fit {mul}x{ir}")
                copies.append((starts[i_in], self.irreps_in[i_in].dim))
            self._copies.append(copies)
        self._squeeze = squeeze_out and len(self.irreps_outs) == 1

    def forward(self, x: torch.Tensor) -> Union[torch.Tensor, Tuple[torch.Tensor, ...]]:
        if x.dim() == 0 or x.shape[-1] != self.irreps_in.dim:
            raise ValueError(f"Extract: expected x [..., {self.irreps_in.dim}] ({self.irreps_in}), got {list(x.shape)}")
        outs = []
        for irreps_out, copies in zip(self.irreps_outs, self._copies):
            if copies:
                outs.append(torch.cat([x.narrow(-1, start, length) for start, length in copies], dim=-1))
            else:
                outs.append(x.new_zeros(x.shape[:-1] + (irreps_out.dim,)))
        if self._squeeze:
            return outs[0]
        return tuple(outs)


class ExtractIr(Extract):
    """Every term of ``irreps_in`` equal to ``ir``, concatenated: [..., irreps_in.dim] -> [..., irreps_out.dim]."""

    def __init__(self, irreps_in, ir) -> None:
        ir = Irrep(ir)
        irreps_in = Irreps(irreps_in)
        irreps_out = Irreps([mul_ir for mul_ir in irreps_in if mul_ir.ir == ir])
        instructions = [tuple(i for i, mul_ir in enumerate(irreps_in) if mul_ir.ir == ir)]
        super().__init__(irreps_in, [irreps_out], instructions, squeeze_out=True)
        self.irreps_out = irreps_out
