"""Reduction of a tensor with index symmetries into irreps (e3nn 0.6.0's `o3.ReducedTensorProducts`).

``ReducedTensorProducts("ij=ji", i="1o")`` finds the irreps of symmetric 3x3 tensors (0e + 2e) and
the change of basis Q [irreps_out.dim, dim_i, dim_j] between them. Its forward maps vectors
x_i, x_j, ... to Q contracted with x_i (x) x_j (x) ..., evaluated as a chain of couplings on the
generated Clebsch-Gordan kernels rather than by the dense Q.

How Q is found (e3nn's algorithm, step by step, so that Q has e3nn's rows, order and signs):
1. the permutation basis P of tensors obeying the formula (`e3gen.math.reduce_permutation`);
2. every coupling path of the inputs, left to right (((x1 x2) x3) ...), each ending in an irrep
   ir with component normalisation (C scaled by sqrt(dim ir), e3nn's uuu tensor product);
3. per irrep, the combinations X of paths that lie in span(P): the null space of
   [[R R^T, -R P^T], [-P R^T, P P^T]] (eigh, eigenvalues < eps), made canonical as the projector
   X^T X orthonormalised by Gram-Schmidt (`e3gen.math.orthonormalize`);
4. each resulting row rescaled to squared norm dim(ir).
Everything is computed in float64 from e3gen's exact wigner_3j; Q is stored in the default dtype.
"""

from __future__ import annotations

import collections
import functools
import math
from typing import Dict, List, Tuple, Union

import torch

from e3gen.math import germinate_formulas, orthonormalize, reduce_permutation
from e3gen.math._reduce import spread_over_symmetric_indices
from e3gen.o3._coupling import coupling_product
from e3gen.o3._irreps import Irrep, Irreps
from e3gen.o3._wigner import wigner_3j

# A path is an input slice or a coupling of a path with an input slice.
_TP = collections.namedtuple("tp", "op, args")
_INPUT = collections.namedtuple("input", "tensor, start, stop")


def _wigner_nj(*irrepss, filter_ir_mid=None, dtype=None, device=None) -> List[Tuple[Irrep, object, torch.Tensor]]:
    """Every coupling path of the inputs: (ir_out, path, C [ir_out.dim, dim_1, ..., dim_n]), sorted by ir_out."""
    irrepss = [Irreps(irreps) for irreps in irrepss]
    if len(irrepss) == 1:
        (irreps,) = irrepss
        ret = []
        e = torch.eye(irreps.dim, dtype=dtype, device=device)
        i = 0
        for mul, ir in irreps:
            for _ in range(mul):
                ret.append((ir, _INPUT(0, i, i + ir.dim), e[i : i + ir.dim]))
                i += ir.dim
        return ret

    *irrepss_left, irreps_right = irrepss
    ret = []
    for ir_left, path_left, C_left in _wigner_nj(*irrepss_left, filter_ir_mid=filter_ir_mid, dtype=dtype, device=device):
        i = 0
        for mul, ir in irreps_right:
            for ir_out in ir_left * ir:
                if filter_ir_mid is not None and ir_out not in filter_ir_mid:
                    continue
                C = wigner_3j(ir_out.l, ir_left.l, ir.l, dtype=dtype, device=device) * ir_out.dim**0.5
                C = torch.einsum("jk,ijl->ikl", C_left.flatten(1), C)
                C = C.reshape(ir_out.dim, *(irreps.dim for irreps in irrepss_left), ir.dim)
                for u in range(mul):
                    E = torch.zeros(ir_out.dim, *(irreps.dim for irreps in irrepss_left), irreps_right.dim, dtype=dtype, device=device)
                    start = i + u * ir.dim
                    E[..., start : start + ir.dim] = C
                    path = _TP(op=(ir_left, ir, ir_out), args=(path_left, _INPUT(len(irrepss_left), start, start + ir.dim)))
                    ret.append((ir_out, path, E))
            i += mul * ir.dim
    return sorted(ret, key=lambda x: x[0])


def _parse_filter(name: str, irs):
    if irs is None:
        return None
    try:
        return [Irrep(ir) for ir in irs]
    except (ValueError, TypeError):
        raise ValueError(f"{name} (={irs}) must be an iterable of e3gen.o3.Irrep") from None


