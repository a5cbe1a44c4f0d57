"""e3gen.testing is itself specified here: its strategies draw what they promise, assert_equivariant
passes equivariant functions (harmonics, Clebsch-Gordan, forces of positions, message passing)
and fails broken ones with a message naming the output, block, l and group element at fault, and
`pytest --e3gen-seed N` repeats a run.

Tolerances: equivariant functions are checked at the float64 default (rtol 1e-9, their errors
are ~1e-15 relative); broken ones fail by O(1) relative errors.
"""

import doctest
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import hypothesis._settings
import pytest
import torch
from hypothesis import find, given
from hypothesis import strategies as st

import e3gen.testing
from e3gen import o3
from e3gen.runtime.loader import load_kernels
from e3gen.testing import (
    CARTESIAN_POINTS,
    assert_equivariant,
    equivariance_error,
    irreps,
    irreps_tensors,
    o3_elements,
    rotations,
)
from e3gen.testing import equivariance, group, report, specs, strategies
from e3gen.testing.strategies import DRAWN_LIMIT


# ---------------------------------------------------------------- functions under test


def harmonics(x):
    """0e + 1o + 2e of vectors [..., 3]: equivariant."""
    return o3.spherical_harmonics("0e + 1o + 2e", x, True)


def swapped_harmonics(x):
    """As `harmonics`, but two components of the l=2 block swapped: not equivariant, at l=2 only."""
    return harmonics(x)[..., [0, 1, 2, 3, 5, 4, 6, 7, 8]]


def pair_energy(pos):
    """A Lennard-Jones-like energy of positions [n, 3]: invariant under rotations and translations."""
    r2 = torch.cdist(pos, pos).pow(2) + torch.eye(len(pos), dtype=pos.dtype)  # the diagonal would be 0
    return (1 / r2**3 - 1 / r2**2).sum().reshape(1)


def energy_and_forces(pos):
    """(energy [1], forces [n, 3] = -dE/dpos): 0e and 1o, both translation invariant."""
    pos = pos.detach().requires_grad_()
    energy = pair_energy(pos)
    (grad,) = torch.autograd.grad(energy.sum(), pos)
    return energy.detach(), -grad


def moved_positions(pos):
    """Positions after a small step along the forces: cartesian points (rotate and translate)."""
    return pos + 1e-3 * energy_and_forces(pos)[1]


def centered_positions(pos):
    """Positions minus their mean: rotate like points but do not translate, i.e. vectors (1o)."""
    return pos - pos.mean(dim=0)


def origin_energy(pos):
    """sum |x|^2: rotation invariant, not translation invariant."""
    return pos.pow(2).sum().reshape(1)


POSITIONS = torch.tensor([[0.0, 0.0, 0.0], [1.1, 0.2, -0.3], [-0.4, 1.3, 0.5], [0.6, -0.7, 1.2]], dtype=torch.float64)


# ---------------------------------------------------------------- strategies


@given(data=st.data())
def test_irreps_strategy_respects_its_bounds(data):
    lmax = data.draw(st.integers(0, 4), label="lmax")
    min_l = data.draw(st.integers(0, lmax), label="min_l")
    max_mul = data.draw(st.integers(1, 5), label="max_mul")
    min_terms = data.draw(st.integers(0, 3), label="min_terms")
    max_terms = data.draw(st.integers(min_terms, 5), label="max_terms")
    parities = data.draw(st.lists(st.sampled_from("eoy"), min_size=1, max_size=3, unique=True), label="parities")
    allow_zero_mul = data.draw(st.booleans(), label="allow_zero_mul")

    ir = data.draw(irreps(lmax, min_l=min_l, max_mul=max_mul, min_terms=min_terms, max_terms=max_terms,
                          parities=parities, allow_zero_mul=allow_zero_mul), label="irreps")  # fmt: skip

    assert isinstance(ir, o3.Irreps) and min_terms <= len(ir) <= max_terms
    allowed_parities = {("e", 1), ("o", -1)}
    for mul, (l, p) in ir:
        assert min_l <= l <= lmax
        assert (0 if allow_zero_mul else 1) <= mul <= max_mul
        assert any((letter == "y" and p == (-1) ** l) or (letter, p) in allowed_parities for letter in parities)


