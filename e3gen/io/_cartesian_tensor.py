"""Cartesian tensors as irreps (e3nn 0.6.0's `io.CartesianTensor`: names, signatures and numbers).

``CartesianTensor("ij=ji")`` is the Irreps of symmetric 3x3 tensors (1x0e+1x2e) together with the
change of basis between the Cartesian components and those irreps, taken from
`ReducedTensorProducts` with every index a vector (1o). `from_cartesian` and `to_cartesian` are
that change of basis and its transpose; for a tensor with the formula's symmetry they are inverse
to each other (to_cartesian projects any other tensor onto the symmetric part).
"""

from typing import Optional

import torch

from e3gen.o3._irreps import Irreps
from e3gen.o3._reduce import ReducedTensorProducts


class CartesianTensor(Irreps):
    """The irreps of a Cartesian tensor with index symmetries ``formula`` (e.g. ``"ij=-ji"`` -> 1x1e).

    Attributes: ``formula`` (as given) and ``indices`` (its index letters, e.g. ``"ij"``).

    >>> CartesianTensor("ij=-ji")
    1x1e
    """

    formula: str
    indices: str

    def __new__(cls, formula: str):
        if not isinstance(formula, str):
            raise TypeError(f"CartesianTensor(formula): expected a formula string such as 'ij=ji', got {formula!r}")
        indices = formula.split("=")[0].replace("-", "")
        rtp = ReducedTensorProducts(formula, **{i: "1o" for i in indices})
        ret = super().__new__(cls, rtp.irreps_out)
        ret.formula = formula
        ret.indices = indices
        return ret

    def __getnewargs__(self):
        # copy.deepcopy and pickle rebuild through __new__ (e3nn's CartesianTensor cannot be copied)
        return (self.formula,)

    def _check_cartesian(self, data: torch.Tensor) -> None:
        n = len(self.indices)
        if data.dim() < n or tuple(data.shape[data.dim() - n :]) != (3,) * n:
            raise ValueError(
                f"CartesianTensor({self.formula!r}).from_cartesian: expected data of shape [..., {', '.join(['3'] * n)}], "
                f"got {list(data.shape)}"
            )

    def from_cartesian(self, data: torch.Tensor, rtp: Optional[ReducedTensorProducts] = None) -> torch.Tensor:
        """Cartesian components [..., 3, ..., 3] -> irreps [..., self.dim]."""
        self._check_cartesian(data)
        if rtp is None:
            rtp = self.reduced_tensor_products(data)
        Q = rtp.change_of_basis.flatten(-len(self.indices))
        return data.flatten(-len(self.indices)) @ Q.T

    def from_vectors(self, *xs: torch.Tensor, rtp: Optional[ReducedTensorProducts] = None) -> torch.Tensor:
        """x_1 (x) x_2 (x) ... from vectors x_k [..., 3] -> irreps [..., self.dim]."""
        if rtp is None:
            rtp = self.reduced_tensor_products(xs[0])
        return rtp(*xs)

    def to_cartesian(self, data: torch.Tensor, rtp: Optional[ReducedTensorProducts] = None) -> torch.Tensor:
        """Irreps [..., self.dim] -> Cartesian components [..., 3, ..., 3] (inverse of `from_cartesian` on symmetric tensors)."""
        if data.dim() == 0 or data.shape[-1] != self.dim:
            raise ValueError(
                f"CartesianTensor({self.formula!r}).to_cartesian: expected data of shape [..., {self.dim}] ({self}), got {list(data.shape)}"
            )
        if rtp is None:
            rtp = self.reduced_tensor_products(data)
        Q = rtp.change_of_basis
        cartesian = data @ Q.flatten(-len(self.indices))
        return cartesian.view(list(data.shape[:-1]) + list(Q.shape[1:]))

    def reduced_tensor_products(self, data: Optional[torch.Tensor] = None) -> ReducedTensorProducts:
        """The `ReducedTensorProducts` behind this tensor, on ``data``'s device and dtype if given."""
        rtp = ReducedTensorProducts(self.formula, **{i: "1o" for i in self.indices})
        if data is not None:
            rtp = rtp.to(device=data.device, dtype=data.dtype)
        return rtp
