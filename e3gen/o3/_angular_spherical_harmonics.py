"""Spherical harmonics as functions of the angles (e3nn 0.6.0's `SphericalHarmonicsAlphaBeta`,
`spherical_harmonics_alpha_beta`, `spherical_harmonics_alpha`, `Legendre`).

For the point r = R_y(alpha) R_x(beta) e_y = (sin b sin a, cos b, sin b cos a) (`angles_to_xyz`):

    Y^l_m(alpha, beta) = S_m(alpha) * P^l_|m|(cos beta, sin beta)

with S_m(alpha) = sqrt2 sin(|m| alpha) (m < 0), 1 (m = 0), sqrt2 cos(m alpha) (m > 0), and P the
associated Legendre functions of `e3gen.o3._legendre` (exact coefficients, "integral"
normalisation). These are the same functions as `spherical_harmonics(l, angles_to_xyz(alpha, beta))`
in every normalisation, evaluated without the Cartesian recursion.
"""

from __future__ import annotations

import math
from typing import List, Sequence, Tuple, Union

import torch

from e3gen.o3._irreps import Irreps
from e3gen.o3._legendre import legendre_terms
from e3gen.o3._spherical_harmonics import NORMALIZATIONS, _normalization_scale, degrees_of


class Legendre(torch.nn.Module):
    """e3nn's `Legendre(ls)`: (z [...], y [...]) -> [..., sum(2l+1)], entry (l, m) = P^l_|m|(z, y).

    z = cos(beta) and y = sin(beta) >= 0 are passed separately (P^l_m carries y^m). Integral
    normalisation; coefficients are exact values rounded once.
    """

    def __init__(self, ls: Sequence[int]) -> None:
        super().__init__()
        self.ls = degrees_of(ls)
        self._terms: List[List[Tuple[int, int, float]]] = []
        for l in range(max(self.ls) + 1):
            for m in range(l + 1):
                self._terms.append([(zn, yn, c.to_float() / math.sqrt(4 * math.pi)) for zn, yn, c in legendre_terms(l, m)])
        self._index = [sum(k + 1 for k in range(l)) + abs(m) for l in self.ls for m in range(-l, l + 1)]
        self._lmax = max(self.ls)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        z, y = torch.broadcast_tensors(z, y)
        zp = [torch.ones_like(z)]
        yp = [torch.ones_like(y)]
        for _ in range(self._lmax):
            zp.append(zp[-1] * z)
            yp.append(yp[-1] * y)
        columns = []
        for terms in self._terms:
            value = None
            for zn, yn, c in terms:
                t = c * zp[zn] * yp[yn]
                value = t if value is None else value + t
            columns.append(value)
        return torch.stack([columns[i] for i in self._index], dim=-1)


def spherical_harmonics_alpha(l: int, alpha: torch.Tensor) -> torch.Tensor:
    """S(alpha) [..., 2l+1]: sqrt2 sin(|m| alpha) for m < 0, 1 for m = 0, sqrt2 cos(m alpha) for m > 0."""
    alpha = alpha.unsqueeze(-1)
    m = torch.arange(1, l + 1, dtype=alpha.dtype, device=alpha.device)
    cos = torch.cos(m * alpha)
    m = torch.arange(l, 0, -1, dtype=alpha.dtype, device=alpha.device)
    sin = torch.sin(m * alpha)
    return torch.cat([math.sqrt(2) * sin, torch.ones_like(alpha), math.sqrt(2) * cos], dim=alpha.ndim - 1)


class SphericalHarmonicsAlphaBeta(torch.nn.Module):
    """Y^l(alpha, beta) for the ls of ``l`` (int, list of ints or irreps): (alpha [...], beta [...]) -> [..., sum(2l+1)].

    ``normalization`` is "integral" (default, as e3nn's), "component" or "norm".
    """

    def __init__(self, l: Union[int, Sequence[int], Irreps], normalization: str = "integral") -> None:
        super().__init__()
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"SphericalHarmonicsAlphaBeta: normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        self._ls_list = degrees_of(l)
        self._lmax = max(self._ls_list)
        self.legendre = Legendre(self._ls_list)
        self.normalization = normalization

    def forward(self, alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        y, z = beta.cos(), beta.sin()
        sha = spherical_harmonics_alpha(self._lmax, alpha.flatten())  # [n, 2 lmax + 1]
        shy = self.legendre(y.flatten(), z.flatten())  # [n, sum(2l+1)]
        out = []
        i = 0
        for l in self._ls_list:
            out.append(shy[:, i : i + 2 * l + 1] * sha[:, self._lmax - l : self._lmax + l + 1])
            i += 2 * l + 1
        out = torch.cat(out, dim=-1)
        if self.normalization != "integral":  # the Legendre functions carry the "integral" normalisation
            scale = [_normalization_scale(l, self.normalization) / _normalization_scale(l, "integral") for l in self._ls_list]
            out = out * torch.cat([c * out.new_ones(2 * l + 1) for c, l in zip(scale, self._ls_list)])
        return out.reshape(alpha.shape + (shy.shape[1],))


def spherical_harmonics_alpha_beta(l, alpha: torch.Tensor, beta: torch.Tensor, *, normalization: str = "integral") -> torch.Tensor:
    """Y^l at r = R_y(alpha) R_x(beta) e_y: (alpha [...], beta [...]) -> [..., sum(2l+1)] (see the module docstring)."""
    return SphericalHarmonicsAlphaBeta(l, normalization=normalization)(alpha, beta)
