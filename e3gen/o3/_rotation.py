"""Parametrisations of 3D rotations and conversions between them (e3nn 0.6.0 conventions).

Conventions:

* Matrices act on column vectors (x, y, z): ``v' = R @ v``; shape ``(..., 3, 3)``.
* Euler angles are Y-X-Y: ``R(alpha, beta, gamma) = Y(alpha) @ X(beta) @ Y(gamma)``,
  so gamma is applied first and alpha last. Y is the polar axis.
* Quaternions are ``(w, x, y, z)`` with the real part first; shape ``(..., 4)``.
* Axis-angle is an axis of shape ``(..., 3)`` (need not be normalised) and an angle of shape ``(...)``.
* A point on the sphere is ``angles_to_xyz(alpha, beta) = R(alpha, beta, 0) @ e_y``, i.e.
  ``(sin(beta) sin(alpha), cos(beta), sin(beta) cos(alpha))``: beta is the polar angle from +Y.
  (e3nn's docstring says ``e_z``; its code, mirrored here, uses ``e_y``.)
* ``compose_*(a, b)`` returns the rotation ``a ∘ b`` (b applied first).

Every function broadcasts its arguments and follows e3nn's operation order exactly, so results
agree with e3nn bit for bit (and random ones do for the same torch seed).
"""

import math

import torch

__all__ = [
    "rand_matrix",
    "identity_angles",
    "rand_angles",
    "compose_angles",
    "inverse_angles",
    "identity_quaternion",
    "rand_quaternion",
    "compose_quaternion",
    "inverse_quaternion",
    "rand_axis_angle",
    "compose_axis_angle",
    "matrix_x",
    "matrix_y",
    "matrix_z",
    "angles_to_matrix",
    "matrix_to_angles",
    "angles_to_quaternion",
    "matrix_to_quaternion",
    "axis_angle_to_quaternion",
    "quaternion_to_axis_angle",
    "matrix_to_axis_angle",
    "angles_to_axis_angle",
    "axis_angle_to_matrix",
    "quaternion_to_matrix",
    "quaternion_to_angles",
    "axis_angle_to_angles",
    "angles_to_xyz",
    "xyz_to_angles",
]


class RotationMatrixError(ValueError, AssertionError):
    """A matrix that should be a rotation (or an element of O(3)) is not one.

    A ValueError, as e3gen's other errors about bad arguments; also an AssertionError, the type
    e3nn raises here (its ``assert torch.allclose(torch.det(R), 1)``), so code ported from e3nn
    that catches it keeps working.
    """


def _orthogonality_tolerance(dtype: torch.dtype) -> float:
    """How far R @ R^T may be from I, entrywise: 1e-5 (e3nn's det tolerance) in float64; about 1000
    rounding units in float32 (1.2e-4: products of a few float32 rotations stay within 1e-6),
    capped at 0.05 for half precisions. Non-rotations such as 2 I are off by O(1)."""
    return min(max(1e-5, 1000 * torch.finfo(dtype).eps), 0.05)


def _check_orthogonal(R, caller: str, proper: bool) -> None:
    """Raise RotationMatrixError unless R [..., 3, 3] is a float tensor of orthogonal matrices
    (with det +1 if ``proper``). One host sync; skipped while torch.compile traces."""
    if not isinstance(R, torch.Tensor) or not R.is_floating_point() or R.dim() < 2 or R.shape[-2:] != (3, 3):
        what = f"{R.dtype} tensor of shape {tuple(R.shape)}" if isinstance(R, torch.Tensor) else type(R).__name__
        raise RotationMatrixError(f"{caller} expects R as a float tensor of matrices [..., 3, 3], got a {what}")
    if R.numel() == 0 or torch.compiler.is_compiling():
        return
    eye = torch.eye(3, dtype=R.dtype, device=R.device)
    deviation = (R @ R.transpose(-1, -2) - eye).abs().amax()
    # one sync for both numbers; det_min is unused unless proper
    worst, det_min = torch.stack([deviation, torch.det(R).amin() if proper else deviation]).tolist()
    tolerance = _orthogonality_tolerance(R.dtype)
    if not worst <= tolerance:  # `not <=` also refuses NaN
        kind = "rotation matrices (orthogonal, det +1)" if proper else "orthogonal matrices (R @ R^T = I, det +-1)"
        raise RotationMatrixError(
            f"{caller} expects R as {kind}; max |R @ R^T - I| is {worst:.3g} (tolerance {tolerance:.2g} in {R.dtype}). "
            f"A scaled or sheared matrix is not a rotation: orthonormalise it (e.g. U @ Vh from torch.linalg.svd(R)) "
            f"or draw one with e3gen.o3.rand_matrix()"
        )
    if proper and not det_min > 0:
        raise RotationMatrixError(
            f"{caller} expects R as rotation matrices (det +1), got a determinant of {det_min:.6g}; "
            f"for an improper element of O(3) use Irrep(s).D_from_matrix, which applies the parity"
        )


