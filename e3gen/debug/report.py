"""The precision report: one row per (module call, output irrep block), its summary and its table.

Every error is relative to the block's own scale: ``scale`` is the largest ``|entry|`` of that
block in the float64 run on the untransformed input (the best estimate of the true values). A block
smaller than ``SMALL_BLOCK`` (1e-2) times its output's largest entry is measured against that
instead: a block that is zero by symmetry (the 1e part of x (x) x) holds only the rounding of the
products it came from, which are as large as the rest of the output, and would otherwise look
infinitely wrong. Then

* ``err64`` / ``err32``: ``max |f(g x) - D(g) f(x)|`` over the block, from the float64 model and
  from its float32 copy, divided by the reference scale;
* ``discrepancy``: ``max |f32(x) - f64(x)|`` over the block, divided by the same: what float32
  rounding did to the values themselves, equivariant or not.

The absolute numbers are kept (``abs_err64``, ...). A block of exact zeros with no error has
relative errors 0; a block of exact zeros with an error has relative errors inf.

Flags (see `Bounds`): ``f64`` (float64 equivariance error over ``bounds.float64``: with exact
coefficients float64 rounding is ~1e-15, so this is a bug, not precision), ``f32`` (float32
equivariance error over ``bounds.float32``), ``32v64`` (float32 values further than
``bounds.float32`` from float64's) and ``nan`` (a non-finite value).

"First growth", per dtype: walking the modules in the order they returned, the first one whose
worst relative error is over ``growth`` times the largest error seen before it (inputs included)
and over ``growth`` times the rounding floor ``FLOOR_EPS * eps(dtype)``. The floor keeps rounding
noise (a layer going from 1e-16 to 3e-15) from counting as growth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional, Tuple

import torch

__all__ = ["Bounds", "BlockRow", "Summary", "EquivarianceReport", "FLOOR_EPS", "SMALL_BLOCK"]

# Errors below FLOOR_EPS x eps of their dtype are rounding noise for "first growth". Rounding of a
# well-conditioned layer stays within ~sqrt(fan-in) eps (a few eps to a few tens of eps).
FLOOR_EPS = 100
# Blocks below SMALL_BLOCK x their output's largest entry are measured against that (see above).
SMALL_BLOCK = 1e-2
_EPS = {"float64": torch.finfo(torch.float64).eps, "float32": torch.finfo(torch.float32).eps}


@dataclass(frozen=True)
class Bounds:
    """Largest relative error that exact coefficients explain, per dtype.

    With exact coefficients the only error source is rounding: each layer adds a few eps times
    sqrt(fan-in), and the errors add up over depth. ``float32``: 1e-4, ~840 eps32 (1.19e-7), room
    for fan-ins of thousands over tens of layers, while a wrong coefficient or parity gives ~1.
    ``float64``: 1e-10, ~5e5 eps64 (2.2e-16); a float64 error above it is not rounding at all
    (for example a coefficient stored or computed in float32 shows here as ~1e-7). Both are
    `e3gen.testing`'s float32 tolerance and e3nn's float64 one, made relative to each block.
    """

    float64: float = 1e-10
    float32: float = 1e-4


def _relative(error: float, scale: float) -> float:
    if math.isnan(error) or math.isnan(scale):
        return math.nan
    if scale > 0:
        return error / scale
    return 0.0 if error == 0 else math.inf


def _key(value: float) -> float:
    """Sort key that puts NaN above everything (a NaN is the worst possible error)."""
    return math.inf if math.isnan(value) else value


@dataclass(frozen=True)
class BlockRow:
    """One output block of one module call (or of one input).

    ``position``: the call's place in execution order (inputs come first); ``module``: the
    module's name in ``model.named_modules()`` (``"<model>"`` for the model itself, ``"in[0]"``
    for an input), with ``#k`` added for its k-th repeated call; ``type``: the module's class name
    (``"input"`` for inputs); ``block``: index of the ``(mul, ir)`` term in its irreps (None for
    cartesian points, whose ``l`` and ``p`` are None too). ``scale``: the block's largest
    ``|entry|``, ``output_scale``: the whole output's; absolute errors and scales are float64
    numbers; `err64`, `err32` and `discrepancy` are relative to `reference`.
    """

    position: int
    module: str
    type: str
    block: Optional[int]
    mul: Optional[int]
    l: Optional[int]
    p: Optional[int]
    scale: float
    output_scale: float
    abs_err64: float
    abs_err32: float
    abs_discrepancy: float
    flags: Tuple[str, ...] = ()

    @property
    def is_input(self) -> bool:
        return self.type == "input"

    @property
    def irrep(self) -> str:
        """``"3x2e"``, or ``"points"`` for cartesian points."""
        if self.l is None:
            return "points"
        return f"{self.mul}x{self.l}{'e' if self.p == 1 else 'o'}"

    @property
    def reference(self) -> float:
        """What errors are relative to: ``max(scale, SMALL_BLOCK * output_scale)``."""
        if math.isnan(self.scale) or math.isnan(self.output_scale):
            return math.nan
        return max(self.scale, SMALL_BLOCK * self.output_scale)

    @property
    def err64(self) -> float:
        return _relative(self.abs_err64, self.reference)

    @property
    def err32(self) -> float:
        return _relative(self.abs_err32, self.reference)

    @property
    def discrepancy(self) -> float:
        return _relative(self.abs_discrepancy, self.reference)

    def error(self, dtype: str) -> float:
        """``err64`` for ``"float64"``, ``err32`` for ``"float32"``."""
        return {"float64": self.err64, "float32": self.err32}[dtype]

    def where(self) -> str:
        """``"tp (FullyConnectedTensorProduct) block 2: 2x2e, l=2, p=+1"``."""
        if self.l is None:
            return f"{self.module} ({self.type}): {self.irrep}"
        return f"{self.module} ({self.type}) block {self.block}: {self.irrep}, l={self.l}, p={self.p:+d}"


def flags_of(row: BlockRow, bounds: Bounds) -> Tuple[str, ...]:
    """The bound violations of a row, in a fixed order (see the module docstring)."""
    values = (row.err64, row.err32, row.discrepancy)
    flags = []
    if any(math.isnan(v) or math.isinf(v) for v in values) or not math.isfinite(row.output_scale):
        flags.append("nan")
    if _key(row.err64) > bounds.float64:
        flags.append("f64")
    if _key(row.err32) > bounds.float32:
        flags.append("f32")
    if _key(row.discrepancy) > bounds.float32:
        flags.append("32v64")
    return tuple(flags)


@dataclass(frozen=True)
class Summary:
    """What to look at first.

    ``worst``: the row furthest over its bounds (largest of err64 / bound64, err32 / bound32,
    discrepancy / bound32), inputs excluded; ``first_growth64`` / ``first_growth32``: the worst
    block of the first module where the error grows, per dtype (see the module docstring), None if
    it never does; ``flagged``: modules with a flagged block, in execution order;
    ``by_l``: l -> (worst err64, worst err32, worst discrepancy) over all module blocks of that l,
    which says whether higher l lose more.
    """

    worst: Optional[BlockRow]
    first_growth64: Optional[BlockRow]
    first_growth32: Optional[BlockRow]
    flagged: Tuple[str, ...]
    by_l: Dict[int, Tuple[float, float, float]]

    @property
    def first_growth(self) -> Optional[BlockRow]:
        """The earlier of the two first growths (float64's on a tie: it cannot be rounding)."""
        found = [row for row in (self.first_growth64, self.first_growth32) if row is not None]
        return min(found, key=lambda row: row.position) if found else None

    def lines(self) -> List[str]:
        lines = []
        if self.worst is None:
            return ["no module output was checked"]
        w = self.worst
        lines.append(
            f"worst: {w.where()}: err64 {_fmt(w.err64)}, err32 {_fmt(w.err32)}, 32v64 {_fmt(w.discrepancy)}"
        )
        for dtype, row in (("float64", self.first_growth64), ("float32", self.first_growth32)):
            text = "none (rounding level throughout)" if row is None else f"{row.where()}: {_fmt(row.error(dtype))}"
            lines.append(f"first growth ({dtype}): {text}")
        lines.append("flagged: " + (", ".join(self.flagged) if self.flagged else "none"))
        lines.append("worst by l:  err64    err32    32v64")
        for l, errors in sorted(self.by_l.items()):
            lines.append(f"  l={l:<3}  " + "  ".join(f"{_fmt(e):>7}" for e in errors))
        return lines


@dataclass(frozen=True)
class EquivarianceReport:
    """Rows in execution order, the group element used, and what was not checked.

    ``rotation``: the O(3) matrix g [3, 3] (float64; det -1 when the inversion was included);
    ``translation``: the [3] vector added to cartesian points (None if none); ``seed``: the seed
    of the draw (None if nothing was drawn); ``skipped``: (module, reason) for outputs that could
    not be compared (not a tensor, wrong width, a shape that changed under g).
    """

    rows: Tuple[BlockRow, ...]
    rotation: torch.Tensor
    translation: Optional[torch.Tensor]
    seed: Optional[int]
    bounds: Bounds = Bounds()
    growth: float = 10.0
    skipped: Tuple[Tuple[str, str], ...] = field(default=())

    def __iter__(self) -> Iterator[BlockRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def modules(self) -> Tuple[str, ...]:
        """Module names (with ``#k`` for repeated calls) in execution order, inputs excluded."""
        return tuple(dict.fromkeys(row.module for row in self.rows if not row.is_input))

    def rows_of(self, module: str) -> Tuple[BlockRow, ...]:
        return tuple(row for row in self.rows if row.module == module)

    @property
    def flagged_rows(self) -> Tuple[BlockRow, ...]:
        return tuple(row for row in self.rows if row.flags)

    @property
    def summary(self) -> Summary:
        modules = [row for row in self.rows if not row.is_input]
        worst = max(modules, key=self._badness) if modules else None
        by_l: Dict[int, Tuple[float, float, float]] = {}
        for row in modules:
            if row.l is None:
                continue
            old = by_l.get(row.l, (0.0, 0.0, 0.0))
            new = (row.err64, row.err32, row.discrepancy)
            by_l[row.l] = tuple(max(a, b, key=_key) for a, b in zip(old, new))
        return Summary(
            worst=worst,
            first_growth64=self._first_growth("float64"),
            first_growth32=self._first_growth("float32"),
            flagged=tuple(dict.fromkeys(row.module for row in modules if row.flags)),
            by_l=by_l,
        )

    def _badness(self, row: BlockRow) -> float:
        return max(
            _key(row.err64) / self.bounds.float64,
            _key(row.err32) / self.bounds.float32,
            _key(row.discrepancy) / self.bounds.float32,
        )

    def _first_growth(self, dtype: str) -> Optional[BlockRow]:
        floor = FLOOR_EPS * _EPS[dtype]
        before = 0.0  # largest error so far: inputs, then the modules that returned earlier
        calls: Dict[int, List[BlockRow]] = {}
        for row in self.rows:
            calls.setdefault(row.position, []).append(row)
        for position in sorted(calls):
            rows = calls[position]
            worst = max(rows, key=lambda row: _key(row.error(dtype)))
            error = _key(worst.error(dtype))
            if not worst.is_input and error > self.growth * max(before, floor):
                return worst
            before = max(before, error)
        return None

    def table(self) -> str:
        """Fixed-width table: one line per block, the module named on its first line."""
        header = ("#", "module", "type", "irreps", "l", "p", "scale", "err64", "err32", "32v64", "flags")
        summary = self.summary
        growth = {
            id(row): f"<- first growth ({dtype})"
            for dtype, row in (("float32", summary.first_growth32), ("float64", summary.first_growth64))
            if row is not None
        }
        if summary.first_growth32 is not None and summary.first_growth32 is summary.first_growth64:
            growth[id(summary.first_growth64)] = "<- first growth (float64, float32)"
        lines = []
        previous = None
        for row in self.rows:
            first = row.module != previous
            previous = row.module
            lines.append((
                str(row.position) if first else "",
                row.module if first else "",
                row.type if first else "",
                row.irrep,
                "-" if row.l is None else str(row.l),
                "-" if row.p is None else ("e" if row.p == 1 else "o"),
                _fmt(row.scale),
                _fmt(row.err64),
                _fmt(row.err32),
                _fmt(row.discrepancy),
                " ".join(row.flags + ((growth[id(row)],) if id(row) in growth else ())),
            ))  # fmt: skip
        widths = [max(len(cell) for cell in column) for column in zip(header, *lines)]
        right = {0, 6, 7, 8, 9}  # numbers line up on the right
        text = [
            "  ".join(cell.rjust(w) if i in right else cell.ljust(w) for i, (cell, w) in enumerate(zip(line, widths))).rstrip()
            for line in [header, *lines]
        ]
        return "\n".join(text)

    def header(self) -> List[str]:
        g = "-R (a rotation times the inversion)" if torch.det(self.rotation) < 0 else "R (a rotation)"
        moved = " and the points translated" if self.translation is not None else ""
        return [
            f"equivariance report: g = {g}{moved}" + (f", seed {self.seed}" if self.seed is not None else ""),
            "  err64, err32: max |f(g x) - D(g) f(x)| / scale, in float64 and in a float32 copy of the model",
            "  32v64: max |f32(x) - f64(x)| / scale",
            f"  scale: the block's largest |entry| in float64; below {SMALL_BLOCK:g} x its output's largest, errors are "
            f"relative to that instead",
            f"  flags: f64 > {self.bounds.float64:g}; f32, 32v64 > {self.bounds.float32:g} (beyond rounding with exact "
            f"coefficients); nan",
            f"  first growth: the first module whose error is > {self.growth:g} x every error before it "
            f"(and > {self.growth:g} x {FLOOR_EPS} eps, above rounding)",
        ]

    def __str__(self) -> str:
        parts = [*self.header(), "", self.table(), ""]
        parts.extend(f"skipped {module}: {reason}" for module, reason in self.skipped)
        parts.extend(self.summary.lines())
        return "\n".join(parts)


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf"
    return f"{value:.1e}"
