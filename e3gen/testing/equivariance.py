"""Check that a function commutes with E(3): f(g x) = g f(x), block by block, with a readable failure.

The group elements tried are a rotation R, the same rotation times the inversion (-R) and, when
an input is `CARTESIAN_POINTS`, a translation t. Together they cover O(3) and translations: a
function equivariant under R, -R and t is equivariant under everything they generate.

Every group action is computed in float64 from ``Irreps.D_from_matrix(R)``: only the tested
function's own rounding shows in the errors. See `specs` for how inputs and outputs are described.
"""

from __future__ import annotations

import math
from typing import Callable, List, Optional

import torch

from e3gen.testing.group import as_o3_element, describe, random_rotation
from e3gen.testing.report import BlockError, EquivarianceErrors
from e3gen.testing.specs import CARTESIAN_POINTS, Layout, ValueSpec, parse_specs

__all__ = ["assert_equivariant", "equivariance_error", "DEFAULT_RTOL"]

# Default relative tolerances, by the dtype fn runs in. The bound is `error <= atol + rtol * scale`
# with `scale` the output's largest entry. A broken equivariance (a wrong parity, a swapped
# component, a missing coefficient) gives errors of the order of the output itself, relative
# ~1; correct code gives rounding only. The defaults sit between the two with room on both sides:
# * float64, 1e-9: e3gen's exact coefficients give 1e-16..1e-13 relative (so ~1000x margin for
#   deeper or accumulated computations) while any real bug stays ~1e8x above. It is e3nn's
#   float64 tolerance, made relative so that it means the same for outputs of any magnitude.
# * float32, 1e-4: rounding is ~1e-7..1e-6 relative (eps 1.2e-7); e3nn uses 1e-3 absolute.
# * float16 / bfloat16, 1e-2 / 5e-2: a few eps (9.8e-4 / 7.8e-3), enough to tell bugs from rounding.
DEFAULT_RTOL = {torch.float64: 1e-9, torch.float32: 1e-4, torch.float16: 1e-2, torch.bfloat16: 5e-2}


def equivariance_error(
    fn: Callable,
    irreps_in,
    irreps_out,
    *,
    inputs=None,
    args_in=None,
    rotation=None,
    inversion: bool = True,
    translation=True,
    seed: Optional[int] = None,
    batch=4,
    dtype: torch.dtype = torch.float64,
    atol: float = 0.0,
    rtol: Optional[float] = None,
    device=None,
) -> EquivarianceErrors:
    """Per-block equivariance errors of ``fn`` (see `assert_equivariant` for every argument); never raises on them.

    >>> from e3gen import o3
    >>> errors = equivariance_error(lambda x: o3.spherical_harmonics(2, x, True), "1o", "2e", seed=0)
    >>> errors.passed, [row.case for row in errors]
    (True, ['rotation', 'rotation+inversion'])
    """
    ins = parse_specs(irreps_in, "in")
    outs = parse_specs(irreps_out, "out")
    if rtol is None:
        if dtype not in DEFAULT_RTOL:
            raise ValueError(f"no default tolerance for dtype {dtype}: pass rtol (and atol) explicitly")
        rtol = DEFAULT_RTOL[dtype]
    if inputs is not None and args_in is not None:
        raise ValueError("give the inputs once: `inputs` (any layout) or `args_in` (e3nn's name, a sequence), not both")
    given = inputs if args_in is None else args_in
    has_points = any(spec.kind == "cartesian_points" for spec in ins.specs)
    random_translation = translation is True and has_points

    needs_random = rotation is None or random_translation or given is None
    if needs_random and seed is None:
        if _in_hypothesis_test():
            raise ValueError(
                "equivariance_error/assert_equivariant would draw a random rotation, translation or inputs inside a "
                "hypothesis test, which hypothesis could not replay or shrink. Draw them instead: "
                "@given(R=e3gen.testing.rotations(), seed=st.integers(0, 2**32 - 1)) and pass rotation=R "
                "(and seed=seed for a translation or generated inputs)"
            )
        # From torch's global RNG, so that torch.manual_seed (and pytest --e3gen-seed) reproduce it.
        seed = int(torch.randint(0, 2**32 - 1, ()))
    generator = torch.Generator().manual_seed(seed) if seed is not None else None

    values = _generate(ins, batch, dtype, device, generator) if given is None else ins.flatten(given, "inputs")
    for spec, value in zip(ins.specs, values):
        spec.check(value)
    values = [_cast(value, dtype) for value in values]

    R = random_rotation(generator) if rotation is None else as_o3_element(rotation)
    cases = [(R, None)] + ([(-R, None)] if inversion else [])
    t = None
    if random_translation:
        t = torch.randn(3, dtype=torch.float64, generator=generator) * _points_scale(ins, values)
    elif translation is not False and translation is not True:
        if not has_points:  # translations act on positions only: nothing would be tested
            raise ValueError(f"a translation was given, but no input is {CARTESIAN_POINTS!r}: mark the positions as such")
        t = torch.as_tensor(translation).detach().to(torch.float64).reshape(3)
    if t is not None:
        cases.append((torch.eye(3, dtype=torch.float64), t))

    reference = outs.flatten(ins.call(fn, [_fresh(v) for v in values]), "fn's outputs")
    for spec, value in zip(outs.specs, reference):
        spec.check(value, "fn's ")

    rows: List[BlockError] = []
    for g, shift in cases:
        case = "translation" if shift is not None else ("rotation" if torch.det(g) > 0 else "rotation+inversion")
        moved = [_fresh(_cast(spec.act(v, g, shift), dtype), like=v) for spec, v in zip(ins.specs, values)]
        got = outs.flatten(ins.call(fn, moved), "fn's outputs")
        for spec, ref, out in zip(outs.specs, reference, got):
            spec.check(out, "fn's ")
            rows.extend(_block_errors(case, spec, spec.act(ref, g, shift), out, atol, rtol))
    return EquivarianceErrors(tuple(rows), rotation=R, translation=t, seed=seed, atol=atol, rtol=rtol)


