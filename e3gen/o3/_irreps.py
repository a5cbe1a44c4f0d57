"""Irreducible representations of O(3) and their direct sums (e3nn 0.6.0 semantics).

An `Irrep` is a pair ``(l, p)``: degree ``l >= 0`` (dimension ``2l + 1``) and parity ``p = ±1``.
Its string form is ``"{l}e"`` (p = +1) or ``"{l}o"`` (p = -1); ``"{l}y"`` is accepted on input and
means p = (-1)^l, the parity of the spherical harmonics.

An `Irreps` is a tuple of ``(mul, ir)`` pairs, written ``"16x0e+8x1o"``. The order of the pairs is
the layout of feature vectors: ``mul`` copies of ``ir`` occupy ``mul * ir.dim`` consecutive entries.

Both are immutable tuples, so they hash and compare like tuples (and equal e3nn's own objects).
Nothing here builds kernels; only the ``D_from_*`` methods compute Wigner D matrices.
"""

import collections
import itertools
from typing import Callable, Iterator, List, Optional, Tuple, Union

import torch

from e3gen.math._linalg import direct_sum
from e3gen.o3 import _rotation

__all__ = ["Irrep", "Irreps"]

_PARITY_LETTERS = {1: "e", -1: "o"}
_IRREP_FORM = "l >= 0 followed by a parity letter e (even), o (odd) or y ((-1)^l), like '0e', '1o' or '2y'"
_IRREPS_FORM = "'16x0e + 8x1o + 2e' (terms 'mul x irrep' joined by '+'; the 'mul x' may be left out)"


def _parse_irrep(text: str):
    """``"2o"`` -> ``(2, -1)``; whitespace around the string and after l is ignored, like e3nn."""
    name = text.strip()
    try:
        l = int(name[:-1])
    except ValueError:
        l = -1
    if l < 0 or name[-1:] not in ("e", "o", "y"):
        raise ValueError(f"cannot parse {text!r} as an Irrep: expected {_IRREP_FORM}")
    p = {"e": 1, "o": -1, "y": (-1) ** l}[name[-1]]
    return l, p