def _check_proper_rotation(R: torch.Tensor, caller: str) -> None:
    # The angle and axis-angle extractions silently return a wrong rotation for det = -1.
    det = torch.det(R)
    if not torch.allclose(det, R.new_tensor(1)):
        raise RotationMatrixError(
            f"{caller} expects rotation matrices of shape (..., 3, 3) with determinant +1, "
            f"got determinants in [{det.min().item():.6g}, {det.max().item():.6g}]"
        )


# matrix


def rand_matrix(*shape, requires_grad: bool = False, dtype=None, device=None) -> torch.Tensor:
    """Uniformly random rotation matrices of shape ``(*shape, 3, 3)``."""
    R = angles_to_matrix(*rand_angles(*shape, dtype=dtype, device=device))
    return R.detach().requires_grad_(requires_grad)


# angles


def identity_angles(*shape, requires_grad: bool = False, dtype=None, device=None):
    """Angles ``(alpha, beta, gamma)`` of the identity, each all zeros of shape ``shape``."""
    return tuple(
        torch.zeros(shape, dtype=dtype, device=device).requires_grad_(requires_grad) for _ in range(3)
    )


def rand_angles(*shape, requires_grad: bool = False, dtype=None, device=None):
    """Angles ``(alpha, beta, gamma)`` of uniformly random rotations, each of shape ``shape``.

    alpha and gamma are uniform in [0, 2 pi); beta = acos(u), u uniform in [-1, 1), so that
    the rotations are Haar distributed.
    """
    # One draw of shape (2, *shape) for alpha and gamma, then one for beta: e3nn's RNG order.
    alpha, gamma = 2 * math.pi * torch.rand(2, *shape, dtype=dtype, device=device)
    beta = torch.rand(shape, dtype=dtype, device=device).mul(2).sub(1).acos()
    return tuple(x.detach().requires_grad_(requires_grad) for x in (alpha, beta, gamma))


def compose_angles(a1, b1, c1, a2, b2, c2):
    """Angles of ``R(a1, b1, c1) @ R(a2, b2, c2)`` (the second rotation is applied first); shapes broadcast."""
    a1, b1, c1, a2, b2, c2 = torch.broadcast_tensors(a1, b1, c1, a2, b2, c2)
    return matrix_to_angles(angles_to_matrix(a1, b1, c1) @ angles_to_matrix(a2, b2, c2))


def inverse_angles(a, b, c):
    """Angles of the inverse rotation: ``R(a, b, c)^-1 = R(-c, -b, -a)``."""
    return -c, -b, -a


# quaternions


def identity_quaternion(*shape, requires_grad: bool = False, dtype=None, device=None) -> torch.Tensor:
    """Identity quaternions ``(1, 0, 0, 0)`` of shape ``(*shape, 4)``."""
    q = torch.zeros(*shape, 4, dtype=dtype, device=device)
    q[..., 0] = 1
    return q.requires_grad_(requires_grad)


def rand_quaternion(*shape, requires_grad: bool = False, dtype=None, device=None) -> torch.Tensor:
    """Unit quaternions of uniformly random rotations, shape ``(*shape, 4)``."""
    q = angles_to_quaternion(*rand_angles(*shape, dtype=dtype, device=device))
    return q.detach().requires_grad_(requires_grad)


def compose_quaternion(q1, q2) -> torch.Tensor:
    """Hamilton product ``q1 * q2`` (q2 applied first); shapes ``(..., 4)`` broadcast."""
    q1, q2 = torch.broadcast_tensors(q1, q2)
    w1, x1, y1, z1 = q1.unbind(-1)
    w2, x2, y2, z2 = q2.unbind(-1)
    # Terms are summed in e3nn's order so that rounding matches.
    return torch.stack(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            x1 * w2 + w1 * x2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ],
        dim=-1,
    )


def inverse_quaternion(q) -> torch.Tensor:
    """Conjugate ``(w, -x, -y, -z)``, the inverse of a unit quaternion; shape ``(..., 4)``."""
    return torch.cat([q[..., :1], -q[..., 1:]], dim=-1)


# axis-angle


