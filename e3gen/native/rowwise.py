"""Native products without weights: the C++ library and its custom op `e3gen::rowwise`.

FullTensorProduct ("uvuv"), ElementwiseTensorProduct ("uuu") and TensorSquare without irreps_out
("uvu<v", "uuu") couple, per row, one channel of x with one channel of y into one output channel:

    out[r, o + k] += c sum_ij C_ijk x[r, a + i] y[r, b + j]

for a list of elementary paths (C, a, b, o, c) that `RowwiseLayout` expands from the
instructions (one per channel pair). The kernels (`e3gen.codegen.plan_cpp_rowwise`) take blocks of
rows as their vector lanes, so they are fast with multiplicity 1, where the channel-wise kernels
have nothing to vectorise over.

One op computes the derivatives of the per-row trilinear form

    G(x, y, g) = sum_paths c sum_ijk C_ijk x[a + i] y[b + j] g[o + k]

with respect to the operands listed in `roles` (0 x, 1 y, 2 g); an operand that is one of the
roles is not read. The product is roles=[2]. G is linear in each operand, so the gradient of
role r's result (given grad h) with respect to operand q is the role-q derivative with h in the
r slot: backward, double backward and every higher derivative are the same op again (as for
`e3gen.native.ops`).

A library holds every coupling path with l1, l2 <= L (all l3 they allow, up to 2L); it is
compiled on first use and cached by source hash exactly like the channel-wise library
(`e3gen.native.build`); a library serves every smaller L.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

import e3gen
from e3gen.native import build
from e3gen.native._custom_op import custom_op
from e3gen.native._multilinear import slot_gradients

MODES = ("uvuv", "uuu", "uvu<v")
CXX_FLAGS = build.CXX_FLAGS

_loaded: Dict[int, "RowwiseLibrary"] = {}
_lock = threading.Lock()


class RowwiseLibrary(build.CouplingLibrary):
    """The library of products without weights and fully connected products (lmax: of the inputs)."""

    @property
    def rowwise(self):
        return getattr(torch.ops, self.namespace).rowwise

    @property
    def fully_connected(self):
        return getattr(torch.ops, self.namespace).fully_connected


def _source(lmax: int):
    from e3gen.codegen.plan_cpp_rowwise import plan_rowwise_unit, rowwise_triples
    from e3gen.codegen.render_cpp import render_rowwise_unit, template_sha256
    from e3gen.ir.lower import lower_coupling_path

    plan = plan_rowwise_unit(lmax, tuple(lower_coupling_path(*t) for t in rowwise_triples(lmax)))
    identity = json.dumps(
        {"paths": plan.paths_sha256, "templates": template_sha256(), "flags": list(CXX_FLAGS), "torch": torch.__version__,
         "cxx": shutil.which(build.compiler()), "e3gen": e3gen.__version__, "cpu": build.cpu_identity()},
        sort_keys=True,
    )
    namespace = f"e3gen_rowwise_lmax{lmax}_{hashlib.sha256(identity.encode()).hexdigest()[:12]}"
    text = render_rowwise_unit(plan, namespace, e3gen.__version__)
    return plan, namespace, text, hashlib.sha256((identity + "\0" + text).encode()).hexdigest()


def load_rowwise_library(lmax: int) -> RowwiseLibrary:
    """The library covering inputs up to lmax: loaded, cached, or compiled now (once, with a message)."""
    lmax = max(int(lmax), build.MIN_LMAX)
    with _lock:
        for existing in sorted(_loaded.values(), key=lambda lib: lib.lmax):
            if existing.lmax >= lmax:
                return existing
        build.check_toolchain()
        plan, namespace, text, digest = _source(lmax)
        root = build.native_root()
        root.mkdir(parents=True, exist_ok=True)
        folder, seconds = build.load_or_compile(root, namespace, text, digest, CXX_FLAGS,
                                                f"the native products without weights for l <= {lmax}")
        library = RowwiseLibrary(lmax, namespace, plan.triples, folder, seconds)
        _loaded[lmax] = library
        return library


# --- the layout ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowwiseLayout:
    """A product without weights: blocks (mul, l) of x, y and the output, and its instructions
    (i_x, i_y, i_out, mode, coefficient) with mode in MODES."""

    x: Tuple[Tuple[int, int], ...]
    y: Tuple[Tuple[int, int], ...]
    out: Tuple[Tuple[int, int], ...]
    instructions: Tuple[Tuple[int, int, int, str, float], ...]

    def key(self) -> str:
        return json.dumps({"x": self.x, "y": self.y, "out": self.out, "instructions": self.instructions}, separators=(",", ":"))

    @staticmethod
    def from_key(key: str) -> "RowwiseLayout":
        data = json.loads(key)
        return RowwiseLayout(
            tuple(map(tuple, data["x"])), tuple(map(tuple, data["y"])), tuple(map(tuple, data["out"])),
            tuple((int(a), int(b), int(c), str(m), float(d)) for a, b, c, m, d in data["instructions"]),
        )

    @property
    def dims(self) -> Tuple[int, int, int]:
        """Row sizes of x, y and g (the output)."""
        size = lambda blocks: sum(mul * (2 * l + 1) for mul, l in blocks)  # noqa: E731
        return size(self.x), size(self.y), size(self.out)

    @property
    def lmax(self) -> int:
        """The largest l of the inputs: the library that covers this layout."""
        return max([0] + [l for blocks in (self.x, self.y) for _, l in blocks])

    def elementary_paths(self) -> List[Tuple[Tuple[int, int, int], int, int, int, float]]:
        """((l1, l2, l3), x offset, y offset, output offset, coefficient) per channel pair, in
        instruction order; output channels as e3nn numbers them (uvuv: u mul2 + v; uvu<v: the
        pairs u < v in row-major order; uuu: u)."""
        def starts(blocks):
            result, offset = [], 0
            for mul, l in blocks:
                result.append(offset)
                offset += mul * (2 * l + 1)
            return result

        sx, sy, so = starts(self.x), starts(self.y), starts(self.out)
        paths = []
        for i1, i2, io, mode, coefficient in self.instructions:
            (mul1, l1), (mul2, l2), (mul_out, l3) = self.x[i1], self.y[i2], self.out[io]
            d1, d2, d3 = 2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1
            if mode == "uvuv":
                pairs = [(u, v) for u in range(mul1) for v in range(mul2)]
            elif mode == "uuu":
                pairs = [(u, u) for u in range(mul1)]
            else:  # uvu<v
                pairs = [(u, v) for u in range(mul1) for v in range(u + 1, mul2)]
            if mul_out == 0:
                continue
            for channel, (u, v) in enumerate(pairs):
                paths.append(((l1, l2, l3), sx[i1] + u * d1, sy[i2] + v * d2, so[io] + channel * d3, coefficient))
        return paths


def layout_of(irreps_in1, irreps_in2, irreps_out, instructions) -> Optional[RowwiseLayout]:
    """The native layout of a TensorProduct's instructions, or None where these kernels do not
    apply (they cover instructions without weights in modes uvuv, uuu and uvu<v)."""
    if not instructions:
        return None
    for ins in instructions:
        if ins.connection_mode not in MODES or ins.has_weight:
            return None
    if not math.isfinite(sum(ins.path_weight for ins in instructions)):
        return None
    return RowwiseLayout(
        tuple((mul, ir.l) for mul, ir in irreps_in1),
        tuple((mul, ir.l) for mul, ir in irreps_in2),
        tuple((mul, ir.l) for mul, ir in irreps_out),
        tuple((ins.i_in1, ins.i_in2, ins.i_out, ins.connection_mode, float(ins.path_weight)) for ins in instructions),
    )


class _Tables:
    """The layout as the int64/float64 tables the C++ driver reads, for one compiled library."""

    def __init__(self, layout: RowwiseLayout):
        self.library = load_rowwise_library(layout.lmax)
        self.dims = list(layout.dims)
        paths = layout.elementary_paths()
        ids = self.library.triple_ids
        self.paths = torch.tensor([[ids[t], a, b, o] for t, a, b, o, _ in paths], dtype=torch.int64).reshape(-1, 4)
        self.coefficients = torch.tensor([c for *_, c in paths], dtype=torch.float64)


@lru_cache(maxsize=None)
def tables(layout: str) -> _Tables:
    return _Tables(RowwiseLayout.from_key(layout))


@lru_cache(maxsize=None)
def _dims(layout: str) -> Tuple[int, int, int]:
    return RowwiseLayout.from_key(layout).dims


_NOT_READ = torch.empty(0)


def _needed(roles: Sequence[int]) -> List[int]:
    """Operands read when computing `roles`: every operand but a role's own."""
    return [o for o in range(3) if any(r != o for r in roles)]