def assert_equivariant(
    fn: Callable,
    irreps_in,
    irreps_out,
    *,
    inputs=None,
    args_in=None,
    rotation=None,
    inversion: bool = True,
    translation=True,
    seed: Optional[int] = None,
    batch=4,
    dtype: torch.dtype = torch.float64,
    atol: float = 0.0,
    rtol: Optional[float] = None,
    device=None,
) -> EquivarianceErrors:
    """Assert ``fn(g x) == g fn(x)`` for a rotation, the rotation times the inversion, and translations.

    ``irreps_in`` / ``irreps_out``: one spec, a list or a dict of specs, mirroring how fn is called
    and what it returns (see `e3gen.testing.specs`). A spec is irreps (``"2x0e + 1o"``),
    ``"cartesian_points"`` (positions [..., 3]: rotated and translated) or None (not transformed:
    edge_index, batch vectors; as an output, compared unchanged). Forces are ``"1o"``.

    ``inputs``: the input values, laid out like ``irreps_in`` (a tensor, a list, a dict); ``args_in``
    is e3nn's name for a list of them, so tests written for ``e3nn.util.test.assert_equivariant``
    port by changing the import. Neither: random inputs ``[batch, dim]`` (standard normal) are
    generated, which needs every input to have a spec other than None. Floating inputs are cast to
    ``dtype``; the moved inputs are computed in float64, cast to ``dtype``, and keep
    ``requires_grad`` (so fn can take gradients with respect to them, e.g. forces).

    ``rotation``: an element of O(3) [3, 3] (projected to the nearest orthogonal matrix in float64),
    or None to draw a uniformly random rotation. With ``inversion`` (default) it is also tried times
    the inversion, -R: every parity gets checked whatever det R is. ``translation``: True draws a
    random vector (scaled like the positions), a tensor [3] is used as is, False skips it; it only
    applies when an input is cartesian points.

    ``seed``: seeds a private torch generator for everything drawn here (rotation, translation,
    inputs). None takes one from torch's global RNG, so ``torch.manual_seed`` or
    ``pytest --e3gen-seed N`` reproduce the run; the seed used is in the result and the failure
    message. Inside a hypothesis test, draw ``rotation`` (and ``seed`` if a translation or inputs
    are drawn) with strategies instead: hypothesis must be able to replay each example.

    Tolerance: a block passes when ``max |f(g x) - g f(x)| <= atol + rtol * scale``, where
    ``scale`` is the largest entry of ``|g f(x)|`` over the whole output (rounding grows with the
    magnitude of what is computed, so the bound is scale-aware). ``rtol`` defaults to
    `DEFAULT_RTOL` [dtype]: 1e-9 for float64, where e3gen's exact coefficients give ~1e-15, and a bug
    gives ~1 (the output's own size); 1e-4 for float32. ``atol`` defaults to 0; pass it if an
    output can be exactly zero on your inputs (then its rounding has no scale to be relative to).
    A block much smaller than the rest of its output is thus only checked to ``rtol`` of the
    largest entry: return it as its own output if that matters.

    Returns the `EquivarianceErrors` (one row per case, output and irrep block; ``str()`` is a
    table, so it can be logged); raises AssertionError naming the worst output, block, l and
    case, with the whole table, the group element and the seed.

    >>> from e3gen import o3
    >>> def forces(pos):  # -dE/dpos of a pair potential: rotation- and translation-equivariant
    ...     pos = pos.detach().requires_grad_()
    ...     energy = (torch.cdist(pos, pos) ** 2).sum()
    ...     return -torch.autograd.grad(energy, pos)[0]
    >>> errors = assert_equivariant(forces, "cartesian_points", "1o", seed=0)
    >>> sorted({row.case for row in errors})
    ['rotation', 'rotation+inversion', 'translation']
    """
    __tracebackhide__ = True  # pytest shows the caller's line, not this one
    errors = equivariance_error(
        fn, irreps_in, irreps_out,
        inputs=inputs, args_in=args_in, rotation=rotation, inversion=inversion, translation=translation,
        seed=seed, batch=batch, dtype=dtype, atol=atol, rtol=rtol, device=device,
    )  # fmt: skip
    if not errors.passed:
        raise AssertionError(_failure_message(fn, errors))
    return errors


