"""Second-moment normalisation of activation functions (e3nn 0.6.0's `moment`, `normalize2mom`).

e3nn scales an activation f by cst = <f(z)^2>^(-1/2), z ~ N(0, 1), so that f(z) has unit second
moment for unit-variance input. It estimates the moment by Monte Carlo: 1,000,000 float64 samples
from a torch.Generator seeded with 0. The same computation here gives the same constant to the last
bit on the same device, which makes layers agree with e3nn to float rounding. The estimate itself
is only good to ~1e-3 (Monte-Carlo error), so cst is not the exact normalisation; e3gen reproduces
e3nn's number rather than the exact one on purpose.
"""

import functools
from collections.abc import Hashable
from typing import Callable, Optional

import torch

_SAMPLES = 1_000_000


def _device_of(f) -> Optional[torch.device]:
    """Where e3nn evaluates f: a module's first parameter or buffer, else the CPU; None for a function."""
    if not isinstance(f, torch.nn.Module):
        return None
    for tensor in list(f.parameters()) + list(f.buffers()):
        return tensor.device
    return torch.device("cpu")


def moment(f: Callable[[torch.Tensor], torch.Tensor], n: int, dtype=None, device=None) -> torch.Tensor:
    """<f(z)^n> over z ~ N(0, 1): a 0-dim tensor, estimated from e3nn's fixed 1e6 samples (seed 0).

    The samples are drawn in float64 and then cast to ``dtype`` (default: torch's default dtype).
    """
    dtype = torch.get_default_dtype() if dtype is None else dtype
    device = torch.empty(0).device if device is None else torch.device(device)  # torch's default device
    generator = torch.Generator(device=device).manual_seed(0)
    z = torch.randn(_SAMPLES, generator=generator, dtype=torch.float64, device=device).to(dtype=dtype)
    return f(z).pow(n).mean()


def _constant(f, device) -> float:
    with torch.no_grad():
        return moment(f, 2, dtype=torch.float64, device=device).pow(-0.5).item()


# A plain function's constant depends only on the function (and device): computed once per process,
# since every Activation, Gate and FullyConnectedNet recomputes it (~60 ms each). Modules may hold
# state, so theirs is always recomputed.
_function_constant = functools.lru_cache(maxsize=256)(_constant)


class normalize2mom(torch.nn.Module):  # noqa: N801 - e3nn's name
    """f(x) * cst with cst = <f(z)^2>^(-1/2) (z ~ N(0, 1), e3nn's Monte-Carlo estimate): x [...] -> [...].

    When cst is within 1e-4 of 1 it is not applied (``_is_id``), as in e3nn. ``f`` must be
    elementwise; it is kept as the attribute ``f`` (so a parametrised activation's state dict keys
    read ``f.<name>`` like e3nn's).
    """

    _is_id: bool
    cst: float

    def __init__(self, f: Callable[[torch.Tensor], torch.Tensor], dtype=None, device=None) -> None:
        super().__init__()
        # dtype is accepted for e3nn's signature; like e3nn, the moment is always taken in float64.
        if device is None:
            device = _device_of(f)
        if isinstance(f, torch.nn.Module) or not isinstance(f, Hashable):
            cst = _constant(f, device)
        else:
            cst = _function_constant(f, torch.empty(0).device if device is None else torch.device(device))
        self._is_id = abs(cst - 1) < 1e-4
        self.f = f
        self.cst = cst

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._is_id:
            return self.f(x)
        return self.f(x).mul(self.cst)

    @torch.jit.export
    def unscaled(self, x: torch.Tensor) -> torch.Tensor:
        """f(x), to be multiplied by `scale()` (where a layer folds the constant into its next weights)."""
        return self.f(x)

    @torch.jit.export
    def scale(self) -> float:
        """The factor forward applies after f: cst, or 1 where it is within 1e-4 of 1."""
        return 1.0 if self._is_id else self.cst
