"""Small linear-algebra helpers of e3nn 0.6.0 (`direct_sum`, `orthonormalize`, `complete_basis`).

Both Gram-Schmidt helpers follow e3nn's operation order exactly (including the snapping of entries
below ``eps`` to zero and the sign convention: the first nonzero entry of each output vector is
positive), so that bases built from them (`ReducedTensorProducts`, `CartesianTensor`) carry e3nn's
numbers and signs.
"""

from typing import Tuple

import torch


def direct_sum(*matrices: torch.Tensor) -> torch.Tensor:
    """Block-diagonal matrix of ``matrices`` [..., m_i, n_i] -> [..., sum m_i, sum n_i] (leading dims of the first)."""
    if not matrices:
        raise ValueError("direct_sum needs at least one matrix")
    front = matrices[0].shape[:-2]
    m = sum(x.size(-2) for x in matrices)
    n = sum(x.size(-1) for x in matrices)
    out = matrices[0].new_zeros(list(front) + [m, n])
    i = j = 0
    for x in matrices:
        a, b = x.shape[-2:]
        out[..., i : i + a, j : j + b] = x
        i += a
        j += b
    return out


def _check_matrix(name: str, caller: str, x: torch.Tensor) -> None:
    if x.dim() != 2:
        raise AssertionError(f"{caller}: {name} must be a matrix [num_vectors, dim], got shape {tuple(x.shape)}")


def orthonormalize(original: torch.Tensor, eps: float = 1e-9) -> Tuple[torch.Tensor, torch.Tensor]:
    """Gram-Schmidt on the rows of ``original`` [n, dim].

    Returns (final [k, dim], matrix [k, n]) with final = matrix @ original; rows whose remainder has
    norm <= 2 eps are dropped.
    """
    _check_matrix("original", "orthonormalize", original)
    dim = original.shape[1]
    final, matrix = [], []
    for i, x in enumerate(original):
        cx = x.new_zeros(len(original))
        cx[i] = 1
        for j, y in enumerate(final):
            c = torch.dot(x, y)
            x = x - c * y
            cx = cx - c * matrix[j]
        if x.norm() > 2 * eps:
            c = 1 / x.norm()
            x = c * x
            cx = c * cx
            x[x.abs() < eps] = 0
            cx[cx.abs() < eps] = 0
            c = x[x.nonzero()[0, 0]].sign()
            final.append(c * x)
            matrix.append(c * cx)
    final = torch.stack(final) if final else original.new_zeros((0, dim))
    matrix = torch.stack(matrix) if matrix else original.new_zeros((0, len(original)))
    return final, matrix


def complete_basis(vecs: torch.Tensor, eps: float = 1e-9) -> torch.Tensor:
    """Orthonormal rows [dim - rank, dim] spanning the orthogonal complement of the rows of ``vecs`` [n, dim].

    The rows of ``vecs`` are assumed orthogonal (as in e3nn); the complement is grown from the
    canonical basis vectors in order.
    """
    _check_matrix("vecs", "complete_basis", vecs)
    dim = vecs.shape[1]
    base = [x / x.norm() for x in vecs]
    expand = []
    for x in torch.eye(dim, device=vecs.device, dtype=vecs.dtype):
        for y in base + expand:
            x -= torch.dot(x, y) * y
        if x.norm() > 2 * eps:
            x /= x.norm()
            x[x.abs() < eps] = x.new_zeros(())
            x *= x[x.nonzero()[0, 0]].sign()
            expand.append(x)
    return torch.stack(expand) if expand else vecs.new_zeros(0, dim)