class Irrep(tuple):
    """Irreducible representation ``(l, p)`` of O(3): degree ``l``, parity ``p``, dimension ``2l + 1``.

    Accepted forms: ``Irrep(l, p)``, ``Irrep("1o")``, ``Irrep("1y")`` (p = (-1)^l), ``Irrep((l, p))``,
    ``Irrep(irrep)``. Irreps order like the tuples ``(l, p)``, so ``0o < 0e < 1o < 1e``.

    >>> Irrep(1, -1), Irrep("2y"), Irrep("2e").dim
    (1o, 2e, 5)
    """

    def __new__(cls, l: Union[int, "Irrep", str, tuple], p: Optional[int] = None):
        if p is None:
            if isinstance(l, Irrep):
                return l
            if isinstance(l, _MulIr):
                # e3nn 0.6.0 returns the int l here, which silently breaks filter, count and `in`
                # when given an Irreps or a string; the irrep is what is meant.
                return l.ir
            if isinstance(l, str):
                l, p = _parse_irrep(l)
            elif isinstance(l, tuple):
                try:
                    l, p = l
                except ValueError:
                    raise ValueError(f"cannot interpret {l!r} as an Irrep: expected a pair (l, p)") from None

        # bool is an int subclass, but Irrep(True, 1) would print as "Truee".
        if not isinstance(l, int) or isinstance(l, bool) or l < 0:
            raise ValueError(f"Irrep degree l must be a non-negative int, got {l!r}")
        if p not in (-1, 1):
            raise ValueError(f"Irrep parity p must be 1 (even) or -1 (odd), got {p!r}")
        return super().__new__(cls, (l, int(p)))

    @property
    def l(self) -> int:  # noqa: E743
        """Degree ``l = 0, 1, 2, ...``."""
        return self[0]

    @property
    def p(self) -> int:
        """Parity, ``1`` (even) or ``-1`` (odd)."""
        return self[1]

    @property
    def dim(self) -> int:
        """Dimension ``2l + 1``."""
        return 2 * self.l + 1

    def is_scalar(self) -> bool:
        """True for ``0e`` only."""
        return self.l == 0 and self.p == 1

    def __repr__(self) -> str:
        return f"{self.l}{_PARITY_LETTERS[self.p]}"

    @classmethod
    def iterator(cls, lmax: Optional[int] = None) -> Iterator["Irrep"]:
        """All irreps up to degree ``lmax`` (forever if None): 0e, 0o, 1o, 1e, 2e, 2o, ...

        For each l the parity (-1)^l of the spherical harmonics comes first.
        """
        for l in itertools.count():
            yield Irrep(l, (-1) ** l)
            yield Irrep(l, -((-1) ** l))
            if l == lmax:
                break

    def __mul__(self, other) -> Iterator["Irrep"]:
        """Irreps in the tensor product: ``l = |l1 - l2|, ..., l1 + l2`` with parity ``p1 * p2`` (a generator)."""
        other = Irrep(other)
        p = self.p * other.p
        return (Irrep(l, p) for l in range(abs(self.l - other.l), self.l + other.l + 1))

    def __rmul__(self, mul: int) -> "Irreps":
        """``3 * Irrep("1e")`` is ``Irreps("3x1e")``."""
        if not isinstance(mul, int):
            return NotImplemented
        return Irreps([(mul, self)])

    def __add__(self, other) -> "Irreps":
        """``Irrep("0e") + "1o"`` is ``Irreps("1x0e+1x1o")``."""
        return Irreps(self) + Irreps(other)

    # An Irrep is a label, not a container: the tuple sequence protocol would be misleading
    # (len(Irrep("2e")) == 2 looks like a dimension), so e3nn disables it and so do we.
    def __len__(self):
        raise NotImplementedError

    def __contains__(self, _object):
        raise NotImplementedError

    def count(self, _value):
        raise NotImplementedError

    def index(self, _value):
        raise NotImplementedError

    def D_from_angles(self, alpha, beta, gamma, k=None) -> torch.Tensor:
        """``p^k D^l(alpha, beta, gamma)`` of shape ``(..., 2l+1, 2l+1)``.

        Angles are Y-X-Y (gamma about Y first, then beta about X, then alpha about Y) and ``k``
        (default 0) counts parity inversions; all four broadcast to the batch shape ``(...)``.
        """
        # Imported here, not at module level: _wigner loads generated kernels, which parsing and
        # manipulating Irreps must never need.
        from e3gen.o3._wigner import wigner_D

        if k is None:
            k = torch.zeros_like(alpha)
        alpha, beta, gamma, k = torch.broadcast_tensors(alpha, beta, gamma, k)
        return wigner_D(self.l, alpha, beta, gamma) * self.p ** k[..., None, None]

    def D_from_quaternion(self, q, k=None) -> torch.Tensor:
        """D matrices ``(..., 2l+1, 2l+1)`` of unit quaternions ``(..., 4)``, see `D_from_angles`."""
        return self.D_from_angles(*_rotation.quaternion_to_angles(q), k)

    def D_from_matrix(self, R) -> torch.Tensor:
        """D matrices ``(..., 2l+1, 2l+1)`` of orthogonal matrices ``(..., 3, 3)``; det -1 applies the parity.

        Computed from R directly (no Euler angles), so it is accurate near gimbal lock too. Raises
        `RotationMatrixError` (a ValueError; an AssertionError, as e3nn) if R is not orthogonal.
        """
        _rotation._check_orthogonal(R, "D_from_matrix", proper=False)
        return self._D_of_orthogonal(R)

    def _D_of_orthogonal(self, R) -> torch.Tensor:
        from e3gen.o3._wigner import _wigner_D_of_rotation

        R, k = _split_parity(R)
        return _wigner_D_of_rotation(self.l, R) * self.p ** k[..., None, None]

    def D_from_axis_angle(self, axis, angle) -> torch.Tensor:
        """D matrices ``(..., 2l+1, 2l+1)`` of the rotation by ``angle`` ``(...)`` about ``axis`` ``(..., 3)``."""
        return self.D_from_angles(*_rotation.axis_angle_to_angles(axis, angle))