def test_irreps_strategy_shrinks_to_one_small_term_and_can_ask_for_scalars_or_l_ge_1():
    assert find(irreps(), lambda ir: True) == o3.Irreps("1x0e")
    assert find(irreps(min_l=1, parities=("y",)), lambda ir: True) == o3.Irreps("1x1o")
    assert find(irreps(lmax=0, parities=("e",)), lambda ir: ir.dim >= 3).is_scalar()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(lmax=1, min_l=2), "min_l <= lmax"),
        (dict(max_mul=0), "max_mul >= 1"),
        (dict(min_terms=3, max_terms=2), "min_terms <= max_terms"),
        (dict(parities=("x",)), "parities"),
    ],
)
def test_irreps_strategy_refuses_impossible_bounds_when_called(kwargs, message):
    with pytest.raises(ValueError, match=message):
        irreps(**kwargs)


BATCHES = st.one_of(st.integers(0, 4), st.tuples(st.integers(1, 3), st.integers(0, 3)), st.just(st.integers(1, 3)))


@given(
    ir=irreps(lmax=3, max_terms=3),
    batch=BATCHES,
    dtype=st.sampled_from([torch.float64, torch.float32]),
    max_abs=st.sampled_from([1e-3, 1.0, 10.0]),
    values=st.sampled_from(["auto", "drawn", "seeded"]),
    data=st.data(),
)
def test_irreps_tensors_have_the_promised_shape_dtype_and_bounds(ir, batch, dtype, max_abs, values, data):
    x = data.draw(irreps_tensors(ir, batch, dtype=dtype, max_abs=max_abs, values=values), label="x")
    assert x.dtype == dtype and x.shape[-1] == ir.dim
    if isinstance(batch, int):
        assert x.shape == (batch, ir.dim)
    elif isinstance(batch, tuple):
        assert x.shape == (*batch, ir.dim)
    else:  # drawn from st.integers(1, 3)
        assert x.dim() == 2 and 1 <= x.shape[0] <= 3
    assert torch.isfinite(x).all() and (x.abs() <= max_abs).all()


def test_irreps_tensors_fill_large_tensors_from_a_seed():
    # 100 x 9 entries would overflow hypothesis's choice buffer if every entry were drawn.
    big = find(irreps_tensors("0e + 1o + 2e", batch=100), lambda x: True)
    assert big.numel() > DRAWN_LIMIT
    assert 0.8 < big.std().item() < 1.2  # standard-normal noise, not a shrunk all-zero tensor
    small = find(irreps_tensors("0e + 1o + 2e", batch=4), lambda x: True)
    assert torch.equal(small, torch.zeros(4, 9, dtype=torch.float64))  # drawn entries shrink to 0


def test_irreps_tensors_refuse_bad_arguments():
    with pytest.raises(ValueError, match="batch must be"):
        irreps_tensors("1o", batch=(2, -1))
    with pytest.raises(ValueError, match="values must be"):
        irreps_tensors("1o", values="gaussian")
    with pytest.raises(ValueError, match="max_abs > 0"):
        irreps_tensors("1o", max_abs=0.0)


@given(
    R=o3_elements(),
    proper=rotations(),
    no_inversion=o3_elements(inversion=False),
    R32=o3_elements(dtype=torch.float32),
)
def test_group_elements_are_orthogonal_with_det_plus_or_minus_one(R, proper, no_inversion, R32):
    eye = torch.eye(3, dtype=torch.float64)
    torch.testing.assert_close(R @ R.T, eye, rtol=0, atol=1e-14)
    assert abs(abs(torch.det(R).item()) - 1) < 1e-14
    assert abs(torch.det(proper).item() - 1) < 1e-14
    assert abs(torch.det(no_inversion).item() - 1) < 1e-14
    assert R32.dtype == torch.float32 and abs(abs(torch.det(R32).item()) - 1) < 1e-5


