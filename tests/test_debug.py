"""e3gen.debug specified: the report of a correct model is at rounding level everywhere, and a
broken layer (a perturbed Clebsch-Gordan coefficient, a wrong parity) is pointed at by name and l.

Strategy: one small model, Linear -> Gate -> FullyConnectedTensorProduct (with spherical harmonics
of positions) -> Linear, irreps up to l=3, fixed inputs and a fixed group element per seed, so every
number is reproducible. Its tensor product keeps only l <= 3 of the up to l=5 it could make: the
correct model's report is also the answer to "do we lose precision by throwing away higher l?".

Tolerances: the report's own bounds (float64 1e-10, float32 1e-4) for flags, and tighter ones
where the brief promises them: a correct model stays below 1e-12 (float64) and 1e-5 (float32);
e3gen's exact coefficients give ~1e-15 and ~5e-7. A broken coefficient gives errors of the size of
the perturbation times the path's share of the block: 1e-2 -> ~1e-3, 1e-6 -> ~1e-7.
"""

import doctest
import re
import sys
import textwrap
import types

import pytest
import torch

import e3gen.debug
from e3gen import nn, o3
from e3gen.cli import main as cli_main
from e3gen.debug import equivariance_report
from e3gen.debug import cli as debug_cli
from e3gen.debug import probe, recorder, report

# ---------------------------------------------------------------- models under test


class SmallModel(torch.nn.Module):
    """features [N, 3x0e+2x1o+1x2e+1x3o], positions [N, 3] -> [N, 2x0e+1x1o+1x2e+1x3o]."""

    def __init__(self):
        super().__init__()
        self.sh = o3.SphericalHarmonics("0e + 1o + 2e", normalize=True)
        self.lin1 = o3.Linear("3x0e + 2x1o + 1x2e + 1x3o", "8x0e + 2x1o + 1x2e + 1x3o")
        self.gate = nn.Gate("4x0e", [torch.nn.functional.silu], "4x0e", [torch.sigmoid], "2x1o + 1x2e + 1x3o")
        # strategy="dense": the tests below perturb its Clebsch-Gordan tables (the native kernels have theirs compiled in)
        self.tp = o3.FullyConnectedTensorProduct(self.gate.irreps_out, self.sh.irreps_out, "4x0e + 2x1o + 2x2e + 1x3o",
                                                 strategy="dense")
        self.lin2 = o3.Linear(self.tp.irreps_out, "2x0e + 1x1o + 1x2e + 1x3o")
        self.input_specs = (self.lin1.irreps_in, "cartesian_points")

    def forward(self, features, positions):
        # centred positions: translation invariant, so the model is E(3)-equivariant
        edges = self.sh(positions - positions.mean(dim=0))
        return self.lin2(self.tp(self.gate(self.lin1(features)), edges))


def small_model(seed: int = 0):
    """(model, inputs): weights and 8 nodes drawn from ``seed``."""
    torch.manual_seed(seed)
    model = SmallModel()
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(8, model.lin1.irreps_in.dim, generator=generator)
    positions = torch.randn(8, 3, generator=generator)
    return model, (features, positions)


def perturb_clebsch_gordan(tp: o3.TensorProduct, l1: int, l2: int, l_out: int, relative: float) -> None:
    """Scale one nonzero coefficient C_ijk of tp's path l1 x l2 -> l_out by (1 + relative).

    Edits tp's float64 tables in place (see `_group_clebsch_gordan`: [2l2+1, (2l1+1) * columns],
    the path's columns at [k_start, k_stop)) and drops the tables already rounded to other dtypes.
    Fails if tp has no such path, so that a change of TensorProduct's internals cannot make the
    tests below pass on an unperturbed model.
    """
    for group, table in zip(tp._groups, tp._clebsch_gordan_float64):
        if (group.l1, group.l2) != (l1, l2):
            continue
        for step in group.steps:
            if step.l_out == l_out:
                block = table.view(2 * l2 + 1, 2 * l1 + 1, group.columns)[:, :, step.k_start : step.k_stop]
                j, i, k = (block != 0).nonzero()[0].tolist()
                block[j, i, k] *= 1 + relative
                tp._clebsch_gordan.clear()
                return
    raise AssertionError(f"{tp} has no path {l1} x {l2} -> {l_out} to perturb")


