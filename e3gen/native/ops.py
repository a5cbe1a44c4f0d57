"""The native kernels as `torch.library` custom ops, with fake implementations and autograd.

Two ops, both computing derivatives of the trilinear form of a channel-wise (uvu) product

    F(x, y, w, g) = sum_paths c sum_ijku C_ijk x[i, u] y[j] w[u] g[k, u]

with respect to the operands listed in `roles` (0 x, 1 y, 2 w, 3 g), in one pass over the rows
(an operand that is one of the roles is not read; pass any tensor, e.g. an empty one). The
product is roles=[3]: out = dF/dg(x, y, w); its backward is roles=[0, 1, 2] with g := grad.

* `e3gen::channelwise(layout, roles, x, y, w, g)`: all operands have one row per sample.
* `e3gen::channelwise_conv(layout, roles, x, y, w, g, sender, receiver, num_nodes)`: the fused
  convolution: x and g are node rows [num_nodes, .], y and w edge rows [E, .]; roles=[3] is
  out[n] = sum_{e: receiver[e] = n} product(x[sender[e]], y[e], w[e]) without per-edge messages.

Autograd: F is linear in each operand, so the gradient of role r's result (given grad h, shaped
like operand r) with respect to operand q is the role-q derivative with h in the r slot:

    d<h, dF/dr(...)>/dq = dF/dq(operands with r := h)

which is again the same op; double (and higher) backward follow by the same rule.

`layout` is a self-describing string (see `ChannelwiseLayout`), so the ops need no hidden state
and torch.compile / torch.export see ordinary ops with a str argument. Rows are e3nn's mul_ir
layout; the kernels transpose each row to ir_mul internally.
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
from e3gen.native.build import load_library

ROLES = ("x", "y", "w", "g")


@dataclass(frozen=True)
class ChannelwiseLayout:
    """A channel-wise product: input blocks (mul, l) of x and y (y muls are 1), output blocks, and
    its paths (i_x, i_y, i_out, coefficient), each with mul(x block) weights, in order."""

    x: Tuple[Tuple[int, int], ...]
    y: Tuple[Tuple[int, int], ...]
    out: Tuple[Tuple[int, int], ...]
    paths: Tuple[Tuple[int, int, int, float], ...]

    def key(self) -> str:
        return json.dumps({"x": self.x, "y": self.y, "out": self.out, "paths": self.paths}, separators=(",", ":"))

    @staticmethod
    def from_key(key: str) -> "ChannelwiseLayout":
        data = json.loads(key)
        return ChannelwiseLayout(
            tuple(map(tuple, data["x"])), tuple(map(tuple, data["y"])), tuple(map(tuple, data["out"])),
            tuple((int(a), int(b), int(c), float(d)) for a, b, c, d in data["paths"]),
        )

    @property
    def dims(self) -> Tuple[int, int, int, int]:
        """Row sizes of x, y, w and g."""
        size = lambda blocks: sum(mul * (2 * l + 1) for mul, l in blocks)  # noqa: E731
        return size(self.x), size(self.y), sum(self.x[p[0]][0] for p in self.paths), size(self.out)

    @property
    def lmax(self) -> int:
        return max([0] + [l for blocks in (self.x, self.y, self.out) for _, l in blocks])


class _Tables:
    """The layout as the int64/float64 tables the C++ driver reads, for one compiled library."""

    def __init__(self, layout: ChannelwiseLayout):
        self.library = load_library(layout.lmax)
        self.dims = list(layout.dims)

        def offsets(blocks):
            result, offset = [], 0
            for mul, l in blocks:
                result.append((offset, mul, 2 * l + 1))
                offset += mul * (2 * l + 1)
            return result

        x_blocks, y_blocks, out_blocks = offsets(layout.x), offsets(layout.y), offsets(layout.out)
        rows, coefficients, w_offset = [], [], 0
        for i_x, i_y, i_out, coefficient in layout.paths:
            mul, l1 = layout.x[i_x]
            triple = (l1, layout.y[i_y][1], layout.out[i_out][1])
            if mul > 0 and layout.out[i_out][0] > 0:
                rows.append([self.library.triple_ids[triple], x_blocks[i_x][0], y_blocks[i_y][0], w_offset,
                             out_blocks[i_out][0], mul])
                coefficients.append(coefficient)
            w_offset += mul
        self.paths = torch.tensor(rows, dtype=torch.int64).reshape(-1, 6)
        self.coefficients = torch.tensor(coefficients, dtype=torch.float64)
        self.x_blocks = torch.tensor(x_blocks, dtype=torch.int64).reshape(-1, 3)
        self.out_blocks = torch.tensor(out_blocks, dtype=torch.int64).reshape(-1, 3)


@lru_cache(maxsize=None)
def tables(layout: str) -> _Tables:
    return _Tables(ChannelwiseLayout.from_key(layout))


@lru_cache(maxsize=None)
def _dims(layout: str) -> Tuple[int, int, int, int]:
    return ChannelwiseLayout.from_key(layout).dims


_NO_INDEX = torch.empty(0, dtype=torch.int64)


def _needed(roles: Sequence[int]) -> List[int]:
    """Operands read when computing `roles`: every operand but a role's own."""
    return [o for o in range(4) if any(r != o for r in roles)]