def test_o3_elements_include_improper_ones():
    assert torch.det(find(o3_elements(), lambda R: torch.det(R) < 0)) < 0


# ---------------------------------------------------------------- equivariant functions pass


def test_harmonics_pass_with_one_row_per_case_and_block():
    errors = assert_equivariant(harmonics, "1o", "0e + 1o + 2e", seed=0)
    assert [(row.case, row.output, row.block, row.l) for row in errors] == [
        (case, "out", block, block) for case in ("rotation", "rotation+inversion") for block in range(3)
    ]
    assert errors.passed and not errors.failures
    assert max(row.relative for row in errors) < 1e-13  # exact coefficients: rounding only
    assert "rotation+inversion  out" in str(errors)  # the table, for logs


@pytest.mark.parametrize("l1,l2,l3", [(1, 1, 0), (1, 1, 1), (1, 2, 3), (2, 2, 2), (3, 3, 1)])
def test_clebsch_gordan_kernels_pass_with_two_inputs(l1, l2, l3):
    ir1, ir2, ir3 = o3.Irrep(l1, -1), o3.Irrep(l2, 1), o3.Irrep(l3, -1)  # parities multiply
    kernel = load_kernels(3).coupling_kernel(l1, l2, l3)
    errors = assert_equivariant(kernel, [ir1, ir2], ir3, seed=l1 + 10 * l2 + 100 * l3, batch=(3, 2))
    assert max(row.relative for row in errors) < 1e-13


def test_energy_and_forces_of_positions_pass_rotation_inversion_and_translation():
    errors = assert_equivariant(energy_and_forces, CARTESIAN_POINTS, ("0e", "1o"), inputs=POSITIONS, seed=1)
    assert {row.case for row in errors} == {"rotation", "rotation+inversion", "translation"}
    assert {row.output for row in errors} == {"out[0]", "out[1]"}
    assert errors.translation is not None and errors.translation.norm() > 0


def test_dict_inputs_and_outputs_with_untransformed_index_tensors():
    edge_index = torch.tensor([[0, 1, 2, 3, 1], [1, 2, 3, 0, 3]])

    def message_passing(pos, edge_index, cutoff):
        src, dst = edge_index
        sh = o3.spherical_harmonics("0e + 1o + 2e", pos[dst] - pos[src], True, "component")
        nodes = torch.zeros(len(pos), 9, dtype=pos.dtype).index_add(0, dst, sh)
        return {"nodes": nodes, "edge_index": edge_index, "n_edges": torch.tensor([len(src)])}

    errors = assert_equivariant(
        message_passing,
        {"pos": CARTESIAN_POINTS, "edge_index": None, "cutoff": None},
        {"nodes": "0e + 1o + 2e", "edge_index": None, "n_edges": None},
        inputs={"pos": POSITIONS, "edge_index": edge_index, "cutoff": 5.0},
        seed=2,
    )
    assert {row.output for row in errors} == {"out['nodes']", "out['edge_index']", "out['n_edges']"}
    assert {row.irrep for row in errors if row.output == "out['edge_index']"} == {"untransformed"}


def test_positions_output_must_translate_and_centered_positions_are_vectors():
    assert_equivariant(moved_positions, CARTESIAN_POINTS, CARTESIAN_POINTS, inputs=POSITIONS, seed=3)
    assert_equivariant(centered_positions, CARTESIAN_POINTS, "1o", inputs=POSITIONS, seed=3)
    with pytest.raises(AssertionError, match=r"out \(cartesian_points\) under translation"):
        assert_equivariant(centered_positions, CARTESIAN_POINTS, CARTESIAN_POINTS, inputs=POSITIONS, seed=3)


