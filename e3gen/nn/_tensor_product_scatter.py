"""The message-passing sum of NequIP and e3nn's point convolutions, for one `o3.TensorProduct`:

    out[n] = sum over edges e with receiver[e] = n of  tp(x[sender[e]], edge_attr[e], weight[e])

* x [N, tp.irreps_in1.dim]: node features (mul_ir rows, e3nn's layout);
* edge_attr [E, tp.irreps_in2.dim]: per-edge inputs (the edge harmonics, usually);
* weight: [E, tp.weight_numel] per edge (shared_weights=False, NequIP's radial network), or
  [tp.weight_numel] / None (shared or internal weights, as tp's own forward takes them);
* sender, receiver [E]: integer node indices in [0, N) (int64 or int32); any order, repeats allowed;
* out [N, tp.irreps_out.dim]: a node that receives no edge gets zeros; E = 0 is valid (all zeros).

Two engines, one answer (equal up to the order of floating-point sums):
* the fused native convolution (`e3gen.native.ops.convolution`: gather, channel-wise product and
  a deterministic segment sum in one op; the [E, irreps_out.dim] messages never exist in memory),
  wherever `e3gen.native.backend.use_native` picks it for tp (tp.strategy "auto" or "native", a
  channel-wise product, CPU float32/float64, not captured for export);
* otherwise the Torch path: tp on the gathered rows, then index_add over receivers (out-of-place,
  differentiable any number of times, exportable).

Both are differentiable to every order in x, edge_attr and weight (forces training needs the
second derivative).
"""

from typing import Optional

import torch

from e3gen.native import backend as native_backend
from e3gen.native import ops as native_ops
from e3gen.o3._input_checks import check_float_tensors, check_same_dtype_and_device
from e3gen.o3._tensor_product import TensorProduct
from e3gen.runtime.tracing import capturing

_INDEX_DTYPES = (torch.int64, torch.int32)


def tensor_product_scatter(tp: TensorProduct, x: torch.Tensor, edge_attr: torch.Tensor, weight: Optional[torch.Tensor],
                           sender: torch.Tensor, receiver: torch.Tensor) -> torch.Tensor:
    """Sum over the edges into each node of tp(x[sender], edge_attr, weight): [N, tp.irreps_out.dim].

    Shapes and engines: see this module's docstring. Bad input (shapes, dtypes, devices, indices
    outside [0, N)) raises ValueError / TypeError naming the argument; the index range is read
    once per call in eager mode (one host sync), not while a graph is captured.

    >>> from e3gen import o3
    >>> tp = o3.channelwise_tensor_product("4x0e + 2x1o", "0e + 1o")
    >>> x, edge_attr = torch.randn(3, 10), torch.randn(5, 4)
    >>> weight = torch.randn(5, tp.weight_numel)
    >>> sender, receiver = torch.tensor([0, 1, 2, 2, 0]), torch.tensor([1, 1, 0, 2, 2])
    >>> tp.irreps_out, tp.irreps_out.dim
    (4x0e+2x0e+4x1o+2x1o+2x1e+2x2e, 40)
    >>> tensor_product_scatter(tp, x, edge_attr, weight, sender, receiver).shape
    torch.Size([3, 40])
    """
    _check(tp, x, edge_attr, weight, sender, receiver)
    return _sum_over_edges(tp, x, edge_attr, weight, sender, receiver)


def _sum_over_edges(tp: TensorProduct, x: torch.Tensor, edge_attr: torch.Tensor, weight: Optional[torch.Tensor],
                    sender: torch.Tensor, receiver: torch.Tensor) -> torch.Tensor:
    """tensor_product_scatter without its input checks (for layers that checked their own inputs)."""
    weights = tp.weight if weight is None else weight
    if native_backend.use_native(tp.strategy, tp._native_layout, (x, edge_attr, weights), _describe(tp)):
        # the op reads one weight row per edge: shared weights are repeated for it (E x weight_numel)
        per_edge = weights if weights.dim() == 2 else weights.expand(edge_attr.shape[0], -1)
        return native_ops.convolution(tp._native_key, x, edge_attr, per_edge, sender, receiver)
    messages = tp(x.index_select(0, sender), edge_attr, weight)  # [E, irreps_out.dim]
    # index_add (not scatter_add_ on a view): out-of-place, differentiable twice, exportable
    return messages.new_zeros(x.shape[0], messages.shape[1]).index_add(0, receiver, messages)


