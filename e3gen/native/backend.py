"""The one seam where a layer's `strategy` becomes "native kernels" or "Torch kernels".

Layers hold a `ChannelwiseLayout` (or None where the native kernels do not apply) and ask
`use_native(strategy, layout, tensors)` at each call:

* "native": the native kernels, or a clear error saying why they cannot run here;
* "auto": the native kernels where they apply (a native layout, CPU tensors of one float32 /
  float64 dtype) and can be built; otherwise the Torch kernels, after one message on stderr when
  the reason is the toolchain (no compiler, a failed compile), never per call. Also the Torch
  kernels while a graph is captured for deployment (torch.export, or make_fx on fake tensors as
  nequip-compile does): the exported program (an AOTInductor package for LAMMPS, say) then runs
  without e3gen's Python op and its library. torch.compile keeps the native op;
* anything else ("dense", "unrolled"): the Torch kernels.

Spherical harmonics ask `use_native_harmonics(strategy, lmax, x, owner)`, the same rule for
their own library (`e3gen.native.harmonics`).
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence

import torch

from e3gen.native.build import NativeUnavailable, load_library
from e3gen.native.ops import ChannelwiseLayout
from e3gen.runtime.tracing import capturing_for_export

_DTYPES = (torch.float32, torch.float64)
_unavailable: dict = {}  # lmax -> None (loaded) or the NativeUnavailable met, reported once


def _why_not(layout: Optional[ChannelwiseLayout], tensors: Sequence[torch.Tensor]) -> Optional[str]:
    if layout is None:
        return ("the native kernels cover channel-wise products only (every instruction 'uvu' with weights, "
                "second input of multiplicity 1)")
    return _why_not_tensors(tensors)


def _why_not_tensors(tensors: Sequence[torch.Tensor]) -> Optional[str]:
    dtypes = {t.dtype for t in tensors}
    if any(t.device.type != "cpu" for t in tensors):
        return f"the native kernels run on CPU, got tensors on {sorted({str(t.device) for t in tensors})}"
    if len(dtypes) != 1 or next(iter(dtypes)) not in _DTYPES:
        return f"the native kernels need one dtype, float32 or float64, got {sorted(str(d) for d in dtypes)}"
    return None


def _remembered(verdicts: dict, lmax: int, load, instead: str) -> Optional[NativeUnavailable]:
    """verdicts[lmax]: None once `load(lmax)` succeeded, else the NativeUnavailable it raised, said
    once (with what runs `instead`) and then remembered, so a missing compiler costs one message."""
    if lmax not in verdicts:
        try:
            load(lmax)
            verdicts[lmax] = None
        except NativeUnavailable as error:
            verdicts[lmax] = error
            print(f"e3gen: {error}; using the {instead} instead.", file=sys.stderr, flush=True)
    return verdicts[lmax]


def available(lmax: int) -> Optional[NativeUnavailable]:
    """None when the native library for lmax loads (compiling it if needed), else why not."""
    return _remembered(_unavailable, lmax, lambda l: load_library(l), "Torch kernels")  # looked up per call (tests patch it)


def prepare(strategy: str, layout: Optional[ChannelwiseLayout]) -> None:
    """At a layer's construction: load (or compile) the library it may use, so that calls (and
    torch.compile's tracing of them) only look up the answer."""
    if strategy in ("auto", "native") and layout is not None:
        available(layout.lmax)


def use_native(strategy: str, layout: Optional[ChannelwiseLayout], tensors: Sequence[torch.Tensor], owner: str) -> bool:
    """Whether `owner` (a layer's description, for messages) runs this call on the native kernels."""
    if strategy not in ("auto", "native"):
        return False
    if strategy == "auto" and capturing_for_export(tensors):
        return False
    reason = _why_not(layout, tensors)
    if reason is not None:
        if strategy == "native":
            raise ValueError(f"{owner}: strategy='native' cannot run here: {reason}; use strategy='auto' or 'dense'")
        return False
    error = available(layout.lmax)
    if error is not None:
        if strategy == "native":
            raise RuntimeError(f"{owner}: strategy='native' cannot run here: {error}") from error
        return False
    return True


def clear_unavailable() -> None:
    """Forget toolchain failures (tests use this after simulating a missing compiler)."""
    _unavailable.clear()
    _harmonics_unavailable.clear()
    _rowwise_unavailable.clear()


_harmonics_unavailable: dict = {}  # lmax -> None (loaded) or the NativeUnavailable met, reported once


def available_harmonics(lmax: int) -> Optional[NativeUnavailable]:
    """None when the native spherical-harmonics library for lmax loads (compiling it if needed), else why not."""
    from e3gen.native.harmonics import load_harmonics_library

    return _remembered(_harmonics_unavailable, lmax, load_harmonics_library, "Torch spherical harmonics")


def use_native_harmonics(strategy: str, lmax: int, x: torch.Tensor, owner: str) -> bool:
    """Whether `owner` (a SphericalHarmonics layer) runs this call on the native harmonics."""
    if strategy not in ("auto", "native"):
        return False
    if strategy == "auto" and capturing_for_export((x,)):  # the graph runs elsewhere: Torch ops only
        return False
    reason = _why_not_tensors((x,))
    if reason is not None:
        if strategy == "native":
            raise ValueError(f"{owner}: strategy='native' cannot run here: {reason}; use strategy='auto' or 'dense'")
        return False
    error = available_harmonics(lmax)
    if error is not None:
        if strategy == "native":
            raise RuntimeError(f"{owner}: strategy='native' cannot run here: {error}") from error
        return False
    return True


_rowwise_unavailable: dict = {}  # lmax -> None (loaded) or the NativeUnavailable met, reported once


def available_rowwise(lmax: int) -> Optional[NativeUnavailable]:
    """None when the native library of products without weights for lmax loads (compiling it if
    needed), else why not."""
    from e3gen.native.build import MIN_LMAX
    from e3gen.native.rowwise import load_rowwise_library

    # keyed by the library asked for: products with inputs up to l <= 3 share one (and one message)
    return _remembered(_rowwise_unavailable, max(int(lmax), MIN_LMAX), load_rowwise_library, "Torch kernels")


def prepare_rowwise(strategy: str, layout) -> None:
    """At a layer's construction: load (or compile) the rowwise library it may use (see `prepare`)."""
    if strategy in ("auto", "native") and layout is not None:
        available_rowwise(layout.lmax)


def use_native_rowwise(strategy: str, layout, tensors: Sequence[torch.Tensor], owner: str) -> bool:
    """Whether `owner` runs this call on the native products without weights (`e3gen.native.rowwise`)
    or the fully connected op, the same rule as `use_native` for a `RowwiseLayout` or
    `FullyConnectedLayout` (None where those kernels do not apply)."""
    if strategy not in ("auto", "native") or layout is None:
        return False
    if strategy == "auto" and capturing_for_export(tensors):
        return False
    reason = _why_not_tensors(tensors)
    if reason is not None:
        if strategy == "native":
            raise ValueError(f"{owner}: strategy='native' cannot run here: {reason}; use strategy='auto' or 'dense'")
        return False
    error = available_rowwise(layout.lmax)
    if error is not None:
        if strategy == "native":
            raise RuntimeError(f"{owner}: strategy='native' cannot run here: {error}") from error
        return False
    return True
