"""Hypothesis strategies that draw elements of O(3) as torch matrices.

A rotation is drawn as a unit quaternion from four standard-normal-like floats (uniform on SO(3)
when the floats are Gaussian; hypothesis shrinks them towards simple rotations). An O(3)
element is such a rotation times +1 or -1 (the inversion), so det = +-1.
"""

from __future__ import annotations

import torch
from hypothesis import strategies as st

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
