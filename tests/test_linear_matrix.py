"""o3.Linear's two ways of running a shared-weight call: as one matmul with the layer's matrix (small
calls), or irrep group by irrep group (large calls). Both must be the same map.

Property: for random irreps (either parity, l <= 3, multiplicities 0-4, outputs no input feeds),
random instruction lists with repeats (a repeated (i_in, i_out) adds its own weights, as in e3nn),
biases and both path normalisations, the matrix path and the grouped path give the same outputs,
gradients with respect to the features and the weights, and second derivatives (training on forces
differentiates the features' gradient with respect to the weights), to 1e-12 relative (float64: the
same products summed in another order). Empty batches are valid.
The rule that chooses between them: small calls take the matrix, calls of more than
MATRIX_MAX_MACS multiply-adds take the groups, except a layer whose matrix costs no more than its
groups (a single irrep type), which always takes the matrix.
"""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from helpers import randomize_parameters

from e3gen import o3
from e3gen.o3 import _linear


@st.composite
def layers(draw):
    def irreps():
        blocks = [f"{draw(st.integers(0, 4))}x{draw(st.integers(0, 3))}{draw(st.sampled_from('eo'))}"
                  for _ in range(draw(st.integers(1, 4)))]
        return o3.Irreps("+".join(blocks))

    irreps_in, irreps_out = irreps(), irreps()
    kwargs = {"biases": draw(st.booleans()), "path_normalization": draw(st.sampled_from(["element", "path"]))}
    pairs = [(i, o) for i, (_, a) in enumerate(irreps_in) for o, (_, b) in enumerate(irreps_out) if a == b]
    if pairs and draw(st.booleans()):  # an explicit instruction list, repeats allowed
        kwargs["instructions"] = draw(st.lists(st.sampled_from(pairs), min_size=1, max_size=6))
    return irreps_in, irreps_out, kwargs, draw(st.integers(0, 5)), draw(st.integers(0, 2**31 - 1))


def _run(lin, x):
    out = lin(x)
    if not out.requires_grad:  # no instruction feeds an output (zero multiplicities): nothing to differentiate
        return [out]
    grad_x, = torch.autograd.grad(out.pow(2).sum(), x, create_graph=True, allow_unused=True)
    if grad_x is None or not grad_x.requires_grad:
        return [out] if grad_x is None else [out, grad_x]
    parameters = [p for p in (lin.weight, lin.bias) if p.requires_grad and p.numel()]
    second = torch.autograd.grad(grad_x.pow(2).sum(), parameters, allow_unused=True) if parameters and x.numel() else ()
    return [out, grad_x, *[s for s in second if s is not None]]


@given(layers())
def test_matrix_and_grouped_paths_are_the_same_map_with_derivatives(case):
    irreps_in, irreps_out, kwargs, rows, seed = case
    lin = randomize_parameters(o3.Linear(irreps_in, irreps_out, **kwargs).double(), seed)
    x = torch.randn(rows, irreps_in.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(seed),
                    requires_grad=True)
    lin._matrix_max_rows = 2**62
    assert lin._use_matrix(x, lin.weight) or lin.weight.numel() == 0 or lin._f_dims
    matrix = _run(lin, x)
    lin._matrix_max_rows = -1
    grouped = _run(lin, x)
    assert len(matrix) == len(grouped)
    for a, b in zip(matrix, grouped):
        scale = max(1.0, b.abs().max().item()) if b.numel() else 1.0
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12 * scale)


def test_the_rule_takes_the_matrix_for_small_calls_and_the_groups_for_large_ones():
    lin = o3.Linear("16x0e+16x1o+16x2e", "16x0e+16x1o+16x2e")  # matrix 144 x 144, groups 2,304 per row
    rows_limit = _linear.MATRIX_MAX_MACS // (144 * 144)
    assert lin._use_matrix(torch.zeros(rows_limit, 144), lin.weight)
    assert not lin._use_matrix(torch.zeros(rows_limit + 1, 144), lin.weight)
    scalars = o3.Linear("16x0e", "8x0e")  # one irrep type: the matrix is the groups' arithmetic
    assert scalars._use_matrix(torch.zeros(10**6, 16), scalars.weight)
    per_sample = o3.Linear("4x0e", "4x0e", shared_weights=False)
    assert not per_sample._use_matrix(torch.zeros(3, 4), torch.zeros(3, per_sample.weight_numel))
    channels = o3.Linear("4x0e", "4x0e", f_in=2, f_out=3)
    assert not channels._use_matrix(torch.zeros(3, 2, 4), channels.weight)


@pytest.mark.parametrize("rows", [0, 3])
def test_matrix_path_in_float32_and_scripted(rows):
    lin = o3.Linear("3x0e+2x1o+1x2e", "2x0e+3x1o+1x2e", biases=True)
    x = torch.randn(rows, lin.irreps_in.dim)
    assert lin._use_matrix(x, lin.weight)
    scripted = torch.jit.script(lin)
    torch.testing.assert_close(scripted(x), lin(x))
    lin._matrix_max_rows = -1
    torch.testing.assert_close(lin(x), scripted(x), rtol=1e-6, atol=1e-6)
