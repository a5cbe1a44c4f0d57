"""Run a model on x and on g x, in float64 and float32, and measure every traced output block.

Four forward passes: the float64 copy and the float32 copy of the model, each on the inputs x
and on their transformed copy g x, with the hooks of `e3gen.debug.recorder` on. One group element
g does it all: a rotation R, times the inversion (default) so that every parity is tested too,
plus a translation of the cartesian-point inputs. A block that is right under -R is right under
R and under the inversion: D(-R) = p D(R), so a rotation bug or a parity bug shows as an error.

Each run gets its own deep copy of the model (``.to(float64)`` / ``.to(float32)``), so the caller's
model, its dtype, its running statistics and its gradients are left as they were.
"""

from __future__ import annotations

import copy
import math
from dataclasses import replace
from typing import Any, List, Mapping, Optional, Sequence, Tuple

import torch

from e3gen.debug.recorder import Call, recording, traced_modules
from e3gen.debug.report import BlockRow, Bounds, EquivarianceReport, flags_of
from e3gen.testing.equivariance import max_abs
from e3gen.testing.group import as_o3_element, random_rotation
from e3gen.testing.specs import ValueSpec, parse_specs

__all__ = ["equivariance_report"]


def equivariance_report(
    model: torch.nn.Module,
    inputs,
    specs=None,
    *,
    irreps_of: Optional[Mapping[str, Any]] = None,
    rotation=None,
    inversion: bool = True,
    translation=True,
    seed: Optional[int] = None,
    bounds: Bounds = Bounds(),
    growth: float = 10.0,
) -> EquivarianceReport:
    """Where does equivariance, or float32 precision, get lost? One row per module call and irrep block.

    ``model``: a torch module; every submodule with an ``irreps_out`` attribute (or named in
    ``irreps_of``, {name in ``model.named_modules()``: irreps}, ``""`` for the model itself) is
    traced: its output [..., irreps.dim] is compared block by block.

    ``inputs``: what the model is called with: a tensor (``model(x)``), a tuple or list
    (``model(*inputs)``) or a dict (``model(**inputs)``). ``specs``: one spec per input, laid out
    the same way, as in `e3gen.testing.assert_equivariant`: irreps (``"4x0e + 2x1o"``),
    ``"cartesian_points"`` (positions [..., 3]: rotated and translated) or None (index tensors such
    as edge_index or batch: passed unchanged). Default: ``model.input_specs`` if the model has it,
    else ``model.irreps_in`` (one input). Models that build a graph from the positions inside
    forward are fine: the graph does not change under g.

    ``rotation``: an O(3) matrix [3, 3], or None for a uniformly random rotation; it is multiplied
    by the inversion when ``inversion`` (default). ``translation``: True draws a random vector
    scaled like the positions, a tensor [3] is used as is, False adds none (only cartesian-point
    inputs are translated). ``seed`` seeds everything drawn here; None takes one from torch's
    global RNG, so ``torch.manual_seed`` repeats a report. ``bounds``: relative errors that exact
    coefficients explain (see `Bounds`); ``growth``: how much larger than everything before it a
    module's error must be to be "where the error first grows".

    Returns an `EquivarianceReport`; ``print(report)`` shows the table and its summary.

    Put models with dropout in eval() first: random masks differ between the runs.
    """
    layout = parse_specs(_specs(model, specs), "in")
    values = layout.flatten(inputs, "inputs")
    for spec, value in zip(layout.specs, values):
        spec.check(value)
    if all(spec.kind == "untransformed" for spec in layout.specs):
        raise ValueError("every input spec is None: nothing would be transformed; mark features with their irreps "
                         "and positions as 'cartesian_points'")

    has_points = any(spec.kind == "cartesian_points" for spec in layout.specs)
    needs_random = rotation is None or (translation is True and has_points)
    if needs_random and seed is None:
        seed = int(torch.randint(0, 2**32 - 1, ()))  # from the global RNG: torch.manual_seed repeats it
    generator = torch.Generator().manual_seed(seed) if needs_random else None
    g = random_rotation(generator) if rotation is None else as_o3_element(rotation)
    if inversion:
        g = -g
    t = _translation(translation, layout.specs, values, has_points, generator)

    x64 = [_cast(v, torch.float64) for v in values]
    x32 = [_cast(v, torch.float32) for v in values]
    # the moved inputs are computed in float64 from each run's own x, then rounded to the run's dtype:
    # the float32 run's only input error is that final rounding
    gx64 = [_moved(spec, v, g, t, torch.float64) for spec, v in zip(layout.specs, x64)]
    gx32 = [_moved(spec, v, g, t, torch.float32) for spec, v in zip(layout.specs, x32)]
    runs = []  # float64 on x, float64 on g x, float32 on x, float32 on g x
    for dtype, x, gx in ((torch.float64, x64, gx64), (torch.float32, x32, gx32)):
        copied = _copy(model, dtype)
        traced = traced_modules(copied, irreps_of)
        runs.extend(_run(copied, traced, layout, xs) for xs in (x, gx))

    rows = _input_rows(layout.specs, x64, x32, gx32, g, t)
    module_rows, skipped = _compare(runs, g, first_position=(rows[-1].position + 1) if rows else 0)
    rows = [replace(row, flags=flags_of(row, bounds)) for row in rows + module_rows]
    return EquivarianceReport(tuple(rows), g, t, seed, bounds, growth, tuple(skipped))