def rand_axis_angle(*shape, requires_grad: bool = False, dtype=None, device=None):
    """Uniformly random rotations as ``(axis, angle)``: unit axes ``(*shape, 3)``, angles ``(*shape)`` in [0, pi]."""
    axis, angle = angles_to_axis_angle(*rand_angles(*shape, dtype=dtype, device=device))
    return axis.detach().requires_grad_(requires_grad), angle.detach().requires_grad_(requires_grad)


def compose_axis_angle(axis1, angle1, axis2, angle2):
    """Axis-angle of rotation 1 ∘ rotation 2 (rotation 2 applied first), via quaternions."""
    return quaternion_to_axis_angle(
        compose_quaternion(axis_angle_to_quaternion(axis1, angle1), axis_angle_to_quaternion(axis2, angle2))
    )


# conversions


def matrix_x(angle: torch.Tensor) -> torch.Tensor:
    """Rotations by ``angle`` (shape ``(...)``) about the X axis, shape ``(..., 3, 3)``."""
    c = angle.cos()
    s = angle.sin()
    o = torch.ones_like(angle)
    z = torch.zeros_like(angle)
    return torch.stack(
        [
            torch.stack([o, z, z], dim=-1),
            torch.stack([z, c, -s], dim=-1),
            torch.stack([z, s, c], dim=-1),
        ],
        dim=-2,
    )


def matrix_y(angle: torch.Tensor) -> torch.Tensor:
    """Rotations by ``angle`` (shape ``(...)``) about the Y axis, shape ``(..., 3, 3)``."""
    c = angle.cos()
    s = angle.sin()
    o = torch.ones_like(angle)
    z = torch.zeros_like(angle)
    return torch.stack(
        [
            torch.stack([c, z, s], dim=-1),
            torch.stack([z, o, z], dim=-1),
            torch.stack([-s, z, c], dim=-1),
        ],
        dim=-2,
    )


def matrix_z(angle: torch.Tensor) -> torch.Tensor:
    """Rotations by ``angle`` (shape ``(...)``) about the Z axis, shape ``(..., 3, 3)``."""
    c = angle.cos()
    s = angle.sin()
    o = torch.ones_like(angle)
    z = torch.zeros_like(angle)
    return torch.stack(
        [
            torch.stack([c, -s, z], dim=-1),
            torch.stack([s, c, z], dim=-1),
            torch.stack([z, z, o], dim=-1),
        ],
        dim=-2,
    )


def angles_to_matrix(alpha, beta, gamma) -> torch.Tensor:
    """``Y(alpha) @ X(beta) @ Y(gamma)``; angles of shape ``(...)`` broadcast, result ``(..., 3, 3)``."""
    alpha, beta, gamma = torch.broadcast_tensors(alpha, beta, gamma)
    return matrix_y(alpha) @ matrix_x(beta) @ matrix_y(gamma)


def matrix_to_angles(R):
    """Y-X-Y Euler angles ``(alpha, beta, gamma)``, each ``(...)``, of rotation matrices ``(..., 3, 3)``.

    alpha and gamma are in (-pi, pi], beta in [0, pi]. Raises ValueError unless det(R) = +1.
    """
    _check_proper_rotation(R, "matrix_to_angles")
    # R e_y = R(alpha, beta, 0) e_y fixes alpha and beta; what is left is Y(gamma).
    x = R @ R.new_tensor([0.0, 1.0, 0.0])
    a, b = xyz_to_angles(x)
    R = angles_to_matrix(a, b, torch.zeros_like(a)).transpose(-1, -2) @ R
    c = torch.atan2(R[..., 0, 2], R[..., 0, 0])
    return a, b, c


def angles_to_quaternion(alpha, beta, gamma) -> torch.Tensor:
    """Unit quaternions ``(..., 4)`` of ``R(alpha, beta, gamma)``; angles of shape ``(...)`` broadcast."""
    alpha, beta, gamma = torch.broadcast_tensors(alpha, beta, gamma)
    qa = axis_angle_to_quaternion(alpha.new_tensor([0.0, 1.0, 0.0]), alpha)
    qb = axis_angle_to_quaternion(beta.new_tensor([1.0, 0.0, 0.0]), beta)
    qc = axis_angle_to_quaternion(gamma.new_tensor([0.0, 1.0, 0.0]), gamma)
    return compose_quaternion(qa, compose_quaternion(qb, qc))


def matrix_to_quaternion(R) -> torch.Tensor:
    """Unit quaternions ``(..., 4)`` of rotation matrices ``(..., 3, 3)``, with w >= 0."""
    return axis_angle_to_quaternion(*matrix_to_axis_angle(R))


