"""Radial functions of interatomic distances: e3nn's `bessel` and NequIP's `BesselBasis` and
`PolynomialCutoff` (DimeNet, Klicpera et al. 2020, eqs. 7 and 8).

The two Bessel bases differ only in their constant prefactor: e3nn's is sqrt(2/c) (orthonormal
with weight r^2 on [0, c]); NequIP's is 2/r_max. Both are reproduced as their libraries write them,
so that weights trained with either carry over.
"""

import math

import torch


def sin_over_x(frequency: torch.Tensor, x: torch.Tensor, period: float) -> torch.Tensor:
    """sin(frequency * x / period) / x, broadcast, with its limit frequency / period at x = 0.

    The Bessel bases divide by the distance, which is 0/0 on a zero-length edge (a self-interaction
    edge). The limit is finite, and so is every derivative: the zero entries take the constant
    branch (d/dx of sin(a x)/x is 0 at x = 0, d/da is 1/period, as the branch gives) and the other
    branch sees x = 1 there, so no NaN reaches backward either. Elsewhere the value is exactly
    sin(frequency * x / period) / x, computed in that order.
    """
    zero = x == 0.0
    x_nonzero = torch.where(zero, torch.ones_like(x), x)
    return torch.where(zero, frequency / period, torch.sin(frequency * x_nonzero / period) / x_nonzero)


def bessel(x: torch.Tensor, n: int, x_max: float = 1.0) -> torch.Tensor:
    """e3nn's Bessel basis: x [...] -> [..., n], B_k(x) = sqrt(2/x_max) sin(k pi x / x_max) / x, k = 1..n.

    At x = 0 it returns the limit sqrt(2/x_max) k pi / x_max (not nan), with finite gradients.
    """
    if n < 1:
        raise ValueError(f"bessel: n must be a positive int (the number of basis functions), got {n}")
    x = x[..., None]
    k = torch.arange(1, n + 1, dtype=x.dtype, device=x.device)
    zero = x == 0.0
    x_nonzero = torch.where(zero, torch.ones_like(x), x)
    return math.sqrt(2.0 / x_max) * torch.where(zero, k * math.pi / x_max, torch.sin(k * math.pi / x_max * x_nonzero) / x_nonzero)


class BesselBasis(torch.nn.Module):
    """NequIP's radial Bessel basis: r [...] -> [..., num_basis],

        B_n(r) = (2 / r_max) * sin(w_n r / r_max) / r,   w_n = n pi  (n = 1..num_basis).

    The prefactor is NequIP's 2/r_max (not e3nn's sqrt(2/r_max), see `bessel`). The frequencies
    ``bessel_weights`` [num_basis] are a trainable parameter when ``trainable`` (NequIP's default),
    else a buffer; they are created in the default dtype, like NequIP's. At r = 0 (a self-interaction
    edge) it returns the limit (2 / r_max) w_n / r_max with finite gradients; NequIP gives nan there.
    """

    r_max: float
    prefactor: float

    def __init__(self, r_max: float, num_basis: int = 8, trainable: bool = True) -> None:
        super().__init__()
        if not r_max > 0:
            raise ValueError(f"BesselBasis: r_max must be positive, got {r_max!r}")
        self.trainable = trainable
        self.num_basis = num_basis
        self.r_max = float(r_max)
        self.prefactor = 2.0 / self.r_max
        weights = torch.linspace(start=1.0, end=num_basis, steps=num_basis) * math.pi
        if trainable:
            self.bessel_weights = torch.nn.Parameter(weights)
        else:
            self.register_buffer("bessel_weights", weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prefactor * sin_over_x(self.bessel_weights, x.unsqueeze(-1), self.r_max)


class PolynomialCutoff(torch.nn.Module):
    """NequIP's polynomial envelope: r [...] -> [...], with x = r / r_max,

        u(x) = 1 - (p+1)(p+2)/2 x^p + p(p+2) x^(p+1) - p(p+1)/2 x^(p+2)   for x < 1, else 0.

    u(0) = 1 and u, u', u'' vanish at x = 1, so features go smoothly to zero at the cutoff. p = 6 is
    NequIP's default; p >= 2 is required.
    """

    _factor: float
    p: float

    def __init__(self, r_max: float, p: float = 6) -> None:
        super().__init__()
        if not r_max > 0:
            raise ValueError(f"PolynomialCutoff: r_max must be positive, got {r_max!r}")
        if not p >= 2.0:
            raise ValueError(f"PolynomialCutoff: the power p must be >= 2, got {p!r}")
        self.p = float(p)
        self._factor = 1.0 / float(r_max)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.p
        x = x * self._factor
        out = 1.0 - ((p + 1.0) * (p + 2.0) / 2.0) * torch.pow(x, p)
        out = out + (p * (p + 2.0)) * torch.pow(x, p + 1.0)
        out = out - (p * (p + 1.0) / 2.0) * torch.pow(x, p + 2.0)
        return out * (x < 1.0)
