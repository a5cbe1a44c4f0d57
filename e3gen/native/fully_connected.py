"""Native fully connected products (mode "uvw", shared weights): the op `e3gen::fully_connected`.

FullyConnectedTensorProduct mixes every channel pair (u, v) into every output channel w:

    out[r, w, k] = sum_paths sum_uv W_p[u, v, w] T_p[r, u, v, k],
    T_p[r, u, v, k] = c sum_ij C_ijk x[r, u, i] y[r, v, j].

The C++ driver (in the library of `e3gen.native.rowwise`, whose kernels couple rows as vector
lanes) couples one path's pairs for a block of rows, in cache, and contracts them with the path's
weights [(u v), w] by one matrix product (BLAS); the backward multiplies the output's cotangent by
the weights (one matrix product) and runs the x and y kernels on the result, and the weights'
gradient couples the pairs again (T is never stored for all rows: it is 256 times the size of x).

One op computes the derivatives of the trilinear form

    F(x, y, W, g) = sum_paths sum_uvw W_p[u, v, w] sum_k T_p[r, u, v, k] g[r, w, k]   (summed over rows r)

with respect to the operands in `roles` (0 x, 1 y, 2 W, 3 g); the product is roles=[3]. F is linear
in each operand, so every derivative of any order is the same op with a cotangent in one slot (as in
`e3gen.native.ops`); W is one shared vector [weight_numel], its derivative summed over the rows.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from e3gen.native._custom_op import custom_op
from e3gen.native._multilinear import slot_gradients
from e3gen.native.rowwise import load_rowwise_library


@dataclass(frozen=True)
class FullyConnectedLayout:
    """Blocks (mul, l) of x, y and the output, and the instructions (i_x, i_y, i_out, coefficient),
    all "uvw" with weights [mul_x, mul_y, mul_out] one after the other in instruction order."""

    x: Tuple[Tuple[int, int], ...]
    y: Tuple[Tuple[int, int], ...]
    out: Tuple[Tuple[int, int], ...]
    instructions: Tuple[Tuple[int, int, int, float], ...]

    def key(self) -> str:
        return json.dumps({"x": self.x, "y": self.y, "out": self.out, "instructions": self.instructions}, separators=(",", ":"))

    @staticmethod
    def from_key(key: str) -> "FullyConnectedLayout":
        data = json.loads(key)
        return FullyConnectedLayout(
            tuple(map(tuple, data["x"])), tuple(map(tuple, data["y"])), tuple(map(tuple, data["out"])),
            tuple((int(a), int(b), int(c), float(d)) for a, b, c, d in data["instructions"]),
        )

    @property
    def dims(self) -> Tuple[int, int, int, int]:
        """Sizes of x and y rows, of the weights and of output rows."""
        size = lambda blocks: sum(mul * (2 * l + 1) for mul, l in blocks)  # noqa: E731
        numel = sum(self.x[i][0] * self.y[j][0] * self.out[o][0] for i, j, o, _ in self.instructions)
        return size(self.x), size(self.y), numel, size(self.out)

    @property
    def lmax(self) -> int:
        """The largest l of the inputs: the library that covers this layout."""
        return max([0] + [l for blocks in (self.x, self.y) for _, l in blocks])


def layout_of(irreps_in1, irreps_in2, irreps_out, instructions, shared_weights: bool) -> Optional[FullyConnectedLayout]:
    """The native layout of a TensorProduct's instructions, or None where this op does not apply
    (it covers "uvw" instructions with shared weights: FullyConnectedTensorProduct)."""
    if not instructions or not shared_weights:
        return None
    if any(ins.connection_mode != "uvw" or not ins.has_weight for ins in instructions):
        return None
    if not math.isfinite(sum(ins.path_weight for ins in instructions)):
        return None
    return FullyConnectedLayout(
        tuple((mul, ir.l) for mul, ir in irreps_in1),
        tuple((mul, ir.l) for mul, ir in irreps_in2),
        tuple((mul, ir.l) for mul, ir in irreps_out),
        tuple((ins.i_in1, ins.i_in2, ins.i_out, float(ins.path_weight)) for ins in instructions),
    )


class _Tables:
    """The layout as the int64/float64 tables the C++ driver reads: paths grouped by output block
    (in instruction order within a block), output blocks with channels."""

    def __init__(self, layout: FullyConnectedLayout):
        from e3gen.codegen.plan_cpp_rowwise import contraction_order  # the planner's choice per path

        self.library = load_rowwise_library(layout.lmax)
        self.dims = list(layout.dims)

        def starts(blocks):
            result, offset = [], 0
            for mul, l in blocks:
                result.append(offset)
                offset += mul * (2 * l + 1)
            return result

        sx, sy, so = starts(layout.x), starts(layout.y), starts(layout.out)
        live = [o for o, (mul, _) in enumerate(layout.out) if mul > 0]
        block_of = {o: index for index, o in enumerate(live)}
        rows, coefficients, w_offset = [], [], 0
        for i1, i2, io, coefficient in layout.instructions:
            (mul1, l1), (mul2, l2), (mul_out, l3) = layout.x[i1], layout.y[i2], layout.out[io]
            if mul1 * mul2 * mul_out > 0:
                rows.append((block_of[io], [self.library.triple_ids[(l1, l2, l3)], sx[i1], mul1, sy[i2], mul2, block_of[io], w_offset,
                                            contraction_order(l1, l2, l3)]))
                coefficients.append((block_of[io], coefficient))
            w_offset += mul1 * mul2 * mul_out
        order = sorted(range(len(rows)), key=lambda i: rows[i][0])  # stable: instruction order within a block
        self.paths = torch.tensor([rows[i][1] for i in order], dtype=torch.int64).reshape(-1, 8)
        self.coefficients = torch.tensor([coefficients[i][1] for i in order], dtype=torch.float64)
        self.out_blocks = torch.tensor([[so[o], layout.out[o][0], 2 * layout.out[o][1] + 1] for o in live],
                                       dtype=torch.int64).reshape(-1, 3)


@lru_cache(maxsize=None)
def tables(layout: str) -> _Tables:
    return _Tables(FullyConnectedLayout.from_key(layout))


@lru_cache(maxsize=None)
def _dims(layout: str) -> Tuple[int, int, int, int]:
    return FullyConnectedLayout.from_key(layout).dims


# No row-count rule: strategy="auto" runs this op at any number of rows. Until the driver computed
# only the 16-row sub-blocks that hold rows, it paid for a whole 128-row block, and "auto" kept the
# dense kernels below 100 rows on one thread. Measured since (2026-11-30, 2-core EPYC, one thread,
# forward+backward, medians of 60 calls) on NequIP's self-connection
# FullyConnectedTensorProduct("32x0e+32x1o+32x2e", "1x0e" or "4x0e", "32x0e+32x1o+32x2e"), native / dense ms:
#   float32:  16 rows 0.30 / 0.57 (1x0e), 0.32 / 0.63 (4x0e);  40 rows 0.45 / 0.78, 0.50 / 0.92;
#             64 rows 0.48 / 1.00, 0.57 / 1.19;  100 rows 0.76 / 1.34, 0.86 / 1.63
#   float64:  16 rows 0.38 / 0.58, 0.47 / 0.68;  40 rows 0.71 / 0.88, 0.80 / 1.06;
#             64 rows 0.90 / 1.15, 1.06 / 1.38;  100 rows 1.40 / 1.68, 1.67 / 2.01

_NOT_READ = torch.empty(0)


def _needed(roles: Sequence[int]) -> List[int]:
    return [o for o in range(4) if any(r != o for r in roles)]


def _rows(operands: Sequence[Tensor], needed: Sequence[int]) -> int:
    return operands[next(o for o in needed if o != 2)].shape[0]


@custom_op("e3gen::fully_connected")
def fully_connected(layout: str, roles: List[int], x: Tensor, y: Tensor, w: Tensor, g: Tensor) -> List[Tensor]:
    """[dF/d(operand r) for r in roles]: x, y, g with one row per sample, w the shared weights [numel]
    (operands in roles unread). The product (role 3) runs alone; other roles share one pass."""
    t = tables(layout)
    results = {}
    for group in ([[3]] if 3 in roles else []) + ([[r for r in roles if r != 3]] if any(r != 3 for r in roles) else []):
        needed = _needed(group)
        operands = [o.contiguous() if i in needed else _NOT_READ for i, o in enumerate((x, y, w, g))]
        outs = t.library.fully_connected(group, *operands, t.paths, t.coefficients, t.out_blocks, t.dims, _rows(operands, needed))
        results.update(zip(group, outs))
    return [results[r] for r in roles]


@fully_connected.register_fake
def _(layout, roles, x, y, w, g):
    dims = _dims(layout)
    operands = (x, y, w, g)
    like = operands[next(o for o in _needed(roles) if o != 2)]
    return [like.new_empty(dims[2]) if r == 2 else like.new_empty(like.shape[0], dims[r]) for r in roles]


def _setup(ctx, inputs, output):
    ctx.layout, ctx.roles = inputs[0], list(inputs[1])
    ctx.save_for_backward(*inputs[2:6])


def _backward(ctx, grads):
    """Gradients of the roles' results (`_multilinear.slot_gradients`: F is linear in each slot)."""
    return (None, None, *slot_gradients(ctx.roles, grads, ctx.saved_tensors, ctx.needs_input_grad[2:6],
                                        lambda targets, slots: fully_connected(ctx.layout, targets, *slots)))


fully_connected.register_autograd(_backward, setup_context=_setup)


def product(layout: str, x: Tensor, y: Tensor, w: Tensor) -> Tensor:
    """x [B, dim_x], y [B, dim_y] (mul_ir rows), w [weight_numel] (shared) -> [B, dim_out]."""
    return fully_connected(layout, [3], x, y, w, x.new_empty(0))[0]
