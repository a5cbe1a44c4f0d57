"""Deployment paths: TorchScript twins of the tensor products and harmonics, torch.export.

Property: the scripted twin of a layer (e3gen/o3/_scriptable.py), and a model exported with
torch.export (non-strict), compute what the eager layer computes -- values and input gradients,
float64, to 1e-12 (the twin sums paths in another order) -- also after a save/load round trip.
Inputs: fixed seeds; shapes with two leading dims, per-sample weights where the layer takes them.
"""

import pytest
import torch

from e3gen import nn, o3
from e3gen.o3._scriptable import scriptable_twin
from helpers import random_tensor

pytestmark = pytest.mark.usefixtures("float64_default")

PRODUCTS = {
    "fully connected": lambda: o3.FullyConnectedTensorProduct("2x0e + 3x1o + 2x2e", "0e + 1o + 2e", "3x0e + 2x1o + 2x2e + 1e"),
    "channelwise (per-edge weights)": lambda: o3.channelwise_tensor_product("3x0e + 2x1o + 2x2e", "0e + 1o + 2e + 3o", lmax=3),
    "full": lambda: o3.FullTensorProduct("2x0e + 2x1o", "1o + 2e"),
    "elementwise": lambda: o3.ElementwiseTensorProduct("3x0e + 2x1o", "2x1e + 3x0o"),
    "square": lambda: o3.TensorSquare("3x0e + 2x1o"),
    "square, weighted": lambda: o3.TensorSquare("3x0e + 2x1o", "2x0e + 3x1e + 2x2e"),
    "uuu, uuw": lambda: o3.TensorProduct("2x1o", "2x1o", "2x0e + 1e", [(0, 0, 0, "uuu", True), (0, 0, 1, "uuw", False)]),
    "uvu<v, u<vw": lambda: o3.TensorProduct("3x1o", "3x1o", "3x0e + 4x1e", [(0, 0, 0, "uvu<v", True), (0, 0, 1, "u<vw", True)]),
    "uvv, uvu unweighted": lambda: o3.TensorProduct("3x1o", "2x1o", "2x2e + 3x0e", [(0, 0, 0, "uvv", True), (0, 0, 1, "uvu", False)]),
}


def _inputs(tp, seed):
    x = random_tensor(4, 5, tp.irreps_in1.dim, seed=seed).requires_grad_()
    y = random_tensor(4, 5, tp.irreps_in2.dim, seed=seed + 1).requires_grad_()
    if isinstance(tp, o3.TensorSquare):
        return (x,)
    if tp.shared_weights:
        return (x, y)
    return (x, y, random_tensor(4, 5, tp.weight_numel, seed=seed + 2))


def _values_and_gradients(module, args):
    out = module(*args)
    grads = torch.autograd.grad(out.pow(2).sum(), [a for a in args if a.requires_grad])
    return [out, *grads]


@pytest.mark.parametrize("name", sorted(PRODUCTS))
def test_scripted_tensor_product_twin_matches_eager(name, tmp_path):
    tp = PRODUCTS[name]()
    scripted = torch.jit.script(scriptable_twin(tp))
    args = _inputs(tp, seed=len(name))
    expected = _values_and_gradients(tp, args)
    torch.jit.save(scripted, tmp_path / "tp.pt")
    for module in (scripted, torch.jit.load(tmp_path / "tp.pt")):
        for got, want in zip(_values_and_gradients(module, args), expected):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_scripted_twin_shares_the_weights_and_checks_them():
    tp = o3.FullyConnectedTensorProduct("2x1o", "1o", "0e + 1e")
    scripted = torch.jit.script(scriptable_twin(tp))
    with torch.no_grad():
        tp.weight.mul_(-2.0)  # an update after scripting reaches the twin
    x, y = random_tensor(3, 6, seed=0), random_tensor(3, 3, seed=1)
    torch.testing.assert_close(scripted(x, y), tp(x, y), rtol=1e-12, atol=1e-12)
    external = torch.jit.script(scriptable_twin(o3.channelwise_tensor_product("2x1o", "1o", lmax=2)))
    with pytest.raises(torch.jit.Error, match="external weights"):
        external(x, y)


@pytest.mark.parametrize("normalize", [True, False])
def test_scripted_spherical_harmonics_twin_matches_eager(normalize, tmp_path):
    sh = o3.SphericalHarmonics([0, 1, 2, 3, 1], normalize, "component")
    scripted = torch.jit.script(scriptable_twin(sh))
    torch.jit.save(scripted, tmp_path / "sh.pt")
    x = random_tensor(2, 7, 3, seed=3)
    x[0, 0] = 0.0  # the zero vector: Y^0 only, finite gradients
    x.requires_grad_()
    expected = _values_and_gradients(sh, (x,))
    for module in (scripted, torch.jit.load(tmp_path / "sh.pt")):
        for got, want in zip(_values_and_gradients(module, (x,)), expected):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


class _Block(torch.nn.Module):
    """A small interaction step with each e3gen layer kind (harmonics, linear, product, gate)."""

    def __init__(self):
        super().__init__()
        self.sh = o3.SphericalHarmonics([0, 1, 2], True, "component")
        self.linear = o3.Linear("4x0e", "4x0e + 2x1o")
        self.tp = o3.FullyConnectedTensorProduct("4x0e + 2x1o", "0e + 1o + 2e", "6x0e + 2x1o")
        self.gate = nn.Gate("4x0e", [torch.tanh], "2x0e", [torch.sigmoid], "2x1o")

    def forward(self, features, vectors):
        return self.gate(self.tp(self.linear(features), self.sh(vectors)))


def test_torch_export_non_strict_of_e3gen_layers_reloads_with_the_same_outputs(tmp_path):
    model = _Block()
    args = (random_tensor(6, 4, seed=4), random_tensor(6, 3, seed=5))
    exported = torch.export.export(model, args, strict=False)
    torch.export.save(exported, tmp_path / "block.pt2")
    for program in (exported, torch.export.load(tmp_path / "block.pt2")):
        torch.testing.assert_close(program.module()(*args), model(*args), rtol=1e-12, atol=1e-12)


def test_whole_models_pickle_with_torch_save(tmp_path):
    """torch.save(model) (how MACE saves its models) and torch.load give the same layers back; the
    generated kernel classes the products hold are found again by name."""
    model = _Block()
    model.tp.strategy = "unrolled"  # the strategy that holds the generated autograd Functions
    args = (random_tensor(6, 4, seed=6), random_tensor(6, 3, seed=7))
    torch.save(model, tmp_path / "block.model")
    loaded = torch.load(tmp_path / "block.model", weights_only=False)
    torch.testing.assert_close(loaded(*args), model(*args), rtol=0, atol=0)
