"""Spherical harmonics on the generated kernels (e3nn 0.6.0 names, signatures and numbers).

Conventions: y is the polar axis, l=1 is proportional to (x, y, z), components m = -l..l.
normalization="component": |Y^l(x)|^2 = 2l+1 on the unit sphere; "norm": component / sqrt(2l+1);
"integral" (e3nn's default): component / sqrt(4 pi), so each Y^l_m has unit L2 norm on the sphere.
With normalize=False, Y^l is the homogeneous polynomial of degree l (Y^l(x) = |x|^l Y^l(x/|x|)).
With normalize=True the input is divided by its norm as torch.nn.functional.normalize does, so the
zero vector maps to Y^0 = 1 (component) and Y^l = 0 for l >= 1, with finite gradients.
"""

from __future__ import annotations

import math
from typing import List, Union

import torch

from e3gen.native import backend as native_backend
from e3gen.native import harmonics as native_harmonics
from e3gen.o3._input_checks import check_float_tensors
from e3gen.o3._irreps import Irreps
from e3gen.runtime.constants import constants_for
from e3gen.runtime.loader import load_kernels

NORMALIZATIONS = ("integral", "component", "norm")


def degrees_of(l) -> List[int]:
    """The degrees asked for by ``l`` (an int, a list of ints or irreps, one entry per copy), checked to be >= 0."""
    if isinstance(l, str):
        l = Irreps(l)
    if isinstance(l, Irreps):
        ls = [ir.l for mul, ir in l for _ in range(mul)]
    elif isinstance(l, int) and not isinstance(l, bool):
        ls = [l]
    else:
        ls = list(l)
    if not ls or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in ls):
        raise ValueError(f"spherical harmonics need degrees l >= 0 (an int, a list of ints or irreps), got {l!r}")
    return ls


def _parse_ls(l, irreps_in) -> tuple:
    """(ls, irreps_out, irreps_in) from an int, a list of ints or irreps, as e3nn's SphericalHarmonics."""
    if isinstance(l, str):
        l = Irreps(l)
    if isinstance(l, Irreps) and irreps_in is None:
        irreps_in = "1e" if any(ir.l % 2 == 1 and ir.p == 1 for _, ir in l) else None
    irreps_in = Irreps(irreps_in if irreps_in is not None else "1o")
    if irreps_in not in (Irreps("1x1o"), Irreps("1x1e")):
        raise ValueError(
            f"SphericalHarmonics takes a vector (1x1o) or a pseudovector (1x1e) as input, not {irreps_in}"
        )
    input_p = irreps_in[0].ir.p
    if isinstance(l, Irreps):
        for mul, ir in l:
            if ir.p != input_p**ir.l:
                raise ValueError(
                    f"SphericalHarmonics: irreps_out {l} asks for l={ir.l} with parity {ir.p}, but an input of "
                    f"parity {input_p} gives parity {input_p ** ir.l} at l={ir.l}"
                )
    ls = degrees_of(l)
    irreps_out = Irreps([(1, (v, input_p**v)) for v in ls]).simplify()
    return ls, irreps_out, irreps_in


def _normalization_scale(l: int, normalization: str) -> float:
    """The factor that turns "component" harmonics of degree l into the requested normalisation."""
    return {"component": 1.0, "norm": 1 / math.sqrt(2 * l + 1), "integral": 1 / math.sqrt(4 * math.pi)}[normalization]