def axis_angle_to_quaternion(xyz, angle) -> torch.Tensor:
    """``(cos(angle/2), sin(angle/2) xyz/|xyz|)`` of shape ``(..., 4)``; xyz ``(..., 3)``, angle ``(...)``."""
    xyz, angle = torch.broadcast_tensors(xyz, angle[..., None])
    xyz = torch.nn.functional.normalize(xyz, dim=-1)
    c = torch.cos(angle[..., :1] / 2)
    s = torch.sin(angle / 2)
    return torch.cat([c, xyz * s], dim=-1)


def quaternion_to_axis_angle(q):
    """Unit axis ``(..., 3)`` and angle ``(...)`` in [0, 2 pi] of unit quaternions ``(..., 4)``."""
    angle = 2 * torch.acos(q[..., 0].clamp(-1, 1))
    axis = torch.nn.functional.normalize(q[..., 1:], dim=-1)
    return axis, angle


def matrix_to_axis_angle(R):
    """Unit axis ``(..., 3)`` and angle ``(...)`` in [0, pi] of rotation matrices ``(..., 3, 3)``.

    Raises ValueError unless det(R) = +1.
    """
    _check_proper_rotation(R, "matrix_to_axis_angle")
    tr = R[..., 0, 0] + R[..., 1, 1] + R[..., 2, 2]
    angle = torch.acos(tr.sub(1).div(2).clamp(-1, 1))
    # The antisymmetric part of R is sin(angle) times the cross-product matrix of the axis.
    axis = torch.stack(
        [
            R[..., 2, 1] - R[..., 1, 2],
            R[..., 0, 2] - R[..., 2, 0],
            R[..., 1, 0] - R[..., 0, 1],
        ],
        dim=-1,
    )
    axis = torch.nn.functional.normalize(axis, dim=-1)
    return axis, angle


def angles_to_axis_angle(alpha, beta, gamma):
    """Unit axis ``(..., 3)`` and angle ``(...)`` of ``R(alpha, beta, gamma)``."""
    return matrix_to_axis_angle(angles_to_matrix(alpha, beta, gamma))


def axis_angle_to_matrix(axis, angle) -> torch.Tensor:
    """Rotation matrices ``(..., 3, 3)`` by ``angle`` ``(...)`` about ``axis`` ``(..., 3)``."""
    axis, angle = torch.broadcast_tensors(axis, angle[..., None])
    # Conjugate a rotation about Y by a rotation taking Y onto the axis.
    alpha, beta = xyz_to_angles(axis)
    R = angles_to_matrix(alpha, beta, torch.zeros_like(beta))
    Ry = matrix_y(angle[..., 0])
    return R @ Ry @ R.transpose(-2, -1)


def quaternion_to_matrix(q) -> torch.Tensor:
    """Rotation matrices ``(..., 3, 3)`` of unit quaternions ``(..., 4)``."""
    return axis_angle_to_matrix(*quaternion_to_axis_angle(q))


def quaternion_to_angles(q):
    """Angles ``(alpha, beta, gamma)``, each ``(...)``, of unit quaternions ``(..., 4)``."""
    return matrix_to_angles(quaternion_to_matrix(q))


def axis_angle_to_angles(axis, angle):
    """Angles ``(alpha, beta, gamma)``, each ``(...)``, of the rotation by ``angle`` about ``axis``."""
    return matrix_to_angles(axis_angle_to_matrix(axis, angle))


# point on the sphere


def angles_to_xyz(alpha, beta) -> torch.Tensor:
    """Point ``R(alpha, beta, 0) @ e_y = (sin b sin a, cos b, sin b cos a)`` of shape ``(..., 3)``."""
    alpha, beta = torch.broadcast_tensors(alpha, beta)
    x = torch.sin(beta) * torch.sin(alpha)
    y = torch.cos(beta)
    z = torch.sin(beta) * torch.cos(alpha)
    return torch.stack([x, y, z], dim=-1)


def xyz_to_angles(xyz):
    """Angles ``(alpha, beta)``, each ``(...)``, of the direction of ``xyz`` ``(..., 3)``; inverse of `angles_to_xyz`.

    alpha is in (-pi, pi], beta in [0, pi]. The zero vector gives (0, pi/2) rather than nan.
    """
    # normalize() maps 0 to 0 instead of nan; clamp guards acos against rounding just above 1.
    xyz = torch.nn.functional.normalize(xyz, p=2.0, dim=-1)
    xyz = xyz.clamp(-1, 1)

    beta = torch.acos(xyz[..., 1])
    alpha = torch.atan2(xyz[..., 0], xyz[..., 2])
    return alpha, beta
