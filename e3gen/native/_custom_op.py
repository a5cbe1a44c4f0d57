"""How e3gen's native ops are defined and called: `custom_op(name)` registers a function as a
`torch.library` custom op (schema from its annotations, fake implementation and autograd formula
registered on it as usual), and calls go straight to the function wherever that layer has nothing
to do.

The custom-op layer costs ~15 us of Python per call (argument normalisation, the autograd wrapper,
a redispatch): on a small model that is more than the kernels (NequIP at 40 atoms makes ~20 native
calls per forward+forces). It does something only when a gradient is recorded, or the call is seen
by torch.compile, torch.export / make_fx, a functorch transform, a torch-function or dispatch mode,
a JIT trace, or tensor subclasses (fake tensors). Otherwise -- plain eager tensors with no gradient
to record: inference, and the backward of a first derivative (forces), which runs with grad mode
off -- the op's function runs directly, with the same numbers (it is the same function).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import torch
from torch.autograd import forward_ad

_PLAIN = (torch.Tensor, torch.nn.Parameter)


def _plain_eager(args) -> bool:
    """Whether nothing but autograd would see a call with `args` (see the module docstring)."""
    if torch.compiler.is_compiling():  # first: under dynamo this is a constant and the rest is not traced
        return False
    for arg in args:
        if isinstance(arg, torch.Tensor) and type(arg) not in _PLAIN:
            return False
    return not (torch._C._len_torch_dispatch_stack() or torch._C._is_torch_function_mode_enabled()
                or torch._C._are_functorch_transforms_active() or torch.jit.is_tracing())


def _records_gradient(args) -> bool:
    return torch.is_grad_enabled() and any(isinstance(a, torch.Tensor) and a.requires_grad for a in args)


def direct_call_allowed(args) -> bool:
    """Whether a native op called with `args` may skip torch.library's layer entirely."""
    return _plain_eager(args) and not _records_gradient(args)


class NativeOp:
    """A custom op (`.op`, whose attributes such as register_fake it forwards) that, called, runs its
    function directly where nothing but autograd would see the call: with no gradient to record as
    it is, else in an autograd.Function that applies the op's own registered formula (the same
    setup_context and backward torch.library runs, without its generic argument handling)."""

    def __init__(self, name: str, op, function: Callable):
        self.name = name  # "e3gen::..."
        self.op = op
        self.function = function
        self.__name__ = function.__name__
        self.__doc__ = function.__doc__
        self._recorded = None  # the autograd.Function, once register_autograd gave the formula

    def __call__(self, *args):
        if forward_ad._current_level >= 0:  # inside forward_ad.dual_level(): rare, so checked only then
            _refuse_tangents(self.name, args)
        if not _plain_eager(args) or (self._recorded is None and _records_gradient(args)):
            return self.op(*args)
        if torch.autograd._profiler_enabled():  # a profile names the op as torch.library would
            with torch.profiler.record_function(self.name):
                return self._direct(args)
        return self._direct(args)

    def _direct(self, args):
        return self._recorded(args) if _records_gradient(args) else self.function(*args)

    def register_autograd(self, backward: Callable, setup_context: Optional[Callable] = None) -> None:
        self.op.register_autograd(backward, setup_context=setup_context)
        self._recorded = _recording(self.function, backward, setup_context)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.op, name)


def _refuse_tangents(name: str, args) -> None:
    """Forward-mode AD has no formula here (torch.library would drop the tangent silently)."""
    for arg in args:
        if isinstance(arg, torch.Tensor) and forward_ad.unpack_dual(arg).tangent is not None:
            raise NotImplementedError(
                f"{name}: forward-mode AD (torch.autograd.forward_ad, torch.func.jvp) is not implemented for e3gen's "
                f"native kernels; use strategy='dense' (tensor products) or strategy='unrolled' (spherical harmonics), "
                f"or reverse mode (backward, torch.func.grad)")


def _recording(function: Callable, backward: Callable, setup_context: Optional[Callable]):
    """(args) -> function(*args) recorded for autograd with the formula (backward, setup_context),
    called as torch.library calls them: setup_context(ctx, inputs, output); backward(ctx, grads) for
    a list of results, backward(ctx, *grads) for one tensor or a tuple."""

    as_list = "List" in str(function.__annotations__.get("return", ""))  # (annotations may be strings)

    def forward(ctx, *args):
        output = function(*args)
        if setup_context is not None:
            setup_context(ctx=ctx, inputs=args, output=output)
        return tuple(output) if as_list else output

    def backward_of_recorded(ctx, *grads):
        return backward(ctx, list(grads)) if as_list else backward(ctx, *grads)

    # (made with type(): autograd names the graph's nodes after the class when it is created)
    Recorded = type(f"EagerFor_{function.__name__}", (torch.autograd.Function,),
                    {"forward": staticmethod(forward), "backward": staticmethod(backward_of_recorded)})

    def record(args):
        output = Recorded.apply(*args)
        return list(output) if as_list else output

    return record


def custom_op(name: str) -> Callable[[Callable], NativeOp]:
    """@custom_op("e3gen::name"): the function as a CPU custom op without mutated arguments."""

    def register(function: Callable) -> NativeOp:
        return NativeOp(name, torch.library.custom_op(name, mutates_args=(), device_types="cpu")(function), function)

    return register