class SphericalHarmonics(torch.nn.Module):
    """Module form of `spherical_harmonics`: x [..., 3] -> [..., irreps_out.dim].

    The recursion Y^l_i = sum_jk c_ijk r_j Y^(l-1)_k (exact c from the generated tables) runs in
    one of two ways, with the same numbers up to rounding: `strategy="dense"` does each step as
    one outer product and one matmul (few, large ops: fastest in eager mode); "unrolled" calls
    the generated straight-line kernels (one line per term: what torch.compile fuses best);
    "native" runs the C++ kernels of `e3gen.native.harmonics` (rendered from the same recursion
    steps; forward, backward and double backward; CPU, float32/float64), compiled on first use.
    "auto" (default) picks "native" on CPU when its kernels can be built (the fastest in
    `e3gen bench --cases d --backends native`, eager and compiled), otherwise "unrolled" while
    torch.compile traces and "dense" in eager mode (`e3gen.native.backend` decides, once per call).

    The normalisation costs nothing: the recursion is linear in Y^(l-1), so starting from
    Y^0 = s_0 and scaling step l by s_l / s_(l-1) gives s_l Y^l directly.
    """

    def __init__(self, irreps_out: Union[int, List[int], str, Irreps], normalize: bool,
                 normalization: str = "integral", irreps_in=None, *, strategy: str = "auto"):
        super().__init__()
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")
        if strategy not in ("auto", "dense", "unrolled", "native"):
            raise ValueError(f"SphericalHarmonics: strategy must be 'auto', 'dense', 'unrolled' or 'native', got {strategy!r}")
        self.ls, self.irreps_out, self.irreps_in = _parse_ls(irreps_out, irreps_in)
        self.normalize = normalize
        self.normalization = normalization
        self.strategy = strategy
        self.lmax = max(self.ls)
        self._lmax = self.lmax  # e3nn's attribute name: client code reads it (MACE, to save a model's config)
        build = load_kernels(self.lmax)
        # The raw generated steps (the layer shapes their inputs; the accessor's size-checked wrapper
        # is for direct callers): they pickle by name with torch.save(model).
        self._kernels = [build.spherical_harmonics_step(l).__wrapped__ for l in range(1, self.lmax + 1)]
        scales = [_normalization_scale(l, normalization) for l in range(self.lmax + 1)]
        self._y0 = scales[0]
        self._ratios = [scales[l] / scales[l - 1] for l in range(1, self.lmax + 1)]
        self._steps_float64 = [
            _step_matrix(build.tables.SPHERICAL_HARMONICS_STEPS[l], l) * ratio
            for l, ratio in zip(range(1, self.lmax + 1), self._ratios)
        ]
        self._steps_by_dtype = {}  # (dtype, device) -> step matrices rounded once to that dtype
        self._y1_factor = 0.0  # unused when lmax = 0
        if self.lmax >= 1:
            step1 = self._steps_float64[0]  # [3, 3]: Y^1_i = c r_i, exactly c times the identity
            if not torch.equal(step1, step1[0, 0] * torch.eye(3, dtype=torch.float64)):
                raise ValueError("the generated recursion step to l=1 is not a multiple of the identity")
            self._y1_factor = self._y0 * step1[0, 0].item()
        self._is_range_lmax = self.ls == list(range(self.lmax + 1))
        self._dim = sum(2 * l + 1 for l in self.ls)
        if strategy in ("auto", "native"):  # compile (or load) now, so that calls and tracing only look it up
            native_backend.available_harmonics(self.lmax)

    def _describe(self) -> str:
        """The layer in messages, made once (asked per call; kept in __dict__, so pickles of layers made
        before it existed still load and describe themselves)."""
        description = self.__dict__.get("_description")
        if description is None:
            description = self.__dict__["_description"] = f"SphericalHarmonics({self.irreps_out})"
        return description

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_float_tensors("SphericalHarmonics", {"x": x})
        if x.shape[-1:] != (3,):
            raise ValueError(f"SphericalHarmonics expects vectors of shape [..., 3], got shape {tuple(x.shape)}")
        batch = x.shape[:-1]
        x = x.reshape(-1, 3)
        if native_backend.use_native_harmonics(self.strategy, self.lmax, x, self._describe()):
            sh = native_harmonics.spherical_harmonics(x, self.ls, self.normalize, self.normalization)
            return sh.reshape(*batch, self._dim)
        unrolled = self.strategy == "unrolled" or (self.strategy == "auto" and torch.compiler.is_compiling())
        if unrolled:
            per_l = self._unrolled(_normalized(_component_major(x)) if self.normalize else _component_major(x))
            ls = range(self.lmax + 1) if self._is_range_lmax else self.ls
            sh = torch.stack([row for l in ls for row in per_l[l]], dim=-1)
        else:
            steps = constants_for(self._steps_by_dtype, x.dtype, x.device,
                                  lambda: [m.T.to(dtype=x.dtype, device=x.device).contiguous() for m in self._steps_float64])
            sh = _DenseHarmonics.apply(x, self.normalize, tuple(self.ls), self._y0, self._y1_factor, *steps)
        return sh.reshape(*batch, self._dim)

    def _unrolled(self, r: torch.Tensor) -> List[List[torch.Tensor]]:
        """[Y^l as lists of [B] rows] from r [3, B] by the generated kernels, component by component."""
        x, y, z = r.unbind(0)
        components = [torch.full_like(x, self._y0)]
        per_l = [components]
        for l, (kernel, ratio) in enumerate(zip(self._kernels, self._ratios), start=1):
            components = kernel(x, y, z, components)
            factor = ratio * self._y0 if l == 1 else ratio  # the l=1 kernel takes Y^0 as exactly 1
            if factor != 1.0:
                components = [c * factor for c in components]
            per_l.append(components)
        return per_l


