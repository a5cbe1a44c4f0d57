"""Figures of the command line: `e3gen bench --plot`, `e3gen debug --plot`, `e3gen demo --plot`, `e3gen show`.

Each figure has two halves:

* a pure function computing its DATA (``*_figure_data``), returning a frozen dataclass of numbers
  and labels: what the tests check, and what a notebook can plot its own way;
* a ``write_*_figure(path, data)`` drawing it with matplotlib and writing an image (PNG by default,
  any format matplotlib knows from the file's extension).

matplotlib is an optional dependency (``pip install 'e3gen[plot]'``). It is imported only when a
figure is drawn, and through ``matplotlib.figure.Figure`` with the Agg canvas, never pyplot: drawing
does not change the backend or open windows in the caller's session. A missing matplotlib raises
`PlotUnavailable`, with the command that installs it.
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    "PlotUnavailable",
    "require_matplotlib",
    "BenchBar",
    "bench_figure_data",
    "traffic_bytes",
    "measure_bandwidth",
    "write_bench_figure",
    "DebugHeatmap",
    "debug_figure_data",
    "write_debug_figure",
    "DemoCurves",
    "demo_figure_data",
    "write_demo_figure",
    "HarmonicPanel",
    "HarmonicsFigure",
    "harmonics_figure_data",
    "write_harmonics_figure",
    "CouplingEntry",
    "CouplingFigure",
    "coupling_figure_data",
    "write_coupling_figure",
]

DPI = 90  # small PNGs that still read well embedded in the docs


class PlotUnavailable(ImportError):
    """matplotlib is not installed."""


def require_matplotlib() -> None:
    """Raise `PlotUnavailable` (with the install command) unless matplotlib can be imported.

    Commands call this before their real work, so that a missing matplotlib is reported at once and
    not after a training run or a benchmark.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotUnavailable(
            "plotting needs matplotlib, an optional dependency of e3gen: pip install 'e3gen[plot]' "
            "(or pip install matplotlib)"
        ) from None


