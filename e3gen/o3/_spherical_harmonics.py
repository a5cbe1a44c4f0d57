"""Spherical harmonics on the generated kernels (e3nn 0.6.0 names, signatures and numbers).

Conventions: y is the polar axis, l=1 is proportional to (x, y, z), components m = -l..l.
normalization="component": |Y^l(x)|^2 = 2l+1 on the unit sphere; "norm": component / sqrt(2l+1);
"integral" (e3nn's default): component / sqrt(4 pi), so each Y^l_m has unit L2 norm on the sphere.
With normalize=False, Y^l is the homogeneous polynomial of degree l (Y^l(x) = |x|^l Y^l(x/|x|)).
With normalize=True the input is divided by its norm as torch.nn.functional.normalize does, so the
zero vector maps to Y^0 = 1 (component) and Y^l = 0 for l >= 1, with finite gradients.
"""

from __future__ import annotations

import math
from typing import List, Union

import torch

from e3gen.o3._irreps import Irreps
from e3gen.runtime.loader import load_kernels

NORMALIZATIONS = ("integral", "component", "norm")


def _parse_ls(l, irreps_in) -> tuple:
    """(ls, irreps_out, irreps_in) from an int, a list of ints or irreps, as e3nn's SphericalHarmonics."""
    if isinstance(l, str):
        l = Irreps(l)
    if isinstance(l, Irreps) and irreps_in is None:
        irreps_in = "1e" if any(ir.l % 2 == 1 and ir.p == 1 for _, ir in l) else None
    irreps_in = Irreps(irreps_in if irreps_in is not None else "1o")
    if irreps_in not in (Irreps("1x1o"), Irreps("1x1e")):
        raise ValueError(
            f"SphericalHarmonics takes a vector (1x1o) or a pseudovector (1x1e) as input, not {irreps_in}"
        )
    input_p = irreps_in[0].ir.p
    if isinstance(l, Irreps):
        ls = []
        for mul, ir in l:
            if ir.p != input_p**ir.l:
                raise ValueError(
                    f"SphericalHarmonics: irreps_out {l} asks for l={ir.l} with parity {ir.p}, but an input of "
                    f"parity {input_p} gives parity {input_p ** ir.l} at l={ir.l}"
                )
            ls.extend([ir.l] * mul)
    elif isinstance(l, int) and not isinstance(l, bool):
        ls = [l]
    else:
        ls = list(l)
    if not ls or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in ls):
        raise ValueError(f"spherical harmonics need degrees l >= 0 (an int, a list of ints or irreps), got {l!r}")
    irreps_out = Irreps([(1, (v, input_p**v)) for v in ls]).simplify()
    return ls, irreps_out, irreps_in


class SphericalHarmonics(torch.nn.Module):
    """Module form of `spherical_harmonics`: x [..., 3] -> [..., irreps_out.dim]."""

    def __init__(self, irreps_out: Union[int, List[int], str, Irreps], normalize: bool,
                 normalization: str = "integral", irreps_in=None):
        super().__init__()
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        self.ls, self.irreps_out, self.irreps_in = _parse_ls(irreps_out, irreps_in)
        self.normalize = normalize
        self.normalization = normalization
        self.lmax = max(self.ls)
        self._steps = [load_kernels(self.lmax).spherical_harmonics_step(l) for l in range(1, self.lmax + 1)]
        self._is_range_lmax = self.ls == list(range(self.lmax + 1))
        if normalization == "norm":
            divisor = torch.cat([torch.full((2 * v + 1,), math.sqrt(2 * v + 1), dtype=torch.float64) for v in self.ls])
            self.register_buffer("_norm_divisor", divisor, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1:] != (3,):
            raise ValueError(f"SphericalHarmonics expects vectors of shape [..., 3], got shape {tuple(x.shape)}")
        if self.normalize:
            x = torch.nn.functional.normalize(x, dim=-1)
        x0, x1, x2 = x[..., 0], x[..., 1], x[..., 2]
        per_l = [[torch.ones_like(x0)]]
        for step in self._steps:
            per_l.append(step(x0, x1, x2, per_l[-1]))
        components = [c for l in self.ls for c in per_l[l]] if not self._is_range_lmax else [c for cs in per_l for c in cs]
        sh = torch.stack(components, dim=-1)
        if self.normalization == "integral":
            sh = sh / math.sqrt(4 * math.pi)
        elif self.normalization == "norm":
            sh = sh / self._norm_divisor.to(sh.dtype)
        return sh


def spherical_harmonics(l: Union[int, List[int], str, Irreps], x: torch.Tensor, normalize: bool,
                        normalization: str = "integral") -> torch.Tensor:
    """Y^l(x) for x [..., 3] -> [..., sum(2l+1)]; l an int, a list of ints or irreps like "0e + 1o + 2e"."""
    return SphericalHarmonics(l, normalize, normalization)(x)
