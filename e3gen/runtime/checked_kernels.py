"""Shape checks around the generated kernels, for the loader's accessors.

A generated kernel reads its inputs component by component (``x[..., 0]``, ``x[..., 1]``, ...)
and never looks at their sizes: given x [..., 5] where l=1 wants [..., 3], it would silently use
the first three components. The wrappers here check the last dimension of each input (and the
number of previous harmonics) before calling the kernel: a few integer comparisons per call, free
under torch.compile, which resolves shapes while it traces. The unchecked kernel stays reachable
as ``wrapper.__wrapped__`` (and in the build's ``KERNELS``/``VJP_X``/``VJP_Y``/``STEPS`` tables),
which is what to hand to torch.jit.script.
"""

from __future__ import annotations

import functools
from typing import Callable, List, Sequence, Tuple

import torch


def _check_last_dims(kernel_name: str, arguments: Sequence[Tuple[str, object, int]]) -> None:
    for name, value, size in arguments:
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{kernel_name}: {name} must be a torch.Tensor [..., {size}], got {type(value).__name__}")
        if value.dim() == 0 or value.shape[-1] != size:
            raise ValueError(f"{kernel_name}: expected {name} of shape [..., {size}], got {list(value.shape)}")


# Cached: one wrapper per kernel, so every accessor call (and every thread) gets the same object.
@functools.lru_cache(maxsize=None)
def checked_coupling(kernel: Callable, l1: int, l2: int, l3: int, kind: str) -> Callable:
    """`kernel` (a generated coupling function of `kind` "coupling", "vjp_x" or "vjp_y" for the path
    (l1, l2, l3)) with its two inputs' last dimensions checked: coupling(x [.., 2l1+1], y [.., 2l2+1]),
    vjp_x(g [.., 2l3+1], y [.., 2l2+1]), vjp_y(x [.., 2l1+1], g [.., 2l3+1])."""
    d1, d2, d3 = 2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1
    (name_a, size_a), (name_b, size_b) = {
        "coupling": (("x", d1), ("y", d2)),
        "vjp_x": (("g", d3), ("y", d2)),
        "vjp_y": (("x", d1), ("g", d3)),
    }[kind]
    label = f"{kernel.__name__} (l1={l1}, l2={l2} -> l3={l3})"

    @functools.wraps(kernel)
    def checked(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        _check_last_dims(label, ((name_a, a, size_a), (name_b, b, size_b)))
        return kernel(a, b)

    return checked


@functools.lru_cache(maxsize=None)
def checked_harmonics_step(step: Callable, l: int) -> Callable:
    """`step` (the generated recursion to degree l: (x, y, z, previous) -> the 2l+1 components of
    Y^l) with the number of previous components, 2l - 1, checked."""
    label = f"{step.__name__} (l={l})"

    @functools.wraps(step)
    def checked(x: torch.Tensor, y: torch.Tensor, z: torch.Tensor, previous: List[torch.Tensor]) -> List[torch.Tensor]:
        if len(previous) != 2 * l - 1:
            raise ValueError(
                f"{label}: expected previous as the {2 * l - 1} components of Y^{l - 1} (a list of tensors), "
                f"got {len(previous)} of them"
            )
        return step(x, y, z, previous)

    return checked