def test_inputs_keep_requires_grad_and_are_not_modified():
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    before = x.detach().clone()
    seen = []

    def scaled(v):
        seen.append(v.requires_grad)
        out = 2 * v
        v.data.zero_()  # a function that mutates its input must not corrupt the test or the caller
        return out

    assert_equivariant(scaled, "1o", "1o", inputs=x, seed=4)
    assert seen == [True, True, True] and torch.equal(x.detach(), before)


def test_float32_functions_pass_at_the_float32_default():
    errors = assert_equivariant(harmonics, "1o", "0e + 1o + 2e", dtype=torch.float32, seed=5)
    assert errors.rtol == equivariance.DEFAULT_RTOL[torch.float32] == 1e-4
    assert max(row.relative for row in errors) < 1e-5


def test_a_given_float32_rotation_is_made_orthogonal_in_float64():
    R32 = o3.rand_matrix(dtype=torch.float32)  # orthogonal only to ~1e-7
    errors = assert_equivariant(harmonics, "1o", "0e + 1o + 2e", rotation=R32, seed=6, atol=1e-12, rtol=0)
    assert errors.rotation.dtype == torch.float64
    torch.testing.assert_close(errors.rotation @ errors.rotation.T, torch.eye(3, dtype=torch.float64), rtol=0, atol=1e-14)
    with pytest.raises(ValueError, match="must be orthogonal"):
        assert_equivariant(harmonics, "1o", "0e + 1o + 2e", rotation=2 * torch.eye(3), seed=6)


# ---------------------------------------------------------------- broken functions fail, and say where


def test_swapped_l2_components_fail_naming_the_l2_block():
    with pytest.raises(AssertionError) as failure:
        assert_equivariant(swapped_harmonics, "1o", "0e + 1o + 2e", seed=7)
    message = str(failure.value)
    assert re.search(r"worst is out block 2 \(1x2e, l=2, p=\+1\) under rotation", message), message
    assert "seed: 7" in message and "R = [[" in message
    errors = equivariance_error(swapped_harmonics, "1o", "0e + 1o + 2e", seed=7)
    assert {row.l for row in errors.failures} == {2}  # l=0 and l=1 blocks are fine
    assert {row.case for row in errors.failures} == {"rotation", "rotation+inversion"}
    assert all(row.relative > 1e-2 for row in errors.failures)
    assert message.count("FAIL") == 2  # the table marks exactly the failing rows


def test_wrong_parity_fails_only_under_inversion():
    cross = lambda x, y: torch.cross(x, y, dim=-1)  # noqa: E731 - a pseudovector, 1e
    assert_equivariant(cross, ["1o", "1o"], "1e", seed=8)
    with pytest.raises(AssertionError, match=r"worst is out block 0 \(1x1o, l=1, p=-1\) under rotation\+inversion"):
        assert_equivariant(cross, ["1o", "1o"], "1o", seed=8)
    errors = equivariance_error(cross, ["1o", "1o"], "1o", seed=8)
    assert [row.case for row in errors.failures] == ["rotation+inversion"]


def test_a_translation_dependent_energy_fails_only_under_translation():
    with pytest.raises(AssertionError, match=r"worst is out block 0 \(1x0e, l=0, p=\+1\) under translation"):
        assert_equivariant(origin_energy, CARTESIAN_POINTS, "0e", inputs=POSITIONS, seed=9)
    assert_equivariant(origin_energy, CARTESIAN_POINTS, "0e", inputs=POSITIONS, seed=9, translation=False)
    with pytest.raises(AssertionError, match=r"translation: t = \[\+1\.000000, -2\.000000, \+0\.500000\]"):
        assert_equivariant(origin_energy, CARTESIAN_POINTS, "0e", inputs=POSITIONS, translation=torch.tensor([1, -2, 0.5]), seed=9)