def _figure(width: float, height: float):
    """A matplotlib Figure on an Agg canvas (no pyplot, no global backend change)."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path) -> Path:
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise FileNotFoundError(2, f"the folder of the image does not exist: create {path.parent} first", str(path))
    figure.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


# --- e3gen bench --plot -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchBar:
    """One bar: e3gen time / anchor (e3nn) time for one case, size, pass and backend.

    ``bound``: the bandwidth bound as the same kind of ratio (bound time / anchor time): no code
    that has to read its inputs and write its outputs once can go below it. None where unknown.
    """

    case: str
    size: int
    pass_: str
    backend: str
    ratio: float
    bound: Optional[float]


def bench_figure_data(rows: Sequence, bound_seconds: Optional[Mapping[Tuple[str, int, str], float]] = None) -> List[BenchBar]:
    """Bars from `e3gen.bench.Row`s: ``ratio`` = e3gen / e3nn; ``bound`` = bound_seconds[(case, size, pass)] / e3nn.

    ``bound_seconds``: the bandwidth-bound time of each (case, size, pass) (see `traffic_bytes`),
    absent where unknown.
    """
    bound_seconds = bound_seconds or {}
    bars = []
    for row in rows:
        if not (row.e3nn > 0 and row.e3gen > 0):
            raise ValueError(f"bench row {row.case} {row.pass_} {row.backend}: times must be positive, got "
                             f"e3nn {row.e3nn} s, e3gen {row.e3gen} s")
        bound = bound_seconds.get((row.case, row.size, row.pass_))
        bars.append(BenchBar(row.case, row.size, row.pass_, row.backend, row.e3gen / row.e3nn,
                             None if bound is None else bound / row.e3nn))
    return bars


def traffic_bytes(workload, pass_: str) -> int:
    """The fewest bytes a run of ``workload`` must move through memory (float32).

    Forward reads every input and writes the output; forward+backward also reads the output's
    gradient and the inputs again, and writes one gradient per input: 3 x inputs + 2 x output.
    Sizes are read from e3gen's module for this workload (one row, then scaled by the size).
    """
    import torch

    from e3gen import o3

    if pass_ not in ("fwd", "fwd+bwd"):
        raise ValueError(f"pass_ must be 'fwd' or 'fwd+bwd', got {pass_!r}")
    module = workload.make(o3)
    one_row = workload.inputs(module, 1)
    with torch.no_grad():
        out = module(*one_row)
    inputs = sum(t.numel() for t in one_row) * workload.size * 4
    output = out.numel() * workload.size * 4
    return inputs + output if pass_ == "fwd" else 3 * inputs + 2 * output


def measure_bandwidth(megabytes: int = 256, repeats: int = 5) -> float:
    """Memory bandwidth in bytes per second: the median of ``repeats`` copies of a ``megabytes`` float32 tensor
    (a copy reads and writes it: 2 x its bytes). With torch's current thread count."""
    import statistics
    import time

    import torch

    source = torch.ones(megabytes * 2**20 // 4)
    target = torch.empty_like(source)
    target.copy_(source)  # first touch: page faults are not bandwidth
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        target.copy_(source)
        times.append(time.perf_counter() - start)
    return 2 * source.numel() * 4 / statistics.median(times)


def write_bench_figure(path, bars: Sequence[BenchBar], title: str = "") -> Path:
    """Grouped bars of e3gen / e3nn per case, size and pass (one colour per backend), log scale, the
    1x line (below it e3gen is faster), and a black tick at the bandwidth bound where known."""
    if not bars:
        raise ValueError("no benchmark rows to plot: run at least one case")
    groups = list(dict.fromkeys((b.case, b.size, b.pass_) for b in bars))
    backends = list(dict.fromkeys(b.backend for b in bars))
    figure = _figure(max(6.0, 0.9 * len(groups) + 2), 4.2)
    ax = figure.add_subplot()
    width = 0.8 / len(backends)
    colours = {"eager": "#4c72b0", "compiled": "#dd8452"}
    bound_drawn = False
    for g, key in enumerate(groups):
        for b, backend in enumerate(backends):
            found = [bar for bar in bars if (bar.case, bar.size, bar.pass_) == key and bar.backend == backend]
            if not found:
                continue
            bar = found[0]
            x = g - 0.4 + width * (b + 0.5)
            ax.bar(x, bar.ratio, width * 0.9, color=colours.get(backend, f"C{b}"), label=backend)
            ax.text(x, bar.ratio, f"{bar.ratio:.2f}", ha="center", va="bottom", fontsize=7)
            if bar.bound is not None:
                ax.plot([x - width * 0.45, x + width * 0.45], [bar.bound, bar.bound], color="black", lw=2,
                        label=None if bound_drawn else "bandwidth bound")
                bound_drawn = True
    ax.axhline(1.0, color="grey", ls="--", lw=1, label="1x (as fast as e3nn)")
    ax.set_yscale("log")
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{textwrap.fill(c, 11)}\n{s:,}\n{p}" for c, s, p in groups], fontsize=7)
    ax.set_ylabel("e3gen time / e3nn time  (below 1: e3gen faster)")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))  # one legend entry per backend, not per bar
    ax.legend(unique.values(), unique.keys(), fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title or "e3gen bench: time relative to e3nn 0.6.0", fontsize=10)
    ax.grid(axis="y", which="both", alpha=0.3)
    return _save(figure, path)


# --- e3gen debug --plot -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DebugHeatmap:
    """The report as two [modules, blocks] grids of relative equivariance errors (NaN: no such block).

    ``modules``: row labels in execution order ("name (Type)"); ``blocks[r][c]``: the irrep of row r's
    block c ("2x1o"); ``err64`` / ``err32``: float arrays [len(modules), max blocks];
    ``first_growth64`` / ``first_growth32``: (row, column) of the first-growth block, or None.
    """

    modules: Tuple[str, ...]
    blocks: Tuple[Tuple[str, ...], ...]
    err64: np.ndarray
    err32: np.ndarray
    first_growth64: Optional[Tuple[int, int]]
    first_growth32: Optional[Tuple[int, int]]
    bounds: Tuple[float, float]  # (float64, float32) flag bounds of the report


def debug_figure_data(report) -> DebugHeatmap:
    """Grids from an `e3gen.debug.EquivarianceReport` (inputs left out: they are exact by construction)."""
    modules: Dict[str, list] = {}
    for row in report.rows:
        if not row.is_input:
            modules.setdefault(row.module, []).append(row)
    names = list(modules)
    width = max((len(rows) for rows in modules.values()), default=0)
    err64 = np.full((len(names), width), np.nan)
    err32 = np.full((len(names), width), np.nan)
    where = {}
    for r, name in enumerate(names):
        for c, row in enumerate(modules[name]):
            err64[r, c] = row.err64
            err32[r, c] = row.err32
            where[id(row)] = (r, c)
    summary = report.summary
    return DebugHeatmap(
        modules=tuple(f"{name} ({rows[0].type})" for name, rows in modules.items()),
        blocks=tuple(tuple(row.irrep for row in rows) for rows in modules.values()),
        err64=err64,
        err32=err32,
        first_growth64=None if summary.first_growth64 is None else where[id(summary.first_growth64)],
        first_growth32=None if summary.first_growth32 is None else where[id(summary.first_growth32)],
        bounds=(report.bounds.float64, report.bounds.float32),
    )


