"""The result of an equivariance check: one row per (group element, output, irrep block), and its table.

A row's ``error`` is ``max |f(g x) - g f(x)|`` over the entries of one block of one output
(absolute, in float64); ``scale`` is the largest ``|g f(x)|`` entry of that whole output, and the
row passes when ``error <= tolerance = atol + rtol * scale``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, Optional, Tuple

import torch

__all__ = ["BlockError", "EquivarianceErrors"]


@dataclass(frozen=True)
class BlockError:
    """The error of one block of one output under one group element.

    ``case``: ``"rotation"`` (det +1), ``"rotation+inversion"`` (det -1) or ``"translation"``.
    ``output``: the output's name as fn returns it: ``"out"``, ``"out[1]"`` or ``"out['forces']"``.
    ``block``: index of the ``(mul, ir)`` term in the output's irreps, None for cartesian points
    and untransformed outputs; ``mul``, ``l``, ``p`` describe that term (None if no term).
    """

    case: str
    output: str
    block: Optional[int]
    mul: Optional[int]
    l: Optional[int]
    p: Optional[int]
    kind: str  # "irreps", "cartesian_points" or "untransformed"
    error: float
    scale: float
    tolerance: float

    @property
    def irrep(self) -> str:
        """``"3x2e"`` for an irreps block, else the kind (``"cartesian_points"``, ``"untransformed"``)."""
        if self.l is None:
            return self.kind
        return f"{self.mul}x{self.l}{'e' if self.p == 1 else 'o'}"

    @property
    def relative(self) -> float:
        """``error / scale`` (0 when both are 0, inf when only the scale is)."""
        if self.scale > 0:
            return self.error / self.scale
        return 0.0 if self.error == 0 else math.inf

    @property
    def ok(self) -> bool:
        """``error <= tolerance``; a NaN error fails."""
        return self.error <= self.tolerance

    def where(self) -> str:
        """``"out[1] block 2 (1x2e, l=2, p=+1) under rotation+inversion"``."""
        if self.block is None:
            block = f"({self.kind})"
        else:
            block = f"block {self.block} ({self.irrep}, l={self.l}, p={self.p:+d})"
        return f"{self.output} {block} under {self.case}"


_COLUMNS = ("case", "output", "block", "irreps", "l", "p", "abs error", "relative", "tolerance", "")


@dataclass(frozen=True)
class EquivarianceErrors:
    """Every `BlockError` of one check, with what is needed to reproduce it.

    Iterate over it for the rows (e.g. to log them); ``str()`` is the table; `passed`, `worst`
    and `failures` summarise. ``rotation`` is the float64 matrix R of the "rotation" case (the
    other cases use -R and the identity), ``translation`` the vector of the "translation" case.
    """

    rows: Tuple[BlockError, ...]
    rotation: torch.Tensor
    translation: Optional[torch.Tensor]
    seed: Optional[int]
    atol: float
    rtol: float

    def __iter__(self) -> Iterator[BlockError]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def passed(self) -> bool:
        return all(row.ok for row in self.rows)

    @property
    def failures(self) -> Tuple[BlockError, ...]:
        return tuple(row for row in self.rows if not row.ok)

    @property
    def worst(self) -> Optional[BlockError]:
        """The row furthest over its tolerance (error / tolerance), ties broken by error; None if no rows."""
        if not self.rows:
            return None

        def badness(row: BlockError):
            if math.isnan(row.error):
                return (math.inf, math.inf)
            if row.error == 0:
                return (0.0, 0.0)
            return (row.error / row.tolerance if row.tolerance > 0 else math.inf, row.error)

        return max(self.rows, key=badness)

    def table(self) -> str:
        """The rows as an aligned text table, failing rows marked FAIL."""
        lines = [
            (
                row.case,
                row.output,
                "-" if row.block is None else str(row.block),
                row.irrep,
                "-" if row.l is None else str(row.l),
                "-" if row.p is None else f"{row.p:+d}",
                f"{row.error:.1e}",
                f"{row.relative:.1e}",
                f"{row.tolerance:.1e}",
                "ok" if row.ok else "FAIL",
            )
            for row in self.rows
        ]
        widths = [max(len(c) for c in column) for column in zip(_COLUMNS, *lines)]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in [_COLUMNS, *lines])

    def __str__(self) -> str:
        return self.table()
