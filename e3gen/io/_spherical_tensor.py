"""Signals on the sphere as irreps (e3nn 0.6.0's `io.SphericalTensor`: names, signatures and numbers).

``SphericalTensor(lmax, p_val, p_arg)`` is the Irreps ``1x0 + 1x1 + ... + 1x lmax`` holding the
coefficients A^l of f(x) = sum_l A^l . Y^l(x), where parity acts as (P f)(x) = p_val f(p_arg x),
so the l-th term has parity p_val * p_arg^l. Its methods build such signals (peaks, sums of Diracs,
samples), evaluate them (at points, on a grid) and find their peaks, as e3nn's do; the grid
transforms are `o3.ToS2Grid` / `o3.FromS2Grid`.
"""

from collections import namedtuple
from math import pi
from typing import List, Tuple

import torch

from e3gen.o3._irreps import Irreps
from e3gen.o3._rotation import angles_to_matrix
from e3gen.o3._s2grid import FromS2Grid, ToS2Grid
from e3gen.o3._spherical_harmonics import spherical_harmonics


def _local_maxima_1d(x: torch.Tensor) -> List[int]:
    """Indices of the strict local maxima of a 1-d sequence, a flat top counting once at its middle
    (rounded down) and the two ends never: scipy.signal.find_peaks with no conditions, as e3nn uses."""
    x = x.tolist()
    peaks = []
    i, i_max = 1, len(x) - 1
    while i < i_max:
        if x[i - 1] < x[i]:
            i_ahead = i + 1
            while i_ahead < i_max and x[i_ahead] == x[i]:
                i_ahead += 1
            if x[i_ahead] < x[i]:
                peaks.append((i + i_ahead - 1) // 2)
                i = i_ahead
        i += 1
    return peaks


def _find_peaks_2d(x: torch.Tensor) -> List[Tuple[int, int]]:
    """Grid points that are peaks both along their row and along their column."""
    rows = {(i, j) for i in range(x.shape[0]) for j in _local_maxima_1d(x[i, :])}
    columns = {(i, j) for j in range(x.shape[1]) for i in _local_maxima_1d(x[:, j])}
    return list(rows.intersection(columns))


class SphericalTensor(Irreps):
    """The irreps ``[(1, (l, p_val * p_arg**l)) for l in 0..lmax]`` of a signal on the sphere.

    >>> SphericalTensor(3, 1, -1)
    1x0e+1x1o+1x2e+1x3o
    """

    def __new__(cls, lmax: int, p_val: int, p_arg: int):
        if p_val not in (1, -1) or p_arg not in (1, -1):
            raise ValueError(f"SphericalTensor: p_val and p_arg must be +1 or -1, got p_val={p_val!r}, p_arg={p_arg!r}")
        ret = super().__new__(cls, [(1, (l, p_val * p_arg**l)) for l in range(lmax + 1)])
        ret._args = (lmax, p_val, p_arg)
        return ret

    def __getnewargs__(self):
        # copy.deepcopy and pickle rebuild through __new__ (e3nn's SphericalTensor cannot be copied)
        return self._args

    def with_peaks_at(self, vectors: torch.Tensor, values: torch.Tensor = None) -> torch.Tensor:
        """Coefficients [dim] of the signal with value |r_i| (or ``values[i]``) at each direction r_i [N, 3],
        the least-squares combination of Y(r_i), as e3nn's."""
        if values is not None:
            vectors, values = torch.broadcast_tensors(vectors, values[..., None])
            values = values[..., 0]
        if vectors.numel() == 0:
            return torch.zeros(vectors.shape[:-2] + (self.dim,))
        if self[0][1].p != 1:
            raise AssertionError("since the value is set by the radii who is even, p_val has to be 1")
        if vectors.dim() != 2 or vectors.shape[1] != 3:
            raise AssertionError(f"with_peaks_at: vectors must have shape [N, 3], got {list(vectors.shape)}")
        if values is None:
            values = vectors.norm(dim=1)
        vectors = vectors[values != 0]
        values = values[values != 0]
        coeff = spherical_harmonics(self, vectors, normalize=True)  # [N, dim]
        A = torch.einsum("ai,bi->ab", coeff, coeff)
        solution = torch.linalg.lstsq(A, values).solution.reshape(-1)
        if not (values - A @ solution).abs().max() < 1e-5 * values.abs().max():
            raise AssertionError("with_peaks_at: these peaks cannot be represented at this lmax")
        return solution @ coeff

    def sum_of_diracs(self, positions: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """sum_i v_i delta^L(r_i): positions [..., N, 3], values [..., N] -> [..., dim]."""
        positions, values = torch.broadcast_tensors(positions, values[..., None])
        values = values[..., 0]
        if positions.numel() == 0:
            return torch.zeros(values.shape[:-1] + (self.dim,))
        y = spherical_harmonics(self, positions, True)  # [..., N, dim]
        return 4 * pi / (self.lmax + 1) ** 2 * (y * values[..., None]).sum(-2)

    def from_samples_on_s2(self, positions: torch.Tensor, values: torch.Tensor, res: int = 100) -> torch.Tensor:
        """Coefficients [..., dim] of the signal equal, at each grid point, to the value of the nearest sample
        (positions [..., N, 3], values [..., N])."""
        positions, values = torch.broadcast_tensors(positions, values[..., None])
        values = values[..., 0]
        if positions.numel() == 0:
            return torch.zeros(values.shape[:-1] + (self.dim,))
        positions = torch.nn.functional.normalize(positions, dim=-1)
        size = positions.shape[:-2]
        n = positions.shape[-2]
        positions = positions.reshape(-1, n, 3)
        values = values.reshape(-1, n)
        s2 = FromS2Grid(res=res, lmax=self.lmax, normalization="integral", dtype=values.dtype, device=values.device)
        pos = s2.grid.reshape(1, -1, 3)
        cd = torch.cdist(pos, positions)  # [batch, b*a, N]
        i = torch.arange(len(values)).view(-1, 1)
        j = cd.argmin(2)
        val = values[i, j].reshape(*size, s2.res_beta, s2.res_alpha)
        return s2(val)

    def norms(self, signal: torch.Tensor) -> torch.Tensor:
        """|A^l| for each l: [..., dim] -> [..., lmax + 1]."""
        i = 0
        norms = []
        for _, ir in self:
            norms.append(signal[..., i : i + ir.dim].norm(dim=-1))
            i += ir.dim
        return torch.stack(norms, dim=-1)

    def signal_xyz(self, signal: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """f(r / |r|): signal [*A, dim], r [*B, 3] -> [*A, *B]."""
        sh = spherical_harmonics(self, r, normalize=True)
        dim = (self.lmax + 1) ** 2
        output = torch.einsum("bi,ai->ab", sh.reshape(-1, dim), signal.reshape(-1, dim))
        return output.reshape(signal.shape[:-1] + r.shape[:-1])

    def signal_on_grid(self, signal: torch.Tensor, res: int = 100, normalization: str = "integral"):
        """(grid [res_beta, res_alpha, 3], values [..., res_beta, res_alpha]) of the signal on `ToS2Grid`'s grid."""
        Ret = namedtuple("Return", "grid, values")
        s2 = ToS2Grid(lmax=self.lmax, res=res, normalization=normalization)
        return Ret(s2.grid, s2(signal))

    def plotly_surface(self, signals, centers=None, res: int = 100, radius: bool = True, relu: bool = False, normalization: str = "integral"):
        """plotly surface traces (dicts of numpy arrays), one per signal."""
        signals = signals.reshape(-1, self.dim)
        centers = [None] * len(signals) if centers is None else centers.reshape(-1, 3)
        traces = []
        for signal, center in zip(signals, centers):
            r, f = self.plot(signal, center, res, radius, relu, normalization)
            traces.append({"x": r[:, :, 0].numpy(), "y": r[:, :, 1].numpy(), "z": r[:, :, 2].numpy(), "surfacecolor": f.numpy()})
        return traces

    def plot(self, signal, center=None, res: int = 100, radius: bool = True, relu: bool = False, normalization: str = "integral") -> Tuple[torch.Tensor, torch.Tensor]:
        """(points [res_beta, res_alpha + 1, 3], values [res_beta, res_alpha + 1]) of a closed surface for plotting."""
        if signal.dim() != 1:
            raise AssertionError(f"plot takes one signal [dim], got shape {list(signal.shape)}")
        r, f = self.signal_on_grid(signal, res, normalization)
        f = f.relu() if relu else f
        r[0] = r.new_tensor([0.0, 1.0, 0.0])
        r[-1] = r.new_tensor([0.0, -1.0, 0.0])
        f[0] = f[0].mean()
        f[-1] = f[-1].mean()
        r = torch.cat([r, r[:, :1]], dim=1)
        f = torch.cat([f, f[:, :1]], dim=1)
        if radius:
            r *= f.abs().unsqueeze(-1)
        if center is not None:
            r += center
        return r, f

    def find_peaks(self, signal: torch.Tensor, res: int = 100) -> Tuple[torch.Tensor, torch.Tensor]:
        """(positions [P, 3], values [P]) of the local maxima of the signal, from two rotated grids (as e3nn)."""
        x1, f1 = self.signal_on_grid(signal, res)
        abc = torch.tensor([pi / 2, pi / 2, pi / 2])
        R = angles_to_matrix(*abc)
        D = self.D_from_matrix(R)
        r_signal = D @ signal
        rx2, f2 = self.signal_on_grid(r_signal, res)
        x2 = torch.einsum("ij,baj->bai", R.T, rx2)
        ij = _find_peaks_2d(f1)
        x1p = torch.stack([x1[i, j] for i, j in ij])
        f1p = torch.stack([f1[i, j] for i, j in ij])
        ij = _find_peaks_2d(f2)
        x2p = torch.stack([x2[i, j] for i, j in ij])
        f2p = torch.stack([f2[i, j] for i, j in ij])
        mask = torch.cdist(x1p, x2p) < 2 * pi / res  # peaks seen on both grids are kept once, from the second
        x = torch.cat([x1p[mask.sum(1) == 0], x2p])
        f = torch.cat([f1p[mask.sum(1) == 0], f2p])
        return x, f
