"""Per-(dtype, device) copies of a layer's exact constants, made once and safe under tracing.

The layers keep their tables in float64 (the exact values rounded once) and round them to the
input's dtype on first use, cached per (dtype, device). A cache filled while a tracer is active is
a trap: under ``make_fx`` or ``torch.export`` (fake tensors) the conversion would run on the
tracer's tensors, so the cache would keep fake tensors that later eager calls return as results,
and the first trace would record the conversion while a second trace finds it cached (nequip-compile
traces twice and refuses graphs that differ). So the copies are always made outside any active
dispatch mode, as plain tensors; a tracer then sees the same constants on every trace.
"""

from __future__ import annotations

from typing import Callable, Dict, List, Tuple

import torch
from torch.utils._python_dispatch import _disable_current_modes

ConstantCache = Dict[Tuple[torch.dtype, torch.device], List[torch.Tensor]]


def constants_for(cache: ConstantCache, dtype: torch.dtype, device: torch.device,
                  make: Callable[[], List[torch.Tensor]]) -> List[torch.Tensor]:
    """``cache[(dtype, device)]``, filled by ``make()`` (the float64 tables converted to dtype and
    device) on first use. ``make`` runs with the tracing modes (make_fx's proxy mode, fake tensor
    mode) switched off, so it must touch only real tensors: the layer's own float64 tables."""
    key = (dtype, device)
    hit = cache.get(key)
    if hit is None:
        if torch.compiler.is_compiling():
            # dynamo traces the Python and replays the cache write with real tensors after its
            # graph runs; it cannot trace the mode switch below.
            hit = make()
        else:
            with _disable_current_modes():
                hit = make()
        cache[key] = hit
    return hit
