"""Signals on the sphere: between spherical-harmonic coefficients and a grid (e3nn 0.6.0's
`s2_grid`, `spherical_harmonics_s2_grid`, `rfft`, `irfft`, `ToS2Grid`, `FromS2Grid`).

A signal f(x) = sum_l F^l . Y^l(x) with (lmax+1)^2 coefficients F (m = -l..l, l = 0..lmax) is
sampled on the grid

    x_ij = (sin b_i sin a_j, cos b_i, sin b_i cos a_j),  b_i = pi (i + 0.5) / N,  a_j = 2 pi j / M

(N = res_beta, even; M = res_alpha), the y-polar points of `angles_to_xyz(a_j, b_i)`. Along alpha
the harmonics are S_m(alpha) (`spherical_harmonics_alpha`), so ToS2Grid is a Legendre sum over beta
followed by a real Fourier series in alpha (an FFT when M >= 2 lmax + 1 is odd); FromS2Grid
inverts it with the Driscoll-Healy / Kostelec-Rockmore quadrature weights in beta. Normalisations
("component", "norm", "integral", or a tensor of per-l factors) and every operation order are
e3nn's, so the numbers are e3nn's to float rounding.
"""

from __future__ import annotations

import math

import torch

from e3gen.o3._angular_spherical_harmonics import Legendre, spherical_harmonics_alpha
from e3gen.o3._rotation import angles_to_xyz
from e3gen.o3._spherical_harmonics import NORMALIZATIONS


def _default(dtype, device):
    return dtype or torch.get_default_dtype(), device or torch.empty(0).device


def _quadrature_weights(b: int, dtype=None, device=None) -> torch.Tensor:
    """Quadrature weights [2b] in beta for the grid of Kostelec & Rockmore (from lie_learn, as e3nn)."""
    k = torch.arange(b, device=device)
    w = torch.tensor(
        [
            (
                (2.0 / b)
                * torch.sin(math.pi * (2.0 * j + 1.0) / (4.0 * b))
                * ((1.0 / (2 * k + 1)) * torch.sin((2 * j + 1) * (2 * k + 1) * math.pi / (4.0 * b))).sum()
            )
            for j in torch.arange(2 * b, device=device)
        ],
        dtype=dtype,
        device=device,
    )
    w /= 2.0 * ((2 * b) ** 2)
    return w


def s2_grid(res_beta: int, res_alpha: int, dtype=None, device=None):
    """(betas [res_beta], alphas [res_alpha]): b_i = pi (i + 0.5) / res_beta, a_j = 2 pi j / res_alpha."""
    dtype, device = _default(dtype, device)
    i = torch.arange(res_beta, dtype=dtype, device=device)
    betas = (i + 0.5) / res_beta * math.pi
    i = torch.arange(res_alpha, dtype=dtype, device=device)
    alphas = i / res_alpha * 2 * math.pi
    return betas, alphas


def spherical_harmonics_s2_grid(lmax: int, res_beta: int, res_alpha: int, dtype=None, device=None):
    """(betas [N], alphas [M], shb [N, (lmax+1)^2] Legendre part, sha [M, 2 lmax + 1] alpha part), integral normalisation."""
    betas, alphas = s2_grid(res_beta, res_alpha, dtype=dtype, device=device)
    shb = Legendre(list(range(lmax + 1)))(betas.cos(), betas.sin().abs())
    sha = spherical_harmonics_alpha(lmax, alphas)
    return betas, alphas, shb, sha