class _MulIr(tuple):
    """``(mul, ir)``: ``mul`` copies of the Irrep ``ir``; ``_MulIr(mul, ir)`` or ``_MulIr((mul, ir))``."""

    def __new__(cls, mul, ir=None):
        if ir is None:
            mul, ir = mul
        if not isinstance(mul, int) or isinstance(mul, bool) or mul < 0:
            raise ValueError(f"multiplicity must be a non-negative int, got {mul!r}")
        if not isinstance(ir, Irrep):
            raise ValueError(f"expected an Irrep, got {ir!r}")
        return super().__new__(cls, (mul, ir))

    @property
    def mul(self) -> int:
        return self[0]

    @property
    def ir(self) -> Irrep:
        return self[1]

    @property
    def dim(self) -> int:
        """``mul * ir.dim``."""
        return self.mul * self.ir.dim

    def __repr__(self) -> str:
        return f"{self.mul}x{self.ir}"

    def count(self, _value):
        raise NotImplementedError

    def index(self, _value):
        raise NotImplementedError


def _parse_irreps(text: str) -> List[_MulIr]:
    """``"16x0e + 8x1o + 2e"`` -> ``[16x0e, 8x1o, 1x2e]``; an empty or blank string is no terms."""
    if not text.strip():
        return []
    out = []
    for term in text.split("+"):
        try:
            mul, x, ir = term.partition("x")
            out.append(_MulIr(int(mul), Irrep(ir)) if x else _MulIr(1, Irrep(term)))
        except ValueError as error:
            raise ValueError(
                f"cannot parse {text!r} as Irreps: bad term {term.strip()!r}; expected something like {_IRREPS_FORM}"
            ) from error
    return out


def _to_mul_ir(item) -> _MulIr:
    """One element of a list given to `Irreps`: ``"1o"``, an Irrep, or a pair ``(mul, irrep-like)``."""
    try:
        if isinstance(item, str):
            return _MulIr(1, Irrep(item))
        if isinstance(item, Irrep):
            return _MulIr(1, item)
        if isinstance(item, _MulIr):
            return item
        mul, ir = item
        return _MulIr(mul, Irrep(ir))
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"cannot interpret {item!r} as a term of Irreps ({error}): expected a pair (mul, irrep) "
            f"like (16, '0e') or (8, (1, -1)), an Irrep, or a string like '1o'"
        ) from error


_SortResult = collections.namedtuple("sort", ["irreps", "p", "inv"])


