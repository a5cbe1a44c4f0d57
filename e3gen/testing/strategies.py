"""Hypothesis strategies for equivariance tests: O(3) elements, irreps, and tensors laid out by irreps.

All of them shrink towards simple cases: the identity rotation, one ``1x0e`` term (or the
smallest allowed), fewer batch rows, and zero entries. Matrices are float64 unless asked
otherwise; tensors use e3nn's ``mul_ir`` layout (see `e3gen.o3.Irreps`) on their last dimension.

>>> from hypothesis import given
>>> @given(R=o3_elements(), x=irreps_tensors("2x1o", batch=3))
... def test_norms_are_invariant(R, x):
...     D = o3.Irreps("2x1o").D_from_matrix(R)
...     assert torch.allclose((x @ D.T).norm(dim=-1), x.norm(dim=-1), rtol=1e-12, atol=1e-12)
>>> test_norms_are_invariant()
"""

from __future__ import annotations

from typing import Sequence, Tuple, Union

import torch
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from e3gen import o3
from e3gen.testing.group import quaternion_to_rotation

__all__ = ["rotations", "o3_elements", "irreps", "irreps_tensors", "DRAWN_LIMIT"]

_COMPONENT = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False, allow_infinity=False)

# Tensors with more entries than this are filled from a drawn seed (see `irreps_tensors`).
# Hypothesis records every choice in an 8 KiB buffer, 8 bytes per float; 256 floats (2 KiB)
# leave room for a few such tensors and the other draws of the same example.
DRAWN_LIMIT = 256


@st.composite
def rotations(draw, dtype=torch.float64) -> torch.Tensor:
    """A proper rotation matrix R [3, 3] (det +1) in `dtype`.

    Drawn as a quaternion of four floats in [-1, 1], normalised; it shrinks towards the identity.
    (Uniform floats in a cube are not exactly uniform on SO(3), but every rotation is reachable.)
    """
    q = torch.tensor([draw(_COMPONENT) for _ in range(4)], dtype=torch.float64)
    if q.norm() < 1e-3:  # too close to 0 to normalise reliably: use the identity
        q = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    return quaternion_to_rotation(q).to(dtype)


@st.composite
def o3_elements(draw, dtype=torch.float64, inversion: bool = True) -> torch.Tensor:
    """An element of O(3) as a matrix [3, 3]: a rotation, times -1 half of the time if `inversion`."""
    R = draw(rotations(dtype=dtype))
    if inversion and draw(st.booleans()):
        R = -R
    return R


_PARITY_LETTERS = ("e", "o", "y")


def irreps(
    lmax: int = 3,
    *,
    min_l: int = 0,
    max_mul: int = 4,
    min_terms: int = 1,
    max_terms: int = 4,
    parities: Sequence[str] = ("e", "o"),
    allow_zero_mul: bool = False,
) -> SearchStrategy[o3.Irreps]:
    """Irreps of ``min_terms``..``max_terms`` terms ``mul x (l, p)``, unsorted and unsimplified.

    Each term has ``min_l <= l <= lmax``, ``1 <= mul <= max_mul`` (``0 <= mul`` with
    ``allow_zero_mul``, as e3nn allows) and a parity from ``parities``: ``"e"`` (+1), ``"o"``
    (-1), ``"y"`` ((-1)^l, the parity of spherical harmonics). Shrinks towards one ``1x{min_l}``.

    Only scalars: ``irreps(lmax=0)`` (``parities=("e",)`` for ``0e`` only); only l >= 1:
    ``irreps(min_l=1)``; spherical-harmonic parities: ``irreps(parities=("y",))``.

    >>> from hypothesis import given
    >>> @given(irreps(lmax=2, min_l=1, max_mul=3))
    ... def test(ir):
    ...     assert 1 <= len(ir) <= 4 and all(1 <= mul <= 3 and 1 <= l <= 2 for mul, (l, p) in ir)
    >>> test()
    """
    if not 0 <= min_l <= lmax:
        raise ValueError(f"irreps() needs 0 <= min_l <= lmax, got min_l={min_l}, lmax={lmax}")
    if max_mul < 1:
        raise ValueError(f"irreps() needs max_mul >= 1, got {max_mul}")
    if not 0 <= min_terms <= max_terms:
        raise ValueError(f"irreps() needs 0 <= min_terms <= max_terms, got {min_terms}, {max_terms}")
    bad = [p for p in parities if p not in _PARITY_LETTERS]
    if not parities or bad:
        raise ValueError(f"irreps() parities must be a non-empty subset of {_PARITY_LETTERS}, got {tuple(parities)}")

    term = st.tuples(
        st.integers(0 if allow_zero_mul else 1, max_mul),
        st.integers(min_l, lmax),
        st.sampled_from(tuple(parities)),
    )
    return st.lists(term, min_size=min_terms, max_size=max_terms).map(
        lambda terms: o3.Irreps([(mul, f"{l}{p}") for mul, l, p in terms])
    )