class MislabeledHarmonics(torch.nn.Module):
    """Spherical harmonics labelled "0e + 1e + 2e": l=1 is really odd (1o), a classic parity bug."""

    irreps_out = o3.Irreps("0e + 1e + 2e")

    def forward(self, positions):
        return o3.spherical_harmonics("0e + 1o + 2e", positions - positions.mean(dim=0), normalize=True)


class HarmonicsModel(torch.nn.Module):
    """positions [N, 3] -> harmonics (mislabelled) -> Linear to 2x0e + 2x1e + 2x2e."""

    def __init__(self):
        super().__init__()
        self.sh = MislabeledHarmonics()
        self.lin = o3.Linear(self.sh.irreps_out, "2x0e + 2x1e + 2x2e")

    def forward(self, positions):
        return self.lin(self.sh(positions))


def _positions(n: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ---------------------------------------------------------------- a correct model


@pytest.mark.parametrize("seed", [0, 1])
def test_correct_model_is_at_rounding_level_in_every_layer_and_block(seed):
    model, inputs = small_model(seed)
    result = equivariance_report(model, inputs, seed=seed)

    traced = ["sh", "lin1", "gate.act_scalars", "gate.act_gates", "gate", "tp", "lin2"]
    assert result.modules == tuple(traced)  # every irreps-carrying submodule, in the order it returned
    for name in traced:
        module = model.get_submodule(name)
        assert [row.irrep for row in result.rows_of(name)] == [f"{mul}x{ir}" for mul, ir in module.irreps_out]
    assert [row.module for row in result if row.is_input] == ["in[0]"] * 4 + ["in[1]"]  # 4 blocks, then points
    assert {row.l for row in result if not row.is_input} == {0, 1, 2, 3}

    for row in result:
        assert row.err64 < 1e-12, row.where()
        assert row.err32 < 1e-5, row.where()
        assert row.discrepancy < 1e-5, row.where()
        assert row.flags == ()
    summary = result.summary
    assert summary.flagged == ()
    assert summary.first_growth is None
    assert set(summary.by_l) == {0, 1, 2, 3} and all(e64 < 1e-12 and e32 < 1e-5 for e64, e32, _ in summary.by_l.values())
    # the float32 copy really ran in float32: its rounding is visible, far above float64's
    assert max(row.err32 for row in result) > 1e-9 > 1e-13 > max(row.err64 for row in result)


class NormalizedModel(SmallModel):
    """SmallModel followed by a BatchNorm in training mode: its running statistics move on every call."""

    def __init__(self):
        super().__init__()
        self.norm = nn.BatchNorm(self.lin2.irreps_out)

    def forward(self, features, positions):
        return self.norm(super().forward(features, positions))


def test_report_leaves_the_model_and_inputs_as_they_were():
    torch.manual_seed(0)
    model = NormalizedModel()
    _, inputs = small_model(0)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    copies = [x.clone() for x in inputs]

    # BatchNorm has e3nn's `irreps` attribute, not irreps_out: name it
    result = equivariance_report(model, inputs, irreps_of={"norm": model.norm.irreps}, seed=0)

    assert result.modules[-1] == "norm" and result.summary.flagged == ()
    after = model.state_dict()
    assert all(torch.equal(before[name], after[name]) and before[name].dtype == after[name].dtype for name in before)
    assert all(torch.equal(x, copy) for x, copy in zip(inputs, copies))
    assert model.training and next(model.parameters()).dtype == torch.float32


class Square(torch.nn.Module):
    """v [N, 1o] -> tp(y, y) with y = [a v, b v]: its 1e block (the cross products) is zero by symmetry."""

    def __init__(self):
        super().__init__()
        self.lin = o3.Linear("1x1o", "2x1o")
        self.tp = o3.FullyConnectedTensorProduct("2x1o", "2x1o", "1x0e + 1x1e + 1x2e")

    def forward(self, v):
        y = self.lin(v)
        return self.tp(y, y)


def test_a_block_that_is_zero_by_symmetry_is_measured_against_its_output():
    torch.manual_seed(0)
    result = equivariance_report(Square(), torch.randn(6, 3), "1o", seed=0)

    cross = next(row for row in result.rows_of("tp") if row.irrep == "1x1e")
    assert cross.scale < 1e-12 * cross.output_scale  # only rounding is left of it
    # against itself the rounding noise would be "wrong" by far (or infinitely: the float64 block
    # can come out exactly zero, depending on how the product is contracted)
    assert cross.abs_err32 > 0 and cross.abs_err32 > 1e3 * cross.scale
    assert cross.err32 < 1e-5 and cross.err64 < 1e-12  # against its output: rounding
    assert result.summary.flagged == ()


# ---------------------------------------------------------------- broken layers are found


def test_a_perturbed_clebsch_gordan_coefficient_is_found_at_its_layer_and_l():
    model, inputs = small_model(0)
    perturb_clebsch_gordan(model.tp, 1, 1, 2, relative=1e-2)

    result = equivariance_report(model, inputs, seed=0)
    summary = result.summary

    for first in (summary.first_growth64, summary.first_growth32, summary.first_growth):
        assert (first.module, first.l, first.p) == ("tp", 2, 1)
    assert summary.flagged[0] == "tp"  # later layers inherit the error; nothing before tp is flagged
    assert {row.l for row in result.rows_of("tp") if row.flags} == {2}
    assert all(row.l == 2 for row in result.flagged_rows)
    assert summary.worst.l == 2
    tp_l2 = next(row for row in result.rows_of("tp") if row.l == 2)
    assert 1e-4 < tp_l2.err64 < 1e-1 and {"f64", "f32"} <= set(tp_l2.flags)


def test_a_coefficient_with_float32_precision_is_invisible_in_float32_and_caught_in_float64():
    # what a float32-derived Clebsch-Gordan table (a numerical solver, e3nn's float32 buffers) does
    model, inputs = small_model(0)
    perturb_clebsch_gordan(model.tp, 1, 1, 2, relative=1e-6)

    result = equivariance_report(model, inputs, seed=0)
    summary = result.summary

    assert summary.first_growth64.module == "tp" and summary.first_growth64.l == 2
    assert summary.first_growth32 is None
    assert summary.flagged[0] == "tp"
    assert all(row.flags == ("f64",) and row.l == 2 for row in result.flagged_rows)


def test_a_wrong_parity_is_flagged_at_that_block_only():
    model = HarmonicsModel().double()
    result = equivariance_report(model, _positions(), "cartesian_points", seed=0)

    sh = {row.l: row for row in result.rows_of("sh")}
    assert sh[1].p == 1 and "f64" in sh[1].flags and "f32" in sh[1].flags
    assert sh[1].err64 > 0.5  # the sign flips: f(g x) = -D(g) f(x), an error of twice the block
    assert sh[0].flags == () and sh[2].flags == ()
    assert result.summary.first_growth.module == "sh" and result.summary.first_growth.l == 1
    assert result.summary.flagged == ("sh", "lin")
    assert {row.l for row in result.rows_of("lin") if row.flags} == {1}


def test_a_wrong_parity_goes_unseen_without_the_inversion():
    # why the default group element includes the inversion: a proper rotation cannot see parities
    result = equivariance_report(HarmonicsModel(), _positions(), "cartesian_points", seed=0, inversion=False)
    assert result.summary.flagged == ()
    assert torch.det(result.rotation) > 0


def test_non_finite_outputs_are_flagged():
    class Broken(torch.nn.Module):
        irreps_out = o3.Irreps("1x0e + 1x1o")

        def forward(self, x):
            return x / torch.zeros_like(x[..., :1]) * torch.tensor([0.0, 1.0, 1.0, 1.0], dtype=x.dtype)

    result = equivariance_report(Broken(), torch.randn(3, 4), "0e + 1o", seed=0)
    assert all("nan" in row.flags for row in result.rows_of("<model>"))
    assert result.summary.flagged == ("<model>",)


# ---------------------------------------------------------------- what gets traced


def test_irreps_of_traces_modules_without_irreps_out_and_overrides_labels():
    class Scale(torch.nn.Module):
        def forward(self, x):
            return 2 * x

    model = torch.nn.Sequential(o3.Linear("2x1o", "2x1o"), Scale())
    x = torch.randn(4, 6)
    assert equivariance_report(model, x, "2x1o", seed=0).modules == ("0",)  # Sequential has no irreps_out
    assert equivariance_report(model, x, "2x1o", irreps_of={"1": "2x1o"}, seed=0).modules == ("0", "1")
    mislabeled = equivariance_report(model, x, "2x1o", irreps_of={"1": "2x1e"}, seed=0)
    assert mislabeled.summary.flagged == ("1",)
    with pytest.raises(ValueError, match=r"does not have: \['2'\].*'0', '1'"):
        equivariance_report(model, x, "2x1o", irreps_of={"2": "1o"})


def test_repeated_calls_get_their_own_rows_and_the_model_itself_is_traced():
    class Twice(torch.nn.Module):
        irreps_in = o3.Irreps("1x0e + 1x1o")
        irreps_out = o3.Irreps("1x0e + 1x1o")

        def __init__(self):
            super().__init__()
            self.lin = o3.Linear(self.irreps_in, self.irreps_out)

        def forward(self, x):
            return self.lin(self.lin(x))

    result = equivariance_report(Twice(), torch.randn(3, 4), seed=0)  # specs from model.irreps_in
    assert result.modules == ("lin", "lin#1", "<model>")


def test_outputs_that_cannot_be_compared_are_listed_as_skipped():
    class Pair(torch.nn.Module):
        irreps_out = o3.Irreps("1o")

        def forward(self, x):
            return x, x

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.pair, self.lin = Pair(), o3.Linear("1o", "1o")

        def forward(self, x):
            return self.lin(self.pair(x)[0])

    result = equivariance_report(Model(), torch.randn(2, 3), "1o", seed=0)
    assert result.modules == ("lin",)
    assert [name for name, _ in result.skipped] == ["pair"]
    assert "not a tensor" in result.skipped[0][1] and "skipped pair" in str(result)


def test_missing_specs_are_explained():
    with pytest.raises(ValueError, match="input_specs"):
        equivariance_report(torch.nn.Identity(), torch.randn(2, 3))


# ---------------------------------------------------------------- the printed report


def test_the_table_is_fixed_width_and_names_the_broken_layer():
    model, inputs = small_model(0)
    perturb_clebsch_gordan(model.tp, 1, 1, 2, relative=1e-2)
    result = equivariance_report(model, inputs, seed=0)
    table = result.table().splitlines()

    header = table[0]
    assert header.split() == ["#", "module", "type", "irreps", "l", "p", "scale", "err64", "err32", "32v64", "flags"]
    number = re.compile(r"\d\.\de[+-]\d\d")
    for column in ("scale", "err64", "err32", "32v64"):  # right-aligned: every number ends under its title
        end = header.index(column) + len(column)
        assert all(number.fullmatch(line[end - 7 : end]) for line in table[1:]), column
    assert len(table) == 1 + len(result)
    tp_l2 = next(line for line in table if "2x2e" in line and "f64" in line)
    assert "first growth (float64, float32)" in tp_l2

    text = str(result)
    assert "first growth (float64): tp (FullyConnectedTensorProduct) block 2: 2x2e, l=2, p=+1" in text
    assert "flagged: tp, lin2" in text


def test_module_docstrings_run():
    for module in (e3gen.debug, probe, report, recorder, debug_cli):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, module.__name__
    assert doctest.testmod(e3gen.debug).attempted > 0


# ---------------------------------------------------------------- e3gen debug


FACTORY = '''
import torch
from e3gen import o3


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin1 = o3.Linear("2x0e + 2x1o", "1x0e + 2x1o")
        self.lin2 = o3.Linear("2x0e + 2x1o", "1x0e + 2x1o")
        self.tp = o3.FullyConnectedTensorProduct("1x0e + 2x1o", "1x0e + 2x1o", "1x0e + 1x1e + 1x2e")

    def forward(self, x):
        return self.tp(self.lin1(x), self.lin2(x))


def make():
    torch.manual_seed(0)
    return Model(), torch.randn(5, 8), "2x0e + 2x1o"


def make_broken():
    model, x, specs = make()
    model.tp.irreps_out = o3.Irreps("1x0e + 1x1o + 1x2e")  # the cross product is a pseudovector: 1e
    return model, x, specs


def make_wrong():
    return 42
'''


@pytest.fixture
def factory(tmp_path, monkeypatch):
    path = tmp_path / "factory.py"
    path.write_text(textwrap.dedent(FACTORY))
    monkeypatch.setattr(sys, "path", list(sys.path))  # --model may add the file's folder to sys.path
    return path


def test_cli_prints_the_table_of_a_user_model(factory, capsys):
    assert cli_main(["debug", "--model", f"{factory}:make"]) == 0
    out = capsys.readouterr().out
    assert f"model: {factory}:make" in out
    assert re.search(r"^#\s+module\s+type\s+irreps\s+l\s+p\s+scale\s+err64\s+err32\s+32v64\s+flags$", out, re.M)
    assert re.search(r"^\d+\s+lin1\s+Linear\s+1x0e", out, re.M) and re.search(r"^\d+\s+tp\s+FullyConnectedTensorProduct", out, re.M)
    assert "flagged: none" in out


def test_cli_exits_1_and_names_the_flagged_layer(factory, capsys):
    assert cli_main(["debug", "--model", f"{factory}:make_broken", "--seed", "3"]) == 1
    out = capsys.readouterr().out
    assert "flagged: tp" in out and "first growth (float64): tp (FullyConnectedTensorProduct) block 1: 1x1o, l=1" in out


def test_cli_imports_a_dotted_module_from_the_current_folder(factory, capsys, monkeypatch):
    monkeypatch.chdir(factory.parent)
    monkeypatch.delitem(sys.modules, "factory", raising=False)
    assert cli_main(["debug", "--model", "factory:make"]) == 0
    monkeypatch.delitem(sys.modules, "factory", raising=False)


@pytest.mark.parametrize(
    "target, message",
    [
        ("factory", "must be MODULE:FUNCTION"),
        ("{path}:nothing", "has no function 'nothing'"),
        ("{path}:make_wrong", r"must return \(model, inputs, input_specs\)"),
        ("no_such_module_e3gen:make", "cannot import no_such_module_e3gen"),
        ("missing.py:make", "no file missing.py"),
    ],
)
def test_cli_explains_a_bad_model_argument(factory, capsys, target, message):
    assert cli_main(["debug", "--model", target.format(path=factory)]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_cli_says_when_the_demo_model_is_not_available(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "e3gen.examples.tetris", None)  # makes the import fail, merged or not
    assert cli_main(["debug"]) == 2
    err = capsys.readouterr().err
    assert "demo model is not available" in err and "--model module:function" in err


def test_cli_runs_the_demo_model_from_positions_and_index_inputs(capsys, monkeypatch):
    # a stand-in for trained_demo_model's contract: (model, (positions [N, 3], batch [N])), no input_specs
    class Demo(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.sh = o3.SphericalHarmonics("0e + 1o + 2e", normalize=True)
            self.lin = o3.Linear(self.sh.irreps_out, "1x0e + 1x1o + 1x2e")

        def forward(self, positions, batch):
            centre = torch.zeros(int(batch.max()) + 1, 3, dtype=positions.dtype).index_add(0, batch, positions) / 4
            return self.lin(self.sh(positions - centre[batch]))

    calls = []

    def trained_demo_model(seed: int = 0):
        calls.append(seed)
        torch.manual_seed(seed)
        return Demo(), (torch.randn(8, 3), torch.arange(2).repeat_interleave(4))

    examples = types.ModuleType("e3gen.examples")
    tetris = types.ModuleType("e3gen.examples.tetris")
    tetris.trained_demo_model = trained_demo_model
    examples.tetris = tetris
    monkeypatch.setitem(sys.modules, "e3gen.examples", examples)
    monkeypatch.setitem(sys.modules, "e3gen.examples.tetris", tetris)

    assert cli_main(["debug"]) == 0
    out = capsys.readouterr().out
    assert calls == [0]
    assert "in[0]" in out and "points" in out and "in[1]" not in out  # batch: untransformed, no row
    assert "and the points translated" in out and "flagged: none" in out