class Irreps(tuple):
    """Direct sum of irreps of O(3): a tuple of ``(mul, ir)`` pairs, written ``"16x0e+8x1o"``.

    Accepted forms: a string ``"16x0e + 8x1o + 2e"`` (blank for none), an `Irrep`, another
    `Irreps`, None, or an iterable whose elements are ``(mul, ir)`` pairs (``ir`` anything `Irrep`
    accepts, e.g. ``"1o"`` or ``(1, -1)``), `Irrep` objects or irrep strings (multiplicity 1).
    Terms are kept as given: nothing is merged, sorted or dropped (use `simplify`, `sort`, `regroup`).

    >>> Irreps("16x0e + 8x1o"), Irreps([(16, (0, 1)), (8, "1o")]).dim
    (16x0e+8x1o, 40)
    """

    # e3nn's utilities (e.g. e3nn.util.test.assert_equivariant) recognise Irreps by this class
    # attribute rather than by isinstance, so with it they accept ours as well.
    _e3nn_irreps_marker = True

    def __new__(cls, irreps=None):
        if isinstance(irreps, Irreps):
            return super().__new__(cls, irreps)
        if irreps is None:
            terms = []
        elif isinstance(irreps, Irrep):
            terms = [_MulIr(1, irreps)]
        elif isinstance(irreps, str):
            terms = _parse_irreps(irreps)
        else:
            try:
                items = iter(irreps)
            except TypeError:
                raise ValueError(
                    f"cannot interpret {irreps!r} as Irreps: expected a string like {_IRREPS_FORM}, "
                    f"an Irrep, or a list of (mul, irrep) pairs"
                ) from None
            terms = [_to_mul_ir(item) for item in items]
        return super().__new__(cls, terms)

    @staticmethod
    def spherical_harmonics(lmax: int, p: int = -1) -> "Irreps":
        """``1x0e+1x1o+...+1x{lmax}``: parities ``p**l``, so p=-1 gives (-1)^l and p=1 all even."""
        return Irreps([(1, (l, p**l)) for l in range(lmax + 1)])

    @property
    def dim(self) -> int:
        """Total dimension, ``sum(mul * (2l + 1))``."""
        return sum(mul * ir.dim for mul, ir in self)

    @property
    def num_irreps(self) -> int:
        """Sum of the multiplicities."""
        return sum(mul for mul, _ in self)

    @property
    def ls(self) -> List[int]:
        """``l`` of every copy, in order: ``Irreps("2x0e+1o").ls == [0, 0, 1]``."""
        return [l for mul, (l, p) in self for _ in range(mul)]

    @property
    def lmax(self) -> int:
        """Largest ``l`` among copies (terms with multiplicity 0 do not count); ValueError if there are none."""
        ls = self.ls
        if not ls:
            detail = f" ({self!r} has only zero multiplicities)" if len(self) else ""
            raise ValueError(f"Cannot get lmax of empty Irreps{detail}")
        return max(ls)

    def is_scalar(self) -> bool:
        """True if every term is ``0e`` (e3nn-jax semantics; e3nn 0.6.0 has this on Irrep only)."""
        return {ir for _, ir in self} == {Irrep(0, 1)}

    def slices(self) -> List[slice]:
        """Slice of the feature vector occupied by each term: ``Irreps("2x0e+1e").slices() == [0:2, 2:5]``."""
        out = []
        start = 0
        for mul_ir in self:
            out.append(slice(start, start + mul_ir.dim))
            start += mul_ir.dim
        return out

    def __repr__(self) -> str:
        return "+".join(f"{mul_ir}" for mul_ir in self)

    def __getitem__(self, i) -> Union[_MulIr, "Irreps"]:
        """An index gives one ``(mul, ir)`` term; a slice gives Irreps."""
        x = super().__getitem__(i)
        if isinstance(i, slice):
            return Irreps(x)
        return x

    def __contains__(self, ir) -> bool:
        """Whether the irrep occurs in some term (even one with multiplicity 0)."""
        ir = Irrep(ir)
        return any(ir == irrep for _, irrep in self)

    def count(self, ir) -> int:
        """Total multiplicity of the irrep ``ir``."""
        ir = Irrep(ir)
        return sum(mul for mul, irrep in self if ir == irrep)

    def index(self, _object):
        raise NotImplementedError

    def __add__(self, irreps) -> "Irreps":
        """Concatenation; the right side may be anything `Irreps` accepts."""
        return Irreps(super().__add__(Irreps(irreps)))

    def __mul__(self, other: int) -> "Irreps":
        """Repetition: ``Irreps("0e+1o") * 2 == Irreps("0e+1o+0e+1o")``."""
        if isinstance(other, Irreps):
            raise NotImplementedError("Use o3.TensorProduct for this, see the documentation")
        return Irreps(super().__mul__(other))

    def __rmul__(self, other: int) -> "Irreps":
        """Repetition: ``2 * Irreps("0e+1o") == Irreps("0e+1o+0e+1o")``."""
        return Irreps(super().__rmul__(other))

    def simplify(self) -> "Irreps":
        """Drop multiplicity-0 terms, then merge adjacent equal irreps; no sorting.

        ``"1e + 1e + 0e + 1e"`` -> ``2x1e+1x0e+1x1e``, ``"1e + 0x0e + 1e"`` -> ``2x1e``.
        """
        out = []
        for mul, ir in self:
            if out and out[-1][1] == ir:
                out[-1] = (out[-1][0] + mul, ir)
            elif mul > 0:
                out.append((mul, ir))
        return Irreps(out)

    def remove_zero_multiplicities(self) -> "Irreps":
        """Drop terms with multiplicity 0."""
        return Irreps([(mul, ir) for mul, ir in self if mul > 0])

    def sort(self):
        """Stable sort of the terms by irrep; returns the namedtuple ``(irreps, p, inv)``.

        ``inv[i]`` is the old index of the i-th sorted term and ``p`` is its inverse: term ``i``
        moves to position ``p[i]``. ``Irreps("2o + 1e + 0e + 1e").sort()`` has
        ``irreps == 1x0e+1x1e+1x1e+1x2o``, ``p == (3, 1, 0, 2)``, ``inv == (2, 1, 3, 0)``.
        """
        # Sorting (ir, old index, mul) triples orders equal irreps by position, like e3nn.
        out = sorted((ir, i, mul) for i, (mul, ir) in enumerate(self))
        inv = tuple(i for _, i, _ in out)
        p = tuple(inv.index(i) for i in range(len(inv)))
        irreps = Irreps([(mul, ir) for ir, _, mul in out])
        return _SortResult(irreps, p, inv)

    def regroup(self) -> "Irreps":
        """``sort().irreps.simplify()``: one term per distinct irrep, sorted."""
        return self.sort().irreps.simplify()

    def filter(
        self,
        keep: Union["Irreps", List[Irrep], Callable[[_MulIr], bool], None] = None,
        *,
        drop: Union["Irreps", List[Irrep], Callable[[_MulIr], bool], None] = None,
        lmax: Optional[int] = None,
    ) -> "Irreps":
        """Terms whose irrep is in ``keep``, or not in ``drop``, or has ``l <= lmax`` (at most one of the three).

        ``keep``/``drop`` may be Irreps or a string (multiplicities ignored), an Irrep, a list of
        irrep-likes, or a predicate on ``(mul, ir)`` terms. Order is preserved.
        """
        given = [name for name, value in (("keep", keep), ("drop", drop), ("lmax", lmax)) if value is not None]
        if len(given) > 1:
            raise ValueError(f"Cannot specify both {given[0]} and {given[1]}")
        if keep is not None:
            selected = _irrep_selector(keep)
            return Irreps([mul_ir for mul_ir in self if selected(mul_ir)])
        if drop is not None:
            selected = _irrep_selector(drop)
            return Irreps([mul_ir for mul_ir in self if not selected(mul_ir)])
        if lmax is not None:
            return Irreps([(mul, ir) for mul, ir in self if ir.l <= lmax])
        return self

    @property
    def slice_by_mul(self) -> "_MulIndexSliceHelper":
        """Slice by copies: ``Irreps("2x1e + 2e").slice_by_mul[1:3] == Irreps("1x1e+1x2e")``."""
        return _MulIndexSliceHelper(self)

    def randn(
        self, *size: int, normalization: str = "component", requires_grad: bool = False, dtype=None, device=None
    ) -> torch.Tensor:
        """Random tensor of shape ``size`` with its (first) ``-1`` replaced by ``self.dim``.

        ``"component"``: standard normal entries. ``"norm"``: each copy of each irrep is a random
        unit vector (so zero multiplicity terms contribute nothing).
        """
        if -1 not in size:
            raise ValueError(f"randn needs a -1 in size to mark the irreps dimension, got size {size}")
        di = size.index(-1)
        lsize = size[:di]
        rsize = size[di + 1 :]

        if normalization == "component":
            return torch.randn(*lsize, self.dim, *rsize, requires_grad=requires_grad, dtype=dtype, device=device)
        if normalization == "norm":
            x = torch.zeros(*lsize, self.dim, *rsize, requires_grad=requires_grad, dtype=dtype, device=device)
            with torch.no_grad():
                for s, (mul, ir) in zip(self.slices(), self):
                    r = torch.randn(*lsize, mul, ir.dim, *rsize, dtype=dtype, device=device)
                    r.div_(r.norm(2, dim=di + 1, keepdim=True))
                    x.narrow(di, s.start, mul * ir.dim).copy_(r.reshape(*lsize, mul * ir.dim, *rsize))
            return x
        raise ValueError(f"normalization must be 'component' or 'norm', got {normalization!r}")

    def D_from_angles(self, alpha, beta, gamma, k=None) -> torch.Tensor:
        """Block-diagonal ``p^k D(alpha, beta, gamma)`` of shape ``(..., dim, dim)``, see `Irrep.D_from_angles`."""
        blocks = []
        for mul, ir in self:
            D = ir.D_from_angles(alpha, beta, gamma, k)
            blocks.extend([D] * mul)
        if not blocks:
            # e3nn raises IndexError here; the direct sum of nothing is the (..., 0, 0) matrix.
            k = torch.zeros_like(alpha) if k is None else k
            batch = torch.broadcast_shapes(alpha.shape, beta.shape, gamma.shape, k.shape)
            return alpha.new_zeros(*batch, 0, 0)
        return direct_sum(*blocks)

    def D_from_quaternion(self, q, k=None) -> torch.Tensor:
        """D matrices ``(..., dim, dim)`` of unit quaternions ``(..., 4)``."""
        return self.D_from_angles(*_rotation.quaternion_to_angles(q), k)

    def D_from_matrix(self, R) -> torch.Tensor:
        """D matrices ``(..., dim, dim)`` of orthogonal matrices ``(..., 3, 3)``; det -1 applies the parity."""
        _rotation._check_orthogonal(R, "D_from_matrix", proper=False)
        blocks = []
        for mul, ir in self:
            blocks.extend([ir._D_of_orthogonal(R)] * mul)
        if not blocks:
            return R.new_zeros(*R.shape[:-2], 0, 0)
        return direct_sum(*blocks)

    def D_from_axis_angle(self, axis, angle) -> torch.Tensor:
        """D matrices ``(..., dim, dim)`` of the rotation by ``angle`` ``(...)`` about ``axis`` ``(..., 3)``."""
        return self.D_from_angles(*_rotation.axis_angle_to_angles(axis, angle))