def _call(layout: str, roles: Sequence[int], operands: Sequence[Tensor], sender: Tensor, receiver: Tensor,
          gather: bool, num_nodes: int) -> List[Tensor]:
    t = tables(layout)
    needed = _needed(roles)
    full = [o.contiguous() if i in needed else _NO_INDEX for i, o in enumerate(operands)]
    if gather:
        num_rows = sender.shape[0]
        # one pass per node destination (x: edges grouped by sender, g: by receiver); the edge
        # destinations (y, w) ride along with the first, so the backward [x, y, w] is one fused pass
        nodes, edges = [[r] for r in roles if r in (0, 3)], [r for r in roles if r in (1, 2)]
        groups = [nodes[0] + edges] + nodes[1:] if nodes else [edges]
    else:
        num_rows = full[needed[0]].shape[0]
        groups = [list(roles)]
    results = {}
    for group in groups:
        outs = t.library.channelwise(group, *full, t.paths, t.coefficients, t.x_blocks, t.out_blocks, t.dims,
                                     sender, receiver, gather, num_rows, num_nodes)
        results.update(zip(group, outs))
    return [results[r] for r in roles]


def _fake(layout: str, roles: Sequence[int], operands: Sequence[Tensor], num_edges: Optional[int], num_nodes: int):
    dims = _dims(layout)
    like = operands[_needed(roles)[0]]
    rows = lambda r: (num_nodes if r in (0, 3) else num_edges) if num_edges is not None else like.shape[0]  # noqa: E731
    return [like.new_empty(rows(r), dims[r]) for r in roles]


def _backward(ctx, grads, call):
    """Gradients of the roles' results (`_multilinear.slot_gradients`); call(ctx, targets, slots)."""
    return slot_gradients(ctx.roles, grads, ctx.saved_tensors[:4], ctx.needs_input_grad[2:6],
                          lambda targets, slots: call(ctx, targets, slots))


# --- e3gen::channelwise -----------------------------------------------------------------------------


@custom_op("e3gen::channelwise")
def channelwise(layout: str, roles: List[int], x: Tensor, y: Tensor, w: Tensor, g: Tensor) -> List[Tensor]:
    """[dF/d(operand r) for r in roles], all operands with one row per sample (those in roles unread)."""
    return _call(layout, roles, (x, y, w, g), _NO_INDEX, _NO_INDEX, False, 0)


@channelwise.register_fake
def _(layout, roles, x, y, w, g):
    return _fake(layout, roles, (x, y, w, g), None, 0)