def test_the_broken_one_of_several_outputs_is_named():
    def energy_and_wrong_forces(pos):
        energy, forces = energy_and_forces(pos)
        return {"energy": energy, "forces": forces[..., [1, 0, 2]]}

    with pytest.raises(AssertionError, match=r"worst is out\['forces'\] block 0 \(1x1o, l=1, p=-1\)"):
        assert_equivariant(energy_and_wrong_forces, CARTESIAN_POINTS, {"energy": "0e", "forces": "1o"},
                           inputs=POSITIONS, seed=10)  # fmt: skip


def test_nan_outputs_fail():
    errors = equivariance_error(lambda x: x / 0 * 0, "1o", "1o", seed=11)  # 0/0 = nan
    assert not errors.passed and errors.worst.error != errors.worst.error


def test_the_tolerance_is_relative_to_the_output_scale():
    def slightly_broken(x, size):
        return size * (harmonics(x) + 1e-7 * x.sum(-1, keepdim=True))  # 1e-7 of invariant leakage

    for size in (1e-6, 1.0, 1e6):
        fn = lambda x: slightly_broken(x, size)  # noqa: E731
        errors = equivariance_error(fn, "1o", "0e + 1o + 2e", seed=12)
        assert not errors.passed  # 1e-7 relative > 1e-9
        assert 1e-9 < errors.worst.relative < 1e-5  # the same relative error at every size
        assert equivariance_error(fn, "1o", "0e + 1o + 2e", seed=12, rtol=1e-5).passed
        assert equivariance_error(fn, "1o", "0e + 1o + 2e", seed=12, rtol=0, atol=size * 1e-5).passed


# ---------------------------------------------------------------- reproducibility and usage errors


def test_a_seed_repeats_the_draw_and_no_seed_follows_torch_global_rng():
    first = equivariance_error(harmonics, "1o", "0e + 1o + 2e", seed=13)
    again = equivariance_error(harmonics, "1o", "0e + 1o + 2e", seed=13)
    other = equivariance_error(harmonics, "1o", "0e + 1o + 2e", seed=14)
    assert torch.equal(first.rotation, again.rotation) and first.rows == again.rows
    assert not torch.equal(first.rotation, other.rotation)

    torch.manual_seed(15)
    a = equivariance_error(harmonics, "1o", "0e + 1o + 2e")
    torch.manual_seed(15)
    b = equivariance_error(harmonics, "1o", "0e + 1o + 2e")
    assert a.seed == b.seed and torch.equal(a.rotation, b.rotation)


@given(x=irreps_tensors("1o", batch=3))
def test_inside_hypothesis_random_group_elements_must_be_drawn(x):
    with pytest.raises(ValueError, match=r"inside a hypothesis test.*rotation=R"):
        assert_equivariant(harmonics, "1o", "0e + 1o + 2e", inputs=x)


@given(R=rotations(), x=irreps_tensors("1o", batch=3), seed=st.integers(0, 2**32 - 1))
def test_inside_hypothesis_drawn_rotation_and_seed_are_enough(R, x, seed):
    errors = assert_equivariant(harmonics, "1o", "0e + 1o + 2e", inputs=x, rotation=R)
    torch.testing.assert_close(errors.rotation, R, rtol=0, atol=1e-15)
    assert_equivariant(moved_positions, CARTESIAN_POINTS, CARTESIAN_POINTS, inputs=POSITIONS, rotation=R, seed=seed)


def test_args_in_is_e3nns_name_for_a_list_of_inputs():
    x, y = torch.randn(2, 4, 3, dtype=torch.float64)
    cross = lambda a, b: torch.cross(a, b, dim=-1)  # noqa: E731
    assert_equivariant(cross, irreps_in=["1o", "1o"], irreps_out="1e", args_in=[x, y], seed=16)
    with pytest.raises(ValueError, match="give the inputs once"):
        assert_equivariant(cross, ["1o", "1o"], "1e", args_in=[x, y], inputs=[x, y], seed=16)


