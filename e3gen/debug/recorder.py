"""Forward hooks that record what each irreps-carrying submodule of a model returns, call by call.

A submodule is traced when it has an ``irreps_out`` attribute (every e3gen and e3nn layer does) or
when the caller names it in ``irreps_of`` ({name in ``model.named_modules()``: irreps}), which also
overrides a module's own ``irreps_out`` (name e3nn's `BatchNorm`, whose attribute is ``irreps``, there
to trace it). The model itself is named ``""`` there and ``"<model>"``
in reports. Hooks fire when a module returns, so a container comes after its children.

Only eager modules can be traced: a TorchScript-scripted or compiled submodule hides the calls
inside it (it is still traced as a whole if it has ``irreps_out``).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple

import torch

from e3gen import o3

__all__ = ["Call", "traced_modules", "recording", "display_name"]


def display_name(name: str) -> str:
    """The model itself (``""`` in ``named_modules``) reads as ``"<model>"``."""
    return name or "<model>"


@dataclass(frozen=True)
class Call:
    """One return of a traced module: ``key`` is its name, plus ``#k`` for the k-th repeated call;
    ``output`` is the returned tensor detached and copied in float64 (anything else as returned)."""

    key: str
    name: str
    type: str
    irreps: o3.Irreps
    output: Any


def traced_modules(model: torch.nn.Module, irreps_of: Optional[Mapping[str, Any]] = None) -> Dict[str, Tuple[torch.nn.Module, o3.Irreps]]:
    """{name: (module, irreps of its output)} for every module to trace, in ``named_modules`` order."""
    irreps_of = dict(irreps_of or {})
    modules = dict(model.named_modules())
    unknown = sorted(set(irreps_of) - set(modules))
    if unknown:
        names = ", ".join(repr(n) for n in modules if n) or "none"
        raise ValueError(f"irreps_of names modules the model does not have: {unknown}; its submodules are: {names} ('' is the model itself)")
    traced = {}
    for name, module in modules.items():
        irreps = irreps_of[name] if name in irreps_of else getattr(module, "irreps_out", None)
        if irreps is None:
            continue
        try:
            traced[name] = (module, o3.Irreps(irreps))
        except (ValueError, TypeError) as error:
            source = "irreps_of" if name in irreps_of else f"its irreps_out attribute ({type(module).__name__})"
            raise ValueError(f"the irreps of module {display_name(name)!r} from {source} are not irreps: {irreps!r} ({error})") from None
    return traced


@contextmanager
def recording(traced: Mapping[str, Tuple[torch.nn.Module, o3.Irreps]]) -> Iterator[List[Call]]:
    """Hooks on the traced modules while the block runs; yields the list the calls are appended to."""
    calls: List[Call] = []
    counts: Dict[str, int] = {}

    def hook_for(name: str, irreps: o3.Irreps):
        def hook(module, args, output):
            k = counts.get(name, 0)
            counts[name] = k + 1
            key = display_name(name) + (f"#{k}" if k else "")
            if isinstance(output, torch.Tensor):
                # copied now: the next layer may modify its input in place
                output = output.detach().to(torch.float64, copy=True)
            calls.append(Call(key, name, type(module).__name__, irreps, output))

        return hook

    handles = [module.register_forward_hook(hook_for(name, irreps)) for name, (module, irreps) in traced.items()]
    try:
        yield calls
    finally:
        for handle in handles:
            handle.remove()