# Inputs shorter than this are treated as |x| = sqrt(_EPS_SQUARED) = 1e-12 when normalizing, as
# torch.nn.functional.normalize does: the zero vector maps to zero with finite gradients.
_EPS_SQUARED = 1e-24


def _component_major(x: torch.Tensor) -> torch.Tensor:
    """x [B, 3] -> r [3, B]. Every op then runs over long contiguous rows, where the natural [B, 3]
    layout would loop over tiny inner dimensions. unbind + stack, not x.T.contiguous(): 5x faster on
    CPU, and its backward is the same (fast) op."""
    return torch.stack(x.unbind(1))


def _squared_norm(r0: torch.Tensor, r1: torch.Tensor, r2: torch.Tensor) -> torch.Tensor:
    """|r|^2 [B] from the three component rows."""
    return r0 * r0 + r1 * r1 + r2 * r2


def _normalized(r: torch.Tensor) -> torch.Tensor:
    """r / max(|r|, 1e-12) for r [3, B] (differentiable ops; the clamp sits under the square root)."""
    return r / _squared_norm(*r.unbind(0)).clamp_min(_EPS_SQUARED).sqrt()


def _recursion(r: torch.Tensor, y0: float, y1_factor: float, steps) -> List[torch.Tensor]:
    """[s_l Y^l [2l+1, B]] from r [3, B]: Y^0 = y0, Y^1 = y1_factor r, then
    Y^l = M_l (r (x) Y^(l-1)) with M_l [2l+1, 3 (2l-1)] (normalisation ratios folded in)."""
    b = r.shape[1]
    per_l = [r.new_full((1, b), y0)]
    if steps:  # the step from the constant Y^0 is a scalar multiple of the identity
        per_l.append(r * y1_factor)
    for l, matrix in enumerate(steps[1:], start=2):
        outer = (r[:, None, :] * per_l[-1][None, :, :]).reshape(3 * (2 * l - 1), b)
        per_l.append(matrix @ outer)
    return per_l


