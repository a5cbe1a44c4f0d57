"""Native spherical harmonics: the C++ library (built like the channel-wise one) and its custom ops.

Three `torch.library` custom ops, each with a fake implementation, so that eager,
torch.compile(fullgraph=True) and torch.export see them as single ops:

* `e3gen::spherical_harmonics(x, ls, normalize, normalization)`: x [B, 3] -> [B, sum(2l+1)],
  the harmonics of the degrees ls (in order, repeats allowed) in e3nn's basis and normalisation;
* `e3gen::spherical_harmonics_backward(x, grad, ...)`: its vector-Jacobian product, [B, 3];
* `e3gen::spherical_harmonics_double_backward(x, grad, h, ...)`: the gradients of
  <h, backward(x, grad)> with respect to grad ([B, dim]) and x ([B, 3]).

Each op's autograd formula is the next op: forward -> backward -> double backward, so forces
(a gradient) can be trained on (the gradient of the gradient). A third derivative is refused
with a message naming the Torch strategies, which have every order.

A library holds the recursion steps of degrees 1..3, or 1..12 (e3gen's largest lmax) for any
lmax above 3: compiling it takes the same ~15-25 s either way (torch's headers, not the ~700
terms), so one compile serves every lmax a build covers. It is rendered from the IR by
`e3gen.codegen.plan_cpp_harmonics`, compiled on first use and cached by source hash exactly like
the channel-wise library (`e3gen.native.build`); a library serves every smaller lmax.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import threading
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Tuple

import torch
from torch import Tensor

import e3gen
from e3gen import store
from e3gen.native import build
from e3gen.native._custom_op import custom_op

NORMALIZATIONS = ("integral", "component", "norm")
# The channel-wise library's flags, then -O3 (the harmonics were measured at -O3; the last -O wins) and
# -fno-math-errno: the square roots of the normalisation (of numbers >= 1e-24, never negative) then
# vectorise; GCC keeps libm's errno path otherwise. -march=native is among them, so the cache key
# names the CPU (build.cpu_identity), as the channel-wise library's does.
CXX_FLAGS = build.CXX_FLAGS + ("-O3", "-fno-math-errno")

_loaded: Dict[int, "HarmonicsLibrary"] = {}
_lock = threading.Lock()


class HarmonicsLibrary:
    """A loaded spherical-harmonics library: its lmax and torch.library namespace."""

    def __init__(self, lmax: int, namespace: str, path: Path, compile_seconds: float):
        self.lmax = lmax
        self.namespace = namespace
        self.path = path
        self.compile_seconds = compile_seconds  # 0.0 when it came from the cache

    @property
    def ops(self):
        return getattr(torch.ops, self.namespace)


def _source(lmax: int) -> Tuple[str, str, str]:
    from e3gen.codegen.plan_cpp_harmonics import plan_harmonics_unit
    from e3gen.codegen.render_cpp import render_harmonics_unit, template_sha256
    from e3gen.ir.lower import lower_spherical_harmonics_step

    plan = plan_harmonics_unit(tuple(lower_spherical_harmonics_step(l) for l in range(1, lmax + 1)))
    identity = json.dumps(
        {"steps": plan.steps_sha256, "templates": template_sha256(), "flags": CXX_FLAGS, "torch": torch.__version__,
         "cxx": shutil.which(build.compiler()), "e3gen": e3gen.__version__, "cpu": build.cpu_identity()},
        sort_keys=True,
    )
    namespace = f"e3gen_harmonics_lmax{lmax}_{hashlib.sha256(identity.encode()).hexdigest()[:12]}"
    text = render_harmonics_unit(plan, namespace, e3gen.__version__)
    return namespace, text, hashlib.sha256((identity + "\0" + text).encode()).hexdigest()


def load_harmonics_library(lmax: int) -> HarmonicsLibrary:
    """The native harmonics library covering lmax: loaded, cached, or compiled now (once, with a message)."""
    lmax = build.MIN_LMAX if int(lmax) <= build.MIN_LMAX else max(int(lmax), store.MAX_LMAX)
    with _lock:
        for existing in sorted(_loaded.values(), key=lambda lib: lib.lmax):
            if existing.lmax >= lmax:
                return existing
        build.check_toolchain()
        namespace, text, digest = _source(lmax)
        root = build.native_root()
        root.mkdir(parents=True, exist_ok=True)
        folder, seconds = build.load_or_compile(root, namespace, text, digest, CXX_FLAGS,
                                                f"the native spherical harmonics for lmax={lmax}")
        library = HarmonicsLibrary(lmax, namespace, folder, seconds)
        _loaded[lmax] = library
        return library


@lru_cache(maxsize=None)
def _columns(ls: Tuple[int, ...], normalization: str) -> Tuple[Tensor, Tensor]:
    """(source, scale): output column c is component source[c] = l^2 + m of the "component"
    recursion times scale[c], the factor of the requested normalisation (as e3nn's)."""
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
    if not ls or any(l < 0 for l in ls):
        raise ValueError(f"spherical harmonics need degrees l >= 0, got {list(ls)}")
    factor = {"component": lambda l: 1.0, "norm": lambda l: 1 / math.sqrt(2 * l + 1),
              "integral": lambda l: 1 / math.sqrt(4 * math.pi)}[normalization]
    source = [l * l + m for l in ls for m in range(2 * l + 1)]
    scale = [factor(l) for l in ls for _ in range(2 * l + 1)]
    return torch.tensor(source, dtype=torch.int64), torch.tensor(scale, dtype=torch.float64)


def _call(name: str, ls: List[int], normalization: str, *tensors: Tensor, normalize: bool):
    library = load_harmonics_library(max(ls))
    source, scale = _columns(tuple(ls), normalization)
    return getattr(library.ops, name)(*(t.contiguous() for t in tensors), source, scale, max(ls), normalize)


def _dim(ls: List[int]) -> int:
    return sum(2 * l + 1 for l in ls)


# --- e3gen::spherical_harmonics ----------------------------------------------------------------------


@custom_op("e3gen::spherical_harmonics")
def spherical_harmonics(x: Tensor, ls: List[int], normalize: bool, normalization: str) -> Tensor:
    """x [B, 3] -> [B, sum(2l+1) for l in ls]: e3nn's harmonics of the degrees ls."""
    return _call("harmonics", ls, normalization, x, normalize=normalize)


@spherical_harmonics.register_fake
def _(x, ls, normalize, normalization):
    return x.new_empty(x.shape[0], _dim(ls))


def _setup_forward(ctx, inputs, output):
    ctx.ls, ctx.normalize, ctx.normalization = list(inputs[1]), inputs[2], inputs[3]
    ctx.save_for_backward(inputs[0])


def _backward_forward(ctx, grad):
    (x,) = ctx.saved_tensors
    return spherical_harmonics_backward(x, grad, ctx.ls, ctx.normalize, ctx.normalization), None, None, None


spherical_harmonics.register_autograd(_backward_forward, setup_context=_setup_forward)


# --- e3gen::spherical_harmonics_backward ---------------------------------------------------------------


@custom_op("e3gen::spherical_harmonics_backward")
def spherical_harmonics_backward(x: Tensor, grad: Tensor, ls: List[int], normalize: bool, normalization: str) -> Tensor:
    """x [B, 3], grad [B, dim] (cotangent on the harmonics) -> grad_x [B, 3]."""
    return _call("harmonics_backward", ls, normalization, x, grad, normalize=normalize)


@spherical_harmonics_backward.register_fake
def _(x, grad, ls, normalize, normalization):
    return x.new_empty(x.shape[0], 3)


def _setup_backward(ctx, inputs, output):
    ctx.ls, ctx.normalize, ctx.normalization = list(inputs[2]), inputs[3], inputs[4]
    ctx.save_for_backward(inputs[0], inputs[1])


def _backward_backward(ctx, h):
    x, grad = ctx.saved_tensors
    grad_grad, grad_x = spherical_harmonics_double_backward(x, grad, h, ctx.ls, ctx.normalize, ctx.normalization)
    return grad_x, grad_grad, None, None, None


spherical_harmonics_backward.register_autograd(_backward_backward, setup_context=_setup_backward)


# --- e3gen::spherical_harmonics_double_backward ---------------------------------------------------------


@custom_op("e3gen::spherical_harmonics_double_backward")
def spherical_harmonics_double_backward(x: Tensor, grad: Tensor, h: Tensor, ls: List[int], normalize: bool,
                                        normalization: str) -> Tuple[Tensor, Tensor]:
    """x [B, 3], grad [B, dim], h [B, 3] (cotangent on grad_x) -> (d/dgrad [B, dim], d/dx [B, 3]) of
    <h, backward(x, grad)>."""
    return tuple(_call("harmonics_double_backward", ls, normalization, x, grad, h, normalize=normalize))


@spherical_harmonics_double_backward.register_fake
def _(x, grad, h, ls, normalize, normalization):
    return grad.new_empty(grad.shape), x.new_empty(x.shape)


def _refuse_third(ctx, *grads):
    raise RuntimeError("the native spherical harmonics have first and second derivatives only; for a third "
                       "derivative use SphericalHarmonics(..., strategy='dense')")


spherical_harmonics_double_backward.register_autograd(_refuse_third)