@pytest.mark.parametrize(
    "irreps_in, irreps_out, kwargs, message",
    [
        (["1o", "2e"], "1o", dict(inputs=[torch.zeros(2, 3), torch.zeros(2, 3)]), r"in\[1\] \(1x2e\) must be a tensor of shape \[\.\.\., 5\], got shape \(2, 3\)"),
        ("1o", ["1o", "0e"], {}, r"fn's outputs must be a tuple or list of 2 values"),
        ("1o", "2e", {}, r"fn's out \(1x2e\) must be a tensor of shape \[\.\.\., 5\], got shape \(4, 3\)"),
        ({"x": "1o", "i": None}, "1o", {}, r"cannot generate in\['i'\]: its spec is None"),
        ("1o", "3q", {}, r"the spec of out must be irreps"),
        ("1o", "1o", dict(dtype=torch.int64), r"no default tolerance for dtype torch.int64"),
        ("1o", "1o", dict(translation=torch.ones(3)), r"a translation was given, but no input is 'cartesian_points'"),
    ],
)
def test_usage_errors_name_the_value_at_fault(irreps_in, irreps_out, kwargs, message):
    identity = lambda *args, **kw: args[0] if args else kw["x"]  # noqa: E731
    with pytest.raises(ValueError, match=message):
        assert_equivariant(identity, irreps_in, irreps_out, seed=17, **kwargs)


def test_the_reference_example_runs():
    reference = (Path(__file__).resolve().parents[1] / "REFERENCE.md").read_text()
    (example,) = [block for block in re.findall(r"```python\n(.+?)```", reference, flags=re.S) if "assert_equivariant" in block]
    exec(compile(example, "REFERENCE.md", "exec"), {})


@pytest.mark.parametrize("module", [e3gen.testing, equivariance, group, report, specs, strategies])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


# ---------------------------------------------------------------- the pytest plugin

_DRAWS = """
    import json, os
    from hypothesis import given, settings, strategies as st

    @settings(database=None, max_examples=5)
    @given(st.integers(0, 10**9))
    def test_draws(n):
        with open(os.environ["DRAWS_FILE"], "a") as f:
            f.write(json.dumps({"hypothesis": n}) + "\\n")
"""

_TORCH = """
    import json, os
    import torch

    def test_torch_is_seeded():
        with open(os.environ["DRAWS_FILE"], "a") as f:
            f.write(json.dumps({"torch_seed": torch.initial_seed(), "torch": torch.rand(2).tolist()}) + "\\n")

    def test_fails():
        assert False
"""


# Hypothesis loads its derandomized "ci" profile by itself when one of these is set; the runs below
# start without them, so that they behave the same here and in CI. Read from hypothesis (a private
# name, hence the fallback) so that the list follows the installed version.
_CI_VARIABLES = tuple(getattr(hypothesis._settings, "_CI_VARS", ("CI", "GITHUB_ACTIONS", "GITLAB_CI")))


