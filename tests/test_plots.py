"""The figures of `e3gen show`, `e3gen bench/debug/demo --plot` (e3gen/plots.py).

Specification: each figure's DATA is what the figure claims (checked against e3gen's own exact tables,
e3nn-order harmonics, the debugger's summary, the training history), every command writes a valid PNG
and says where, and without matplotlib every plotting command stops at once with the install command.
Pixels are not compared.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import sys
from pathlib import Path

import pytest
import sympy
import torch

from e3gen import o3, plots
from e3gen.cli import main

REPO = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path) -> None:
    data = Path(path).read_bytes()
    assert data[:8] == PNG, f"{path} is not a PNG"
    assert len(data) > 1000, f"{path} is only {len(data)} bytes"


def seed_bug():
    """docs/seed_bug.py, the tour's re-enacted e3simple bug (a model whose tp l=2 block is misordered)."""
    spec = importlib.util.spec_from_file_location("seed_bug", REPO / "docs" / "seed_bug.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- show cg ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ls", [(l1, l2, l3) for l1 in range(3) for l2 in range(3) for l3 in range(abs(l1 - l2), l1 + l2 + 1)])
def test_coupling_figure_entries_are_the_nonzero_wigner_3j_entries_exactly(ls):
    """Every drawn cell is a nonzero of e3nn-convention wigner_3j, at its value (float64, 1e-15) and with an
    exact label that sympy evaluates to the same value (1e-15); every nonzero is drawn."""
    data = plots.coupling_figure_data(*ls)
    C = o3.wigner_3j(*ls, dtype=torch.float64)
    assert data.shape == tuple(C.shape)
    assert {(e.i, e.j, e.k) for e in data.entries} == {tuple(ijk) for ijk in C.nonzero().tolist()}
    for e in data.entries:
        assert abs(e.value - C[e.i, e.j, e.k].item()) < 1e-15
        assert abs(float(sympy.sympify(e.exact)) - e.value) < 1e-15


def test_coupling_figure_of_1_1_2_has_the_11_terms_of_the_generated_kernel():
    data = plots.coupling_figure_data(1, 1, 2)
    assert (len(data.entries), data.size) == (11, 45)
    assert {e.exact for e in data.entries} == {"sqrt(10)/10", "-sqrt(10)/10", "sqrt(30)/15", "-sqrt(30)/30"}


def test_coupling_figure_refuses_a_forbidden_triple_by_name():
    with pytest.raises(ValueError, match="l3=5"):
        plots.coupling_figure_data(1, 1, 5)
    with pytest.raises(ValueError, match="l1 must be an integer >= 0"):
        plots.coupling_figure_data(-1, 1, 1)


# --- show sh ---------------------------------------------------------------------------------------------


def test_harmonics_figure_panels_are_e3nn_ordered_component_normalised_and_match_their_formulas():
    """Panels come l by l, index 0..2l (m = index - l); on the unit-vector grid sum_m Y^2 = 2l+1 (component
    normalisation, 1e-12); each panel's values are its printed exact polynomial evaluated there (1e-12)."""
    data = plots.harmonics_figure_data(3, resolution=9)
    assert [(p.l, p.index) for p in data.panels] == [(l, i) for l in range(4) for i in range(2 * l + 1)]
    assert data.points.shape == (9, 18, 3)
    assert abs(torch.from_numpy(data.points).norm(dim=-1) - 1).max() < 1e-12
    assert abs(data.points[0, :, 1] - 1).max() < 1e-12  # the first polar row is the pole: y is up
    x, y, z = sympy.symbols("x y z")
    for l in range(4):
        total = sum(p.values ** 2 for p in data.panels if p.l == l)
        assert abs(total - (2 * l + 1)).max() < 1e-12
    for panel in data.panels:
        f = sympy.lambdify((x, y, z), sympy.sympify(panel.formula), "numpy")
        expected = f(data.points[..., 0], data.points[..., 1], data.points[..., 2]) + 0 * data.points[..., 0]
        assert abs(panel.values - expected).max() < 1e-12, (panel.l, panel.index, panel.formula)
    assert data.panels[1].formula == "sqrt(3)*x" and data.panels[1].m == -1
    assert data.panels[7].formula == "sqrt(15)*y*z" and (data.panels[7].l, data.panels[7].m) == (2, 1)


def test_panel_titles_wrap_a_formula_without_losing_or_repeating_terms():
    formula = "-sqrt(42)*x**3/4 + sqrt(42)*x*y**2 - sqrt(42)*x*z**2/4"
    wrapped = plots._pretty(formula, width=20)
    assert wrapped.splitlines() == ["-√42·x³/4 + √42·x·y²", "- √42·x·z²/4"]
    assert wrapped.replace("\n", " ").replace(" ", "") == "-√42·x³/4+√42·x·y²-√42·x·z²/4"


