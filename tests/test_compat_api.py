"""e3gen's e3nn namespace has e3nn 0.6.0's module tree, names, signatures and exception types.

The real e3nn 0.6.0 (oracle extra) is imported first and kept; the module fixture then switches
`import e3nn` to e3gen's tree in this process (e3gen.compat.install) and restores the real one
afterwards, so both can be compared name by name.
"""

import copy
import importlib
import pickle
import sys

import pytest
import torch

import e3gen.compat
from e3gen import nn as e3gen_nn
from e3gen import o3 as e3gen_o3

real_e3nn = pytest.importorskip("e3nn", reason="e3nn 0.6.0 is the oracle: pip install e3nn==0.6.0")

# e3nn 0.6.0 names that client packages import from private module paths (MACE 0.3.16, NequIP
# 0.19.1; see /work/shared/CLIENTS.md), and from the public tree.
CLIENT_IMPORTS = [
    ("e3nn", "get_optimization_defaults"), ("e3nn", "set_optimization_defaults"),
    ("e3nn.util.jit", "compile_mode"), ("e3nn.util.jit", "compile"), ("e3nn.util.jit", "script"),
    ("e3nn.util.jit", "trace"), ("e3nn.util.codegen", "CodeGenMixin"), ("e3nn.util.test", "equivariance_error"),
    ("e3nn.util.test", "assert_equivariant"),
    ("e3nn.o3._tensor_product._tensor_product", "TensorProduct"),
    ("e3nn.o3._tensor_product._sub", "FullyConnectedTensorProduct"),
    ("e3nn.o3._tensor_product._instruction", "Instruction"),
    ("e3nn.o3._irreps", "Irreps"), ("e3nn.o3._irreps", "Irrep"), ("e3nn.o3._linear", "Linear"),
    ("e3nn.o3._spherical_harmonics", "SphericalHarmonics"), ("e3nn.o3._wigner", "wigner_3j"),
    ("e3nn.nn._gate", "Gate"), ("e3nn.nn._normact", "NormActivation"), ("e3nn.nn._fc", "_Layer"),
    ("e3nn.nn._fc", "FullyConnectedNet"), ("e3nn.nn._activation", "Activation"),
    ("e3nn.math", "soft_one_hot_linspace"), ("e3nn.math", "normalize2mom"),
]
IO_IMPORTS = [("e3nn.io", "CartesianTensor"), ("e3nn.io._cartesian_tensor", "CartesianTensor")]
PUBLIC_MODULES = ["e3nn.o3", "e3nn.nn", "e3nn.math", "e3nn.io", "e3nn.util", "e3nn.util.codegen"]
# The real e3nn's modules, imported before any switch and kept for comparison.
REAL_MODULES = {name: importlib.import_module(name) for name in sorted(
    {m for m, _ in CLIENT_IMPORTS + IO_IMPORTS} | set(PUBLIC_MODULES) | {"e3nn.util.test"}
)}


@pytest.fixture(scope="module")
def e3nn():
    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if k == "e3nn" or k.startswith("e3nn.")}
    e3gen.compat.install()
    try:
        yield importlib.import_module("e3nn")
    finally:
        e3gen.compat.uninstall()
        for k in [k for k in sys.modules if k == "e3nn" or k.startswith("e3nn.")]:
            del sys.modules[k]
        sys.modules.update(saved)


def test_the_fixture_switched_to_e3gen(e3nn):
    assert e3nn.__version__ == f"0.6.0+e3gen.{e3gen.__version__}" and e3gen.compat.is_active()
    assert e3nn is not real_e3nn


@pytest.mark.parametrize("module, name", CLIENT_IMPORTS + IO_IMPORTS)
def test_what_clients_import_is_there(e3nn, module, name):
    value = getattr(importlib.import_module(module), name)
    real = getattr(REAL_MODULES[module], name)
    assert isinstance(value, type) == isinstance(real, type) and callable(value), (value, real)  # a class where e3nn has one


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_public_name_of_e3nn_is_there(e3nn, module):
    """Every name in real e3nn 0.6.0's __all__ of the module (most come from e3gen's own modules)."""
    real_names = {n if isinstance(n, str) else n.__name__ for n in REAL_MODULES[module].__all__}
    ours = importlib.import_module(module)
    missing = sorted(n for n in real_names if not hasattr(ours, n))
    assert not missing


def test_public_layers_are_e3gens(e3nn):
    from e3nn import nn, o3

    assert o3.TensorProduct is e3gen_o3.TensorProduct and o3.Linear is e3gen_o3.Linear
    assert o3.SphericalHarmonics is e3gen_o3.SphericalHarmonics and nn.Gate is e3gen_nn.Gate
    assert o3.irrep.l1o == e3gen_o3.Irrep("1o") and o3.irrep.l2e == e3gen_o3.Irrep("2e")
    with pytest.raises(AttributeError):
        o3.irrep.x1o