def _irrep_selector(spec) -> Callable[[_MulIr], bool]:
    """Predicate on ``(mul, ir)`` terms for `Irreps.filter`'s ``keep``/``drop`` argument."""
    if isinstance(spec, str):
        spec = Irreps(spec)
    if isinstance(spec, Irrep):
        spec = [spec]
    if isinstance(spec, _MulIr):
        spec = [spec.ir]
    if callable(spec):
        return spec
    irreps = {Irrep(ir) for ir in spec}
    return lambda mul_ir: mul_ir.ir in irreps


def _split_parity(R):
    """Write orthogonal ``R`` as ``d R'`` with ``d = det R = ±1``; returns rotations ``R'`` and ``k = (1 - d) / 2``."""
    d = torch.det(R).sign()
    return d[..., None, None] * R, (1 - d) / 2


class _MulIndexSliceHelper:
    """``irreps.slice_by_mul[start:stop]``: the Irreps of copies ``start`` to ``stop`` (counted over all terms)."""

    def __init__(self, irreps: Irreps) -> None:
        self.irreps = irreps

    def __getitem__(self, index: slice) -> Irreps:
        if not isinstance(index, slice):
            raise IndexError("Irreps.slice_by_mul only supports slices.")
        start, stop, stride = index.indices(self.irreps.num_irreps)
        if stride != 1:
            raise NotImplementedError("Irreps.slice_by_mul does not support strides.")

        out = []
        i = 0
        for mul, ir in self.irreps:
            if start <= i and i + mul <= stop:
                out.append((mul, ir))
            elif start < i + mul and i < stop:
                out.append((min(stop, i + mul) - max(start, i), ir))
            i += mul
        return Irreps(out)


def split_to_common_multiplicities(irreps1: "Irreps", irreps2: "Irreps") -> Tuple["Irreps", "Irreps"]:
    """e3nn's alignment for elementwise products: split blocks, term by term, until the i-th block of
    both sides has the same multiplicity, so that channel u of x1 meets channel u of x2
    ("2x0e + 1x1o", "1x1e + 2x0o" -> "1x0e + 1x0e + 1x1o", "1x1e + 1x0o + 1x0o"). Both sides must have
    the same number of irreps (callers say so in their own terms)."""
    in1, in2 = [tuple(m) for m in irreps1], [tuple(m) for m in irreps2]
    i = 0
    while i < min(len(in1), len(in2)):
        (mul1, ir1), (mul2, ir2) = in1[i], in2[i]
        if mul1 < mul2:
            in2[i] = (mul1, ir2)
            in2.insert(i + 1, (mul2 - mul1, ir2))
        elif mul2 < mul1:
            in1[i] = (mul2, ir1)
            in1.insert(i + 1, (mul1 - mul2, ir1))
        i += 1
    return Irreps(in1), Irreps(in2)