def _error_label(value: float) -> str:
    """A heatmap cell's error as short text: "0", "3e-13", "1.6", "nan"."""
    if not np.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    return f"{value:.2g}" if value >= 0.01 else f"{value:.0e}".replace("e-0", "e-")


def write_debug_figure(path, data: DebugHeatmap, title: str = "") -> Path:
    """Two heatmaps (float64, float32) of log10 relative error, each block labelled with its irrep and
    its error (so values can be read, not only guessed from colours), the first-growth block boxed in
    red and flagged blocks (over the bound) marked with a red dot."""
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Rectangle

    if not data.modules:
        raise ValueError("the report has no module rows to plot")
    rows, cols = data.err64.shape
    figure = _figure(2 * max(3.0, 0.6 * cols + 1.2) + 3.0, max(2.5, 0.42 * rows + 1.2))
    floor = 1e-17
    finite = [v for v in np.concatenate([data.err64.ravel(), data.err32.ravel()]) if np.isfinite(v)]
    top = max([1.0, *finite])
    axes = figure.subplots(1, 2, sharey=True)
    for ax, grid, name, growth, bound in ((axes[0], data.err64, "float64", data.first_growth64, data.bounds[0]),
                                          (axes[1], data.err32, "float32", data.first_growth32, data.bounds[1])):
        shown = np.ma.masked_invalid(np.where(np.isfinite(grid), np.maximum(grid, floor), np.nan))
        image = ax.imshow(shown, norm=LogNorm(vmin=floor, vmax=top), cmap="viridis", aspect="auto")
        for r in range(rows):
            for c, irrep in enumerate(data.blocks[r]):
                value = grid[r, c]
                ax.text(c, r, f"{irrep}\n{_error_label(value)}", ha="center", va="center", fontsize=5.5, linespacing=1.1,
                        color="white" if not np.isfinite(value) or value < 1e-6 else "black")
                if not value <= bound:  # over the bound, inf or NaN: flagged
                    ax.plot(c + 0.38, r - 0.3, "o", color="red", ms=3)
        if growth is not None:
            r, c = growth
            ax.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="red", lw=2))
        ax.set_title(f"{name}: max |f(gx) - g f(x)| / scale" + ("" if growth is None else "\n(red box: first growth)"), fontsize=9)
        ax.set_xticks(range(cols))
        ax.set_xticklabels([str(c) for c in range(cols)], fontsize=7)
        ax.set_xlabel("output block")
        figure.colorbar(image, ax=ax, shrink=0.8)
    axes[0].set_yticks(range(rows))
    axes[0].set_yticklabels(data.modules, fontsize=7)
    if title:
        figure.suptitle(title, fontsize=10)
    return _save(figure, path)


# --- e3gen demo --plot --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoCurves:
    """Training curves: per step (1-based), the loss, the accuracy on the training shapes and, if
    measured, the accuracy on randomly rotated and translated copies (same weights, same step)."""

    steps: Tuple[int, ...]
    loss: Tuple[float, ...]
    accuracy: Tuple[float, ...]
    rotated_accuracy: Optional[Tuple[float, ...]]
    rotated_copies: int


def demo_figure_data(history: Sequence, rotated_accuracy: Optional[Sequence[float]] = None, rotated_copies: int = 0) -> DemoCurves:
    """Curves from `e3gen.examples.tetris.TrainingStep`s and the per-step accuracy on rotated copies."""
    if rotated_accuracy is not None and len(rotated_accuracy) != len(history):
        raise ValueError(f"rotated_accuracy has {len(rotated_accuracy)} values for {len(history)} training steps: "
                         f"give one per step")
    return DemoCurves(
        steps=tuple(h.step for h in history),
        loss=tuple(h.loss for h in history),
        accuracy=tuple(h.accuracy for h in history),
        rotated_accuracy=None if rotated_accuracy is None else tuple(rotated_accuracy),
        rotated_copies=rotated_copies,
    )