def _describe(tp: TensorProduct) -> str:
    return f"tensor_product_scatter({tp._describe()})"


def _check(tp, x, edge_attr, weight, sender, receiver) -> None:
    if not isinstance(tp, TensorProduct):
        raise TypeError(f"tensor_product_scatter: tp must be an e3gen o3.TensorProduct, got {type(tp).__module__}."
                        f"{type(tp).__name__}")
    name = _describe(tp)
    check_float_tensors(name, {"x": x, "edge_attr": edge_attr, "weight": weight})
    if x.dim() != 2 or x.shape[1] != tp.irreps_in1.dim:
        raise ValueError(f"{name}: expected x (node features) of shape [N, {tp.irreps_in1.dim}] "
                         f"(irreps_in1={tp.irreps_in1}), got {list(x.shape)}")
    for index_name, index in (("sender", sender), ("receiver", receiver)):
        if not isinstance(index, torch.Tensor) or index.dim() != 1 or index.dtype not in _INDEX_DTYPES:
            got = f"{index.dtype} of shape {list(index.shape)}" if isinstance(index, torch.Tensor) else type(index).__name__
            raise ValueError(f"{name}: expected {index_name} as a 1-d int64 or int32 tensor [E] of node indices, got {got}")
    e = sender.shape[0]
    if receiver.shape[0] != e:
        raise ValueError(f"{name}: sender and receiver must have one entry per edge, got {e} senders and "
                         f"{receiver.shape[0]} receivers")
    if edge_attr.dim() != 2 or edge_attr.shape[0] != e or edge_attr.shape[1] != tp.irreps_in2.dim:
        raise ValueError(f"{name}: expected edge_attr of shape [{e}, {tp.irreps_in2.dim}] (one row per edge, "
                         f"irreps_in2={tp.irreps_in2}), got {list(edge_attr.shape)}")
    if weight is not None:
        expected = [tp.weight_numel] if tp.shared_weights else [e, tp.weight_numel]
        if list(weight.shape) != expected:
            kind = "shared weights" if tp.shared_weights else "per-edge weights (one row per edge)"
            raise ValueError(f"{name}: expected {kind} of shape {expected}, got {list(weight.shape)}")
    elif tp.weight_numel > 0 and not tp.internal_weights:
        raise ValueError(f"{name}: this product has external weights: pass weight [{e}, {tp.weight_numel}]")
    internal = weight is None and tp.weight_numel > 0
    check_same_dtype_and_device(name, {"x": x, "edge_attr": edge_attr, "weight": weight},
                                tp.weight if internal else None)
    for index_name, index in (("sender", sender), ("receiver", receiver)):
        if index.device != x.device:
            raise ValueError(f"{name}: {index_name} is on {index.device} but x on {x.device}; move them to one device")
    if e > 0 and not capturing((x, sender, receiver)):
        # One host sync in eager mode (none while a graph is captured, where values are unknown):
        # an index out of [0, N) would otherwise fail deep inside index_select or the native op.
        n = x.shape[0]
        bounds = torch.stack([b.to(torch.int64) for index in (sender, receiver) for b in torch.aminmax(index)]).tolist()
        for index_name, (low, high) in (("sender", bounds[:2]), ("receiver", bounds[2:])):
            if low < 0 or high >= n:
                raise ValueError(f"{name}: {index_name} must hold node indices in [0, {n}) (N = x.shape[0]), got values "
                                 f"in [{low}, {high}]; index the same nodes as x (offset each graph's indices when batching)")
