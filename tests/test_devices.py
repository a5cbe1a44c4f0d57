"""Every layer on every device present and in float32: the numbers and input gradients of float64 on the CPU.

Each case builds a layer in float64 on the CPU (the reference), moves a copy with `.to(device, dtype)`,
and runs both on the same inputs. The copy's outputs and gradients must stay on its device and dtype
and agree with the reference: to 1e-10 relative in float64 (only summation order differs, on CUDA)
and 1e-4 relative in float32 (rounding, ~1e-7). CUDA is tried where a device is present; on the CPU,
the float32 runs check that no table, buffer or cache stays in the dtype it was first made in.
"""

import copy
import math

import pytest
import torch

from helpers import random_tensor

from e3gen import math as e3math
from e3gen import nn, o3

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
RTOL = {torch.float64: 1e-10, torch.float32: 1e-4}


def _gate():
    return nn.Gate("2x0e", [torch.tanh], "3x0e", [torch.sigmoid], "1x1o + 1x1e + 1x2e")


def _convolution():
    torch.manual_seed(0)
    return nn.Convolution("2x0e + 2x1o + 1x2e", "2x0e", "2x0e + 1x0o + 2x1o + 1x1e + 1x2e", irreps_sh="0e + 1o + 2e",
                          r_max=2.0, num_basis=4, radial_hidden=[8], avg_num_neighbors=3.0)  # fmt: skip


def _graph_inputs(conv):
    pos = 0.8 * random_tensor(8, 3, seed=1)
    edge_index, _ = nn.radius_graph(pos, 2.0)
    return [random_tensor(8, conv.irreps_node_input.dim, seed=2), random_tensor(8, conv.irreps_node_attr.dim, seed=3),
            edge_index, nn.edge_vectors(pos, edge_index)]  # fmt: skip


def _tensor_product_inputs(tp):
    inputs = [random_tensor(6, tp.irreps_in1.dim, seed=1), random_tensor(6, tp.irreps_in2.dim, seed=2)]
    if tp.weight_numel and not tp.internal_weights:
        inputs.append(random_tensor(6, tp.weight_numel, seed=3))
    return inputs


# name -> (make the layer, make float64 CPU inputs for it)
CASES = {
    "SphericalHarmonics dense": (
        lambda: o3.SphericalHarmonics([0, 1, 2, 3], True, strategy="dense"),
        lambda m: [torch.cat([random_tensor(9, 3, seed=1), torch.zeros(1, 3, dtype=torch.float64)])],
    ),
    "SphericalHarmonics unrolled": (
        lambda: o3.SphericalHarmonics([3, 1, 0], False, "component", strategy="unrolled"),
        lambda m: [random_tensor(10, 3, seed=1)],
    ),
    "FullyConnectedTensorProduct": (
        lambda: o3.FullyConnectedTensorProduct("2x0e + 2x1o + 1x2e", "1x0e + 1x1o", "2x0e + 2x1o + 1x1e + 1x2e"),
        _tensor_product_inputs,
    ),
    "channelwise_tensor_product": (
        lambda: o3.channelwise_tensor_product("2x0e + 2x1o + 2x2e", "0e + 1o + 2e", lmax=2),
        _tensor_product_inputs,
    ),
    "FullTensorProduct": (lambda: o3.FullTensorProduct("1x0e + 2x1o", "1x1o + 1x2e"), _tensor_product_inputs),
    "ElementwiseTensorProduct": (lambda: o3.ElementwiseTensorProduct("2x0e + 2x1o", "2x1o + 2x1e"), _tensor_product_inputs),
    "TensorSquare": (
        lambda: o3.TensorSquare("2x0e + 1x1o", "2x0e + 1x1e + 1x2e"),
        lambda m: [random_tensor(6, m.irreps_in.dim, seed=1)],
    ),
    "Linear": (lambda: o3.Linear("2x0e + 2x1o", "3x0e + 1x1o", biases=True), lambda m: [random_tensor(6, 8, seed=1)]),
    "Gate": (_gate, lambda m: [random_tensor(6, m.irreps_in.dim, seed=1)]),
    "NormActivation": (lambda: nn.NormActivation("2x1o + 1x2e", torch.sigmoid), lambda m: [random_tensor(6, 11, seed=1)]),
    "BatchNorm": (lambda: nn.BatchNorm("2x0e + 2x1o"), lambda m: [random_tensor(6, 8, seed=1)]),
    "FullyConnectedNet": (lambda: nn.FullyConnectedNet([4, 8, 3], torch.nn.functional.silu), lambda m: [random_tensor(6, 4, seed=1)]),
    "BesselBasis * PolynomialCutoff": (
        lambda: _RadialEnvelope(),
        lambda m: [1.9 * torch.rand(12, generator=torch.Generator().manual_seed(1), dtype=torch.float64) + 0.05],
    ),
    "Convolution": (_convolution, _graph_inputs),
}


class _RadialEnvelope(torch.nn.Module):
    """NequIP's radial features: Bessel basis times the polynomial cutoff."""

    def __init__(self):
        super().__init__()
        self.basis, self.cutoff = e3math.BesselBasis(2.0, num_basis=5), e3math.PolynomialCutoff(2.0)

    def forward(self, r):
        return self.basis(r) * self.cutoff(r)[:, None]


def _moved(t: torch.Tensor, device: str, dtype: torch.dtype) -> torch.Tensor:
    """A floating input in (device, dtype), requiring grad; index tensors only change device."""
    if not t.is_floating_point():
        return t.to(device)
    return t.detach().to(device=device, dtype=dtype).requires_grad_(True)


def _run(module, inputs, seed_weights):
    out = module(*inputs)
    weights = random_tensor(*out.shape, seed=seed_weights).to(out)
    floats = [t for t in inputs if t.is_floating_point()]
    grads = torch.autograd.grad((out * weights).sum(), floats)
    return out, grads


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", list(CASES))
def test_layer_on_device_and_dtype_matches_float64_cpu(name, device, dtype):
    make, make_inputs = CASES[name]
    torch.manual_seed(0)
    reference = make().double()
    inputs = make_inputs(reference)
    expected, expected_grads = _run(reference, [_moved(t, "cpu", torch.float64) for t in inputs], seed_weights=9)

    module = copy.deepcopy(reference).to(device=device, dtype=dtype)
    out, grads = _run(module, [_moved(t, device, dtype) for t in inputs], seed_weights=9)

    assert (out.device.type, out.dtype) == (device, dtype)
    for got, want, what in [(out, expected, "output")] + [(g, w, "gradient") for g, w in zip(grads, expected_grads)]:
        assert (got.device.type, got.dtype) == (device, dtype), f"{name}: {what} on {got.device}/{got.dtype}"
        scale = max(want.abs().max().item(), 1e-30)
        error = (got.detach().cpu().double() - want).abs().max().item()
        assert error <= RTOL[dtype] * scale, f"{name} on {device}/{dtype}: {what} off by {error:.2e} (scale {scale:.2e})"
        assert math.isfinite(error)