def test_a_missing_name_says_where_it_was_looked_for(e3nn):
    with pytest.raises(AttributeError, match=r"e3nn.o3.*has no attribute 'NoSuchThing'.*e3gen.o3"):
        e3nn.o3.NoSuchThing


# --- exception types: e3nn's, and still ValueError for e3gen's own callers --------------------------


@pytest.mark.parametrize("make, e3nn_type", [
    (lambda: e3gen_o3.TensorProduct("1o", "1o", "0o", [(0, 0, 0, "uuu", False)]), AssertionError),  # forbidden path
    (lambda: e3gen_o3.Linear("1o", "1o", instructions=[(0, 3)]), IndexError),  # instruction index out of range
    (lambda: e3gen_o3.TensorProduct("1o", "1o", "0e", [(0, 5, 0, "uvw", True)]), IndexError),
    (lambda: e3gen_o3.TensorProduct("1o", "1o", "0e", [(0, 0, 0, "xyz", True)]), KeyError),  # unknown mode
    (lambda: e3gen_o3.TensorProduct("1x1o", "1x1o", "1x0e", [(0, 0, 0, "uvw", True)], shared_weights=False)(
        torch.randn(2, 3), torch.randn(2, 3)), RuntimeError),  # called without its required weights
    (lambda: e3gen_o3.Linear("2x1o", "1o", internal_weights=False, shared_weights=False)(torch.randn(6)), RuntimeError),
    (lambda: e3gen_o3.FullyConnectedTensorProduct("1o", "1o", "0e")(torch.randn(4), torch.randn(3)), AssertionError),
])
def test_errors_have_e3nns_type_and_stay_value_errors(make, e3nn_type):
    """Each case raises the type e3nn 0.6.0 raises (checked against e3nn by hand and below)."""
    with pytest.raises(e3nn_type) as caught:
        make()
    assert isinstance(caught.value, ValueError)
    assert str(caught.value).strip("'") and "'" != str(caught.value)[0]  # a message, not KeyError's quoted repr


def test_e3nn_itself_raises_those_types():
    """The oracle for the table above (real e3nn 0.6.0, imported before any switch)."""
    real_o3 = REAL_MODULES["e3nn.o3"]
    with pytest.raises(AssertionError):
        real_o3.TensorProduct("1o", "1o", "0o", [(0, 0, 0, "uuu", False)])
    with pytest.raises(IndexError):
        real_o3.Linear("1o", "1o", instructions=[(0, 3)])
    with pytest.raises(RuntimeError):
        real_o3.TensorProduct("1x1o", "1x1o", "1x0e", [(0, 0, 0, "uvw", True)], shared_weights=False)(
            torch.randn(2, 3), torch.randn(2, 3))


# --- e3nn's keywords and switches ------------------------------------------------------------------


def test_tensor_product_takes_e3nns_codegen_keywords():
    kwargs = dict(compile_left_right=True, compile_right=True, _specialized_code=False, _optimize_einsums=False)
    tp = e3gen_o3.FullyConnectedTensorProduct("2x0e + 1o", "1o", "0e + 1e", **kwargs)
    x, y = torch.randn(5, tp.irreps_in1.dim), torch.randn(5, tp.irreps_in2.dim)
    # right(y) is the matrix of x -> tp(x, y), as in e3nn (which needs compile_right=True for it)
    torch.testing.assert_close(torch.einsum("bi,bij->bj", x, tp.right(y)), tp(x, y))
    e3gen_o3.Linear("1o", "1o", _optimize_einsums=True)


def test_optimization_defaults_behave_as_e3nns(e3nn):
    real = REAL_MODULES["e3nn"]
    real_saved, ours_saved = real.get_optimization_defaults(), e3nn.get_optimization_defaults()
    try:
        assert ours_saved == real_saved
        for change in (dict(jit_script_fx=True), dict(jit_script_fx=False), dict(specialized_code=False, optimize_einsums=False),
                       dict(jit_mode="inductor"), dict(jit_script_fx=True)):
            real.set_optimization_defaults(**change)
            e3nn.set_optimization_defaults(**change)
            assert e3nn.get_optimization_defaults() == real.get_optimization_defaults(), change
        with pytest.raises(ValueError, match="Unknown optimization option"):
            e3nn.set_optimization_defaults(no_such_option=True)
        with pytest.raises(AssertionError, match="Invalid jit_mode"):
            e3nn.set_optimization_defaults(jit_mode="fast")
    finally:
        real._OPT_DEFAULTS.clear(), real._OPT_DEFAULTS.update(real_saved)
        e3nn._OPT_DEFAULTS.clear(), e3nn._OPT_DEFAULTS.update(ours_saved)


# --- e3nn.util: test, jit, codegen -----------------------------------------------------------------


