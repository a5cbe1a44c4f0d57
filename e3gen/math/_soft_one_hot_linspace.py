"""Projection of a scalar onto a family of smooth bumps (e3nn 0.6.0's `soft_one_hot_linspace`).

With ``cutoff=False`` the ``number`` centres are ``linspace(start, end, number)``; with
``cutoff=True`` they are the inner ``number`` points of ``linspace(start, end, number + 2)``, so that
every basis function vanishes at (or, for "gaussian", near) ``start`` and ``end``. ``step`` is the
spacing of that linspace and ``d = (x - centre) / step``.

* gaussian:      exp(-d^2) / 1.12
* cosine:        cos(pi/2 d) for |d| < 1, else 0
* smooth_finite: 1.14136 e^2 u(d + 1) u(1 - d), u = soft_unit_step
* fourier:       t = (x - start) / (end - start); cutoff=False: cos(pi i t) / sqrt(0.25 + number/2),
                 i = 0..number-1; cutoff=True: sin(pi i t) / sqrt(0.25 + number/2), i = 1..number,
                 zero outside 0 < t < 1
* bessel:        r = x - start, c = end - start: sqrt(2/c) sin(n pi r / c) / r, n = 1..number;
                 cutoff=True: zero outside 0 < r < c. At r = 0 it gives the limit sqrt(2/c) n pi / c
                 (0 with cutoff=True), with finite gradients; e3nn gives 0/0 = nan there.

The constants (1.12, 1.14136, ...) are e3nn's: they make sum_i y_i(x)^2 about 1 on average.
"""

import math
from typing import Optional

import torch

from e3gen.math._radial import sin_over_x
from e3gen.math._soft_unit_step import soft_unit_step


def soft_one_hot_linspace(
    x: torch.Tensor, start: float, end: float, number: int, basis: Optional[str] = None, cutoff: Optional[bool] = None
) -> torch.Tensor:
    """Basis functions y_i(x), i = 1..number: x [...] -> [..., number], in x's dtype and device.

    ``basis`` is one of "gaussian", "cosine", "smooth_finite", "fourier", "bessel" and ``cutoff``
    must be given (True or False), as in e3nn; see the module docstring for the formulas.
    """
    # (checks written so that the function stays TorchScript-able: no !r, no global containers)
    if cutoff is None:
        raise ValueError("soft_one_hot_linspace: cutoff must be True or False, got None")
    if basis is None:
        raise ValueError("soft_one_hot_linspace: basis must be given: 'gaussian', 'cosine', 'smooth_finite', 'fourier' or 'bessel'")

    if cutoff:
        values = torch.linspace(start, end, number + 2, dtype=x.dtype, device=x.device)
        step = values[1] - values[0]
        values = values[1:-1]
    else:
        values = torch.linspace(start, end, number, dtype=x.dtype, device=x.device)
        step = values[1] - values[0]

    diff = (x[..., None] - values) / step

    if basis == "gaussian":
        return diff.pow(2).neg().exp().div(1.12)
    if basis == "cosine":
        return torch.cos(math.pi / 2 * diff) * (diff < 1) * (diff > -1)
    if basis == "smooth_finite":
        # e3nn writes 1.14136 * torch.exp(torch.tensor(2.0)), which rounds e^2 to the default dtype
        # (float32 unless changed); math.exp keeps it to double precision. The two agree to ~1e-7
        # relative, exactly when the default dtype is float64.
        return 1.14136 * math.exp(2.0) * soft_unit_step(diff + 1) * soft_unit_step(1 - diff)
    if basis == "fourier":
        t = (x[..., None] - start) / (end - start)
        if not cutoff:
            i = torch.arange(0, number, dtype=x.dtype, device=x.device)
            return torch.cos(math.pi * i * t) / math.sqrt(0.25 + number / 2)
        i = torch.arange(1, number + 1, dtype=x.dtype, device=x.device)
        return torch.sin(math.pi * i * t) / math.sqrt(0.25 + number / 2) * (t > 0) * (t < 1)
    if basis == "bessel":
        r = x[..., None] - start
        c = end - start
        roots = torch.arange(1, number + 1, dtype=x.dtype, device=x.device) * math.pi
        out = math.sqrt(2 / c) * sin_over_x(roots, r, c)
        if not cutoff:
            return out
        return out * ((r / c) < 1) * (r > 0)
    raise ValueError(
        "soft_one_hot_linspace: basis must be one of 'gaussian', 'cosine', 'smooth_finite', 'fourier', 'bessel', "
        f"got '{basis}'"
    )
