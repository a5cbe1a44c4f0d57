"""Elements of O(3) as float64 matrices: from quaternions, drawn from a torch generator, or checked.

Conventions (e3nn 0.6.0): a matrix ``R`` [3, 3] acts on column vectors ``(x, y, z)`` as ``R @ v``,
so on row-stacked data ``x [..., 3]`` as ``x @ R.T``. An improper element is ``-R`` (rotation times
the inversion), det -1. Everything here is float64: the group action must not be the source of
the errors an equivariance test measures.
"""

from __future__ import annotations

import torch

__all__ = ["quaternion_to_rotation", "random_rotation", "as_o3_element"]


def quaternion_to_rotation(q: torch.Tensor) -> torch.Tensor:
    """Rotation matrix [3, 3] of a non-zero quaternion ``q = (w, x, y, z)`` [4] (normalised here).

    The closed form (no trigonometry), so a quaternion exact in float64 gives R to rounding.

    >>> quaternion_to_rotation(torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64))
    tensor([[1., 0., 0.],
            [0., 1., 0.],
            [0., 0., 1.]], dtype=torch.float64)
    """
    w, x, y, z = q.to(torch.float64) / q.to(torch.float64).norm()
    return torch.stack(
        [
            torch.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)]),
            torch.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)]),
            torch.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]),
        ]
    )


def random_rotation(generator: torch.Generator) -> torch.Tensor:
    """A uniformly random proper rotation [3, 3] in float64 (a Gaussian quaternion is uniform on SO(3))."""
    q = torch.randn(4, dtype=torch.float64, generator=generator)
    return quaternion_to_rotation(q)


def as_o3_element(R, name: str = "rotation") -> torch.Tensor:
    """``R`` [3, 3] as an exactly orthogonal float64 matrix, or a ValueError naming ``name``.

    A matrix given in float32 is orthogonal only to ~1e-7, which a float64 test would report as
    an equivariance error of the function; so R is replaced by the nearest orthogonal matrix
    (polar decomposition ``U V^T`` of its SVD ``U S V^T``), which keeps det's sign. Matrices
    further than 1e-3 from orthogonal are refused: they are not group elements at all.
    """
    R = torch.as_tensor(R)
    if R.shape != (3, 3) or not R.is_floating_point():
        raise ValueError(f"{name} must be a float matrix of shape [3, 3], got {R.dtype} of shape {tuple(R.shape)}")
    R = R.detach().to(torch.float64)
    deviation = (R @ R.T - torch.eye(3, dtype=torch.float64, device=R.device)).abs().max().item()
    if not deviation < 1e-3:  # `not <` also refuses NaN
        raise ValueError(
            f"{name} must be orthogonal (R @ R.T = I, an element of O(3)); it is off by {deviation:.3g}. "
            f"Draw one with e3gen.testing.o3_elements() or e3gen.o3.rand_matrix()."
        )
    U, _, Vh = torch.linalg.svd(R)
    return U @ Vh


def describe(x: torch.Tensor) -> str:
    """A matrix R [3, 3] as ``"R = [[...], ...] (det +1)"``, a vector [3] as ``"[...]"``, for messages."""
    if x.dim() == 1:
        return "[" + ", ".join(f"{v:+.6f}" for v in x.tolist()) + "]"
    rows = ", ".join(describe(row) for row in x)
    return f"R = [{rows}] (det {torch.det(x).item():+.0f})"
