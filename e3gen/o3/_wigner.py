"""wigner_3j and wigner_D from the generated exact tables (e3nn 0.6.0 names and semantics).

* `wigner_3j(l1, l2, l3)[i, j, k]` is the real coupling tensor with out_k = sum_ij C_ijk x_i y_j,
  Frobenius norm 1, e3nn >= 0.5.0 signs. Its entries are the generated exact values.
* `wigner_D(l, alpha, beta, gamma) = exp(alpha X[1]) exp(beta X[0]) exp(gamma X[1])`, Euler angles
  Y-X-Y (R = Y(alpha) X(beta) Y(gamma)); D^1(R) == R in (x, y, z) order. It is computed from the
  rotation matrix by an exact coupling recursion (`wigner_D_from_matrix`), not by matrix
  exponentials, so it stays accurate near gimbal lock.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from e3gen.o3._rotation import _check_orthogonal, angles_to_matrix
from e3gen.runtime.loader import load_kernels


def _check_l(name: str, l) -> int:
    if isinstance(l, bool) or not isinstance(l, int) or l < 0:
        raise ValueError(f"{name} must be an integer l >= 0, got {l!r}")
    return l


@lru_cache(maxsize=None)
def _wigner_3j_float64(l1: int, l2: int, l3: int) -> torch.Tensor:
    rows = load_kernels(max(l1, l2, l3)).clebsch_gordan_rows(l1, l2, l3)
    c = torch.zeros(2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1, dtype=torch.float64)
    for i, j, k, value in rows:
        c[i, j, k] = value
    return c


def wigner_3j(l1: int, l2: int, l3: int, dtype=None, device=None) -> torch.Tensor:
    """C^{l1 l2 l3}: tensor [2l1+1, 2l2+1, 2l3+1], exact values rounded once to dtype
    (default: torch.get_default_dtype())."""
    l1, l2, l3 = (_check_l(n, l) for n, l in (("l1", l1), ("l2", l2), ("l3", l3)))
    if not abs(l1 - l2) <= l3 <= l1 + l2:
        raise ValueError(f"wigner_3j({l1}, {l2}, {l3}): the triangle condition |l1 - l2| <= l3 <= l1 + l2 fails")
    dtype = dtype or torch.get_default_dtype()
    return _wigner_3j_float64(l1, l2, l3).to(dtype=dtype, device=device, copy=True)


@lru_cache(maxsize=None)
def _generators_float64(l: int) -> torch.Tensor:
    build = load_kernels(l)
    x = torch.zeros(3, 2 * l + 1, 2 * l + 1, dtype=torch.float64)
    for a, rows in enumerate(build.tables.SO3_GENERATORS[l]):
        for i, j, value in rows:
            x[a, i, j] = value
    return x


def so3_generators(l: int, dtype=None, device=None) -> torch.Tensor:
    """The real generators X[0], X[1], X[2] of D^l: tensor [3, 2l+1, 2l+1] (exact values)."""
    _check_l("l", l)
    return _generators_float64(l).to(dtype=dtype or torch.get_default_dtype(), device=device, copy=True)


def wigner_D_from_matrix(l: int, R: torch.Tensor) -> torch.Tensor:
    """D^l(R) for proper rotations R [..., 3, 3] -> [..., 2l+1, 2l+1], without Euler angles.

    D^1(R) = R, and each higher l follows from the exact coupling C = wigner_3j(l-1, 1, l), which
    intertwines D^(l-1) (x) D^1 with D^l:  D^l = (2l+1) C^T (D^(l-1) (x) R) C  (C flattened to
    [(2l-1)*3, 2l+1]; C has Frobenius norm 1). Unlike angles, this stays accurate to float
    rounding near the gimbal-lock rotations (beta = 0 or pi).

    Raises `RotationMatrixError` (a ValueError, and an AssertionError as e3nn's check) unless R is
    orthogonal with det +1 to within float rounding (1e-5 in float64, 1.2e-4 in float32).
    """
    _check_l("l", l)
    _check_orthogonal(R, "wigner_D_from_matrix", proper=True)
    return _wigner_D_of_rotation(l, R)


def _wigner_D_of_rotation(l: int, R: torch.Tensor) -> torch.Tensor:
    """`wigner_D_from_matrix` without the checks, for callers whose R is a rotation by construction."""
    batch = R.shape[:-2]
    if l == 0:
        return R.new_ones(*batch, 1, 1)
    load_kernels(l)  # one build that covers every step below (and the limit checked before any)
    d = R
    for j in range(2, l + 1):
        c = wigner_3j(j - 1, 1, j, dtype=R.dtype, device=R.device).reshape((2 * j - 1) * 3, 2 * j + 1)
        kron = (d[..., :, None, :, None] * R[..., None, :, None, :]).reshape(*batch, (2 * j - 1) * 3, (2 * j - 1) * 3)
        d = (2 * j + 1) * (c.T @ kron @ c)
    return d


def wigner_D(l: int, alpha, beta, gamma) -> torch.Tensor:
    """D^l(alpha, beta, gamma): tensor [..., 2l+1, 2l+1] for angles of (broadcast) shape [...].

    The same matrices as e3nn's exp(alpha X[1]) exp(beta X[0]) exp(gamma X[1]), computed as
    `wigner_D_from_matrix(l, angles_to_matrix(alpha, beta, gamma))`; the result has the angles'
    floating dtype.
    """
    _check_l("l", l)
    alpha, beta, gamma = (torch.as_tensor(a) for a in (alpha, beta, gamma))
    alpha, beta, gamma = torch.broadcast_tensors(alpha, beta, gamma)
    dtype = alpha.dtype if alpha.is_floating_point() else torch.get_default_dtype()
    return _wigner_D_of_rotation(l, angles_to_matrix(alpha.to(dtype), beta.to(dtype), gamma.to(dtype)))
