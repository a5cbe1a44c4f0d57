"""Norms of the irreps in a direct sum (e3nn 0.6.0's `o3.Norm`)."""

from typing import List, Tuple

import torch

from e3gen.o3._irreps import Irreps


class _WeightlessProductState(torch.nn.Module):
    """The buffers of e3nn's weightless TensorProduct inside Norm (``weight`` empty, ``output_mask`` ones),
    kept so that state dicts load in both directions with strict=True; never read."""

    def __init__(self, output_dim: int) -> None:
        super().__init__()
        self.register_buffer("weight", torch.Tensor())
        self.register_buffer("output_mask", torch.ones(output_dim))


class Norm(torch.nn.Module):
    """|x_u| for every copy u of every irrep: [..., irreps_in.dim] -> [..., irreps_in.num_irreps].

    ``irreps_in`` is simplified first, as in e3nn; ``irreps_out`` is one 0e per copy. With
    ``squared=True`` the squared norms are returned. e3nn computes the squared norm as a uuu tensor
    product of x with itself (path weight 2l+1 times wigner_3j(l, l, 0) = delta / sqrt(2l+1)), which
    is exactly sum_m x_m^2; the norm is ``relu().sqrt()`` of it, as e3nn's.
    """

    squared: bool

    def __init__(self, irreps_in, squared: bool = False) -> None:
        super().__init__()
        irreps_in = Irreps(irreps_in).simplify()
        irreps_out = Irreps([(mul, "0e") for mul, _ in irreps_in])
        self.tp = _WeightlessProductState(irreps_out.dim)
        self.irreps_in = irreps_in
        self.irreps_out = irreps_out.simplify()
        self.squared = squared
        self._blocks: List[Tuple[int, int]] = [(mul, ir.dim) for mul, ir in irreps_in]
        self._dim = irreps_in.dim
        self._name = repr(self)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.irreps_in})"

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """features [..., irreps_in.dim] -> norms [..., irreps_out.dim]."""
        if features.dim() == 0 or features.shape[-1] != self._dim:
            raise ValueError(f"{self._name}: expected features [..., {self._dim}], got {list(features.shape)}")
        batch = features.shape[:-1]
        out = []
        start = 0
        for mul, dim in self._blocks:
            block = features[..., start : start + mul * dim].reshape(*batch, mul, dim)
            out.append(block.pow(2).sum(-1))
            start += mul * dim
        out = torch.cat(out, dim=-1) if out else features.new_zeros(*batch, 0)
        if self.squared:
            return out
        return out.relu().sqrt()