# --- e3gen::rowwise ------------------------------------------------------------------------------


@custom_op("e3gen::rowwise")
def rowwise(layout: str, roles: List[int], x: Tensor, y: Tensor, g: Tensor) -> List[Tensor]:
    """[dG/d(operand r) for r in roles], every operand with one row per sample (those in roles unread)."""
    t = tables(layout)
    needed = _needed(roles)
    operands = [o.contiguous() if i in needed else _NOT_READ for i, o in enumerate((x, y, g))]
    return t.library.rowwise(list(roles), *operands, t.paths, t.coefficients, t.dims, operands[needed[0]].shape[0])


@rowwise.register_fake
def _(layout, roles, x, y, g):
    dims = _dims(layout)
    like = (x, y, g)[_needed(roles)[0]]
    return [like.new_empty(like.shape[0], dims[r]) for r in roles]


def _setup(ctx, inputs, output):
    ctx.layout, ctx.roles = inputs[0], list(inputs[1])
    ctx.save_for_backward(*inputs[2:5])


def _backward(ctx, grads):
    """Gradients of the roles' results (`_multilinear.slot_gradients`: G is linear in each slot)."""
    return (None, None, *slot_gradients(ctx.roles, grads, ctx.saved_tensors, ctx.needs_input_grad[2:5],
                                        lambda targets, slots: rowwise(ctx.layout, targets, *slots)))


rowwise.register_autograd(_backward, setup_context=_setup)


def product(layout: str, x: Tensor, y: Tensor) -> Tensor:
    """x [B, dim_x], y [B, dim_y] (mul_ir rows) -> [B, dim_out]."""
    return rowwise(layout, [2], x, y, x.new_empty(0))[0]