# --- debug --plot ------------------------------------------------------------------------------------------


def test_debug_figure_data_marks_the_misordered_l2_block_of_tp_as_first_growth():
    """On the tour's seed bug the grid has one row per traced module (inputs excluded), the tp row's l=2 block
    is the first growth in both dtypes with err64 ~1, every l<=1 cell is at rounding (< 1e-12 in float64), and
    cells past a module's last block are NaN (no block)."""
    from e3gen.debug import equivariance_report

    model, x, specs = seed_bug().make()
    report = equivariance_report(model, x, specs, seed=0)
    data = plots.debug_figure_data(report)
    names = [m.split(" (")[0] for m in data.modules]
    assert names == list(report.modules)
    row = names.index("tp")
    assert data.first_growth64 == data.first_growth32
    assert data.first_growth64[0] == row and data.blocks[row][data.first_growth64[1]] == "1x2e"
    assert data.err64[data.first_growth64] > 0.1
    for r, blocks in enumerate(data.blocks):
        for c, irrep in enumerate(blocks):
            if not irrep.endswith(("2e", "2o")):
                assert data.err64[r, c] < 1e-12
        assert all(math.isnan(v) for v in data.err64[r, len(blocks):])
    assert data.bounds == (report.bounds.float64, report.bounds.float32)


def test_debug_figure_data_has_no_first_growth_on_a_correct_model():
    from e3gen.debug import equivariance_report

    model, x, specs = seed_bug().make(seed_order=False)
    data = plots.debug_figure_data(equivariance_report(model, x, specs, seed=0))
    assert data.first_growth64 is None and data.first_growth32 is None
    assert max(v for v in data.err64.ravel() if not math.isnan(v)) < 1e-12


def test_debug_cli_writes_the_heatmap_and_says_where(tmp_path, capsys):
    out = tmp_path / "debug.png"
    assert main(["debug", "--model", f"{REPO / 'docs' / 'seed_bug.py'}:make", "--plot", str(out)]) == 1  # flagged
    assert f"wrote {out}" in capsys.readouterr().out
    assert_png(out)


# --- demo --plot -------------------------------------------------------------------------------------------


def test_train_calls_on_step_once_per_step_with_the_weights_of_that_step():
    """on_step sees the weights the step's loss was computed with: the accuracy it measures on the training
    data equals the history's accuracy of that step."""
    from e3gen.examples import tetris

    torch.manual_seed(0)
    model = tetris.TetrisNetwork()
    inputs, labels = tetris.tetris_data()
    seen = []
    history = tetris.train(model, inputs, labels, steps=4, on_step=lambda m: seen.append(tetris.accuracy(m, inputs, labels)))
    assert seen == [h.accuracy for h in history]


def test_demo_figure_data_is_the_history_and_refuses_a_rotated_curve_of_another_length(tmp_path):
    from e3gen.examples.tetris import TrainingStep

    history = [TrainingStep(1, 2.0, 0.25), TrainingStep(2, 1.0, 0.5)]
    data = plots.demo_figure_data(history, [0.25, 0.5], rotated_copies=16)
    assert (data.steps, data.loss, data.accuracy, data.rotated_accuracy) == ((1, 2), (2.0, 1.0), (0.25, 0.5), (0.25, 0.5))
    with pytest.raises(ValueError, match="one per step"):
        plots.demo_figure_data(history, [0.5])
    assert_png(plots.write_demo_figure(tmp_path / "d.png", data))


def test_demo_cli_writes_the_training_curves(tmp_path, capsys, monkeypatch):
    """The demo with --plot (training shortened to 3 steps: the figure's wiring, not the training, is under
    test here) writes a PNG and prints where."""
    from e3gen.examples import tetris

    monkeypatch.setattr(tetris, "train", functools.partial(tetris.train, steps=3))
    out = tmp_path / "demo.png"
    main(["demo", "--plot", str(out)])  # status 1: 3 steps do not reach 100%
    assert f"wrote {out}" in capsys.readouterr().out
    assert_png(out)


# --- bench --plot ------------------------------------------------------------------------------------------


def test_bench_figure_data_is_the_ratio_to_e3nn_and_the_bound_over_e3nn_time():
    from e3gen.bench import Row

    rows = [Row("a conv", 20000, "fwd", "eager", e3nn=2.0, e3gen=0.5), Row("a conv", 20000, "fwd+bwd", "eager", e3nn=4.0, e3gen=1.0)]
    bars = plots.bench_figure_data(rows, {("a conv", 20000, "fwd"): 0.02})
    assert [(b.ratio, b.bound) for b in bars] == [(0.25, 0.01), (0.25, None)]
    with pytest.raises(ValueError, match="positive"):
        plots.bench_figure_data([Row("x", 1, "fwd", "eager", e3nn=0.0, e3gen=1.0)])