class ReducedTensorProducts(torch.nn.Module):
    """Reduce a tensor with index symmetries into irreps: x_1 [..., d_1], ..., x_n [..., d_n] -> [..., irreps_out.dim].

    Parameters (e3nn's): ``formula`` (``"ij=-ji"``; letters are indices, ``=`` separates equal
    permutations, ``-`` flips the sign), ``filter_ir_out`` / ``filter_ir_mid`` (allowed irreps of the
    output / of the intermediate couplings), ``eps``, and one keyword per index letter giving its
    irreps (letters tied by the formula may be omitted).

    Attributes: ``irreps_in`` (list of Irreps, one per index), ``irreps_out`` (simplified Irreps),
    ``change_of_basis`` (buffer [irreps_out.dim, d_1, ..., d_n], default dtype).

    The state dict holds ``change_of_basis`` only: e3nn's also lists the empty buffers of the
    weightless tensor products inside its traced graph (keys that depend on set iteration order),
    which carry no information.
    """

    def __init__(self, formula: str, filter_ir_out=None, filter_ir_mid=None, eps: float = 1e-9, **irreps) -> None:
        super().__init__()
        filter_ir_out = _parse_filter("filter_ir_out", filter_ir_out)
        filter_ir_mid = _parse_filter("filter_ir_mid", filter_ir_mid)
        for i in irreps:
            if len(i) != 1:
                raise TypeError(f"got an unexpected keyword argument '{i}'")
        irreps = tuple(sorted((i, Irreps(irs)) for i, irs in irreps.items()))
        key = (formula, None if filter_ir_out is None else tuple(filter_ir_out), None if filter_ir_mid is None else tuple(filter_ir_mid), eps, irreps)
        irreps_in, irreps_out, change_of_basis, outputs = _reduce(*key)
        self.register_buffer("change_of_basis", change_of_basis.to(dtype=torch.get_default_dtype(), copy=True))
        self.irreps_in = list(irreps_in)
        self.irreps_out = irreps_out
        self._outputs = outputs
        self._eps = eps
        self._ops = {
            step.op: coupling_product(step.op[0].l, step.op[1].l, step.op[2].l)
            for terms in outputs
            for _, path in terms
            for step in _chain(path)
        }

    def __repr__(self) -> str:
        return f"ReducedTensorProducts(\n    in: {' times '.join(map(repr, self.irreps_in))}\n    out: {self.irreps_out}\n)"

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if len(xs) != len(self.irreps_in):
            raise ValueError(f"{self!r}: expected {len(self.irreps_in)} inputs, one per index, got {len(xs)}")
        for n, (x, irreps) in enumerate(zip(xs, self.irreps_in)):
            if x.dim() == 0 or x.shape[-1] != irreps.dim:
                raise ValueError(f"ReducedTensorProducts: input {n} must have shape [..., {irreps.dim}] ({irreps}), got {list(x.shape)}")
        values: Dict[object, torch.Tensor] = {}

        def evaluate(path) -> torch.Tensor:
            if path not in values:
                if isinstance(path, _INPUT):
                    values[path] = xs[path.tensor][..., path.start : path.stop]
                else:
                    ir_out = path.op[2]
                    product = self._ops[path.op].apply(evaluate(path.args[0]), evaluate(path.args[1]))
                    values[path] = product * math.sqrt(ir_out.dim)
            return values[path]

        outs = []
        for terms in self._outputs:
            out = None
            for v, p in terms:
                t = evaluate(p)
                if abs(v - 1.0) > self._eps:
                    t = v * t
                out = t if out is None else out + t
            outs.append(out)
        batch = torch.broadcast_shapes(*(x.shape[:-1] for x in xs))
        if not outs:
            return xs[0].new_zeros(*batch, 0)
        return torch.cat([out.expand(*batch, out.shape[-1]) for out in outs], dim=-1)


def _chain(path):
    """The couplings along a path, outermost first."""
    while isinstance(path, _TP):
        yield path
        path = path.args[0]


@functools.lru_cache(maxsize=None)
def _reduce(formula: str, filter_ir_out, filter_ir_mid, eps: float, irreps_items):
    """(irreps_in, irreps_out, change_of_basis float64, outputs) for `ReducedTensorProducts` (cached: the
    eigen-decompositions take up to seconds and CartesianTensor rebuilds the module on every call)."""
    irreps = dict(irreps_items)
    f0, formulas = germinate_formulas(formula)
    spread_over_symmetric_indices(f0, formulas, irreps, "irreps")
    for i in irreps:
        if i not in f0:
            raise RuntimeError(f"index {i} has an irreps but does not appear in the fomula")

    base_perm, _ = reduce_permutation(f0, formulas, dtype=torch.float64, **{i: irs.dim for i, irs in irreps.items()})
    paths_by_ir: Dict[Irrep, list] = collections.defaultdict(list)
    for ir, path, base_o3 in _wigner_nj(*[irreps[i] for i in f0], filter_ir_mid=filter_ir_mid, dtype=torch.float64):
        if filter_ir_out is None or ir in filter_ir_out:
            paths_by_ir[ir].append((path, base_o3))

    outputs: List[List[Tuple[float, object]]] = []  # per output irrep: [(coefficient, path)]
    change_of_basis = []
    irreps_out = []
    P = base_perm.flatten(1)  # [permutation basis, input basis]
    PP = P @ P.T
    for ir, entries in paths_by_ir.items():
        mul = len(entries)
        paths = [path for path, _ in entries]
        base_o3 = torch.stack([C for _, C in entries])
        R = base_o3.flatten(2)[:, 0]  # [paths, input basis]: one component suffices (e3nn checks only j=0 too)
        RR = R @ R.T
        RP = R @ P.T
        prob = torch.cat([torch.cat([RR, -RP], dim=1), torch.cat([-RP.T, PP], dim=1)], dim=0)
        eigenvalues, eigenvectors = torch.linalg.eigh(prob)
        X = eigenvectors[:, eigenvalues < eps][:mul].T  # [solutions, paths]
        X, _ = orthonormalize(X.T @ X, eps)  # canonical rows spanning the same solutions
        for x in X:
            C = torch.einsum("u,ui...->i...", x, base_o3)
            correction = (ir.dim / C.pow(2).sum()) ** 0.5
            outputs.append([((correction * v).item(), p) for v, p in zip(x, paths) if v.abs() > eps])
            change_of_basis.append(correction * C)
            irreps_out.append((1, ir))
    if change_of_basis:
        cob = torch.cat(change_of_basis)
    else:
        cob = torch.zeros(0, *(irreps[i].dim for i in f0), dtype=torch.float64)
    return tuple(irreps[i] for i in f0), Irreps(irreps_out).simplify(), cob, tuple(tuple(terms) for terms in outputs)
