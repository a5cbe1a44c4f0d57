"""Equivariant linear layer (e3nn 0.6.0's `o3.Linear`: names, weight layout, normalisation, numbers).

An instruction ``(i_in, i_out)`` connects ``irreps_in[i_in]`` to ``irreps_out[i_out]`` (the same
irrep) with a weight block W of shape (mul_in, mul_out):

    out[i_out][w, m] += path_weight * sum_u W[u, w] * in[i_in][u, m]      (m = component, -l..l)

* Default instructions: every pair with equal irreps, ``i_in`` in the outer loop.
* ``path_weight = 1 / sqrt(fan_in)``; "element": fan_in = sum of mul_in over the instructions into
  that output, "path": fan_in = mul_in * (number of instructions into that output); times f_in if
  given; a fan_in of 0 counts as 1.
* ``weight`` is one flat vector: the blocks, each (mul_in, mul_out) row-major, in instruction order;
  initialised with randn. ``bias`` (only on 0e outputs, zero-initialised) is added unscaled.

How it is computed: the instructions are grouped by irrep. For each group, one matmul contracts
the input blocks of that irrep, concatenated along the multiplicity (gathered with one
index_select), with a block matrix assembled from the flat weights times their path weights
(one gather and one multiply); unconnected blocks of the matrix are zero. The groups' outputs are
then put in irreps_out order by one more index_select, with zeros for outputs no instruction feeds.
So the number of torch ops depends on the number of distinct irreps, not on the instructions.
"""

import math
from typing import Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch

from e3gen.errors import InstructionIndexError, MissingWeightsError
from e3gen.o3._input_checks import check_float_tensors
from e3gen.o3._irreps import Irreps


class Instruction(NamedTuple):
    """e3nn's Linear instruction: a bias instruction has ``i_in == -1`` and path_shape ``(mul_out * 1,)``."""

    i_in: int
    i_out: int
    path_shape: tuple
    path_weight: float


class _Group(NamedTuple):
    """One matmul: U input copies of an irrep of dimension d against W output copies.

    Its input occupies [x_offset, x_offset + U*d) of the gathered features, its matrix
    [w_offset, w_offset + U*W) of the gathered weights (row-major (U, W)).
    """

    x_offset: int
    U: int
    d: int
    w_offset: int
    W: int


def _instructions(irreps_in: Irreps, irreps_out: Irreps, instructions, name: str) -> List[Tuple[int, int]]:
    if instructions is None:
        return [
            (i_in, i_out)
            for i_in, (_, ir_in) in enumerate(irreps_in)
            for i_out, (_, ir_out) in enumerate(irreps_out)
            if ir_in == ir_out
        ]
    checked = []
    for ins in instructions:
        try:
            i_in, i_out = ins
        except (TypeError, ValueError):
            raise ValueError(f"{name}: an instruction is a pair (i_in, i_out), got {ins!r}") from None
        if not 0 <= i_in < len(irreps_in):
            raise InstructionIndexError(f"{name}: instruction {ins!r}: i_in={i_in} is not an index of irreps_in={irreps_in} ({len(irreps_in)} terms)")
        if not 0 <= i_out < len(irreps_out):
            raise InstructionIndexError(f"{name}: instruction {ins!r}: i_out={i_out} is not an index of irreps_out={irreps_out} ({len(irreps_out)} terms)")
        if irreps_in[i_in].ir != irreps_out[i_out].ir:
            raise ValueError(
                f"{name}: instruction {ins!r} connects {irreps_in[i_in].ir} to {irreps_out[i_out].ir}; "
                f"a linear map needs the same irrep on both sides"
            )
        checked.append((int(i_in), int(i_out)))
    return checked