def test_traffic_bytes_reads_inputs_and_writes_outputs_once():
    """Forward: inputs + output, float32; forward+backward: 3 x inputs + 2 x output (the issue's 400 MB
    output of case a at 20,000 edges, and ~28 ms at 42 GB/s)."""
    from e3gen.bench import workloads

    harmonics = workloads()["d"][0]  # lmax 3, 100,000 vectors: 3 in, 16 out
    assert plots.traffic_bytes(harmonics, "fwd") == (3 + 16) * 4 * 100_000
    assert plots.traffic_bytes(harmonics, "fwd+bwd") == (3 * 3 + 2 * 16) * 4 * 100_000
    conv = workloads()["a"][0]
    tp = conv.make(o3)
    per_row_in = tp.irreps_in1.dim + tp.irreps_in2.dim + tp.weight_numel
    assert tp.irreps_out.dim == 4992
    assert plots.traffic_bytes(conv, "fwd") == (per_row_in + 4992) * 4 * 20_000
    assert 0.02 < plots.traffic_bytes(conv, "fwd+bwd") / 42e9 < 0.035
    with pytest.raises(ValueError, match="pass_"):
        plots.traffic_bytes(conv, "bwd")


def test_measure_bandwidth_is_a_positive_rate():
    rate = plots.measure_bandwidth(megabytes=8, repeats=2)
    assert math.isfinite(rate) and rate > 0


def test_bench_cli_writes_the_ratio_figure(tmp_path, capsys):
    import e3nn  # noqa: F401  (the oracle extra, installed in CI: the bench's baseline)

    out = tmp_path / "bench.png"
    assert main(["bench", "--cases", "d", "--backends", "eager", "--repeats", "1", "--small", "--bandwidth", "10",
                 "--plot", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert_png(out)


# --- show, and every drawing function ---------------------------------------------------------------------


def test_show_cli_draws_both_kinds_and_names_a_bad_argument(tmp_path, capsys):
    assert main(["show", "cg", "1", "1", "2", str(tmp_path / "cg.png")]) == 0
    assert main(["show", "sh", "--lmax", "1", str(tmp_path / "sh.png")]) == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'cg.png'}" in out and f"wrote {tmp_path / 'sh.png'}" in out
    assert_png(tmp_path / "cg.png")
    assert_png(tmp_path / "sh.png")
    assert main(["show", "cg", "1", "1", "3", str(tmp_path / "no.png")]) == 2
    assert "l3=3" in capsys.readouterr().err
    assert main(["show", "sh", "--lmax", "2", str(tmp_path / "missing" / "sh.png")]) == 2
    assert "create" in capsys.readouterr().err and not (tmp_path / "missing").exists()


def test_write_debug_and_bench_figures_write_pngs(tmp_path):
    from e3gen.bench import Row
    from e3gen.debug import equivariance_report

    model, x, specs = seed_bug().make()
    assert_png(plots.write_debug_figure(tmp_path / "d.png", plots.debug_figure_data(equivariance_report(model, x, specs, seed=0))))
    rows = [Row("c", 10, "fwd", "eager", 1.0, 0.5), Row("c", 10, "fwd", "compiled", 1.0, 2.0)]
    assert_png(plots.write_bench_figure(tmp_path / "b.png", plots.bench_figure_data(rows, {("c", 10, "fwd"): 0.1})))
    with pytest.raises(ValueError, match="no benchmark rows"):
        plots.write_bench_figure(tmp_path / "e.png", [])


# --- without matplotlib -------------------------------------------------------------------------------------


def test_without_matplotlib_every_plot_command_stops_first_with_the_install_command(tmp_path, capsys, monkeypatch):
    """A missing matplotlib is reported before any work (the demo would otherwise train first), exit 2."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(plots.PlotUnavailable, match=r"pip install 'e3gen\[plot\]'"):
        plots.require_matplotlib()
    from e3gen.examples import tetris

    monkeypatch.setattr(tetris, "train_demo", lambda *a, **k: pytest.fail("the demo trained before checking matplotlib"))
    for argv in (["show", "cg", "1", "1", "2", str(tmp_path / "x.png")], ["demo", "--plot", str(tmp_path / "x.png")],
                 ["debug", "--plot", str(tmp_path / "x.png")],
                 ["bench", "--cases", "d", "--plot", str(tmp_path / "x.png")]):
        assert main(argv) == 2, argv
        assert "pip install 'e3gen[plot]'" in capsys.readouterr().err, argv
    assert not (tmp_path / "x.png").exists()
