"""Index symmetries of a tensor (e3nn 0.6.0's `germinate_formulas`, `reduce_permutation`).

A formula such as ``"ijk=-jik=ikj"`` says that permuting the indices of T multiplies it by the sign in
front. `germinate_formulas` closes these generators into the group of (sign, permutation) they
generate; `reduce_permutation` finds the orthonormal basis of tensors obeying them. Both follow
e3nn's algorithm step by step, so the bases (order and signs) are e3nn's.
"""

import itertools
from typing import FrozenSet, List, Set, Tuple

import torch

from e3gen.math import perm


def germinate_formulas(formula: str) -> Tuple[str, Set[Tuple[int, Tuple[int, ...]]]]:
    """``"ij=-ji"`` -> ("ij", {(1, (0, 1)), (-1, (1, 0))}): the first index string and the group of
    (sign, permutation) pairs the formula generates (permutation p: index f0[p[i]] at position i)."""
    formulas = [(-1 if f.startswith("-") else 1, f.replace("-", "")) for f in formula.split("=")]
    s0, f0 = formulas[0]
    if s0 != 1:
        raise AssertionError(f"the first term of the formula {formula!r} must not carry a minus sign")
    for _s, f in formulas:
        if len(set(f)) != len(f) or set(f) != set(f0):
            raise RuntimeError(f"{f} is not a permutation of {f0}")
        if len(f0) != len(f):
            raise RuntimeError(f"{f0} and {f} don't have the same number of indices")

    group = {(s, tuple(f.index(i) for i in f0)) for s, f in formulas}
    while True:  # close under inverse and composition: the result is a group
        n = len(group)
        group = group.union([(s, perm.inverse(p)) for s, p in group])
        group = group.union([(s1 * s2, perm.compose(p1, p2)) for s1, p1 in group for s2, p2 in group])
        if len(group) == n:
            return f0, group


def spread_over_symmetric_indices(f0: str, formulas, values: dict, what: str) -> dict:
    """Give every index letter of ``f0`` a value (a dimension, an Irreps) from the letters the symmetries tie it to.

    ``values`` maps some letters to their value and is completed in place (and returned); letters a
    permutation of ``formulas`` swaps must agree. ``what`` names the value in the errors (e3nn's wording).
    """
    for _s, p in formulas:
        f = "".join(f0[i] for i in p)
        for i, j in zip(f0, f):
            if i in values and j in values and values[i] != values[j]:
                raise RuntimeError(f"{what} of {i} and {j} should be the same")
            if i in values:
                values[j] = values[i]
            if j in values:
                values[i] = values[j]
    for i in f0:
        if i not in values:
            raise RuntimeError(f"index {i} has no {what} associated to it")
    return values


def reduce_permutation(f0: str, formulas, dtype=None, device=None, **dims: int):
    """Orthonormal basis of the tensors with the symmetries ``formulas`` (from `germinate_formulas`).

    ``dims`` gives the dimension of each index letter (letters tied by a symmetry may be omitted).
    Returns (Q [d_sym, dims...], ret) where ``ret[a]`` lists the (sign, multi-index) entries basis
    tensor a is spread over, each with value sign / sqrt(len).
    """
    spread_over_symmetric_indices(f0, formulas, dims, "dimension")
    dims = [dims[i] for i in f0]

    # Each orbit of multi-indices under the group is one degree of freedom, unless it contains
    # (-1, x), which forces T[x] = -T[x] = 0. Both signs of an orbit are kept so that the choice
    # below is canonical.
    base: Set[FrozenSet] = set()
    for x in itertools.product(*(range(d) for d in dims)):
        xs = {(s, tuple(x[i] for i in p)) for s, p in formulas}
        if (-1, x) not in xs:
            base.add(frozenset({frozenset(xs), frozenset({(-s, y) for s, y in xs})}))
    base: List = sorted([sorted([sorted(xs) for xs in x]) for x in base])

    size = 1
    for d in dims:
        size *= d
    Q = torch.zeros(len(base), size, dtype=dtype, device=device)
    ret = []
    for i, x in enumerate(base):
        x = max(x, key=lambda xs: sum(s for s, _ in xs))
        ret.append(x)
        for s, e in x:
            j = 0
            for k, d in zip(e, dims):
                j = j * d + k
            Q[i, j] = s / len(x) ** 0.5
    return Q.reshape(len(base), *dims), ret