def _biases(irreps_out: Irreps, biases, name: str) -> List[bool]:
    if isinstance(biases, bool):
        return [biases and ir.is_scalar() for _, ir in irreps_out]
    biases = list(biases)
    if len(biases) != len(irreps_out):
        raise ValueError(f"{name}: biases has {len(biases)} entries, expected one per term of irreps_out={irreps_out} ({len(irreps_out)})")
    for bias, (_, ir) in zip(biases, irreps_out):
        if bias and not ir.is_scalar():
            raise ValueError(f"{name}: a bias on {ir} would break equivariance; biases are allowed on 0e outputs only")
    return [bool(b) for b in biases]



# A call of a shared-weight Linear runs as one matmul with the layer's matrix (zeros included) when
# rows x in_dim x out_dim is at most this many multiply-adds: below it the grouped path's per-irrep
# ops cost more than the matrix's wasted arithmetic. Measured on the 2-core development machine
# (torch 2.13 CPU, one thread, forward+backward, NequIP's six linears): 40 rows 3.0 -> 1.4 ms; at
# 500 rows the larger layers stay grouped (their matrix would cost 2.7x the grouped time).
MATRIX_MAX_MACS = 4_000_000

class Linear(torch.nn.Module):
    """Equivariant linear map: features [..., irreps_in.dim] -> [..., irreps_out.dim].

    With ``f_in``/``f_out``: features [..., f_in, irreps_in.dim] -> [..., f_out, irreps_out.dim],
    and the weight gains two leading dims (f_in, f_out).

    Weights: internal (a parameter ``weight`` [weight_numel], the default) or passed to `forward`:
    shared (one [weight_numel] for the whole batch) or, with ``shared_weights=False``, one per
    sample, [..., weight_numel] broadcasting against the features' leading dims. Biases likewise:
    ``bias`` [bias_numel] (or [..., bias_numel] when passed).

    ``output_mask`` [irreps_out.dim] marks outputs that some instruction or bias feeds (e3nn keeps
    it as a buffer; it is kept here too so that state dicts are interchangeable).
    """

    weight_numel: int
    bias_numel: int
    internal_weights: bool
    shared_weights: bool

    def __init__(
        self,
        irreps_in,
        irreps_out,
        *,
        f_in: Optional[int] = None,
        f_out: Optional[int] = None,
        internal_weights: Optional[bool] = None,
        shared_weights: Optional[bool] = None,
        instructions: Optional[Sequence[Tuple[int, int]]] = None,
        biases: Union[bool, Sequence[bool]] = False,
        path_normalization: str = "element",
        _optimize_einsums: Optional[bool] = None,  # e3nn's codegen switch: accepted, changes nothing here
    ) -> None:
        super().__init__()
        irreps_in, irreps_out = Irreps(irreps_in), Irreps(irreps_out)
        name = f"Linear({irreps_in} -> {irreps_out})"
        if path_normalization not in ("element", "path"):
            raise ValueError(f"{name}: path_normalization must be 'element' or 'path', got {path_normalization!r}")
        if (f_in is None) != (f_out is None):
            raise ValueError(f"{name}: give both f_in and f_out or neither, got f_in={f_in}, f_out={f_out}")
        if shared_weights is False and internal_weights is None:
            internal_weights = False
        shared_weights = True if shared_weights is None else shared_weights
        internal_weights = True if internal_weights is None else internal_weights
        if internal_weights and not shared_weights:
            raise ValueError(f"{name}: internal weights are shared by construction; shared_weights=False needs internal_weights=False")

        pairs = _instructions(irreps_in, irreps_out, instructions, name)

        def path_weight(i_in: int, i_out: int) -> float:
            into_out = [j for j, k in pairs if k == i_out]
            if path_normalization == "element":
                fan_in = sum(irreps_in[j].mul for j in into_out)
            else:
                fan_in = irreps_in[i_in].mul * len(into_out)
            fan_in *= 1 if f_in is None else f_in
            return (1.0 if fan_in == 0 else fan_in) ** -0.5

        self.instructions = [
            Instruction(i_in, i_out, (irreps_in[i_in].mul, irreps_out[i_out].mul), path_weight(i_in, i_out))
            for i_in, i_out in pairs
        ]
        self.instructions += [
            Instruction(-1, i_out, (mul_ir.dim,), 1.0)
            for i_out, (bias, mul_ir) in enumerate(zip(_biases(irreps_out, biases, name), irreps_out))
            if bias
        ]

        self.irreps_in = irreps_in
        self.irreps_out = irreps_out
        self.f_in = f_in
        self.f_out = f_out
        self.internal_weights = internal_weights
        self.shared_weights = shared_weights
        self.weight_numel = sum(math.prod(ins.path_shape) for ins in self.instructions if ins.i_in != -1)
        self.bias_numel = sum(ins.path_shape[0] for ins in self.instructions if ins.i_in == -1)
        self._name = name
        # f_in/f_out as ints for forward (TorchScript cannot compare an Optional attribute to an int)
        self._f_dims = 0 if f_in is None else 1
        self._f_in = 0 if f_in is None else f_in
        self._f_out = 0 if f_out is None else f_out
        self._irreps_in_str = str(irreps_in)
        self._in_dim = irreps_in.dim
        self._out_dim = irreps_out.dim
        self._plan(irreps_in, irreps_out)

        f_shape = () if f_in is None else (f_in, f_out)
        if internal_weights and self.weight_numel > 0:
            self.weight = torch.nn.Parameter(torch.randn(*f_shape, self.weight_numel))
        else:
            # e3nn keeps an empty buffer here (TorchScript needs some `weight`); so do we, for state dicts.
            self.register_buffer("weight", torch.Tensor())
        if internal_weights and self.bias_numel > 0:
            self.bias = torch.nn.Parameter(torch.zeros(*f_shape[1:], self.bias_numel))
        else:
            self.register_buffer("bias", torch.Tensor())

        fed = {ins.i_out for ins in self.instructions if 0 not in ins.path_shape}
        mask = [float(i_out in fed) for i_out, mul_ir in enumerate(irreps_out) for _ in range(mul_ir.dim)]
        self.register_buffer("output_mask", torch.tensor(mask, dtype=torch.get_default_dtype()))

    def _plan(self, irreps_in: Irreps, irreps_out: Irreps) -> None:
        """Group the weighted instructions by irrep and build the gather indices used by `forward`."""
        in_starts = [s.start for s in irreps_in.slices()]
        out_starts = [s.start for s in irreps_out.slices()]
        offsets, offset = [], 0
        for ins in self.instructions:
            offsets.append(offset)
            offset += math.prod(ins.path_shape) if ins.i_in != -1 else 0

        by_irrep = {}
        for ins, w_start in zip(self.instructions, offsets):
            if ins.i_in != -1 and 0 not in ins.path_shape:
                by_irrep.setdefault(irreps_in[ins.i_in].ir, []).append((ins, w_start))
        # Groups in order of their first output, so that a layer whose outputs are distinct irreps
        # produces them already in place (then the output gather is skipped).
        ordered = sorted(by_irrep.items(), key=lambda item: min(ins.i_out for ins, _ in item[1]))

        x_index, w_index, w_coeff, out_positions, groups = [], [], [], [], []
        for ir, members in ordered:
            # A row block per input term; an instruction repeated for the same (i_in, i_out) gets a
            # row block of its own, so that repeats add up as in e3nn.
            rows, cols, cells = [], [], {}
            for ins, w_start in members:
                repeat = 0
                while (ins.i_in, repeat, ins.i_out) in cells:
                    repeat += 1
                if (ins.i_in, repeat) not in rows:
                    rows.append((ins.i_in, repeat))
                if ins.i_out not in cols:
                    cols.append(ins.i_out)
                cells[(ins.i_in, repeat, ins.i_out)] = (ins, w_start)
            rows.sort()
            cols.sort()
            U = sum(irreps_in[i_in].mul for i_in, _ in rows)
            W = sum(irreps_out[i_out].mul for i_out in cols)
            groups.append(_Group(len(x_index), U, ir.dim, len(w_index), W))
            for i_in, _ in rows:
                x_index.extend(range(in_starts[i_in], in_starts[i_in] + irreps_in[i_in].dim))
            for i_in, repeat in rows:
                for u in range(irreps_in[i_in].mul):
                    for i_out in cols:
                        ins, w_start = cells.get((i_in, repeat, i_out), (None, 0))
                        for w in range(irreps_out[i_out].mul):
                            # unconnected blocks read weight 0 times a coefficient 0
                            w_index.append(w_start + u * irreps_out[i_out].mul + w if ins is not None else 0)
                            w_coeff.append(ins.path_weight if ins is not None else 0.0)
            for i_out in cols:
                out_positions.extend(range(out_starts[i_out], out_starts[i_out] + irreps_out[i_out].dim))

        computed = len(out_positions)
        # where each output component comes from in the groups' outputs; `computed` is a zero column
        out_index = [computed] * irreps_out.dim
        for source, position in enumerate(out_positions):
            out_index[position] = source
        bias_index = [self.bias_numel] * irreps_out.dim  # bias_numel is a zero column
        b = 0
        for ins in self.instructions:
            if ins.i_in == -1:
                for position in range(out_starts[ins.i_out], out_starts[ins.i_out] + ins.path_shape[0]):
                    bias_index[position] = b
                    b += 1

        # The same map as one matrix M [in_dim, out_dim] (out = features @ M): cell
        # (x_index[x_offset + u d + i], position of group output (w, i)) holds weight w_index[..] times its
        # coefficient; an input row repeated in x_index (a repeated instruction) adds its weights to
        # the same cells, hence a sum (index_add) when M is built.
        position_of = {source: position for position, source in enumerate(out_index) if source != computed}
        cells, cell_w, cell_coeff, piece = [], [], [], 0
        for x_offset, U, d, w_offset, W in groups:
            for u in range(U):
                for w in range(W):
                    k = w_offset + u * W + w
                    if w_coeff[k] == 0.0:
                        continue  # an unconnected block
                    for i in range(d):
                        cells.append(x_index[x_offset + u * d + i] * irreps_out.dim + position_of[piece + w * d + i])
                        cell_w.append(w_index[k])
                        cell_coeff.append(w_coeff[k])
            piece += W * d
        # the most rows a call may have to run as one matmul (see MATRIX_MAX_MACS); any, where the
        # matrix costs no more arithmetic than the groups (a layer of one irrep type)
        dense_macs, grouped_macs = irreps_in.dim * irreps_out.dim, sum(U * d * W for _, U, d, _, W in groups)
        self._matrix_max_rows: int = 2**62 if dense_macs <= grouped_macs else MATRIX_MAX_MACS // dense_macs
        self._dense_coeff_values = cell_coeff
        self.register_buffer("_dense_cells", torch.tensor(cells, dtype=torch.long), persistent=False)
        self.register_buffer("_dense_w", torch.tensor(cell_w, dtype=torch.long), persistent=False)
        self.register_buffer("_dense_coeff", torch.tensor(cell_coeff, dtype=torch.float64), persistent=False)
        self._groups: List[Tuple[int, int, int, int, int]] = [tuple(g) for g in groups]
        self._gather_in = x_index != list(range(irreps_in.dim))
        self._gather_out = out_index != list(range(irreps_out.dim))
        self._pad_out = computed in out_index
        self.register_buffer("_x_index", torch.tensor(x_index, dtype=torch.long), persistent=False)
        self.register_buffer("_w_index", torch.tensor(w_index, dtype=torch.long), persistent=False)
        self._w_coeff_values = w_coeff
        self.register_buffer("_w_coeff", torch.tensor(w_coeff, dtype=torch.float64), persistent=False)
        self.register_buffer("_out_index", torch.tensor(out_index, dtype=torch.long), persistent=False)
        self.register_buffer("_bias_index", torch.tensor(bias_index, dtype=torch.long), persistent=False)
        f = "" if self.f_in is None else "x"
        g = "" if self.f_in is None else "y"
        # "...": the features' leading dims, broadcast against per-sample weights' leading dims
        weight_batch = "" if self.shared_weights else "..."
        self._equation = f"...{f}ui,{weight_batch}{f}{g}uw->...{g}wi"

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        # .to(dtype), .float(), .half() would round the path weights for good (e3nn keeps them as
        # Python floats); keep them in float64 and round once per forward to the weights' dtype.
        self._w_coeff = torch.tensor(self._w_coeff_values, dtype=torch.float64, device=self._w_coeff.device)
        self._dense_coeff = torch.tensor(self._dense_coeff_values, dtype=torch.float64, device=self._dense_coeff.device)
        return self

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.irreps_in} -> {self.irreps_out} | {self.weight_numel} weights)"

    def forward(self, features: torch.Tensor, weight: Optional[torch.Tensor] = None, bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        """features [..., irreps_in.dim] (or [..., f_in, irreps_in.dim]) -> [..., irreps_out.dim] (or [..., f_out, ...]).

        ``weight`` and ``bias`` are required when the layer has no internal weights (see the class).
        """
        if not torch.jit.is_scripting():  # (numpy input would fail inside torch)
            check_float_tensors(self._name, {"features": features})
        f_dims = 1 + self._f_dims
        if features.dim() < f_dims or features.shape[-1] != self._in_dim or (f_dims == 2 and features.shape[-2] != self._f_in):
            expected = "[..., " + ("" if f_dims == 1 else f"{self._f_in}, ") + f"{self._in_dim}]"
            raise ValueError(
                f"{self._name}: expected features of shape {expected} (irreps_in={self._irreps_in_str}), "
                f"got [..., {', '.join([str(n) for n in features.shape[-f_dims:]])}]"
            )
        if weight is None:
            if self.weight_numel > 0 and not self.internal_weights:
                raise MissingWeightsError(f"{self._name}: this layer has no internal weights (internal_weights=False); pass weight of shape [..., {self.weight_numel}]")
            weight = self.weight
        if bias is None:
            if self.bias_numel > 0 and not self.internal_weights:
                raise MissingWeightsError(f"{self._name}: this layer has no internal weights (internal_weights=False); pass bias of shape [..., {self.bias_numel}]")
            bias = self.bias
        batch = features.shape[:-f_dims]
        if self.weight_numel > 0:
            self._check_parameter("weight", weight, self.weight_numel, 2 * self._f_dims, batch, features.dtype)
        if self.bias_numel > 0:
            self._check_parameter("bias", bias, self.bias_numel, self._f_dims, batch, features.dtype)

        if len(self._groups) > 0 and self._use_matrix(features, weight):
            # one matmul with the layer as a matrix: few ops, where the grouped path's dozens of small
            # ops (per irrep: slices, einsum, copies, and their backward) cost more than its arithmetic
            out = features @ self._matrix(weight, features.dtype)
            if self.bias_numel > 0:
                out = out + torch.nn.functional.pad(bias, [0, 1]).index_select(-1, self._bias_index)
            return out
        x = features.index_select(-1, self._x_index) if self._gather_in else features
        if len(self._groups) > 0:
            w = weight.index_select(-1, self._w_index) * self._w_coeff.to(weight.dtype)
            pieces = []
            for x_offset, U, d, w_offset, W in self._groups:
                xg = x.narrow(-1, x_offset, U * d).unflatten(-1, [U, d])
                wg = w.narrow(-1, w_offset, U * W).unflatten(-1, [U, W])
                pieces.append(torch.einsum(self._equation, [xg, wg]).flatten(-2))
            out = torch.cat(pieces, dim=-1) if len(pieces) > 1 else pieces[0]
            if self._pad_out:
                out = torch.nn.functional.pad(out, [0, 1])
            if self._gather_out:
                out = out.index_select(-1, self._out_index)
        else:
            shape: List[int] = list(batch)
            if f_dims == 2:
                shape.append(self._f_out)
            shape.append(self._out_dim)
            out = features.new_zeros(shape)
        if self.bias_numel > 0:
            out = out + torch.nn.functional.pad(bias, [0, 1]).index_select(-1, self._bias_index)
        return out

    def _use_matrix(self, features: torch.Tensor, weight: torch.Tensor) -> bool:
        """Whether this call runs as one matmul with the layer's matrix (`_matrix`): shared weights,
        no f dims, and a small call: at most MATRIX_MAX_MACS multiply-adds of rows x in_dim x
        out_dim, or a matrix no larger than the grouped arithmetic (a layer of one irrep type)."""
        if self._f_dims != 0 or weight.dim() != 1:
            return False
        return features.numel() // max(self._in_dim, 1) <= self._matrix_max_rows

    def _matrix(self, weight: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """M [in_dim, out_dim] with features @ M = this layer without its biases (weight [weight_numel])."""
        values = weight.index_select(0, self._dense_w) * self._dense_coeff.to(dtype)
        flat = weight.new_zeros(self._in_dim * self._out_dim).index_add(0, self._dense_cells, values)
        return flat.view(self._in_dim, self._out_dim)

    def _check_parameter(self, what: str, value: torch.Tensor, numel: int, f_dims: int, batch: List[int], dtype: torch.dtype) -> None:
        """Shape and dtype of a weight or bias: [numel] (after f dims) when shared, else [..., numel] broadcasting to batch."""
        tail: List[int] = [numel]
        if f_dims == 2:
            tail = [self._f_in, self._f_out, numel]
        elif f_dims == 1:
            tail = [self._f_out, numel]
        got: List[int] = list(value.shape)
        n_lead = len(got) - len(tail)
        ok = n_lead >= 0 and got[n_lead:] == tail
        if ok and self.shared_weights:
            ok = n_lead == 0
        if ok and not self.shared_weights:
            # per-sample values broadcast against the features' leading dims, aligned on the right
            for i in range(1, n_lead + 1):
                a = got[n_lead - i]
                b = batch[len(batch) - i] if i <= len(batch) else 1
                ok = ok and (a == b or a == 1 or b == 1)
        if not ok:
            dims = ", ".join([str(n) for n in tail])
            form = f"[{dims}]" if self.shared_weights else f"[..., {dims}] broadcasting against the features' leading dims {list(batch)}"
            raise ValueError(f"{self._name}: expected {what} of shape {form}, got {got}")
        if value.dtype != dtype:
            raise ValueError(f"{self._name}: {what} has dtype {value.dtype} but the features have {dtype}; convert one of them")

    def weight_view_for_instruction(self, instruction: int, weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        """View [..., mul_in, mul_out] (with f dims: [..., f_in, f_out, mul_in, mul_out]) of one instruction's weights."""
        ins = self.instructions[instruction]
        if ins.i_in == -1:
            raise ValueError(f"{self._name}: instruction {instruction} is a bias, not a weight block; see `bias`")
        weight = self._weight_or_internal(weight)
        offset = sum(math.prod(i.path_shape) for i in self.instructions[:instruction])
        return weight.narrow(-1, offset, math.prod(ins.path_shape)).view(weight.shape[:-1] + ins.path_shape)

    def weight_views(self, weight: Optional[torch.Tensor] = None, yield_instruction: bool = False) -> Iterator:
        """Views of every weight block in instruction order (with ``yield_instruction``: (index, instruction, view))."""
        weight = self._weight_or_internal(weight)
        offset = 0
        for i, ins in enumerate(self.instructions):
            if ins.i_in == -1:
                continue
            numel = math.prod(ins.path_shape)
            view = weight.narrow(-1, offset, numel).view(weight.shape[:-1] + ins.path_shape)
            offset += numel
            yield (i, ins, view) if yield_instruction else view

    def _weight_or_internal(self, weight: Optional[torch.Tensor]) -> torch.Tensor:
        if weight is None:
            if not self.internal_weights:
                raise MissingWeightsError(f"{self._name}: this layer has no internal weights; pass weight")
            return self.weight
        return weight