def _setup_channelwise(ctx, inputs, output):
    ctx.layout, ctx.roles = inputs[0], list(inputs[1])
    ctx.save_for_backward(*inputs[2:6])


def _backward_channelwise(ctx, grads):
    result = _backward(ctx, grads, lambda ctx, targets, slots: channelwise(ctx.layout, targets, *slots))
    return (None, None, *result)


channelwise.register_autograd(_backward_channelwise, setup_context=_setup_channelwise)


# --- e3gen::channelwise_conv ------------------------------------------------------------------------


@custom_op("e3gen::channelwise_conv")
def channelwise_conv(layout: str, roles: List[int], x: Tensor, y: Tensor, w: Tensor, g: Tensor, sender: Tensor,
                     receiver: Tensor, num_nodes: int) -> List[Tensor]:
    """The same for the fused convolution: x, g are node rows [num_nodes, .], y, w edge rows."""
    return _call(layout, roles, (x, y, w, g), sender.contiguous(), receiver.contiguous(), True, num_nodes)


@channelwise_conv.register_fake
def _(layout, roles, x, y, w, g, sender, receiver, num_nodes):
    return _fake(layout, roles, (x, y, w, g), sender.shape[0], num_nodes)


def _setup_conv(ctx, inputs, output):
    ctx.layout, ctx.roles, ctx.num_nodes = inputs[0], list(inputs[1]), inputs[8]
    ctx.save_for_backward(*inputs[2:8])


def _backward_conv(ctx, grads):
    sender, receiver = ctx.saved_tensors[4:6]
    result = _backward(ctx, grads, lambda ctx, targets, slots: channelwise_conv(
        ctx.layout, targets, *slots, sender, receiver, ctx.num_nodes))
    return (None, None, *result, None, None, None)


channelwise_conv.register_autograd(_backward_conv, setup_context=_setup_conv)


# --- what the layers call ------------------------------------------------------------------------------


def product(layout: str, x: Tensor, y: Tensor, w: Tensor) -> Tensor:
    """x [B, dim_x], y [B, dim_y], w [B, dim_w] (mul_ir rows) -> [B, dim_out]."""
    return channelwise(layout, [3], x, y, w, x.new_empty(0))[0]


def convolution(layout: str, x: Tensor, y: Tensor, w: Tensor, sender: Tensor, receiver: Tensor,
                num_nodes: Optional[int] = None) -> Tensor:
    """x [N, dim_x] (nodes), y [E, dim_y], w [E, dim_w] (edges), sender/receiver [E] ->
    out [N, dim_out], out[n] = sum over edges e into n of product(x[sender[e]], y[e], w[e])."""
    num_nodes = x.shape[0] if num_nodes is None else num_nodes
    return channelwise_conv(layout, [3], x, y, w, x.new_empty(0), sender.to(torch.int64), receiver.to(torch.int64),
                            num_nodes)[0]


def layout_of(irreps_in1, irreps_in2, irreps_out, instructions) -> Optional[ChannelwiseLayout]:
    """The native layout of a TensorProduct's instructions, or None where the native kernels do not
    apply (they cover weighted uvu paths whose second input has multiplicity 1: the convolution
    product of NequIP and MACE)."""
    if not instructions:
        return None
    for ins in instructions:
        if ins.connection_mode != "uvu" or not ins.has_weight or irreps_in2[ins.i_in2].mul != 1:
            return None
    if not math.isfinite(sum(ins.path_weight for ins in instructions)):
        return None
    return ChannelwiseLayout(
        tuple((mul, ir.l) for mul, ir in irreps_in1),
        tuple((mul, ir.l) for mul, ir in irreps_in2),
        tuple((mul, ir.l) for mul, ir in irreps_out),
        tuple((ins.i_in1, ins.i_in2, ins.i_out, float(ins.path_weight)) for ins in instructions),
    )