def write_demo_figure(path, data: DemoCurves, title: str = "") -> Path:
    """Loss (log scale) on the left, accuracies on the right."""
    figure = _figure(9, 3.4)
    left, right = figure.subplots(1, 2)
    left.semilogy(data.steps, data.loss, color="#4c72b0")
    left.set_xlabel("training step")
    left.set_ylabel("cross-entropy loss")
    left.set_title("loss", fontsize=10)
    left.grid(alpha=0.3, which="both")
    right.plot(data.steps, [100 * a for a in data.accuracy], color="#4c72b0", lw=2.5, label="the 8 training shapes")
    if data.rotated_accuracy is not None:
        right.plot(data.steps, [100 * a for a in data.rotated_accuracy], color="#dd8452", lw=1.2, ls="--",
                   label=f"{data.rotated_copies} rotated + translated copies (never trained on)")
    right.set_xlabel("training step")
    right.set_ylabel("accuracy (%)")
    right.set_ylim(-2, 102)
    right.set_title("accuracy", fontsize=10)
    right.legend(fontsize=8, loc="lower right")
    right.grid(alpha=0.3)
    figure.suptitle(title or "e3gen demo: tetris", fontsize=10)
    return _save(figure, path)


# --- e3gen show sh ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HarmonicPanel:
    """Y^l_index on the unit sphere: ``index`` is the position in e3nn's order (m = index - l),
    ``formula`` the exact polynomial ("component" normalisation), ``values`` [n_polar, n_azimuth]."""

    l: int
    index: int
    formula: str
    values: np.ndarray

    @property
    def m(self) -> int:
        return self.index - self.l


@dataclass(frozen=True)
class HarmonicsFigure:
    """Panels for l = 0..lmax on a grid of unit vectors ``points`` [n_polar, n_azimuth, 3] (x, y, z);
    y is the polar axis, as in e3nn."""

    lmax: int
    points: np.ndarray
    panels: Tuple[HarmonicPanel, ...]


def harmonics_figure_data(lmax: int, resolution: int = 48) -> HarmonicsFigure:
    """e3gen's real spherical harmonics ("component" normalisation) on a polar x azimuth grid."""
    import torch

    from e3gen import o3
    from e3gen.symbolic.spherical_harmonics import spherical_harmonics_polynomials

    if not isinstance(lmax, int) or lmax < 0:
        raise ValueError(f"lmax must be an integer >= 0, got {lmax!r}")
    polar = np.linspace(0, np.pi, resolution)
    azimuth = np.linspace(0, 2 * np.pi, 2 * resolution)
    polar, azimuth = np.meshgrid(polar, azimuth, indexing="ij")
    # y is the pole: y = cos(polar); x and z go round it
    points = np.stack([np.sin(polar) * np.sin(azimuth), np.cos(polar), np.sin(polar) * np.cos(azimuth)], axis=-1)
    values = o3.spherical_harmonics(list(range(lmax + 1)), torch.from_numpy(points), normalize=False,
                                    normalization="component").numpy()
    panels = []
    offset = 0
    for l in range(lmax + 1):
        polynomials = spherical_harmonics_polynomials(l)
        for index in range(2 * l + 1):
            panels.append(HarmonicPanel(l, index, str(polynomials[index]), values[..., offset + index]))
        offset += 2 * l + 1
    return HarmonicsFigure(lmax, points, tuple(panels))


def _pretty(formula: str, width: int = 26) -> str:
    """sympy's text made short ("sqrt(15)*x*z" -> "√15·x·z") and wrapped between terms."""
    for old, new in (("**2", "²"), ("**3", "³"), ("**4", "⁴"), ("**5", "⁵"), ("**6", "⁶"), ("*", "·")):
        formula = formula.replace(old, new)
    import re

    formula = re.sub(r"sqrt\((\d+)\)", r"√\1", formula)
    lines, line = [], ""
    for term in re.split(r"(?= [+-] )", formula):
        if line and len(line) + len(term) > width:
            lines.append(line)
            line = term.lstrip()
        else:
            line += term
    return "\n".join(lines + [line])