def _specs(model: torch.nn.Module, specs):
    """The given specs, else ``model.input_specs``, else ``model.irreps_in``."""
    for candidate in (specs, getattr(model, "input_specs", None), getattr(model, "irreps_in", None)):
        if candidate is not None:
            return candidate
    raise ValueError(
        "equivariance_report needs the specs of the inputs: pass specs= (irreps, 'cartesian_points' or None per "
        "input, laid out like inputs) or give the model an input_specs (or irreps_in) attribute"
    )


def _translation(translation, specs: Sequence[ValueSpec], values, has_points: bool, generator) -> Optional[torch.Tensor]:
    """The [3] float64 vector added to cartesian points, or None."""
    if translation is False or (translation is True and not has_points):
        return None
    if not has_points:
        raise ValueError("a translation was given, but no input is 'cartesian_points': mark the positions as such")
    if translation is True:  # as large as the positions, so that it tests something
        scale = max(max_abs(v.detach().to(torch.float64)) for s, v in zip(specs, values) if s.kind == "cartesian_points")
        scale = scale if scale > 0 and math.isfinite(scale) else 1.0
        return torch.randn(3, dtype=torch.float64, generator=generator) * scale
    return torch.as_tensor(translation).detach().to(torch.float64).reshape(3)


def _cast(value, dtype: torch.dtype):
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.detach().to(dtype)
    return value


def _moved(spec: ValueSpec, value, g: torch.Tensor, t: Optional[torch.Tensor], dtype: torch.dtype):
    return _cast(spec.act(value, g, t), dtype)


