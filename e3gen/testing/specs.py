"""What each input and output of a tested function is, and how an element of E(3) acts on it.

A value spec is one of:

* irreps (anything `e3gen.o3.Irreps` accepts: ``"2x0e + 1o"``, an Irreps, an Irrep): a tensor
  ``[..., irreps.dim]`` in e3nn's layout, acted on by ``x -> x @ D(R)^T`` with ``D =
  irreps.D_from_matrix(R)``; translations do nothing (features are translation invariant);
* `CARTESIAN_POINTS` (``"cartesian_points"``, e3nn's marker): positions ``[..., 3]``, acted on by
  ``x -> x @ R^T + t`` (rotated and translated);
* ``None``: a value the group does not act on, passed or compared unchanged (an ``edge_index``,
  a batch vector, a cutoff; as an output: something that must come out the same).

A vector that is not a position, such as a force or a displacement, is ``"1o"``: rotated, not
translated. The structure of ``irreps_in`` says how fn is called and that of ``irreps_out`` what it
returns: one spec -> ``fn(x)`` / a tensor, a list or tuple -> ``fn(*xs)`` / a tuple or list, a
dict -> ``fn(**xs)`` / a dict. (An Irreps is a tuple but counts as one spec.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, List, Mapping, Optional, Tuple

import torch

from e3gen import o3

__all__ = ["CARTESIAN_POINTS", "ValueSpec", "Layout", "parse_specs"]

CARTESIAN_POINTS = "cartesian_points"


@dataclass(frozen=True)
class ValueSpec:
    """One input or output: its ``name`` (``"in[0]"``, ``"out['forces']"``), ``kind`` and irreps.

    ``kind`` is ``"irreps"``, ``"cartesian_points"`` or ``"untransformed"``; ``irreps`` is set
    for ``"irreps"`` only.
    """

    name: str
    kind: str
    irreps: Optional[o3.Irreps] = None

    @staticmethod
    def parse(spec, name: str) -> "ValueSpec":
        if spec is None:
            return ValueSpec(name, "untransformed")
        if isinstance(spec, str) and spec == CARTESIAN_POINTS:
            return ValueSpec(name, "cartesian_points")
        try:
            return ValueSpec(name, "irreps", o3.Irreps(spec))
        except ValueError as error:
            raise ValueError(
                f"the spec of {name} must be irreps (like '2x0e + 1o'), {CARTESIAN_POINTS!r} or None; "
                f"got {spec!r} ({error})"
            ) from None

    @property
    def width(self) -> Optional[int]:
        """The size of the last dimension this value must have, None if any."""
        if self.kind == "irreps":
            return self.irreps.dim
        return 3 if self.kind == "cartesian_points" else None

    def check(self, value, whose: str = "") -> None:
        """ValueError naming this value if it cannot be acted on (not a tensor, wrong last dimension)."""
        if self.width is None:
            return
        described = f"{self.irreps}" if self.kind == "irreps" else CARTESIAN_POINTS
        if not isinstance(value, torch.Tensor) or value.shape[-1:] != (self.width,):
            got = f"shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else f"a {type(value).__name__}"
            raise ValueError(
                f"{whose}{self.name} ({described}) must be a tensor of shape [..., {self.width}], got {got}"
            )

    def act(self, value, R: torch.Tensor, t: Optional[torch.Tensor]):
        """The value moved by ``x -> R x + t`` ([3, 3] and [3] float64; t None for no translation).

        Tensors come back in float64 so that the action adds no rounding of its own; untransformed
        values come back as they are.
        """
        if self.kind == "untransformed":
            return value
        x = value.detach().to(torch.float64)
        R = R.to(x.device)
        if self.kind == "cartesian_points":
            x = x @ R.T
            return x if t is None else x + t.to(x.device)
        return x @ self.irreps.D_from_matrix(R).T


@dataclass(frozen=True)
class Layout:
    """How values are passed to or returned by fn: ``"single"``, ``"sequence"`` or ``"mapping"`` (with keys)."""

    form: str
    specs: Tuple[ValueSpec, ...]
    keys: Tuple[str, ...] = ()

    def flatten(self, values, what: str) -> List[Any]:
        """The values in spec order, or a ValueError naming ``what`` (``"inputs"``, ``"fn's outputs"``)."""
        if self.form == "single":
            return [values]
        if self.form == "mapping":
            if not isinstance(values, Mapping) or set(values) != set(self.keys):
                got = sorted(values) if isinstance(values, Mapping) else type(values).__name__
                raise ValueError(f"{what} must be a dict with keys {sorted(self.keys)} (as the irreps say), got {got}")
            return [values[key] for key in self.keys]
        if not isinstance(values, (list, tuple)) or len(values) != len(self.specs):
            got = f"{len(values)} values" if isinstance(values, (list, tuple)) else f"a {type(values).__name__}"
            raise ValueError(f"{what} must be a tuple or list of {len(self.specs)} values (as the irreps say), got {got}")
        return list(values)

    def call(self, fn: Callable, values: List[Any]):
        """``fn(x)``, ``fn(*values)`` or ``fn(**dict(zip(keys, values)))``."""
        if self.form == "single":
            return fn(values[0])
        if self.form == "mapping":
            return fn(**dict(zip(self.keys, values)))
        return fn(*values)


def parse_specs(specs, side: str) -> Layout:
    """The `Layout` of ``irreps_in`` (side ``"in"``) or ``irreps_out`` (side ``"out"``)."""
    # Duck-typed so that e3nn's own Irreps and Irrep (tuples too) also count as one spec.
    if specs is None or isinstance(specs, str) or hasattr(specs, "D_from_matrix"):
        return Layout("single", (ValueSpec.parse(specs, side),))
    if isinstance(specs, Mapping):
        keys = tuple(specs)
        return Layout("mapping", tuple(ValueSpec.parse(specs[k], f"{side}[{k!r}]") for k in keys), keys)
    if isinstance(specs, (list, tuple)):
        return Layout("sequence", tuple(ValueSpec.parse(s, f"{side}[{i}]") for i, s in enumerate(specs)))
    raise ValueError(
        f"irreps_{side} must be one spec (irreps, {CARTESIAN_POINTS!r} or None), a list of them or a dict of them; "
        f"got {specs!r}"
    )