class _DenseHarmonics(torch.autograd.Function):
    """x [B, 3] -> [B, sum(2l+1) over ls] by the dense recursion, with a closed-form gradient.

    For harmonic polynomials built by this recursion, dY^l_i / dr_m = l sum_k c_imk Y^(l-1)_k
    (the same table c, times l; also true with the normalisation ratios folded into c). So the
    gradient with respect to r is one matmul, one product and one sum per degree, with no
    gradient flowing back through Y^(l-1) as autograd's chain rule would send it. With
    normalize=True, r = x / |x| and the chain rule through the normalisation is the projection
    dx = (dr - r (r . dr)) / |x| (just dr / 1e-12 below the clamp), again in closed form.
    Under create_graph (forces in training) the same formulas run on recomputed, differentiable
    Y^(l-1) and r, so second derivatives are exact.
    """

    @staticmethod
    def forward(ctx, x, normalize, ls, y0, y1_factor, *steps):
        r = _component_major(x)  # a new tensor: normalised in place (autograd is off in here)
        if normalize:
            r.div_(_squared_norm(*r.unbind(0)).clamp_min_(_EPS_SQUARED).sqrt_())
        per_l = _recursion(r, y0, y1_factor, steps)
        ctx.normalize, ctx.ls, ctx.y0, ctx.y1_factor, ctx.lmax = normalize, ls, y0, y1_factor, len(steps)
        ctx.save_for_backward(x, r, *steps, *per_l[:-1])
        # [2l+1, B] blocks, transposed into place by one concatenation
        return torch.cat([per_l[l].T for l in ls], dim=1)

    @staticmethod
    def backward(ctx, grad):
        x, r, *rest = ctx.saved_tensors
        steps, previous = rest[: ctx.lmax], rest[ctx.lmax :]
        differentiable = torch.is_grad_enabled()
        if differentiable:  # double backward: r and the Y^(l-1) must be functions of x
            r = _component_major(x)
            r = _normalized(r) if ctx.normalize else r
            previous = _recursion(r, ctx.y0, ctx.y1_factor, steps)[:-1]
        # Without a graph to record, products go in place: fewer new large tensors, and on CPU
        # each new one costs page faults that take as long as the arithmetic.
        mul = torch.Tensor.mul_ if not differentiable else torch.mul
        add = torch.Tensor.add_ if not differentiable else torch.add
        # dL/dY^l [2l+1, B] per degree (summed where a degree appears more than once)
        per_l = {}
        offset = 0
        for l in ctx.ls:
            block = grad[:, offset : offset + 2 * l + 1].T
            offset += 2 * l + 1
            if l > 0:
                per_l[l] = block if l not in per_l else per_l[l] + block
        grad_r = torch.zeros_like(r) if not per_l else None
        for l, g in per_l.items():
            if l == 1:
                term = g * ctx.y1_factor
            else:
                z = ((steps[l - 1].T * l) @ g).view(3, 2 * l - 1, -1)  # l sum_i c_imk G_i
                term = mul(z, previous[l - 1][None]).sum(1)
            grad_r = term if grad_r is None else add(grad_r, term)
        if ctx.normalize:
            squared = _squared_norm(*x.unbind(1))
            radial = (r * grad_r).sum(0) * (squared > _EPS_SQUARED)  # no projection below the clamp
            grad_r = (grad_r - r * radial) / squared.clamp_min(_EPS_SQUARED).sqrt()
        grad_x = torch.stack(grad_r.unbind(0), dim=1)  # [3, B] -> [B, 3]
        return (grad_x, None, None, None, None) + (None,) * ctx.lmax


def _step_matrix(rows, l: int) -> torch.Tensor:
    """The recursion step to degree l as a dense [3 (2l-1), 2l+1] float64 matrix M with
    Y^l = (r (x) Y^(l-1)) @ M, the outer product flattened r-major."""
    m = torch.zeros(3, 2 * l - 1, 2 * l + 1, dtype=torch.float64)
    for i, j, k, c in rows:
        m[j, k, i] = c
    return m.reshape(3 * (2 * l - 1), 2 * l + 1)


def spherical_harmonics(l: Union[int, List[int], str, Irreps], x: torch.Tensor, normalize: bool,
                        normalization: str = "integral") -> torch.Tensor:
    """Y^l(x) for x [..., 3] -> [..., sum(2l+1)]; l an int, a list of ints or irreps like "0e + 1o + 2e"."""
    return SphericalHarmonics(l, normalize, normalization)(x)