def _failure_message(fn: Callable, errors: EquivarianceErrors) -> str:
    worst = errors.worst
    name = getattr(fn, "__qualname__", None) or repr(fn)
    both = {"rotation", "rotation+inversion"} <= {row.case for row in errors}
    lines = [
        f"{name} is not equivariant: {len(errors.failures)} of {len(errors)} blocks over tolerance; worst is "
        f"{worst.where()}: error {worst.error:.3g} = {worst.relative:.3g} x the output's largest entry "
        f"{worst.scale:.3g}; tolerance {worst.tolerance:.3g} = atol {errors.atol:g} + rtol {errors.rtol:g} x {worst.scale:.3g}",
        "",
        str(errors),
        "",
        f"group elements: {describe(errors.rotation)}{' and -R' if both else ''}",
    ]
    if errors.translation is not None:
        lines.append(f"translation: t = {describe(errors.translation)}")
    if errors.seed is not None:
        lines.append(f"seed: {errors.seed} (pass seed={errors.seed} to repeat this draw)")
    return "\n".join(lines)


def _block_errors(case: str, spec: ValueSpec, expected, got, atol: float, rtol: float) -> List[BlockError]:
    """One `BlockError` per irreps term of this output (one for points and untransformed outputs)."""
    expected = torch.as_tensor(expected).detach().to(torch.float64)
    got = torch.as_tensor(got).detach().to(device=expected.device, dtype=torch.float64)
    if got.shape != expected.shape:
        raise ValueError(f"fn's {spec.name} changed shape under {case}: {tuple(expected.shape)} -> {tuple(got.shape)}")
    scale = max_abs(expected)
    tolerance = atol + rtol * scale
    diff = got - expected
    if spec.kind != "irreps":
        return [BlockError(case, spec.name, None, None, None, None, spec.kind, max_abs(diff), scale, tolerance)]
    return [
        BlockError(case, spec.name, i, mul, ir.l, ir.p, spec.kind, max_abs(diff[..., block]), scale, tolerance)
        for i, ((mul, ir), block) in enumerate(zip(spec.irreps, spec.irreps.slices()))
    ]


def max_abs(x: torch.Tensor) -> float:
    """Largest ``|x|`` entry, NaN if there is a NaN, 0 for an empty tensor."""
    if x.numel() == 0:
        return 0.0
    if torch.isnan(x).any():
        return math.nan
    return x.abs().max().item()


def _generate(ins: Layout, batch, dtype, device, generator) -> list:
    """Standard-normal inputs [*batch, width] for every spec; a ValueError for an untransformed one."""
    batch = (batch,) if isinstance(batch, int) else tuple(batch)
    values = []
    for spec in ins.specs:
        if spec.width is None:
            raise ValueError(
                f"cannot generate {spec.name}: its spec is None (untransformed), so only you know what it is; "
                f"pass inputs="
            )
        values.append(torch.randn(*batch, spec.width, dtype=torch.float64, generator=generator).to(dtype=dtype, device=device))
    return values


def _points_scale(ins: Layout, values) -> float:
    """The largest |coordinate| over the point inputs (1 if all are 0): translations this large test something."""
    scale = max(max_abs(v.detach()) for spec, v in zip(ins.specs, values) if spec.kind == "cartesian_points")
    return scale if scale > 0 and math.isfinite(scale) else 1.0


def _cast(value, dtype):
    """Floating tensors in ``dtype``; anything else unchanged."""
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.to(dtype)
    return value


def _fresh(value, like=None):
    """A detached copy of a floating tensor, with ``like``'s (default: its own) requires_grad; else unchanged.

    fn may mutate its inputs or take gradients with respect to them; either must not leak
    between the calls for different group elements, or into the caller's tensors.
    """
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        requires_grad = (like if like is not None else value).requires_grad
        return value.detach().clone().requires_grad_(requires_grad)
    return value


def _in_hypothesis_test() -> bool:
    try:
        from hypothesis import currently_in_test_context
    except ImportError:  # hypothesis is optional (the `test` extra)
        return False
    return currently_in_test_context()
