"""How native ops are called (e3gen/native/_custom_op.py): straight into their function in plain
eager mode (with the op's own autograd formula where a gradient is recorded), through torch.library
wherever anything else would see the call.

Oracle: the same op called through torch.library (`op.op`), which the rest of the native tests and
torch.compile/export use. Both run the same C++ kernels in the same order, so results, first and
second derivatives must be equal to 1e-12 (float64; bitwise in practice).
"""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from helpers import needs_native_toolchain

from e3gen import o3
from e3gen.native import _custom_op, ops
from e3gen.native import harmonics as native_harmonics


def _conv_inputs(seed=0):
    tp = o3.channelwise_tensor_product("3x0e + 2x1o + 1x2e", "0e + 1o + 2e", strategy="native")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(5, tp.irreps_in1.dim, generator=g, dtype=torch.float64)
    y = torch.randn(9, tp.irreps_in2.dim, generator=g, dtype=torch.float64)
    w = torch.randn(9, tp.weight_numel, generator=g, dtype=torch.float64)
    sender = torch.randint(0, 5, (9,), generator=g)
    receiver = torch.randint(0, 5, (9,), generator=g)
    return tp, x, y, w, sender, receiver


def _conv(call, tp, x, y, w, sender, receiver):
    return call(tp._native_key, [3], x, y, w, x.new_empty(0), sender, receiver, x.shape[0])[0]


def _derivatives(call, inputs):
    """The result, its gradient with respect to every operand, and the second derivatives (the
    gradient of <gradient, h> with respect to every operand), for the fused convolution `call`."""
    tp, x, y, w, sender, receiver = inputs
    leaves = [t.clone().requires_grad_() for t in (x, y, w)]
    out = _conv(call, tp, *leaves, sender, receiver)
    cotangent = torch.randn(out.shape, generator=torch.Generator().manual_seed(1), dtype=out.dtype)
    grads = torch.autograd.grad(out, leaves, cotangent, create_graph=True)
    probe = sum((g * torch.randn(g.shape, generator=torch.Generator().manual_seed(2 + i), dtype=g.dtype)).sum()
                for i, g in enumerate(grads))
    second = torch.autograd.grad(probe, leaves, allow_unused=True)
    return [out.detach(), *[g.detach() for g in grads], *[torch.zeros_like(t) if s is None else s for t, s in zip(leaves, second)]]


@needs_native_toolchain
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eager_calls_give_the_torch_library_op_results_and_derivatives(seed):
    """Direct calls (no gradient), recorded calls (first and second derivatives through the op's
    own formula) and the torch.library op agree on the fused convolution."""
    inputs = _conv_inputs(seed)
    with torch.no_grad():
        torch.testing.assert_close(_conv(ops.channelwise_conv, *inputs), _conv(ops.channelwise_conv.op, *inputs),
                                   rtol=0, atol=1e-12)
    for got, expected in zip(_derivatives(ops.channelwise_conv, inputs), _derivatives(ops.channelwise_conv.op, inputs)):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


@needs_native_toolchain
def test_eager_harmonics_double_backward_and_third_derivative_refusal_match_the_op():
    """An op returning one tensor (the harmonics) and one returning a tuple (their double backward)
    take the same path: gradgradcheck passes, and a third derivative is refused as by the op."""
    x = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3), requires_grad=True)
    sh = lambda v: native_harmonics.spherical_harmonics(v, [0, 1, 2, 3], True, "component")  # noqa: E731
    assert torch.autograd.gradcheck(sh, (x,))
    assert torch.autograd.gradgradcheck(sh, (x,))
    (g,) = torch.autograd.grad(sh(x).pow(2).sum(), x, create_graph=True)
    (gg,) = torch.autograd.grad(g.pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="first and second derivatives only"):
        torch.autograd.grad(gg.sum(), x)


class _Recorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.names = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.append(str(func))
        return func(*args, **(kwargs or {}))


@needs_native_toolchain
def test_anything_but_plain_eager_sees_the_torch_library_op():
    """A dispatch mode (as make_fx and fake tensors use), a torch-function mode, a functorch
    transform and a JIT trace get the custom op; plain eager calls skip it (so a mode would see the
    library's raw kernel: these are the calls where that layer adds nothing)."""
    tp, x, y, w, sender, receiver = _conv_inputs()
    assert _custom_op.direct_call_allowed((x, y))
    assert not _custom_op.direct_call_allowed((x.clone().requires_grad_(), y))
    with torch.no_grad():
        assert _custom_op.direct_call_allowed((x.clone().requires_grad_(), y))
    with _Recorder() as recorder:
        _conv(ops.channelwise_conv, tp, x, y, w, sender, receiver)
    assert "e3gen.channelwise_conv.default" in recorder.names, recorder.names
    with torch.overrides.TorchFunctionMode():
        assert not _custom_op.direct_call_allowed((x,))
    seen = []
    torch.func.vmap(lambda row: seen.append(_custom_op.direct_call_allowed((row,))) or row)(x)
    assert seen == [False]
    torch.jit.trace(lambda a: seen.append(_custom_op.direct_call_allowed((a,))) or a * 1, (x,), check_trace=False)
    assert seen == [False, False]


@needs_native_toolchain
def test_a_profile_names_the_e3gen_op_in_eager_calls():
    """Direct calls keep the op's name in a torch.profiler trace (users find e3gen::channelwise_conv
    in their model's profile, with or without gradients)."""
    inputs = _conv_inputs()
    for grad in (False, True):
        with torch.set_grad_enabled(grad), torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
            _conv(ops.channelwise_conv, inputs[0], *[t.clone().requires_grad_(grad) for t in inputs[1:4]], *inputs[4:])
        assert "e3gen::channelwise_conv" in {event.name for event in profile.events()}


@needs_native_toolchain
def test_forward_mode_ad_is_refused_with_a_message_not_a_dropped_tangent():
    """The native ops have no forward-mode formula; torch.library returned results without a tangent
    (a silent wrong derivative). Dual tensors (torch.autograd.forward_ad) and torch.func.jvp get a
    NotImplementedError naming the way out; plain tensors inside a dual level still run."""
    x = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    sh = lambda v: native_harmonics.spherical_harmonics(v, [0, 1, 2], True, "component")  # noqa: E731
    with torch.autograd.forward_ad.dual_level():
        dual = torch.autograd.forward_ad.make_dual(x, torch.ones_like(x))
        with pytest.raises(NotImplementedError, match=r"forward-mode AD .* strategy='unrolled' \(spherical harmonics\)"):
            sh(dual)
        assert sh(x).shape == (4, 9)
    with pytest.raises(NotImplementedError, match="forward-mode AD"):
        torch.func.jvp(sh, (x,), (torch.ones_like(x),))