def _copy(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    try:
        copied = copy.deepcopy(model)
    except Exception as error:  # noqa: BLE001 - any failure here means the same thing to the user
        raise ValueError(f"equivariance_report runs deep copies of the model in float64 and float32, but "
                         f"{type(model).__name__} cannot be deep-copied: {error}") from error
    return copied.to(dtype)


def _run(model: torch.nn.Module, traced, layout, values: List[Any]) -> List[Call]:
    # fresh leaves per run: a model may take gradients with respect to its inputs (forces)
    fresh = [v.detach().clone().requires_grad_(v.requires_grad) if isinstance(v, torch.Tensor) and v.is_floating_point() else v
             for v in values]
    with recording(traced) as calls:
        layout.call(model, fresh)
    return calls


def _input_rows(specs, x64, x32, gx32, g, t) -> List[BlockRow]:
    """Inputs as rows: their float32 "error" is the rounding of g x to float32, the baseline of every later error."""
    rows = []
    for position, (spec, v64, v32, moved32) in enumerate(zip(specs, x64, x32, gx32)):
        if spec.kind == "untransformed":
            continue
        expected32 = spec.act(v32, g, t)
        output_scale = max_abs(v64)
        for block, mul, l, p, index in _blocks(spec):
            rows.append(BlockRow(
                position, spec.name, "input", block, mul, l, p, max_abs(v64[..., index]), output_scale,
                abs_err64=0.0,  # the float64 run gets exactly g x, computed in float64
                abs_err32=max_abs(moved32.to(torch.float64)[..., index] - expected32[..., index]),
                abs_discrepancy=max_abs(v32.to(torch.float64)[..., index] - v64[..., index]),
            ))  # fmt: skip
    return rows


def _blocks(spec: ValueSpec):
    """(block, mul, l, p, index) per irreps term; one (None, ...) block spanning everything for points."""
    if spec.kind != "irreps":
        return [(None, None, None, None, slice(None))]
    return [(i, mul, ir.l, ir.p, s) for i, ((mul, ir), s) in enumerate(zip(spec.irreps, spec.irreps.slices())) if mul > 0]


def _compare(runs: List[List[Call]], g: torch.Tensor, first_position: int) -> Tuple[List[BlockRow], List[Tuple[str, str]]]:
    """Rows of every module call of the float64 run on x, in its order, and (call, reason) for the skipped."""
    reference, *others = [{call.key: call for call in calls} for calls in runs]
    rows: List[BlockRow] = []
    skipped: List[Tuple[str, str]] = []
    position = first_position
    for key, call in reference.items():
        found = [other.get(key) for other in others]
        if any(c is None for c in found):
            skipped.append((key, "not called in every run (control flow that depends on the input?)"))
            continue
        block_rows, reason = _module_rows(position, call, *found, g)
        if reason is not None:
            skipped.append((key, reason))
            continue
        rows.extend(block_rows)
        position += 1
    return rows, skipped


def _module_rows(position: int, c64: Call, c64_moved: Call, c32: Call, c32_moved: Call, g: torch.Tensor):
    """(rows, None), or ([], why these outputs cannot be compared)."""
    outputs = (c64.output, c64_moved.output, c32.output, c32_moved.output)
    if not all(isinstance(o, torch.Tensor) for o in outputs):
        return [], f"returned a {type(c64.output).__name__}, not a tensor; name a submodule that returns one (irreps_of)"
    dim = c64.irreps.dim
    if c64.output.shape[-1:] != (dim,):
        return [], (f"returned shape {tuple(c64.output.shape)}, but its irreps {c64.irreps} have dim {dim}; "
                    f"pass irreps_of={{{c64.name!r}: ...}}")
    shapes = {tuple(o.shape) for o in outputs}
    if len(shapes) > 1:
        return [], (f"output shape differs between the runs {sorted(shapes)} (a graph built from positions "
                    f"gained or lost an edge at the cutoff?)")
    spec = ValueSpec(c64.key, "irreps", c64.irreps)
    expected64 = spec.act(c64.output, g, None)  # outputs are features: translations do not act on them
    expected32 = spec.act(c32.output, g, None)
    rows = []
    output_scale = max_abs(c64.output)
    for block, mul, l, p, index in _blocks(spec):
        rows.append(BlockRow(
            position, c64.key, c64.type, block, mul, l, p,
            scale=max_abs(c64.output[..., index]),
            output_scale=output_scale,
            abs_err64=max_abs(c64_moved.output[..., index] - expected64[..., index]),
            abs_err32=max_abs(c32_moved.output[..., index] - expected32[..., index]),
            abs_discrepancy=max_abs(c32.output[..., index] - c64.output[..., index]),
        ))  # fmt: skip
    return rows, None