def write_harmonics_figure(path, data: HarmonicsFigure) -> Path:
    """One sphere per (l, index), rows l = 0..lmax, coloured red (+) / blue (-), titled with the index
    in e3nn's order, m, and the exact polynomial."""
    from matplotlib import cm
    from matplotlib.colors import Normalize

    columns = 2 * data.lmax + 1
    figure = _figure(1.9 * columns, 2.1 * (data.lmax + 1))
    x, y, z = data.points[..., 0], data.points[..., 1], data.points[..., 2]
    for panel in data.panels:
        position = panel.l * columns + (data.lmax - panel.l) + panel.index + 1
        ax = figure.add_subplot(data.lmax + 1, columns, position, projection="3d")
        limit = max(float(np.abs(panel.values).max()), 1e-12)
        colours = cm.RdBu_r(Normalize(-limit, limit)(panel.values))
        # matplotlib's z axis is up: draw e3nn's y (the pole) upwards, as (x, -z, y): a rotation, not a mirror image
        ax.plot_surface(x, -z, y, facecolors=colours, rstride=2, cstride=2, linewidth=0, antialiased=False, shade=False)
        ax.set_box_aspect((1, 1, 1), zoom=1.5)
        ax.set_axis_off()
        ax.view_init(elev=20, azim=-60)
        ax.set_title(f"l={panel.l} [{panel.index}] m={panel.m:+d}\n{_pretty(panel.formula, width=20)}", fontsize=6.5)
    if data.lmax >= 1:  # the top row has free cells left of Y^0: show the axes, seen from the same viewpoint
        ax = figure.add_subplot(data.lmax + 1, columns, 1, projection="3d")
        for name, (u, v, w) in (("x", (1, 0, 0)), ("y", (0, 0, 1)), ("z", (0, -1, 0))):  # e3nn (x, y, z) drawn as (x, -z, y)
            ax.quiver(0, 0, 0, u, v, w, color="black", linewidth=1, arrow_length_ratio=0.2)
            ax.text(1.25 * u, 1.25 * v, 1.25 * w, name, fontsize=8, ha="center", va="center")
        ax.set_xlim(-1, 1), ax.set_ylim(-1, 1), ax.set_zlim(-1, 1)
        ax.set_box_aspect((1, 1, 1), zoom=1.2)
        ax.set_axis_off()
        ax.view_init(elev=20, azim=-60)
        ax.set_title("axes, same view\n(y up, the pole)", fontsize=6.5)
    figure.suptitle(f"real spherical harmonics Y^l, l <= {data.lmax}, in e3nn's order (index [i] = m + l); "
                    "red +, blue -; the pole (up) is y (axes top left)", fontsize=9)
    return _save(figure, path)


# --- e3gen show cg ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CouplingEntry:
    """C[i, j, k] != 0: ``value`` (float64) and ``exact`` ("-sqrt(30)/30")."""

    i: int
    j: int
    k: int
    value: float
    exact: str


@dataclass(frozen=True)
class CouplingFigure:
    """The nonzero entries of e3nn's wigner_3j(l1, l2, l3) [2l1+1, 2l2+1, 2l3+1], exact."""

    l1: int
    l2: int
    l3: int
    entries: Tuple[CouplingEntry, ...]

    @property
    def shape(self) -> Tuple[int, int, int]:
        return (2 * self.l1 + 1, 2 * self.l2 + 1, 2 * self.l3 + 1)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def coupling_figure_data(l1: int, l2: int, l3: int) -> CouplingFigure:
    """The exact nonzero Clebsch-Gordan coefficients of (l1, l2) -> l3, from e3gen's symbolic derivation."""
    from e3gen.symbolic.clebsch_gordan import is_coupling_allowed, real_clebsch_gordan
    from e3gen.symbolic.polynomial import surd_to_sympy

    for name, value in (("l1", l1), ("l2", l2), ("l3", l3)):
        if not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    if not is_coupling_allowed(l1, l2, l3):
        raise ValueError(f"l1={l1} (x) l2={l2} cannot make l3={l3}: it needs |l1 - l2| <= l3 <= l1 + l2 "
                         f"(here {abs(l1 - l2)}..{l1 + l2})")
    table = real_clebsch_gordan(l1, l2, l3)
    entries = tuple(
        CouplingEntry(i, j, k, c.to_float(), str(surd_to_sympy(c)))
        for (i, j, k), c in sorted(table.items())
        if not c.is_zero()
    )
    return CouplingFigure(l1, l2, l3, entries)


