"""The generated Clebsch-Gordan kernels as differentiable operations with generated backward.

`coupling_product(l1, l2, l3)` returns a torch.autograd.Function whose forward is the generated
kernel out_k = sum_ij C_ijk x_i y_j and whose backward is the two generated vector-Jacobian
kernels (the same sparse table with its index roles permuted):

    dL/dx_i = sum_jk C_ijk g_k y_j        dL/dy_j = sum_ik C_ijk x_i g_k

summed over any dimension along which an input was broadcast. Backward is itself made of plain
torch operations, so double backward (forces in training) differentiates through it; and
torch.compile traces one short straight-line graph per direction instead of autograd's
derivative of every term.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from e3gen.runtime.loader import load_kernels


@lru_cache(maxsize=None)
def coupling_product(l1: int, l2: int, l3: int) -> type:
    """The autograd.Function for path (l1, l2, l3): `.apply(x [..., 2l1+1], y [..., 2l2+1]) -> [..., 2l3+1]`."""
    build = load_kernels(max(l1, l2, l3))
    # The raw kernels, not the accessors' size-checked wrappers: the layers shape their own inputs.
    kernel = build.coupling_kernel(l1, l2, l3).__wrapped__
    vjp_x, vjp_y = (f.__wrapped__ for f in build.coupling_vjp(l1, l2, l3))

    class CouplingProduct(torch.autograd.Function):
        @staticmethod
        def forward(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return kernel(x, y)

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(*inputs)

        @staticmethod
        def backward(ctx, g: torch.Tensor):
            x, y = ctx.saved_tensors
            gx = vjp_x(g, y).sum_to_size(x.shape) if ctx.needs_input_grad[0] else None
            gy = vjp_y(x, g).sum_to_size(y.shape) if ctx.needs_input_grad[1] else None
            return gx, gy

    CouplingProduct.__name__ = CouplingProduct.__qualname__ = f"CouplingProduct_{l1}_{l2}_{l3}"  # see __getattr__
    return CouplingProduct


def __getattr__(name: str):
    """`CouplingProduct_<l1>_<l2>_<l3>` by name, so that pickle can find the class again (layers that
    hold `coupling_product(...).apply` are then picklable: `torch.save(model)`, as MACE saves)."""
    prefix, _, ls = name.partition("CouplingProduct_")
    parts = ls.split("_")
    if prefix == "" and len(parts) == 3 and all(p.isdigit() for p in parts):
        return coupling_product(*(int(p) for p in parts))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