def _complete_lmax_res(lmax, res_beta, res_alpha):
    """Fill in whichever of (lmax, res_beta, res_alpha) is None as e3nn does (the FFT wants res_alpha = 2 lmax + 1)."""
    if res_beta is None:
        if lmax is not None:
            res_beta = 2 * (lmax + 1)
        elif res_alpha is not None:
            res_beta = 2 * ((res_alpha + 1) // 2)
        else:
            raise ValueError("All the entries are None")
    if res_alpha is None:
        if lmax is not None:
            res_alpha = max(2 * lmax + 1, res_beta - 1) if res_beta is not None else 2 * lmax + 1
        elif res_beta is not None:
            res_alpha = res_beta - 1
    if lmax is None:
        lmax = min(res_beta // 2 - 1, (res_alpha - 1) // 2)
    if res_beta % 2 != 0:
        raise AssertionError(f"the resolution in beta must be even, got res_beta={res_beta}")
    if lmax + 1 > res_beta // 2:
        raise AssertionError(f"lmax={lmax} needs res_beta >= {2 * (lmax + 1)}, got res_beta={res_beta}")
    return lmax, res_beta, res_alpha


def _expand_matrix(ls, like=None, dtype=None, device=None) -> torch.Tensor:
    """[len(ls), 2 lmax + 1, sum(2l+1)]: the flat (l, m) layout to an (l, m) table with m centred."""
    lmax = max(ls)
    shape = (len(ls), 2 * lmax + 1, sum(2 * l + 1 for l in ls))
    m = torch.zeros(shape, dtype=dtype, device=device) if like is None else like.new_zeros(shape, dtype=dtype, device=device)
    i = 0
    for j, l in enumerate(ls):
        m[j, lmax - l : lmax + l + 1, i : i + 2 * l + 1] = torch.eye(2 * l + 1, dtype=dtype, device=device)
        i += 2 * l + 1
    return m


def rfft(x: torch.Tensor, l: int) -> torch.Tensor:
    """Real Fourier coefficients on the S_m basis: samples [..., res] on alpha_j = 2 pi j / res -> [..., 2l+1]."""
    *size, res = x.shape
    x = x.reshape(-1, res)
    x = torch.fft.rfft(x, dim=1)
    x = torch.cat([x[:, 1 : l + 1].imag.flip(1).mul(-math.sqrt(2)), x[:, :1].real, x[:, 1 : l + 1].real.mul(math.sqrt(2))], dim=1)
    return x.reshape(*size, 2 * l + 1)


def irfft(x: torch.Tensor, res: int) -> torch.Tensor:
    """Inverse of `rfft`: coefficients [..., 2l+1] -> samples [..., res] (res odd, >= 2l+1)."""
    if res % 2 != 1:
        raise AssertionError(f"irfft: res must be odd, got {res}")
    *size, sm = x.shape
    x = x.reshape(-1, sm)
    pad = x.new_zeros((x.shape[0], (res - sm) // 2))
    x = torch.cat([pad, x, pad], dim=-1)
    if x.shape[1] != res:
        raise AssertionError(f"irfft: {sm} coefficients do not fit an odd resolution {res} >= {sm}")
    l = res // 2
    x = torch.complex(
        torch.cat([x[:, l : l + 1], x[:, l + 1 :].div(math.sqrt(2))], dim=1),
        torch.cat([torch.zeros_like(x[:, :1]), x[:, :l].flip(-1).div(-math.sqrt(2))], dim=1),
    )
    x = torch.fft.irfft(x, n=res, dim=1) * res
    return x.reshape(*size, res)


def _parse_res(lmax, res):
    if isinstance(res, int) or res is None:
        return _complete_lmax_res(lmax, res, None)
    return _complete_lmax_res(lmax, *res)


def _check_normalization(name: str, normalization) -> None:
    if not (torch.is_tensor(normalization) or normalization in NORMALIZATIONS):
        raise AssertionError(f"{name}: normalization needs to be 'norm', 'component' or 'integral', got {normalization!r}")


class _S2GridTransform(torch.nn.Module):
    """What `ToS2Grid` and `FromS2Grid` share: the grid buffers (e3nn's names), the repr and the grid points."""

    def _store_grid(self, lmax: int, res_beta: int, res_alpha: int, alphas, betas, sha, shb) -> None:
        self.lmax, self.res_beta, self.res_alpha = lmax, res_beta, res_alpha
        self.register_buffer("alphas", alphas)
        self.register_buffer("betas", betas)
        self.register_buffer("sha", sha)
        self.register_buffer("shb", shb)
        self._name = repr(self)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(lmax={self.lmax} res={self.res_beta}x{self.res_alpha} (beta x alpha))"

    @property
    def grid(self) -> torch.Tensor:
        """The grid points [res_beta, res_alpha, 3]."""
        beta, alpha = torch.meshgrid(self.betas, self.alphas, indexing="ij")
        return angles_to_xyz(alpha, beta)


class ToS2Grid(_S2GridTransform):
    """Coefficients [..., (lmax+1)^2] -> signal on the grid [..., res_beta, res_alpha] (inverse of `FromS2Grid`).

    ``res`` is an int (res_beta) or (res_beta, res_alpha); missing values are completed as in e3nn
    (res_beta = 2 (lmax + 1), res_alpha = max(2 lmax + 1, res_beta - 1)). Buffers ``alphas``,
    ``betas``, ``sha``, ``shb`` as in e3nn; ``grid`` [res_beta, res_alpha, 3] are the points.
    """

    def __init__(self, lmax=None, res=None, normalization: str = "component", dtype=None, device=None) -> None:
        super().__init__()
        _check_normalization("ToS2Grid", normalization)
        lmax, res_beta, res_alpha = _parse_res(lmax, res)
        betas, alphas, shb, sha = spherical_harmonics_s2_grid(lmax, res_beta, res_alpha, dtype=dtype, device=device)
        if torch.is_tensor(normalization):
            n = normalization
        elif normalization == "component":
            # every l gets the same variance on the sphere for coefficients of variance 1
            n = math.sqrt(4 * math.pi) * betas.new_tensor([1 / math.sqrt(2 * l + 1) for l in range(lmax + 1)]) / math.sqrt(lmax + 1)
        elif normalization == "norm":
            n = math.sqrt(4 * math.pi) * betas.new_ones(lmax + 1) / math.sqrt(lmax + 1)
        else:
            n = betas.new_ones(lmax + 1)
        m = _expand_matrix(range(lmax + 1), dtype=dtype, device=device)
        shb = torch.einsum("lmj,bj,lmi,l->mbi", m, shb, m, n)  # [m, b, i]
        self._store_grid(lmax, res_beta, res_alpha, alphas, betas, sha, shb)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 0 or x.shape[-1] != self.shb.shape[-1]:
            raise ValueError(f"{self._name}: expected coefficients [..., {self.shb.shape[-1]}], got {list(x.shape)}")
        size = x.shape[:-1]
        x = x.reshape(-1, x.shape[-1])
        x = torch.einsum("mbi,zi->zbm", self.shb, x)  # [batch, beta, m]
        sa, sm = self.sha.shape
        if sa >= sm and sa % 2 == 1:
            x = irfft(x, sa)
        else:
            x = torch.einsum("am,zbm->zba", self.sha, x)
        return x.reshape(*size, *x.shape[1:])


class FromS2Grid(_S2GridTransform):
    """Signal on the grid [..., res_beta, res_alpha] -> coefficients [..., (lmax+1)^2] (inverse of `ToS2Grid`).

    Note e3nn's argument order: ``res`` first, then ``lmax``. ``lmax_in`` (default lmax) is the lmax
    of the `ToS2Grid` this inverts, which enters the "component" and "norm" factors.
    """

    def __init__(self, res=None, lmax=None, normalization: str = "component", lmax_in=None, dtype=None, device=None) -> None:
        super().__init__()
        _check_normalization("FromS2Grid", normalization)
        lmax, res_beta, res_alpha = _parse_res(lmax, res)
        if lmax_in is None:
            lmax_in = lmax
        betas, alphas, shb, sha = spherical_harmonics_s2_grid(lmax, res_beta, res_alpha, dtype=dtype, device=device)
        if torch.is_tensor(normalization):
            n = normalization
        elif normalization == "component":
            n = math.sqrt(4 * math.pi) * betas.new_tensor([math.sqrt(2 * l + 1) for l in range(lmax + 1)]) * math.sqrt(lmax_in + 1)
        elif normalization == "norm":
            n = math.sqrt(4 * math.pi) * betas.new_ones(lmax + 1) * math.sqrt(lmax_in + 1)
        else:
            n = 4 * math.pi * betas.new_ones(lmax + 1)
        m = _expand_matrix(range(lmax + 1), dtype=dtype, device=device)
        qw = _quadrature_weights(res_beta // 2, dtype=dtype, device=device) * res_beta**2 / res_alpha  # [b]
        shb = torch.einsum("lmj,bj,lmi,l,b->mbi", m, shb, m, n, qw)  # [m, b, i]
        self._store_grid(lmax, res_beta, res_alpha, alphas, betas, sha, shb)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2:
            raise ValueError(f"{self._name}: expected a signal [..., res_beta, res_alpha], got {list(x.shape)}")
        size = x.shape[:-2]
        res_beta, res_alpha = x.shape[-2:]
        x = x.reshape(-1, res_beta, res_alpha)
        sa, sm = self.sha.shape
        if sm <= sa and sa % 2 == 1:
            x = rfft(x, sm // 2)
        else:
            x = torch.einsum("am,zba->zbm", self.sha, x)
        x = torch.einsum("mbi,zbm->zi", self.shb, x)
        return x.reshape(*size, x.shape[1])
