"""A grid on SO(3) for pointwise operations on signals over rotations (e3nn 0.6.0's `o3.SO3Grid`).

Features [..., sum_l (2l+1)^2] (l = 0..lmax, each block D^l flattened row-major) are the
coefficients of f(R) = sum_l sqrt(2l+1) <F^l, D^l(R)> / sqrt(dim); the grid is alpha and gamma on
``round(2 aspect_ratio resolution)`` points, beta on ``2 resolution`` points (`s2_grid`), with
e3nn's quadrature weights in beta. D^l comes from e3gen's `wigner_D` (the same matrices as e3nn's).
"""

from __future__ import annotations

import torch

from e3gen.o3._s2grid import _quadrature_weights, s2_grid
from e3gen.o3._wigner import wigner_D


def flat_wigner(lmax: int, alpha: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """[..., sum_l (2l+1)^2]: sqrt(2l+1) D^l(alpha, beta, gamma) flattened, l = 0..lmax."""
    return torch.cat([(2 * l + 1) ** 0.5 * wigner_D(l, alpha, beta, gamma).flatten(-2) for l in range(lmax + 1)], dim=-1)


class SO3Grid(torch.nn.Module):
    """`to_grid`: [..., dim] -> [..., res_alpha, res_beta, res_gamma]; `from_grid`: the inverse map.

    Buffers ``D``, ``qw``, ``alpha``, ``beta``, ``gamma`` as in e3nn (only "component" normalisation).
    """

    def __init__(self, lmax: int, resolution: int, *, normalization: str = "component", aspect_ratio: int = 2) -> None:
        super().__init__()
        if normalization != "component":
            raise AssertionError(f"SO3Grid supports normalization='component' only (as e3nn), got {normalization!r}")
        nb = 2 * resolution
        na = round(2 * aspect_ratio * resolution)
        b, a = s2_grid(nb, na)
        self.register_buffer("D", flat_wigner(lmax, a[:, None, None], b[None, :, None], a[None, None, :]))
        self.register_buffer("qw", _quadrature_weights(nb // 2) * nb**2 / na**2)
        self.register_buffer("alpha", a)
        self.register_buffer("beta", b)
        self.register_buffer("gamma", a)
        self.lmax = lmax
        self.res_alpha = na
        self.res_beta = nb
        self.res_gamma = na

    def __repr__(self) -> str:
        return f"{self.__class__.__name__} ({self.lmax})"

    def to_grid(self, features: torch.Tensor) -> torch.Tensor:
        return torch.einsum("...i,abci->...abc", features, self.D) / self.D.shape[-1] ** 0.5

    def from_grid(self, features: torch.Tensor) -> torch.Tensor:
        return torch.einsum("...abc,abci,b->...i", features, self.D, self.qw) * self.D.shape[-1] ** 0.5