def write_coupling_figure(path, data: CouplingFigure) -> Path:
    """One panel per output component k: the (2l1+1) x (2l2+1) matrix C[:, :, k], nonzero cells
    coloured by value and labelled with their exact value, zero cells left white."""
    from matplotlib.colors import Normalize

    n1, n2, n3 = data.shape
    per_row = n3 if n3 <= 5 else 4
    panel_rows = math.ceil(n3 / per_row)
    cell = 0.62 if max(n1, n2) > 3 else 0.85
    figure = _figure(per_row * (n2 * cell + 0.7), panel_rows * (n1 * cell + 0.9) + 0.6)
    limit = max(abs(e.value) for e in data.entries)
    norm = Normalize(-limit, limit)
    for k in range(n3):
        ax = figure.add_subplot(panel_rows, per_row, k + 1)
        grid = np.full((n1, n2), np.nan)
        for e in data.entries:
            if e.k == k:
                grid[e.i, e.j] = e.value
        ax.imshow(np.ma.masked_invalid(grid), cmap="RdBu_r", norm=norm)
        for e in data.entries:
            if e.k == k:
                colour = "white" if abs(e.value) > 0.6 * limit else "black"
                ax.text(e.j, e.i, _pretty(e.exact, width=99), ha="center", va="center", fontsize=7 if max(n1, n2) <= 3 else 5.5, color=colour)
        ax.set_xticks(range(n2))
        ax.set_yticks(range(n1))
        ax.tick_params(labelsize=6)
        ax.set_xticks(np.arange(-0.5, n2), minor=True)
        ax.set_yticks(np.arange(-0.5, n1), minor=True)
        ax.grid(which="minor", color="#cccccc", lw=0.5)
        ax.tick_params(which="minor", length=0)
        count = sum(1 for e in data.entries if e.k == k)
        ax.set_title(f"out[{k}]: {count} terms", fontsize=7)
        ax.set_xlabel("j (index of 2nd input b)", fontsize=6)
        ax.set_ylabel("i (index of 1st input a)", fontsize=6)
    figure.suptitle(
        f"wigner_3j({data.l1}, {data.l2}, {data.l3}): out[k] = sum_ij C[i, j, k] a[i] b[j]; "
        f"{len(data.entries)} nonzero of {data.size} (density {len(data.entries) / data.size:.2f})",
        fontsize=8,
    )
    return _save(figure, path)


# --- `e3gen show` (its argparse wiring lives here to keep cli.py small) ----------------------------------


def configure_show(parser) -> None:
    """Add ``e3gen show sh --lmax L FILE`` and ``e3gen show cg L1 L2 L3 FILE`` to a subparser."""
    kinds = parser.add_subparsers(dest="what", required=True)
    sh = kinds.add_parser("sh", help="the real spherical harmonics on the sphere, in e3nn's order")
    sh.add_argument("--lmax", type=int, required=True, help="largest l to draw (0..6 read well)")
    sh.add_argument("file", help="image to write (PNG, or any extension matplotlib knows)")
    cg = kinds.add_parser("cg", help="a Clebsch-Gordan block's sparsity pattern with its exact values")
    cg.add_argument("l1", type=int)
    cg.add_argument("l2", type=int)
    cg.add_argument("l3", type=int)
    cg.add_argument("file", help="image to write (PNG, or any extension matplotlib knows)")
    parser.set_defaults(run=run_show)


def run_show(args) -> int:
    import sys

    try:
        require_matplotlib()
        if not args.file.strip():  # matplotlib would write ".png" in the current folder
            raise ValueError(f"FILE {args.file!r} is not a file name: give the image to write, e.g. {args.what}.png")
        if args.what == "sh":
            if not 0 <= args.lmax <= 12:
                raise ValueError(f"--lmax must be between 0 and 12, got {args.lmax}")
            data = harmonics_figure_data(args.lmax)
        else:
            for name in ("l1", "l2", "l3"):  # exact derivation: above 12 it runs for minutes or more
                if getattr(args, name) > 12:
                    raise ValueError(f"{name} must be between 0 and 12, got {getattr(args, name)}")
            data = coupling_figure_data(args.l1, args.l2, args.l3)
        write = write_harmonics_figure if args.what == "sh" else write_coupling_figure
        try:
            path = write(args.file, data)
        except ValueError as error:  # matplotlib's, e.g. an unknown format: say which file
            raise ValueError(f"FILE {args.file}: {error}") from None
    except (PlotUnavailable, ValueError) as error:
        print(f"e3gen show {args.what}: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0
