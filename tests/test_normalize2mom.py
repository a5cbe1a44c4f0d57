"""math.moment and math.normalize2mom: the dtype rule and which constants may be cached.

* moment(f, n) returns its 0-dim tensor in torch's default dtype unless `dtype` is given (the
  samples are drawn in float64 and cast), as its docstring and e3nn's `moment` say.
* normalize2mom caches the constant of a plain function (a pure function of f), never of a module,
  which may hold state: a module whose parameter changed gets the new constant. Callables that
  cannot be hashed (so cannot be cache keys) still work.
Constants are compared exactly (same samples, same arithmetic) or to the Monte-Carlo size (1e-3).
"""

import pytest
import torch

from e3gen import math as e3math


def test_moment_is_in_the_default_dtype_unless_one_is_given():
    previous = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.float32)
        assert e3math.moment(torch.tanh, 2).dtype == torch.float32
        assert e3math.moment(torch.tanh, 2, dtype=torch.float64).dtype == torch.float64
        torch.set_default_dtype(torch.float64)
        assert e3math.moment(torch.tanh, 2).dtype == torch.float64
        assert e3math.moment(torch.tanh, 2, dtype=torch.float32).dtype == torch.float32
    finally:
        torch.set_default_dtype(previous)


class _Scaled(torch.nn.Module):
    """x -> scale * tanh(x), with a parameter: its second moment scales with scale^2."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones((), dtype=torch.float64))

    def forward(self, x):
        return self.scale * torch.tanh(x)


def test_a_module_constant_is_recomputed_from_its_current_state():
    module = _Scaled()
    first = e3math.normalize2mom(module).cst
    with torch.no_grad():
        module.scale.fill_(2.0)
    second = e3math.normalize2mom(module).cst
    assert abs(second - first / 2) < 1e-12 * first, "a changed module must not get a cached constant"
    assert first == e3math.normalize2mom(torch.tanh).cst  # same samples, same arithmetic


class _UnhashableTanh:
    """A callable that defines __eq__ without __hash__, so it is unhashable (not a cache key)."""

    def __eq__(self, other):
        return isinstance(other, _UnhashableTanh)

    def __call__(self, x):
        return torch.tanh(x)


def test_an_unhashable_callable_is_normalised_like_the_function_it_computes():
    act = e3math.normalize2mom(_UnhashableTanh())
    assert act.cst == e3math.normalize2mom(torch.tanh).cst
    x = torch.linspace(-3, 3, 7, dtype=torch.float64)
    assert torch.equal(act(x), torch.tanh(x) * act.cst)


def test_a_constant_within_1e4_of_one_is_not_applied():
    """e3nn's rule: |cst - 1| < 1e-4 means "already normalised": f is returned unscaled (so an exactly
    normalised activation is not multiplied by a Monte-Carlo 1 + O(1e-3)). Here cst = 1 - 5e-5."""
    unit = e3math.moment(lambda x: x, 2, dtype=torch.float64).item() ** -0.5

    def f(x):
        return x * (unit * (1 + 5e-5))

    act = e3math.normalize2mom(f)
    assert abs(act.cst - (1 - 5e-5)) < 1e-8 and act._is_id
    x = torch.linspace(-3, 3, 7, dtype=torch.float64)
    assert torch.equal(act(x), f(x))
    assert not e3math.normalize2mom(lambda x: x * (unit * (1 + 1.5e-4)))._is_id


@pytest.mark.parametrize("device", ["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def test_a_module_constant_is_computed_on_the_device_of_its_parameters(device):
    """Without a `device`, a module's moment is taken where its parameters are (e3nn's rule): on
    CUDA the samples come from CUDA's generator, so the constant is CUDA's, and a module there
    must not be fed CPU samples. (On a CPU-only machine both cases are the same.)"""
    module = _Scaled().to(device)
    expected = e3math.moment(module, 2, dtype=torch.float64, device=device).pow(-0.5).item()
    assert e3math.normalize2mom(module).cst == expected