def _run_pytest(tmp_path, extra_env=None, **runs):
    """Run pytest on tmp_path/test_*.py once per ``name=[args]``, in fresh processes started together.

    The processes get this environment without pytest's options, plugin switches and CI variables,
    plus ``extra_env``. Returns {name: (draws, output)}; the runs are independent, so they overlap
    (each spends ~2 s importing hypothesis and torch).
    """
    dropped = ("PYTEST_ADDOPTS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD", *_CI_VARIABLES)
    env = {k: v for k, v in os.environ.items() if k not in dropped} | (extra_env or {})
    started = {}
    for name, args in runs.items():
        draws = tmp_path / f"{name}.jsonl"
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rN", *args]
        process = subprocess.Popen(command, cwd=tmp_path, env={**env, "DRAWS_FILE": str(draws)},
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
        started[name] = (process, draws)
    results = {}
    for name, (process, draws) in started.items():
        output, _ = process.communicate(timeout=120)
        lines = draws.read_text().splitlines() if draws.exists() else []
        results[name] = ([json.loads(line) for line in lines], output)
    return results


def test_e3gen_seed_repeats_hypothesis_and_torch_draws_and_is_printed(tmp_path):
    (tmp_path / "test_draws.py").write_text(textwrap.dedent(_DRAWS))
    (tmp_path / "test_torch.py").write_text(textwrap.dedent(_TORCH))
    runs = _run_pytest(tmp_path, first=["--e3gen-seed", "123"], second=["--e3gen-seed", "123"],
                       other=["--e3gen-seed", "124", "test_draws.py"])  # fmt: skip
    (first, out), (second, _), (other, other_out) = runs["first"], runs["second"], runs["other"]
    assert first == second and len(first) == 6  # 5 hypothesis examples and the torch record
    assert {"torch_seed": 123, "torch": first[-1]["torch"]} == first[-1]
    assert other != first[:-1]  # another seed, other draws: the comparison above can fail
    assert "e3gen: seed 123 (--e3gen-seed): torch.manual_seed(123) before each test, hypothesis seed 123" in out
    assert "reproduce with: pytest test_torch.py::test_fails --e3gen-seed 123" in out
    assert "e3gen: repeat this run with --e3gen-seed 123" in out
    assert "e3gen: repeat this run" not in other_out  # nothing failed there


def test_seed_precedence_and_a_printed_random_seed_repeats_the_run(tmp_path):
    (tmp_path / "test_draws.py").write_text(textwrap.dedent(_DRAWS))
    runs = _run_pytest(tmp_path, alone=["--hypothesis-seed", "123"], random=[],
                       both=["--e3gen-seed", "5", "--hypothesis-seed", "123"])  # fmt: skip

    # --hypothesis-seed alone: hypothesis's own seed, used for torch too, so --e3gen-seed 123 repeats it.
    alone, out = runs["alone"]
    assert "e3gen: seed 123 (--hypothesis-seed): torch.manual_seed(123)" in out
    assert "repeat with --e3gen-seed 123" in out

    # Both: --hypothesis-seed wins for hypothesis (the same draws as above, not those of seed 5);
    # --e3gen-seed still seeds torch; both are printed.
    both, out = runs["both"]
    assert both == alone
    assert "e3gen: seed 5 (--e3gen-seed): torch.manual_seed(5) before each test, hypothesis seed 123" in out
    assert "repeat with --e3gen-seed 5 --hypothesis-seed 123" in out

    # Neither: a random seed, printed; passing it back repeats the run.
    random_run, out = runs["random"]
    seed = re.search(r"e3gen: seed (\d+) \(random\)", out)
    assert seed, out
    repeated, _ = _run_pytest(tmp_path, repeated=["--e3gen-seed", seed.group(1)])["repeated"]
    assert repeated == random_run


def test_a_derandomized_profile_wins_over_the_seed_and_the_header_says_so(tmp_path):
    # CI=true makes hypothesis load its own "ci" profile (derandomize=True), as on a CI service.
    (tmp_path / "test_draws.py").write_text(textwrap.dedent(_DRAWS))
    ci = dict(CI="true")
    runs = _run_pytest(tmp_path, extra_env=ci, first=["--e3gen-seed", "123"], other=["--e3gen-seed", "124"])
    (first, out), (other, _) = runs["first"], runs["other"]
    assert len(first) == 5 and first == other  # derandomized: the same draws whatever the seed
    assert "e3gen: hypothesis profile 'ci' sets derandomize=True, which wins over any seed" in out

    # The header's way out: another profile, and the seed chooses the draws again.
    seeded = _run_pytest(tmp_path, extra_env=ci, **{str(n): ["--e3gen-seed", str(n), "--hypothesis-profile", "default"]
                                                   for n in (123, 124)})  # fmt: skip
    (draws_123, out_123), (draws_124, _) = seeded["123"], seeded["124"]
    assert len(draws_123) == 5 and draws_123 != draws_124
    assert "sets derandomize=True" not in out_123