def test_assert_equivariant_with_e3nns_signature(e3nn):
    """e3nn's own call: one Tensor out, irreps given as lists, a dict of errors per (parity, translation)."""
    from e3nn.util.test import assert_equivariant, equivariance_error

    def harmonics(x):
        return e3gen_o3.spherical_harmonics(2, x, normalize=True)

    x = torch.randn(10, 3, dtype=torch.float64)
    errors = assert_equivariant(harmonics, args_in=[x], irreps_in=["1o"], irreps_out=["2e"], tolerance=1e-9)
    assert set(errors) == {(0, False), (1, False)}
    assert all(float(e.max()) < 1e-9 for e in errors.values())
    with pytest.raises(AssertionError, match="equivariance error"):
        assert_equivariant(harmonics, args_in=[x], irreps_in=["1o"], irreps_out=["2o"], tolerance=1e-9)  # wrong parity
    # modules carry their irreps: nothing else to give, as in e3nn
    assert equivariance_error(e3gen_o3.Linear("2x1o + 0e", "1o + 3x0e"), [torch.randn(4, 7)])


def test_jit_compile_mode_and_script(e3nn):
    from e3nn.util.jit import compile_mode, get_compile_mode, script

    @compile_mode("script")
    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.act = e3gen_nn.Activation("4x0e + 2x1o", [torch.tanh, None])
            self.mlp = e3gen_nn.FullyConnectedNet([4, 8, 4], torch.nn.functional.silu)

        def forward(self, x):
            y = self.act(x)
            return torch.cat([self.mlp(y[:, :4]), y[:, 4:]], dim=1)

    assert get_compile_mode(Wrapper()) == "script"
    with pytest.raises(TypeError):
        compile_mode("script")(lambda x: x)
    module, x = Wrapper(), torch.randn(3, 10)
    scripted = script(module)
    assert isinstance(scripted, torch.jit.ScriptModule)
    torch.testing.assert_close(scripted(x), module(x))


def test_codegen_mixin_keeps_its_generated_modules_through_copy_and_pickle(e3nn):
    from e3nn.util.codegen import CodeGenMixin

    class Doubler(CodeGenMixin, torch.nn.Module):
        def __init__(self):
            super().__init__()
            graph = torch.fx.symbolic_trace(lambda x: 2 * x)
            self._codegen_register({"_double": graph})

        def forward(self, x):
            return self._double(x)

    x = torch.randn(3)
    unpickled = Doubler.__new__(Doubler)  # what pickle does; the class itself is local, so not picklable by name
    unpickled.__setstate__(pickle.loads(pickle.dumps(Doubler().__getstate__())))
    for clone in (copy.deepcopy(Doubler()), unpickled):
        torch.testing.assert_close(clone(x), 2 * x)


def test_activation_survives_fx_symbolic_trace():
    """MACE's compile preparation traces nn.Activation with torch.fx; the graph computes the same."""
    act = e3gen_nn.Activation("4x0e + 2x1o + 3x0o", [torch.tanh, None, torch.tanh])
    traced = torch.fx.symbolic_trace(act)
    x = torch.randn(5, act.irreps_in.dim)
    torch.testing.assert_close(traced(x), act(x))
    with pytest.raises(ValueError, match="irreps_in.dim=13"):
        act(torch.randn(5, 12))  # eager keeps its check


def test_jit_compile_of_a_model_with_every_e3gen_layer_kind_reloads(e3nn, tmp_path):
    """e3nn.util.jit.compile (MACE's LAMMPS export, NequIP's compile) scripts a model whose
    products and harmonics are e3gen's: they are swapped for their TorchScript twins."""
    from e3nn.util.jit import compile, compile_mode

    @compile_mode("script")
    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.sh = e3gen_o3.SphericalHarmonics([0, 1, 2], True, "component")
            self.linear = e3gen_o3.Linear("4x0e", "4x0e + 2x1o")
            self.tp = e3gen_o3.FullyConnectedTensorProduct("4x0e + 2x1o", "0e + 1o + 2e", "6x0e + 2x1o")
            self.conv = e3gen_o3.channelwise_tensor_product("6x0e + 2x1o", "0e + 1o + 2e", lmax=2)
            self.radial = e3gen_nn.FullyConnectedNet([1, 8, self.conv.weight_numel], torch.nn.functional.silu)
            self.gate = e3gen_nn.Gate("4x0e", [torch.tanh], "2x0e", [torch.sigmoid], "2x1o")

        def forward(self, features, vectors):
            sh = self.sh(vectors)
            h = self.gate(self.tp(self.linear(features), sh))
            return self.conv(torch.cat([h, h.new_zeros(h.shape[0], 2)], 1), sh, self.radial(vectors.pow(2).sum(1, keepdim=True)))

    torch.manual_seed(0)
    model = Block().double()
    args = (torch.randn(6, 4, dtype=torch.float64), torch.randn(6, 3, dtype=torch.float64))
    expected = model(*args)
    scripted = compile(copy.deepcopy(model))
    assert isinstance(scripted, torch.jit.ScriptModule)
    torch.jit.save(scripted, tmp_path / "model.pt")
    for module in (scripted, torch.jit.load(tmp_path / "model.pt")):
        torch.testing.assert_close(module(*args), expected, rtol=1e-12, atol=1e-12)
