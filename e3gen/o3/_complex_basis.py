"""The complex side of e3nn's real basis (e3nn 0.6.0's `su2_generators`, `change_basis_real_to_complex`).

* `su2_generators(j)`: the angular-momentum matrices of spin j stacked in e3nn's order (x, z, -y of
  the physics labels), complex [3, 2j+1, 2j+1]; j may be a half-integer.
* `change_basis_real_to_complex(l)`: Q [2l+1, 2l+1] with so3_generators(l) = real(Q^H X Q) for
  X = su2_generators(l); m<0: 1/sqrt2, -i/sqrt2; m=0: 1; m>0: (-1)^m/sqrt2, i(-1)^m/sqrt2, times (-i)^l.
For integer l both come from the exact tables of `e3gen.symbolic.so3`, rounded once.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Union

import torch

from e3gen.symbolic import so3

_COMPLEX = {torch.float16: torch.complex32, torch.float32: torch.complex64, torch.float64: torch.complex128}


def _complex_dtype(dtype) -> torch.dtype:
    dtype = dtype or torch.get_default_dtype()
    if dtype.is_complex:
        return dtype
    if dtype not in _COMPLEX:
        raise ValueError(f"expected a floating or complex dtype, got {dtype}")
    return _COMPLEX[dtype]


def _dense(entries, n: int) -> torch.Tensor:
    out = torch.zeros(n, n, dtype=torch.complex128)
    for (i, j), value in entries.items():
        out[i, j] = complex(value.re.to_float(), value.im.to_float())
    return out


def su2_generators(j: Union[int, float]) -> torch.Tensor:
    """[3, 2j+1, 2j+1] complex (the default dtype's complex type): e3nn's (x, z, -y) generators of spin j."""
    if isinstance(j, bool) or not isinstance(j, (int, float, Fraction)) or j < 0 or (2 * j) != int(2 * j):
        raise ValueError(f"su2_generators: j must be a non-negative integer or half-integer, got {j!r}")
    dtype = _complex_dtype(None)
    if j == int(j):
        l = int(j)
        return torch.stack([_dense(x, 2 * l + 1) for x in so3.su2_generators(l)]).to(dtype)
    # half-integer spin: the same formulas in float64 (every entry is sqrt of a rational, correctly rounded)
    m = torch.arange(-j, j, dtype=torch.float64)
    raising = torch.diag(-torch.sqrt(j * (j + 1) - m * (m + 1)), diagonal=-1)
    m = torch.arange(-j + 1, j + 1, dtype=torch.float64)
    lowering = torch.diag(torch.sqrt(j * (j + 1) - m * (m - 1)), diagonal=1)
    m = torch.arange(-j, j + 1, dtype=torch.float64)
    out = torch.stack([0.5 * (raising + lowering) + 0j, torch.diag(1j * m), -0.5j * (raising - lowering)], dim=0)
    return out.to(dtype)


def change_basis_real_to_complex(l: int, dtype=None, device=None) -> torch.Tensor:
    """Q [2l+1, 2l+1], complex counterpart of ``dtype`` (default: torch's default dtype), a fresh contiguous copy."""
    if isinstance(l, bool) or not isinstance(l, int) or l < 0:
        raise ValueError(f"change_basis_real_to_complex: l must be an integer >= 0, got {l!r}")
    return _dense(so3.change_basis_real_to_complex(l), 2 * l + 1).to(dtype=_complex_dtype(dtype), device=device, copy=True)
