"""Deployment paths NequIP's nequip-compile takes: make_fx tracing (AOTInductor mode) and TorchScript.

Properties:
* Tracing with ``make_fx`` (symbolic shapes, forces by autograd inside the trace, as nequip-compile
  does before torch.export) gives the same graph every time, and leaves the layers as they were:
  their per-dtype constant caches hold plain tensors, so eager calls after a trace give the
  numbers they gave before (they used to keep the tracer's fake tensors and return those).
  nequip-compile traces twice, with different sizes, and refuses graphs that differ.
* A graph captured for deployment (torch.export, make_fx on fake tensors) of a layer with
  strategy "auto" holds only Torch ops, none of e3gen's native ops: the exported program runs
  without e3gen (an AOTInductor package in LAMMPS, say). torch.compile keeps the native op.
* ``torch.jit.script(nn.Convolution)`` scripts (products and harmonics become their TorchScript
  twins in a copy; the layer itself is unchanged) and gives the eager values and gradients, also
  after torch.jit.save / load. A Gate without gates (NequIP's last layer) scripts.
Inputs: fixed seeds. Tolerance: float64 to 1e-12 (the twins sum paths in another order), float32
to 1e-5 (single-precision rounding of the same sums).
"""

import copy

import pytest
import torch
from torch.fx.experimental.proxy_tensor import make_fx

from e3gen import nn, o3
from e3gen.native import backend as native_backend
from helpers import random_tensor

TOLERANCE = {torch.float64: 1e-12, torch.float32: 1e-5}


class _EnergyModel(torch.nn.Module):
    """positions [N, 3] -> energy per pair summed, through harmonics, a product and a linear layer."""

    def __init__(self):
        super().__init__()
        self.sh = o3.SphericalHarmonics([0, 1, 2], True, "component")
        self.tp = o3.FullyConnectedTensorProduct("0e + 1o + 2e", "0e + 1o + 2e", "4x0e + 2x1o")
        self.linear = o3.Linear("4x0e + 2x1o", "1x0e")

    def forward(self, pos: torch.Tensor) -> torch.Tensor:
        vectors = (pos[:, None, :] - pos[None, :, :]).reshape(-1, 3) + 0.1
        y = self.sh(vectors)
        return self.linear(self.tp(y, y)).sum()


def _forces(model):
    def forces(pos: torch.Tensor) -> torch.Tensor:
        pos = pos.requires_grad_()
        return -torch.autograd.grad(model(pos), pos)[0]
    return forces


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
def test_make_fx_traces_the_same_graph_twice_and_leaves_eager_results_alone(dtype):
    model = _EnergyModel().to(dtype)
    untraced = copy.deepcopy(model)  # the same layers, never traced (the first trace fills the caches)
    forces = _forces(model)
    small, large = random_tensor(4, 3, seed=1, dtype=dtype), random_tensor(7, 3, seed=2, dtype=dtype)
    graphs = [make_fx(forces, tracing_mode="symbolic", _allow_non_fake_inputs=True)(pos.clone()) for pos in (small, large)]
    assert graphs[0].code == graphs[1].code, "the second trace differs from the first (a constant cached while tracing)"
    cached = [t for cache in (model.sh._steps_by_dtype, model.tp._clebsch_gordan) for ts in cache.values() for t in ts]
    assert cached and all(type(t) is torch.Tensor for t in cached), {type(t).__name__ for t in cached}
    eager_after = forces(small.clone())
    assert type(eager_after) is torch.Tensor
    tol = TOLERANCE[dtype]
    torch.testing.assert_close(eager_after, _forces(untraced)(small.clone()), rtol=0, atol=0)
    for pos in (small, large):  # either graph serves any size
        torch.testing.assert_close(graphs[0](pos.clone()), forces(pos.clone()), rtol=tol, atol=tol)


def _e3gen_ops(graph: torch.fx.Graph) -> list:
    return [str(node.target) for node in graph.nodes if "e3gen" in str(node.target)]


def test_graphs_captured_for_deployment_hold_no_e3gen_op():
    torch.manual_seed(1)
    conv = nn.Convolution("2x0e + 2x1o", "1x0e", "2x0e + 2x1o", irreps_sh=2, r_max=2.0, num_basis=4,
                          radial_hidden=[8]).double()
    assert conv.tp.strategy == "auto" and conv.tp._native_layout is not None, "a layer the native op could run"
    x, attr, edge_index, edge_vec = _graph_inputs(conv, seed=3)
    edge_vec = edge_vec.detach()
    assert native_backend.use_native("auto", conv.tp._native_layout, (x, edge_vec), "test"), "eager calls run the native op"
    assert native_backend.use_native_harmonics("auto", 2, edge_vec, "test"), "eager harmonics run the native op"
    exported = torch.export.export(conv, (x, attr, edge_index, edge_vec), strict=False)
    assert not _e3gen_ops(exported.graph)
    torch.testing.assert_close(exported.module()(x, attr, edge_index, edge_vec), conv(x, attr, edge_index, edge_vec),
                               rtol=1e-12, atol=1e-12)
    traced = make_fx(lambda *a: conv(*a), tracing_mode="symbolic", _allow_non_fake_inputs=True)(x, attr, edge_index, edge_vec)
    assert not _e3gen_ops(traced.graph)


def _graph_inputs(conv, seed):
    n, e = 7, 16
    x = random_tensor(n, conv.irreps_node_input.dim, seed=seed)
    attr = random_tensor(n, conv.irreps_node_attr.dim, seed=seed + 1)
    edge_index = torch.randint(0, n, (2, e), generator=torch.Generator().manual_seed(seed + 2))
    return x, attr, edge_index, (0.7 * random_tensor(e, 3, seed=seed + 3)).requires_grad_()


def _values_and_gradients(module, x, attr, edge_index, edge_vec):
    out = module(x, attr, edge_index, edge_vec)
    return [out, torch.autograd.grad(out.pow(2).sum(), edge_vec)[0]]


def test_scripted_convolution_matches_eager_and_reloads(tmp_path):
    torch.manual_seed(0)
    conv = nn.Convolution("3x0e + 2x1o + 1x2e", "2x0e", "3x0e + 2x1o + 2x1e + 1x2e", irreps_sh=2, r_max=2.0,
                          num_basis=4, radial_hidden=[8], avg_num_neighbors=3.0).double()
    children = dict(conv.named_children())
    scripted = torch.jit.script(conv)
    assert dict(conv.named_children()) == children, "scripting must leave the eager layer's submodules alone"
    torch.jit.save(scripted, tmp_path / "conv.pt")
    inputs = _graph_inputs(conv, seed=5)
    expected = _values_and_gradients(conv, *inputs)
    for module in (scripted, torch.jit.load(tmp_path / "conv.pt")):
        for got, want in zip(_values_and_gradients(module, *inputs), expected):
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_gate_without_gates_scripts():
    gate = nn.Gate("3x0e + 2x0o", [torch.nn.functional.silu, torch.tanh], "", [], "")
    x = random_tensor(4, 5, seed=9)
    torch.testing.assert_close(torch.jit.script(gate)(x), gate(x), rtol=0, atol=0)
