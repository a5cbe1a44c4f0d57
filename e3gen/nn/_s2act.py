"""Pointwise nonlinearities on signals over the sphere and over SO(3) (e3nn 0.6.0's `nn.S2Activation`,
`nn.SO3Activation`).

S2Activation maps the coefficients {A^l} of f = sum_l A^l . Y^l to the grid (`o3.ToS2Grid`), applies
phi pointwise and projects back (`o3.FromS2Grid`): {A^l} -> {int phi(f(x)) Y^j(x) dx}_j. Pointwise
maps commute with rotations, so this is equivariant up to the grid's quadrature error (which
shrinks as ``res`` grows). SO3Activation does the same on `o3.SO3Grid`. phi is normalised by
`math.normalize2mom`, as in e3nn.
"""

import torch

from e3gen.math import normalize2mom
from e3gen.o3 import FromS2Grid, Irreps, SO3Grid, ToS2Grid


def _act_parity(act, name: str) -> int:
    """+1 / -1 for an even / odd act (e3nn's check on linspace(0, 10, 256), relative tolerance 1e-10)."""
    x = torch.linspace(0, 10, 256)
    a1, a2 = act(x), act(-x)
    if (a1 - a2).abs().max() < a1.abs().max() * 1e-10:
        return 1
    if (a1 + a2).abs().max() < a1.abs().max() * 1e-10:
        return -1
    raise ValueError(f"{name}: the input is odd under parity (p_val=-1), so the activation must be even or odd; this one is neither")


class S2Activation(torch.nn.Module):
    """phi applied to a signal on the sphere: [..., irreps_in.dim] -> [..., irreps_out.dim].

    ``irreps`` must be ``[(1, (l, p_val * p_arg**l)) for l in 0..lmax]`` (e.g. `io.SphericalTensor`);
    ``res`` the grid resolution; ``lmax_out`` (default lmax) the output's lmax; with ``random_rot``
    the grid is rotated at random on each call (so its errors average out). Buffers ``to_s2.*`` and
    ``from_s2.*`` as in e3nn.
    """

    def __init__(self, irreps, act, res, normalization: str = "component", lmax_out=None, random_rot: bool = False) -> None:
        super().__init__()
        irreps = Irreps(irreps).simplify()
        _, (_, p_val) = irreps[0]
        _, (lmax, _) = irreps[-1]
        if not all(mul == 1 for mul, _ in irreps) or irreps.ls != list(range(lmax + 1)):
            raise AssertionError(f"S2Activation: irreps must be one copy of each l = 0..lmax, got {irreps}")
        if all(p == p_val for _, (l, p) in irreps):
            p_arg = 1
        elif all(p == p_val * (-1) ** l for _, (l, p) in irreps):
            p_arg = -1
        else:
            raise AssertionError(f"S2Activation: the parity of the input {irreps} is not well defined (need p_val * p_arg**l)")
        self.irreps_in = irreps
        if lmax_out is None:
            lmax_out = lmax
        if p_val == 1:
            self.irreps_out = Irreps([(1, (l, p_val * p_arg**l)) for l in range(lmax_out + 1)])
        else:
            p_act = _act_parity(act, "S2Activation")
            self.irreps_out = Irreps([(1, (l, p_act * p_arg**l)) for l in range(lmax_out + 1)])
        self.to_s2 = ToS2Grid(lmax, res, normalization=normalization)
        self.from_s2 = FromS2Grid(res, lmax_out, normalization=normalization, lmax_in=lmax)
        self.act = normalize2mom(act)
        self.random_rot = random_rot

    def __repr__(self) -> str:
        return f"{self.__class__.__name__} ({self.irreps_in} -> {self.irreps_out})"

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.dim() == 0 or features.shape[-1] != self.irreps_in.dim:
            raise ValueError(f"{self!r}: expected features [..., {self.irreps_in.dim}], got {list(features.shape)}")
        if self.random_rot:
            from e3gen.o3 import rand_angles

            abc = rand_angles(dtype=features.dtype, device=features.device)
            features = torch.einsum("ij,...j->...i", self.irreps_in.D_from_angles(*abc), features)
        features = self.to_s2(features)  # [..., beta, alpha]
        features = self.act(features)
        features = self.from_s2(features)
        if self.random_rot:
            features = torch.einsum("ij,...j->...i", self.irreps_out.D_from_angles(*abc).T, features)
        return features


class SO3Activation(torch.nn.Module):
    """phi applied to a signal on SO(3): [..., sum_{l<=lmax_in} (2l+1)^2] -> [..., sum_{l<=lmax_out} (2l+1)^2].

    Features are the flattened D^l coefficients of `o3.SO3Grid`; buffers ``grid_in.*``, ``grid_out.*`` as in e3nn.
    """

    def __init__(self, lmax_in: int, lmax_out: int, act, resolution: int, *, normalization: str = "component", aspect_ratio: int = 2) -> None:
        super().__init__()
        self.grid_in = SO3Grid(lmax_in, resolution, normalization=normalization, aspect_ratio=aspect_ratio)
        self.grid_out = SO3Grid(lmax_out, resolution, normalization=normalization, aspect_ratio=aspect_ratio)
        self.act = normalize2mom(act)
        self.lmax_in = lmax_in
        self.lmax_out = lmax_out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__} ({self.lmax_in} -> {self.lmax_out})"

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        features = self.grid_in.to_grid(features)
        features = self.act(features)
        return self.grid_out.from_grid(features)