Batch = Union[int, Tuple[int, ...], SearchStrategy]


def irreps_tensors(
    irreps,
    batch: Batch = (),
    *,
    dtype: torch.dtype = torch.float64,
    max_abs: float = 10.0,
    values: str = "auto",
    device=None,
) -> SearchStrategy[torch.Tensor]:
    """Tensors [*batch, irreps.dim] with finite entries in [-max_abs, max_abs], in `dtype`.

    ``irreps``: anything `e3gen.o3.Irreps` accepts (to draw the irreps too, compose with
    ``irreps().flatmap(lambda ir: st.tuples(st.just(ir), irreps_tensors(ir)))``).
    ``batch``: leading dims, an int ``n`` (meaning ``(n,)``), a tuple, or a strategy drawing either
    (e.g. ``st.integers(1, 8)``).

    Where the entries come from (``values``):

    * ``"drawn"``: hypothesis draws every entry. Shrinking then works entry by entry (a failing
      input shrinks towards zeros and small round numbers you can read), and hypothesis tries the
      edge cases it knows: zeros, +-max_abs, repeated values, tiny magnitudes.
    * ``"seeded"``: hypothesis draws one seed and the tensor is standard-normal noise from
      ``torch.Generator().manual_seed(seed)``, clamped to +-max_abs. Use it for large tensors:
      hypothesis's choice buffer (8 KiB, 8 bytes per float) cannot hold thousands of floats, and
      an equivariance bug shows on generic inputs anyway. Only the seed shrinks.
    * ``"auto"`` (default): ``"drawn"`` up to `DRAWN_LIMIT` (256) entries, else ``"seeded"``.

    Entries are drawn as float64 and cast to ``dtype`` (so float32 tensors hold float32 roundings
    of the drawn numbers). Subnormal floats are excluded: their relative error is meaningless.
    """
    irreps = o3.Irreps(irreps)
    if values not in ("auto", "drawn", "seeded"):
        raise ValueError(f"irreps_tensors() values must be 'auto', 'drawn' or 'seeded', got {values!r}")
    if not max_abs > 0:
        raise ValueError(f"irreps_tensors() needs max_abs > 0, got {max_abs}")
    batches = batch if isinstance(batch, SearchStrategy) else st.just(_batch_shape(batch))
    entries = st.floats(-max_abs, max_abs, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    return _tensors(irreps.dim, batches, entries, values, max_abs, dtype, device)


# Module level, not nested in irreps_tensors: hypothesis inspects a composite's source when it is
# defined, which would cost ~2 ms on every call of irreps_tensors.
@st.composite
def _tensors(draw, dim, batches, entries, values, max_abs, dtype, device) -> torch.Tensor:
    shape = (*_batch_shape(draw(batches)), dim)
    numel = 1
    for n in shape:
        numel *= n
    if values == "auto":
        values = "drawn" if numel <= DRAWN_LIMIT else "seeded"
    if values == "drawn":
        flat = draw(st.lists(entries, min_size=numel, max_size=numel))
        x = torch.tensor(flat, dtype=torch.float64).reshape(shape)
    else:
        generator = torch.Generator().manual_seed(draw(st.integers(0, 2**32 - 1)))
        x = torch.randn(shape, dtype=torch.float64, generator=generator).clamp(-max_abs, max_abs)
    return x.to(dtype=dtype, device=device)


def _batch_shape(batch) -> Tuple[int, ...]:
    """``3`` -> ``(3,)``; a tuple of non-negative ints is kept; anything else is a ValueError."""
    if isinstance(batch, int) and not isinstance(batch, bool):
        batch = (batch,)
    batch = tuple(batch)
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in batch):
        raise ValueError(f"irreps_tensors() batch must be an int or a tuple of ints >= 0, got {batch!r}")
    return batch
