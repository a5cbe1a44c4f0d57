"""Hypothesis strategies: elements of O(3) as torch matrices, and irreps.

A rotation is drawn as a unit quaternion from four standard-normal-like floats (uniform on SO(3)
when the floats are Gaussian; hypothesis shrinks them towards simple rotations). An O(3)
element is such a rotation times +1 or -1 (the inversion), so det = +-1.
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st

from e3gen.o3._irreps import Irrep, Irreps

_COMPONENT = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False, allow_infinity=False)


@st.composite
def rotations(draw, dtype=torch.float64) -> torch.Tensor:
    """A proper rotation matrix R [3, 3] (det +1) in `dtype`."""
    q = torch.tensor([draw(_COMPONENT) for _ in range(4)], dtype=torch.float64)
    if q.norm() < 1e-3:  # too close to 0 to normalise reliably: use the identity
        q = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    w, x, y, z = q / q.norm()
    R = torch.stack(
        [
            torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)]),
            torch.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)]),
            torch.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]),
        ]
    )
    return R.to(dtype)


@st.composite
def o3_elements(draw, dtype=torch.float64, inversion: bool = True) -> torch.Tensor:
    """An element of O(3) as a matrix [3, 3]: a rotation, times -1 half of the time if `inversion`."""
    R = draw(rotations(dtype=dtype))
    if inversion and draw(st.booleans()):
        R = -R
    return R


def irrep_terms(lmax: int = 3, max_mul: int = 3, min_mul: int = 0, ls=None, parities=(1, -1)):
    """One ``(mul, Irrep)`` term: mul in [min_mul, max_mul], l in ``ls`` (default 0..lmax), parity from ``parities``."""
    ls = list(range(lmax + 1)) if ls is None else list(ls)
    return st.tuples(st.integers(min_mul, max_mul), st.sampled_from(ls), st.sampled_from(list(parities))).map(
        lambda t: (t[0], Irrep(t[1], t[2]))
    )


def irreps(min_terms: int = 0, max_terms: int = 4, **term_options) -> st.SearchStrategy:
    """Irreps of ``min_terms`` to ``max_terms`` terms drawn by `irrep_terms` (repeats and zero multiplicities allowed)."""
    return st.lists(irrep_terms(**term_options), min_size=min_terms, max_size=max_terms).map(Irreps)
