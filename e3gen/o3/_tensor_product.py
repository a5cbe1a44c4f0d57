"""The tensor product family on e3gen's exact Clebsch-Gordan tables (e3nn 0.6.0 semantics).

`TensorProduct(irreps_in1, irreps_in2, irreps_out, instructions, ...)` computes, for each
instruction (i_in1, i_in2, i_out, mode, has_weight[, path_weight]),

    out[i_out]_{w k} += c * sum W_{...} sum_ij C_ijk x1[i_in1]_{u i} x2[i_in2]_{v j}

with C = wigner_3j(l1, l2, l_out) (exact values from the generated tables), the channel pattern
given by the connection mode, and the path coefficient c of e3nn (see `path_coefficients`).
Inputs and outputs use e3nn's mul_ir layout ([..., mul * (2l+1)], m fastest); weights are one flat
vector in instruction order, each block shaped like the path (uvw: (mul1, mul2, mul_out);
uvu, uvv, uvuv: (mul1, mul2); uuw: (mul1, mul_out); uuu: (mul1,); uvu<v: (mul1 (mul1-1)/2,);
u<vw: (mul1 (mul1-1)/2, mul_out)), exactly e3nn's, so an e3nn module's state_dict loads here.

How it is computed. `_plan` groups the instructions that share a pair of inputs; a group's
Clebsch-Gordan blocks (path coefficients folded in) sit side by side along the output index.
Two strategies give the same numbers up to rounding:

* "dense" (eager mode): per group, one of three contractions chosen by `_formulation` --
  "bmm" (R = C x2, then T = x1 R as a batched matmul), "outer" (x1 (x) x2 times C as one tall
  matmul, for one channel or shared channels) or "weights-last" (fully connected products: the
  weights contract in one large matmul; paths with an l = 0 operand or output skip the product
  altogether). Products whose intermediates dwarf their output run in batch chunks
  (`_chunk_rows`). Few, large torch ops: what eager mode is fast at.
* "unrolled" (torch.compile, for channel-wise paths): the generated straight-line kernels, one
  line per nonzero term, wrapped with their generated vector-Jacobian kernels as backward
  (`e3gen.o3._coupling`); inductor fuses them into a few loops. Per-channel weights multiply x1
  before the kernel. Paths that mix channels through weights (uvw) stay dense: that is matmul work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator, List, NamedTuple, Optional, Tuple

import torch

from e3gen.errors import ConnectionModeError, ForbiddenPathError, InputShapeError, InstructionIndexError, MissingWeightsError
from e3gen.o3._coupling import coupling_product
from e3gen.o3._e3nn_checkpoints import check_carried_wigner_3j
from e3gen.o3._input_checks import check_float_tensors, check_same_dtype_and_device
from e3gen.o3._irreps import Irrep, Irreps, split_to_common_multiplicities
from e3gen.o3._wigner import wigner_3j
from e3gen.native import backend as native_backend
from e3gen.native import ops as native_ops
from e3gen.native import fully_connected as native_fc
from e3gen.native import rowwise as native_rowwise
from e3gen.runtime.constants import constants_for
from e3gen.runtime.loader import load_kernels

MODES = ("uvw", "uvu", "uvv", "uuw", "uuu", "uvuv", "uvu<v", "u<vw")
IRREP_NORMALIZATIONS = ("component", "norm", "none")
PATH_NORMALIZATIONS = ("element", "path", "none")
STRATEGIES = ("auto", "dense", "unrolled", "native")


class Instruction(NamedTuple):
    """e3nn's instruction; `path_weight` holds the final path coefficient once normalised."""

    i_in1: int
    i_in2: int
    i_out: int
    connection_mode: str
    has_weight: bool
    path_weight: float
    path_shape: tuple


def path_shape(mode: str, mul1: int, mul2: int, mul_out: int) -> Tuple[int, ...]:
    pairs = mul1 * (mul2 - 1) // 2
    return {
        "uvw": (mul1, mul2, mul_out),
        "uvu": (mul1, mul2),
        "uvv": (mul1, mul2),
        "uuw": (mul1, mul_out),
        "uuu": (mul1,),
        "uvuv": (mul1, mul2),
        "uvu<v": (pairs,),
        "u<vw": (pairs, mul_out),
    }[mode]


def _num_elements(mode: str, mul1: int, mul2: int) -> int:
    """How many (u, v) input pairs feed one output channel: e3nn's fan-in per path."""
    return {
        "uvw": mul1 * mul2,
        "uvu": mul2,
        "uvv": mul1,
        "uuw": mul1,
        "uuu": 1,
        "uvuv": 1,
        "uvu<v": 1,
        "u<vw": mul1 * (mul2 - 1) // 2,
    }[mode]


def path_coefficients(irreps_in1, irreps_in2, irreps_out, instructions, in1_var, in2_var, out_var,
                      irrep_normalization: str, path_normalization: str) -> List[float]:
    """e3nn's per-instruction coefficient sqrt(alpha):

    alpha = dim(ir_out) ("component"), dim(ir1) dim(ir2) ("norm") or 1 ("none"); divided by
    x = sum over instructions into the same output of in1_var in2_var num_elements ("element"),
    or in1_var in2_var num_elements times the number of those instructions ("path"), or 1
    ("none"), when x > 0; then multiplied by out_var and the instruction's path_weight.
    """
    coefficients = []
    for ins in instructions:
        mul_ir1, mul_ir2, mul_ir_out = irreps_in1[ins[0]], irreps_in2[ins[1]], irreps_out[ins[2]]
        alpha = {"component": mul_ir_out.ir.dim, "norm": mul_ir1.ir.dim * mul_ir2.ir.dim, "none": 1}[irrep_normalization]
        same_output = [i for i in instructions if i[2] == ins[2]]

        def fan_in(i):
            return in1_var[i[0]] * in2_var[i[1]] * _num_elements(i[3], irreps_in1[i[0]].mul, irreps_in2[i[1]].mul)

        if path_normalization == "element":
            x = sum(fan_in(i) for i in same_output)
        elif path_normalization == "path":
            x = fan_in(ins) * len(same_output)
        else:
            x = 1
        if x > 0:
            alpha /= x
        alpha *= out_var[ins[2]] * ins[5]
        coefficients.append(math.sqrt(alpha))
    return coefficients


# --- the plan: which instructions share work, and where each one's weights and outputs live -------


@dataclass(frozen=True)
class _Step:
    """One instruction inside a group: its slice of the group's Clebsch-Gordan columns."""

    instruction: int
    i_out: int
    mode: str
    has_weight: bool
    coefficient: float
    l_out: int
    k_start: int
    k_stop: int
    weight_start: int
    weight_stop: int
    path_shape: Tuple[int, ...]
    mul_out: int


@dataclass(frozen=True)
class _Group:
    """Instructions with the same (i_in1, i_in2) and channel pattern (u,v pairs or shared u)."""

    i_in1: int
    i_in2: int
    same_channel: bool  # modes uuw, uuu: x1 and x2 share the channel index u
    l1: int
    l2: int
    l_outs: Tuple[int, ...]
    steps: Tuple[_Step, ...]

    @property
    def columns(self) -> int:
        return self.steps[-1].k_stop


def _plan(irreps_in1: Irreps, irreps_in2: Irreps, irreps_out: Irreps, instructions: List[Instruction]) -> Tuple[_Group, ...]:
    weight_offsets, offset = [], 0
    for ins in instructions:
        weight_offsets.append(offset)
        offset += math.prod(ins.path_shape) if ins.has_weight else 0
    grouped = {}
    for index, ins in enumerate(instructions):
        if 0 in ins.path_shape or irreps_out[ins.i_out].mul == 0:
            continue  # an empty path contributes nothing (e3nn skips it too)
        key = (ins.i_in1, ins.i_in2, ins.connection_mode in ("uuw", "uuu"))
        grouped.setdefault(key, []).append(index)
    groups = []
    for (i1, i2, same_channel), members in grouped.items():
        steps, k = [], 0
        for index in members:
            ins = instructions[index]
            l_out = irreps_out[ins.i_out].ir.l
            size = math.prod(ins.path_shape) if ins.has_weight else 0
            steps.append(
                _Step(index, ins.i_out, ins.connection_mode, ins.has_weight, ins.path_weight, l_out, k, k + 2 * l_out + 1,
                      weight_offsets[index], weight_offsets[index] + size, ins.path_shape, irreps_out[ins.i_out].mul)
            )
            k += 2 * l_out + 1
        groups.append(
            _Group(i1, i2, same_channel, irreps_in1[i1].ir.l, irreps_in2[i2].ir.l, tuple(s.l_out for s in steps), tuple(steps))
        )
    return tuple(groups)


def _group_clebsch_gordan(group: _Group) -> torch.Tensor:
    """[2l1+1, 2l2+1, K] float64: the group's blocks c_step * wigner_3j(l1, l2, l) side by side
    (K = sum 2l+1). Folding each instruction's path coefficient c into its columns saves a pass
    over the outputs."""
    return torch.cat([s.coefficient * wigner_3j(group.l1, group.l2, s.l_out, dtype=torch.float64) for s in group.steps], dim=2)


def _formulation(group: _Group, mul1: int, shared_weights: bool) -> str:
    """How the dense strategy contracts a group (a planner decision; all give the same numbers).

    "bmm": R = C x2 first ([B, v, i, K], small), then T[b, u, v, K] = x1 R as a batched matmul
    over the batch, each a [u, i] x [i, v K] product: good when u is large enough to pay.
    "outer": the outer product x1_i x2_j ([B, u, v, i j]) times C as one tall matmul: better when
    each sample's matmul would be a matrix-vector product (one channel on the left, or shared
    channels u = v).
    "weights-last": for groups of uvw paths with shared weights (fully connected products),
    T is made as [B, k, v, u] so that the weights, the bulk of the work, contract in one large
    matmul [(B k), (v u)] x [(v u), w] per path instead of a batched einsum.
    """
    if group.same_channel or mul1 <= 2:
        return "outer"
    if shared_weights and all(s.mode == "uvw" for s in group.steps):
        return "weights-last"
    return "bmm"


def _chunk_rows(groups, formulations, irreps_in1, irreps_in2, dim_out: int) -> Optional[int]:
    """Rows per chunk for the dense strategy, or None to evaluate the batch at once (a planner decision).

    When a product's intermediates dwarf its output (fully connected products: T holds every
    (u, v) pair), the batch is evaluated in chunks whose largest intermediate stays under 16 MB:
    such blocks are reused from the heap instead of being mapped and page-faulted fresh each
    time (glibc maps every allocation above 32 MB), and they stay in cache.
    """
    per_row, largest = 0, 0
    for group, how in zip(groups, formulations):
        mul1, mul2 = irreps_in1[group.i_in1].mul, irreps_in2[group.i_in2].mul
        d1, d2 = 2 * group.l1 + 1, 2 * group.l2 + 1
        size = mul1 * mul2 * (d1 * d2 if how == "outer" else group.columns) + mul2 * d1 * group.columns
        per_row += size
        largest = max(largest, size)
    if per_row < 4 * max(dim_out, 1):
        return None
    return max(256, (16 * 2**20 // 4) // largest)


@lru_cache(maxsize=None)
def _triu(mul: int, device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    i, j = torch.triu_indices(mul, mul, 1, device=device)
    return i, j


class TensorProduct(torch.nn.Module):
    """e3nn's TensorProduct: x1 [..., irreps_in1.dim] (x) x2 [..., irreps_in2.dim] -> [..., irreps_out.dim].

    Weights: internal (`self.weight`, shape [weight_numel], randn init) or given to forward as
    [weight_numel] (shared_weights=True) or [..., weight_numel] (per sample). Leading dims of
    x1, x2 (and per-sample weights) broadcast.

    `strategy`: "dense" contracts with the exact Clebsch-Gordan blocks by (batched) matmuls, the
    fastest in eager mode; "unrolled" calls the generated per-path kernels (one line per nonzero
    term) with their generated backward, which torch.compile fuses; "auto" (default) is "dense",
    except that while torch.compile traces, groups of paths whose channels carry their own
    weights (uvu, uuu, uvuv, or no weights) are unrolled. "native" runs the C++ kernels of
    `e3gen.native` (channel-wise products: weighted uvu paths, irreps_in2 of multiplicity 1; CPU,
    float32/float64), compiled on first use; for products without weights (modes uvuv, uuu, uvu<v:
    FullTensorProduct, ElementwiseTensorProduct, TensorSquare without irreps_out) those of
    `e3gen.native.rowwise`, for fully connected ones (uvw, shared weights) those of
    `e3gen.native.fully_connected`. "auto" picks them too wherever they apply and can be built
    (`e3gen.native.backend`). All give the same numbers up to rounding.
    """

    def __init__(
        self,
        irreps_in1,
        irreps_in2,
        irreps_out,
        instructions: List[tuple],
        in1_var: Optional[List[float]] = None,
        in2_var: Optional[List[float]] = None,
        out_var: Optional[List[float]] = None,
        irrep_normalization: Optional[str] = None,
        path_normalization: Optional[str] = None,
        internal_weights: Optional[bool] = None,
        shared_weights: Optional[bool] = None,
        *,
        strategy: str = "auto",
        compile_left_right: bool = True,
        compile_right: bool = False,
        _specialized_code: Optional[bool] = None,
        _optimize_einsums: Optional[bool] = None,
    ) -> None:
        # e3nn's code-generation switches are accepted so that e3nn code runs unchanged. e3gen
        # generates its kernels ahead of time, so they change nothing: forward and right() always
        # work (e3nn asserts in right() unless compile_right=True; code written for e3nn sets it).
        super().__init__()
        irrep_normalization = irrep_normalization or "component"
        path_normalization = path_normalization or "element"
        name = type(self).__name__
        if irrep_normalization not in IRREP_NORMALIZATIONS:
            raise ValueError(f"{name}: irrep_normalization must be one of {IRREP_NORMALIZATIONS}, got {irrep_normalization!r}")
        if path_normalization not in PATH_NORMALIZATIONS:
            raise ValueError(f"{name}: path_normalization must be one of {PATH_NORMALIZATIONS}, got {path_normalization!r}")
        if strategy not in STRATEGIES:
            raise ValueError(f"{name}: strategy must be one of {STRATEGIES}, got {strategy!r}")
        self.irreps_in1 = Irreps(irreps_in1)
        self.irreps_in2 = Irreps(irreps_in2)
        self.irreps_out = Irreps(irreps_out)
        self.strategy = strategy

        instructions = [tuple(x) if len(x) == 6 else tuple(x) + (1.0,) for x in instructions]
        for ins in instructions:
            self._check_instruction(ins)
        in1_var = self._variances("in1_var", in1_var, self.irreps_in1)
        in2_var = self._variances("in2_var", in2_var, self.irreps_in2)
        out_var = self._variances("out_var", out_var, self.irreps_out)
        coefficients = path_coefficients(
            self.irreps_in1, self.irreps_in2, self.irreps_out, instructions, in1_var, in2_var, out_var,
            irrep_normalization, path_normalization,
        )
        self.instructions = [
            Instruction(i1, i2, io, mode, has_weight, c,
                        path_shape(mode, self.irreps_in1[i1].mul, self.irreps_in2[i2].mul, self.irreps_out[io].mul))
            for (i1, i2, io, mode, has_weight, _), c in zip(instructions, coefficients)
        ]

        if shared_weights is False and internal_weights is None:
            internal_weights = False
        if shared_weights is None:
            shared_weights = True
        if internal_weights is None:
            internal_weights = shared_weights and any(i.has_weight for i in self.instructions)
        if internal_weights and not shared_weights:
            raise ValueError(f"{name}: internal_weights=True needs shared_weights=True (one weight set for all samples)")
        self.internal_weights = internal_weights
        self.shared_weights = shared_weights
        self.weight_numel = sum(math.prod(i.path_shape) for i in self.instructions if i.has_weight)
        if internal_weights and self.weight_numel > 0:
            self.weight = torch.nn.Parameter(torch.randn(self.weight_numel))
        else:
            self.register_buffer("weight", torch.Tensor())

        self._groups = _plan(self.irreps_in1, self.irreps_in2, self.irreps_out, self.instructions)
        # The native (C++) kernels' description of this product, or None where they do not apply;
        # e3gen.native.backend decides per call whether they run (see `strategy`).
        self._native_layout = native_ops.layout_of(self.irreps_in1, self.irreps_in2, self.irreps_out, self.instructions)
        self._native_key = self._native_layout.key() if self._native_layout is not None else ""
        # Products without weights (uvuv, uuu, uvu<v) have native kernels of their own (rows as lanes).
        self._native_rowwise = native_rowwise.layout_of(self.irreps_in1, self.irreps_in2, self.irreps_out, self.instructions)
        self._native_rowwise_key = self._native_rowwise.key() if self._native_rowwise is not None else ""
        # So have fully connected products (uvw, shared weights): coupled pairs in cache, weights by BLAS.
        self._native_fc = native_fc.layout_of(self.irreps_in1, self.irreps_in2, self.irreps_out, self.instructions,
                                              self.shared_weights)
        self._native_fc_key = self._native_fc.key() if self._native_fc is not None else ""
        if strategy == "native" and self._native_layout is None and self._native_rowwise is None and self._native_fc is None:
            raise ValueError(f"{name}: strategy='native' needs a channel-wise product (every instruction 'uvu' with "
                             "weights, irreps_in2 of multiplicity 1), one without weights (modes uvuv, uuu, uvu<v) "
                             "or a fully connected one (every instruction 'uvw', shared weights); use "
                             "strategy='auto' or 'dense'")
        native_backend.prepare(strategy, self._native_layout)
        native_backend.prepare_rowwise(strategy, self._native_rowwise or self._native_fc)
        # Exact tables and generated kernels are looked up once, here, so that forward holds only
        # tensor work (nothing for torch.compile to trace through but the math).
        self._clebsch_gordan_float64 = [_group_clebsch_gordan(g) for g in self._groups]
        self._formulations = [_formulation(g, self.irreps_in1[g.i_in1].mul, self.shared_weights) for g in self._groups]
        # Under torch.compile ("auto"), a group runs the generated kernels when each output channel has
        # its own weight (uvu, uuu, uvuv) or none: inductor fuses those into one loop. Groups that
        # mix channels through weights (uvw, ...) are matmul work and stay dense.
        self._unrolls_well = [
            all(s.mode in ("uvu", "uuu", "uvuv") or not s.has_weight for s in g.steps) for g in self._groups
        ]
        self._chunk_rows = _chunk_rows(self._groups, self._formulations, self.irreps_in1, self.irreps_in2, self.irreps_out.dim)
        self._clebsch_gordan = {}  # (dtype, device) -> the tables rounded once to that dtype
        lmax = max([0] + [max((g.l1, g.l2) + g.l_outs) for g in self._groups])
        load_kernels(lmax)  # one message and one build, if a cache build is needed
        self._kernels = [[coupling_product(g.l1, g.l2, s.l_out).apply for s in g.steps] for g in self._groups]
        live_outputs = {s.i_out for g in self._groups for s in g.steps if s.coefficient != 0}
        mask = [torch.full((mul * ir.dim,), float(i in live_outputs)) for i, (mul, ir) in enumerate(self.irreps_out)]
        self.register_buffer("output_mask", torch.cat(mask) if mask else torch.ones(0))
        # Plain ints for forward: it never touches Irreps objects (cheaper, and nothing for
        # torch.compile to guard on). Inputs and weights are split once into blocks: the backward
        # of one split is one concatenation, where each slice would zero-fill a whole gradient.
        self._sizes1 = [mul * ir.dim for mul, ir in self.irreps_in1]
        self._sizes2 = [mul * ir.dim for mul, ir in self.irreps_in2]
        self._weight_sizes = [math.prod(i.path_shape) for i in self.instructions if i.has_weight]
        self._weight_block = {}  # instruction index -> index of its block in weight.split(_weight_sizes)
        for index, ins in enumerate(self.instructions):
            if ins.has_weight:
                self._weight_block[index] = len(self._weight_block)
        self._group_shapes = [
            (self.irreps_in1[g.i_in1].mul, self.irreps_in2[g.i_in2].mul, 2 * g.l1 + 1, 2 * g.l2 + 1) for g in self._groups
        ]
        self._output_sizes = [mul * ir.dim for mul, ir in self.irreps_out]
        self._dim_in1, self._dim_in2, self._dim_out = self.irreps_in1.dim, self.irreps_in2.dim, self.irreps_out.dim

    # --- construction checks ------------------------------------------------------------------------

    def _check_instruction(self, ins) -> None:
        name = type(self).__name__
        if len(ins) != 6:
            raise ValueError(f"{name}: an instruction is (i_in1, i_in2, i_out, mode, has_weight[, path_weight]), got {ins}")
        i1, i2, io, mode, _, _ = ins
        for index, irreps, label in ((i1, self.irreps_in1, "irreps_in1"), (i2, self.irreps_in2, "irreps_in2"),
                                     (io, self.irreps_out, "irreps_out")):
            if not (isinstance(index, int) and 0 <= index < len(irreps)):
                raise InstructionIndexError(f"{name}: instruction {ins} refers to {label}[{index}], but {label}={irreps} has {len(irreps)} entries")
        if mode not in MODES:
            raise ConnectionModeError(f"{name}: instruction {ins} has connection mode {mode!r}; expected one of {MODES}")
        (mul1, ir1), (mul2, ir2), (mul_out, ir_out) = self.irreps_in1[i1], self.irreps_in2[i2], self.irreps_out[io]
        if ir_out not in list(ir1 * ir2):
            raise ForbiddenPathError(
                f"{name}: instruction {ins} couples {ir1} x {ir2}, which cannot give {ir_out} "
                f"(allowed: {' + '.join(str(ir) for ir in ir1 * ir2)})"
            )
        expected_out = {"uvu": mul1, "uvv": mul2, "uuu": mul1, "uvuv": mul1 * mul2, "uvu<v": mul1 * (mul1 - 1) // 2}
        if mode[:2] == "uu" or mode in ("uvu<v", "u<vw"):
            if mul1 != mul2:
                raise ValueError(f"{name}: mode {mode!r} needs equal multiplicities, got {mul1}x{ir1} and {mul2}x{ir2}")
        if mode in expected_out and mul_out != expected_out[mode]:
            raise ValueError(
                f"{name}: mode {mode!r} in instruction {ins} needs irreps_out[{io}] to have multiplicity "
                f"{expected_out[mode]}, got {mul_out}x{ir_out}"
            )
        if mode == "uuw" and not ins[4] and mul_out != 1:
            raise ValueError(f"{name}: mode 'uuw' without weights sums over u and needs multiplicity 1 out, got {mul_out}")
        if mode in ("uvw", "u<vw") and not ins[4]:
            raise ValueError(f"{name}: mode {mode!r} needs has_weight=True (instruction {ins})")

    def _variances(self, label: str, values, irreps: Irreps) -> List[float]:
        if values is None:
            return [1.0] * len(irreps)
        values = [float(v) for v in values]
        if len(values) != len(irreps):
            raise ValueError(f"{type(self).__name__}: {label} needs one value per entry of {irreps} ({len(irreps)}), got {len(values)}")
        return values

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # e3nn's state_dict also carries the constants of its compiled code (its float wigner_3j);
        # they are derived data, and e3gen has the exact ones: drop them so e3nn checkpoints load,
        # after checking that their signs are e3gen's (e3nn < 0.5.0 differs on some triples).
        check_carried_wigner_3j(
            self._describe(), prefix, state_dict,
            [(self.irreps_in1[i.i_in1].ir.l, self.irreps_in2[i.i_in2].ir.l, self.irreps_out[i.i_out].ir.l) for i in self.instructions],
        )
        for key in [k for k in state_dict if k.startswith(prefix + "_compiled_main_")]:
            del state_dict[key]
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def __repr__(self) -> str:
        npath = sum(math.prod(i.path_shape) for i in self.instructions)
        return (
            f"{type(self).__name__}({self.irreps_in1.simplify()} x {self.irreps_in2.simplify()} "
            f"-> {self.irreps_out.simplify()} | {npath} paths | {self.weight_numel} weights)"
        )

    # --- weights ------------------------------------------------------------------------------------

    def _describe(self) -> str:
        # Asked on every call (checks and messages name the layer); formatting three Irreps took ~10 us,
        # so the text is made once (the irreps of a product do not change after construction).
        description = self.__dict__.get("_description")
        if description is None:
            description = f"{type(self).__name__}({self.irreps_in1} x {self.irreps_in2} -> {self.irreps_out})"
            self.__dict__["_description"] = description
        return description

    def _get_weights(self, weight: Optional[torch.Tensor]) -> torch.Tensor:
        if isinstance(weight, (list, tuple)):
            shapes = [i.path_shape for i in self.instructions if i.has_weight]
            lead = () if self.shared_weights else (-1,)
            weight = torch.cat([w.reshape(*lead, math.prod(s)) for w, s in zip(weight, shapes)], dim=-1)
        if weight is None:
            if self.weight_numel > 0 and not self.internal_weights:
                raise MissingWeightsError(f"{self._describe()}: this product has external weights: pass weight [..., {self.weight_numel}] to forward")
            return self.weight
        if self.shared_weights and weight.shape != (self.weight_numel,):
            raise ValueError(f"{self._describe()}: shared weights must have shape [{self.weight_numel}], got {list(weight.shape)}")
        if not self.shared_weights and (weight.ndim < 2 or weight.shape[-1] != self.weight_numel):
            raise ValueError(
                f"{self._describe()}: per-sample weights must have shape [..., {self.weight_numel}] with a batch dimension, "
                f"got {list(weight.shape)}"
            )
        return weight

    def weight_view_for_instruction(self, instruction: int, weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The weights of one instruction, shaped [...] + path_shape."""
        ins = self.instructions[instruction]
        if not ins.has_weight:
            raise ValueError(f"instruction {instruction} ({ins.connection_mode}) has no weights")
        weight = self._get_weights(weight)
        offset = sum(math.prod(i.path_shape) for i in self.instructions[:instruction] if i.has_weight)
        batch = weight.shape[:-1]
        return weight.narrow(-1, offset, math.prod(ins.path_shape)).view(batch + ins.path_shape)

    def weight_views(self, weight: Optional[torch.Tensor] = None, yield_instruction: bool = False) -> Iterator:
        """The weights of every weighted instruction, in order (with its index and Instruction if asked)."""
        for index, ins in enumerate(self.instructions):
            if ins.has_weight:
                view = self.weight_view_for_instruction(index, weight)
                yield (index, ins, view) if yield_instruction else view

    # --- evaluation ---------------------------------------------------------------------------------

    def forward(self, x: torch.Tensor, y: torch.Tensor, weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x [..., irreps_in1.dim], y [..., irreps_in2.dim], weight as documented -> [..., irreps_out.dim]."""
        name = type(self).__name__
        check_float_tensors(name, {"x": x, "y": y})
        if x.dim() == 0 or x.shape[-1] != self._dim_in1:
            raise InputShapeError(
                f"{name}: expected x of shape [..., {self.irreps_in1.dim}] (irreps_in1={self.irreps_in1}), got {list(x.shape)}"
            )
        if y.dim() == 0 or y.shape[-1] != self._dim_in2:
            raise InputShapeError(
                f"{name}: expected y of shape [..., {self.irreps_in2.dim}] (irreps_in2={self.irreps_in2}), got {list(y.shape)}"
            )
        weight = self._get_weights(weight)
        internal = weight is self.weight or self.weight_numel == 0  # (an empty weight takes no part)
        check_float_tensors(name, {"weight": None if internal else weight})
        check_same_dtype_and_device(name, {"x": x, "y": y, "weight": None if internal else weight},
                                    self.weight if internal and self.weight_numel > 0 else None)
        shapes = [x.shape[:-1], y.shape[:-1]] + ([] if self.shared_weights else [weight.shape[:-1]])
        same = all(shape == shapes[0] for shape in shapes[1:])  # the usual case: nothing to broadcast
        try:
            batch = shapes[0] if same else torch.broadcast_shapes(*shapes)
        except RuntimeError:
            raise ValueError(f"{name}: leading dims do not broadcast: x {list(x.shape)}, y {list(y.shape)}"
                             + ("" if self.shared_weights else f", weight {list(weight.shape)}")) from None
        b = math.prod(batch)
        x = (x if same else x.expand(*batch, -1)).reshape(b, self._dim_in1)
        y = (y if same else y.expand(*batch, -1)).reshape(b, self._dim_in2)
        if not self.shared_weights:
            weight = (weight if same else weight.expand(*batch, -1)).reshape(b, self.weight_numel)
        if native_backend.use_native_rowwise(self.strategy, self._native_rowwise, (x, y), self._describe()):
            return native_rowwise.product(self._native_rowwise_key, x, y).reshape(*batch, self._dim_out)
        if native_backend.use_native_rowwise(self.strategy, self._native_fc, (x, y, weight), self._describe()):
            return native_fc.product(self._native_fc_key, x, y, weight).reshape(*batch, self._dim_out)
        if native_backend.use_native(self.strategy, self._native_layout, (x, y, weight), self._describe()):
            w = weight.expand(b, -1) if self.shared_weights else weight
            return native_ops.product(self._native_key, x, y, w).reshape(*batch, self._dim_out)
        compiling = torch.compiler.is_compiling()
        unrolled = [
            self.strategy == "unrolled" or (self.strategy == "auto" and compiling and well) for well in self._unrolls_well
        ]
        rows = self._chunk_rows
        if compiling or all(unrolled) or rows is None or b <= rows:
            out = self._evaluate(x, y, weight, unrolled)
        else:
            chunks = [
                self._evaluate(x[s : s + rows], y[s : s + rows], weight if self.shared_weights else weight[s : s + rows], unrolled)
                for s in range(0, b, rows)
            ]
            out = torch.cat(chunks, dim=0)
        return out.reshape(*batch, self._dim_out)

    def _evaluate(self, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, unrolled: List[bool]) -> torch.Tensor:
        """x [B, dim1], y [B, dim2], weight [weight_numel] or [B, weight_numel] -> [B, dim_out]."""
        b = x.shape[0]
        x_blocks, y_blocks = x.split(self._sizes1, dim=1), y.split(self._sizes2, dim=1)
        w_blocks = weight.split(self._weight_sizes, dim=-1) if self._weight_sizes else ()
        outputs: List[Optional[torch.Tensor]] = [None] * len(self._output_sizes)
        tables = self._tables(x.dtype, x.device) if not all(unrolled) else None
        for index, group in enumerate(self._groups):
            mul1, mul2, d1, d2 = self._group_shapes[index]
            x1 = x_blocks[group.i_in1].reshape(b, mul1, d1)
            x2 = y_blocks[group.i_in2].reshape(b, mul2, d2)
            if unrolled[index]:
                results = [
                    self._unrolled_step(step, kernel, x1, x2, w_blocks, b)
                    for step, kernel in zip(group.steps, self._kernels[index])
                ]
            else:
                products = self._products_dense(group, self._formulations[index], tables[index], x1, x2)
                weights_last = self._formulations[index] == "weights-last"
                results = [
                    (_contract_weights_last(step, t, self._step_weight(step, w_blocks)) if t is not None
                     else _scalar_path_uvw(group, step, x1, x2, self._step_weight(step, w_blocks)))
                    if weights_last
                    # the dense tables already carry the path coefficient
                    else _contract(step, t, self._step_weight(step, w_blocks), self.shared_weights, b, 1.0)
                    for step, t in zip(group.steps, products)
                ]
            for step, result in zip(group.steps, results):
                outputs[step.i_out] = result if outputs[step.i_out] is None else outputs[step.i_out] + result
        blocks = [
            out.reshape(b, size) if out is not None else x.new_zeros(b, size)
            for out, size in zip(outputs, self._output_sizes)
        ]
        return torch.cat(blocks, dim=1) if blocks else x.new_zeros(b, 0)

    def _tables(self, dtype: torch.dtype, device: torch.device) -> List[torch.Tensor]:
        return constants_for(self._clebsch_gordan, dtype, device, lambda: [
            (c.reshape(-1, c.shape[2]) if how == "outer" else c.permute(1, 0, 2).reshape(c.shape[1], -1))
            .to(dtype=dtype, device=device).contiguous()
            for c, how in zip(self._clebsch_gordan_float64, self._formulations)
        ])

    @staticmethod
    def _products_dense(group: _Group, how: str, c: torch.Tensor, x1: torch.Tensor, x2: torch.Tensor) -> List[torch.Tensor]:
        """Per step, T = sum_ij C_ijk x1_i x2_j: [B, u, v, k] (u,v pairs) or [B, u, k] (shared channel).

        `c` is the group's table in the layout `how` needs: [(i, j), K] for "outer", [j, (i, K)] for "bmm".
        """
        b, mul1, d1 = x1.shape
        mul2, d2 = x2.shape[1:]
        columns = group.columns
        if how == "outer" and group.same_channel:
            t = ((x1[..., :, None] * x2[..., None, :]).reshape(b * mul1, d1 * d2) @ c).view(b, mul1, columns)
        elif how == "outer":
            outer = (x1[:, :, None, :, None] * x2[:, None, :, None, :]).reshape(b * mul1 * mul2, d1 * d2)
            t = (outer @ c).view(b, mul1, mul2, columns)
        elif how == "weights-last":
            if all(_scalar_path(group, s) for s in group.steps):
                return [None] * len(group.steps)
            r = (x2.reshape(b * mul2, d2) @ c).view(b, mul2, d1, columns)  # R[b, v, i, k] = sum_j C_ijk x2[b, v, j]
            r = r.permute(0, 3, 1, 2).reshape(b, columns * mul2, d1)  # [b, (k, v), i]
            x1t = x1.transpose(1, 2)
            return [
                None if _scalar_path(group, s)
                else torch.bmm(r[:, s.k_start * mul2 : s.k_stop * mul2], x1t).view(b, s.k_stop - s.k_start, mul2, mul1)
                for s in group.steps
            ]  # T[b, k, v, u] per step, contiguous; None where a scalar shortcut applies
        else:
            r = (x2.reshape(b * mul2, d2) @ c).view(b, mul2, d1, columns)  # R[b, v, i, k] = sum_j C_ijk x2[b, v, j]
            t = torch.bmm(x1, r.permute(0, 2, 1, 3).reshape(b, d1, mul2 * columns)).view(b, mul1, mul2, columns)
        return t.split([s.k_stop - s.k_start for s in group.steps], dim=-1)

    def _step_weight(self, step: _Step, w_blocks) -> Optional[torch.Tensor]:
        return w_blocks[self._weight_block[step.instruction]] if step.has_weight else None

    def _unrolled_step(self, step: _Step, kernel, x1: torch.Tensor, x2: torch.Tensor, w_blocks, b: int) -> torch.Tensor:
        """One instruction by its generated kernel (and generated backward) -> [B, mul_out, k].

        Where each output channel has one weight per (u, v) pair (uvu, uuu, uvuv), the weight and
        path coefficient multiply x1 before the kernel: the products are then never written
        unweighted, and backward needs no pass over them either.
        """
        w = self._step_weight(step, w_blocks)
        if w is not None and step.mode in ("uvu", "uuu", "uvuv"):
            w = (w.view(step.path_shape) if self.shared_weights else w.view((b,) + step.path_shape)) * step.coefficient
            if step.mode == "uuu":
                return kernel(x1 * w[..., None], x2)
            t = kernel(x1[:, :, None, :] * w[..., None], x2[:, None, :, :])  # [B, u, v, k]
            if step.mode == "uvuv":
                return t.reshape(b, t.shape[1] * t.shape[2], t.shape[-1])
            return t.squeeze(2) if t.shape[2] == 1 else t.sum(2)
        t = kernel(x1, x2) if step.mode in ("uuw", "uuu") else kernel(x1[:, :, None, :], x2[:, None, :, :])
        return _contract(step, t, w, self.shared_weights, b, step.coefficient)

    def right(self, y: torch.Tensor, weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        """The linear operator x -> self(x, y, weight): [..., irreps_in1.dim, irreps_out.dim]."""
        eye = torch.eye(self.irreps_in1.dim, dtype=y.dtype, device=y.device)
        weight = self._get_weights(weight)
        if not self.shared_weights:
            weight = weight[..., None, :]
        return self.forward(eye, y[..., None, :], weight)


def _contract(step: _Step, t: torch.Tensor, w: Optional[torch.Tensor], shared: bool, b: int, c: float) -> torch.Tensor:
    """Apply one instruction's channel pattern, weights w and coefficient c to its products t.

    t is [B, u, v, k] for the (u, v) modes and [B, u, k] for uuw / uuu; w is the instruction's
    weight block, [numel] (shared) or [B, numel]; returns [B, mul_out, k].
    """
    mode = step.mode
    if w is not None:
        w = w.view(step.path_shape) if shared else w.view((b,) + step.path_shape)
        if c != 1.0:
            w = w * c  # weights are small next to t: scale them, not the products
    elif c != 1.0:
        t = t * c
    z = "" if shared else "b"
    if mode == "uvw":
        return torch.einsum(f"buvk,{z}uvw->bwk", t, w)
    if mode == "uvu":
        if w is None:
            return t.sum(2)
        if t.shape[2] == 1:  # one channel on the right (the convolution product): a broadcast multiply
            # squeeze, not [:, :, 0]: an integer index's backward zero-fills the whole gradient
            return t.squeeze(2) * w.squeeze(-1).unsqueeze(-1)
        return torch.einsum(f"buvk,{z}uv->buk", t, w)
    if mode == "uvv":
        if w is None:
            return t.sum(1)
        if t.shape[1] == 1:
            return t.squeeze(1) * w.squeeze(-2).unsqueeze(-1)
        return torch.einsum(f"buvk,{z}uv->bvk", t, w)
    if mode == "uuw":
        return torch.einsum(f"buk,{z}uw->bwk", t, w) if w is not None else t.sum(1, keepdim=True)
    if mode == "uuu":
        return t * w[..., None] if w is not None else t
    if mode == "uvuv":
        return (t * w[..., None] if w is not None else t).reshape(b, t.shape[1] * t.shape[2], t.shape[-1])
    i, j = _triu(t.shape[1], t.device)
    pairs = t[:, i, j]  # [B, pairs, k]
    if mode == "uvu<v":
        return pairs * w[..., None] if w is not None else pairs
    return torch.einsum(f"bqk,{z}qw->bwk", pairs, w)  # u<vw


def _scalar_path(group: _Group, step: _Step) -> bool:
    """A path with a scalar (l = 0) operand or output: its C is the identity over 2l+1."""
    return group.l1 == 0 or group.l2 == 0 or step.l_out == 0


def _scalar_path_uvw(group: _Group, step: _Step, x1: torch.Tensor, x2: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """uvw with shared weights where one of l1, l2, l_out is 0 -> [B, w, k].

    Then C_ijk = delta / sqrt(2l+1) over the other two indices (exactly, in e3nn's basis), so
    the weights contract with the scalar side first and no [B, u, v, k] product is ever formed
    (e3nn specialises these paths the same way).
    """
    b, mul1, d1 = x1.shape
    mul2, d2 = x2.shape[1:]
    w = w.view(step.path_shape)
    # explicit sizes, no -1: with 0 rows a -1 is ambiguous and view refuses
    if group.l1 == 0:  # out[b,w,k] = s sum_v (sum_u x1[b,u] W[u,v,w]) x2[b,v,k]
        scaled = (w * (step.coefficient / math.sqrt(d2))).reshape(mul1, mul2 * step.mul_out)
        a = (x1.reshape(b, mul1) @ scaled).view(b, mul2, step.mul_out)
        return torch.bmm(a.transpose(1, 2), x2)
    if group.l2 == 0:  # out[b,w,k] = s sum_u (sum_v x2[b,v] W[u,v,w]) x1[b,u,k]
        scaled = (w * (step.coefficient / math.sqrt(d1))).transpose(0, 1).reshape(mul2, mul1 * step.mul_out)
        a = (x2.reshape(b, mul2) @ scaled).view(b, mul1, step.mul_out)
        return torch.bmm(a.transpose(1, 2), x1)
    # l_out == 0: out[b,w] = s sum_uv W[u,v,w] (x1[b,u] . x2[b,v])
    dots = torch.bmm(x1, x2.transpose(1, 2)).reshape(b, mul1 * mul2)
    return (dots @ (w * (step.coefficient / math.sqrt(d1))).reshape(mul1 * mul2, step.mul_out))[:, :, None]


def _contract_weights_last(step: _Step, t: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """uvw with shared weights on T[b, k, v, u]: one matmul [(b k), (v u)] x [(v u), w] -> [b, w, k]."""
    b, k, mul2, mul1 = t.shape
    w = w.view(step.path_shape).permute(1, 0, 2).reshape(mul2 * mul1, step.mul_out)
    return (t.view(b * k, mul2 * mul1) @ w).view(b, k, step.mul_out).transpose(1, 2)


# --- the common products ------------------------------------------------------------------------------


class FullyConnectedTensorProduct(TensorProduct):
    """All paths |l1 - l2| <= l_out <= l1 + l2 (parity allowing), mode uvw, weighted (e3nn's)."""

    def __init__(self, irreps_in1, irreps_in2, irreps_out, irrep_normalization=None, path_normalization=None, **kwargs):
        irreps_in1, irreps_in2, irreps_out = Irreps(irreps_in1), Irreps(irreps_in2), Irreps(irreps_out)
        instructions = [
            (i1, i2, io, "uvw", True, 1.0)
            for i1, (_, ir1) in enumerate(irreps_in1)
            for i2, (_, ir2) in enumerate(irreps_in2)
            for io, (_, ir_out) in enumerate(irreps_out)
            if ir_out in list(ir1 * ir2)
        ]
        super().__init__(irreps_in1, irreps_in2, irreps_out, instructions, irrep_normalization=irrep_normalization,
                         path_normalization=path_normalization, **kwargs)


def _filter(filter_ir_out) -> Optional[List[Irrep]]:
    if filter_ir_out is None:
        return None
    try:
        return [Irrep(ir) for ir in (Irreps(filter_ir_out) if isinstance(filter_ir_out, str) else filter_ir_out)]
    except (ValueError, TypeError):
        raise ValueError(f"filter_ir_out must be irreps such as ['0e', '1o'], got {filter_ir_out!r}") from None


def _irrep_of(item) -> Irrep:
    return item.ir if hasattr(item, "ir") else Irrep(item)


class FullTensorProduct(TensorProduct):
    """Every x1_u (x) x2_v into every allowed irrep (mode uvuv, no weights); outputs sorted (e3nn's)."""

    def __init__(self, irreps_in1, irreps_in2, filter_ir_out=None, irrep_normalization=None, **kwargs):
        irreps_in1, irreps_in2 = Irreps(irreps_in1).simplify(), Irreps(irreps_in2).simplify()
        keep = _filter(filter_ir_out)
        out, instructions = [], []
        for i1, (mul1, ir1) in enumerate(irreps_in1):
            for i2, (mul2, ir2) in enumerate(irreps_in2):
                for ir_out in ir1 * ir2:
                    if keep is not None and ir_out not in keep:
                        continue
                    instructions.append((i1, i2, len(out), "uvuv", False))
                    out.append((mul1 * mul2, ir_out))
        out, p, _ = Irreps(out).sort()
        instructions = [(i1, i2, p[io], mode, w) for i1, i2, io, mode, w in instructions]
        super().__init__(irreps_in1, irreps_in2, out, instructions, irrep_normalization=irrep_normalization, **kwargs)


class ElementwiseTensorProduct(TensorProduct):
    """x1_u (x) x2_u for matching channels u (mode uuu, no weights), e3nn's splitting of multiplicities."""

    def __init__(self, irreps_in1, irreps_in2, filter_ir_out=None, irrep_normalization=None, **kwargs):
        irreps_in1, irreps_in2 = Irreps(irreps_in1).simplify(), Irreps(irreps_in2).simplify()
        keep = _filter(filter_ir_out)
        if irreps_in1.num_irreps != irreps_in2.num_irreps:
            raise ValueError(
                f"ElementwiseTensorProduct needs as many irreps on both sides, got {irreps_in1} "
                f"({irreps_in1.num_irreps}) and {irreps_in2} ({irreps_in2.num_irreps})"
            )
        in1, in2 = split_to_common_multiplicities(irreps_in1, irreps_in2)
        out, instructions = [], []
        for i, ((mul, ir1), (_, ir2)) in enumerate(zip(in1, in2)):
            for ir_out in _irrep_of(ir1) * _irrep_of(ir2):
                if keep is not None and ir_out not in keep:
                    continue
                instructions.append((i, i, len(out), "uuu", False))
                out.append((mul, ir_out))
        super().__init__(in1, in2, out, instructions, irrep_normalization=irrep_normalization, **kwargs)


def _square_alpha(irrep_normalization: str, ir1: Irrep, ir2: Irrep, ir_out: Irrep, diagonal: bool) -> float:
    """e3nn's path weight for x (x) x: the diagonal (u = u) paths of even l_out are rescaled."""
    if not diagonal:
        return {"component": ir_out.dim, "norm": ir1.dim * ir2.dim, "none": 1}[irrep_normalization]
    if irrep_normalization == "component":
        return ir_out.dim / (ir1.dim + 2) if ir_out.l == 0 else ir_out.dim / 2
    if irrep_normalization == "norm":
        return ir_out.dim * ir1.dim if ir_out.l == 0 else ir1.dim * (ir1.dim + 2) / 2
    return 1


def _square_paths(irreps_in: Irreps, ir_out_of: list, irrep_normalization: str, weighted: bool):
    """e3nn's instructions for x (x) x, in its order: for each (i1 <= i2) and each target.

    `ir_out_of(i1, i2)` lists (i_out or None, ir_out) targets; None means "append a new output".
    Off-diagonal pairs (i1 < i2) are uvuv / uvw; the diagonal i1 == i2 contributes u<v pairs
    (uvu<v / u<vw, when mul > 1) and, for even l_out, the u = u paths (uuu / uuw).
    """
    outs, instructions = [], []

    def target(io, mul, ir_out):
        if io is None:
            outs.append((mul, ir_out))
            return len(outs) - 1
        return io

    for i1, (mul1, ir1) in enumerate(irreps_in):
        for i2, (mul2, ir2) in enumerate(irreps_in):
            if i1 > i2:
                continue
            for io, ir_out in ir_out_of(ir1, ir2):
                alpha = _square_alpha(irrep_normalization, ir1, ir2, ir_out, diagonal=False)
                if i1 < i2:
                    instructions.append((i1, i2, target(io, mul1 * mul2, ir_out), "uvw" if weighted else "uvuv", weighted, alpha))
                    continue
                if mul1 > 1:
                    pairs = mul1 * (mul1 - 1) // 2
                    instructions.append((i1, i1, target(io, pairs, ir_out), "u<vw" if weighted else "uvu<v", weighted, alpha))
                if ir_out.l % 2 == 0:
                    alpha = _square_alpha(irrep_normalization, ir1, ir2, ir_out, diagonal=True)
                    instructions.append((i1, i1, target(io, mul1, ir_out), "uuw" if weighted else "uuu", weighted, alpha))
    return outs, instructions


class TensorSquare(TensorProduct):
    """x (x) x without double counting (e3nn's): u<v pairs once, plus the u=u paths of even l_out.

    Without irreps_out: every allowed irrep, no weights (like FullTensorProduct); with irreps_out:
    fully connected and weighted. forward(x, weight=None).
    """

    def __init__(self, irreps_in, irreps_out=None, filter_ir_out=None, irrep_normalization=None, **kwargs):
        irrep_normalization = irrep_normalization or "component"
        if irrep_normalization not in IRREP_NORMALIZATIONS:
            raise ValueError(f"TensorSquare: irrep_normalization must be one of {IRREP_NORMALIZATIONS}, got {irrep_normalization!r}")
        irreps_in = Irreps(irreps_in).simplify()
        keep = _filter(filter_ir_out)
        if irreps_out is None:
            outs, instructions = _square_paths(
                irreps_in,
                lambda ir1, ir2: [(None, ir) for ir in ir1 * ir2 if keep is None or ir in keep],
                irrep_normalization,
                weighted=False,
            )
            irreps_out, p, _ = Irreps(outs).sort()
            instructions = [(i1, i2, p[io], mode, w, a) for i1, i2, io, mode, w, a in instructions]
        else:
            if keep is not None:
                raise ValueError("TensorSquare: give irreps_out or filter_ir_out, not both (it is ambiguous)")
            irreps_out = Irreps(irreps_out).simplify()
            _, instructions = _square_paths(
                irreps_in,
                lambda ir1, ir2: [(io, ir) for io, (_, ir) in enumerate(irreps_out) if ir in list(ir1 * ir2)],
                irrep_normalization,
                weighted=True,
            )
        self.irreps_in = irreps_in
        super().__init__(irreps_in, irreps_in, irreps_out, instructions, irrep_normalization="none", **kwargs)

    def __repr__(self) -> str:
        npath = sum(math.prod(i.path_shape) for i in self.instructions)
        return f"TensorSquare({self.irreps_in} -> {self.irreps_out.simplify()} | {npath} paths | {self.weight_numel} weights)"

    def forward(self, x: torch.Tensor, weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x [..., irreps_in.dim] -> [..., irreps_out.dim]."""
        return super().forward(x, x, weight)


def channelwise_tensor_product(irreps_in, irreps_sh, irreps_out=None, *, lmax: Optional[int] = None,
                               shared_weights: bool = False, internal_weights: bool = False, **kwargs) -> TensorProduct:
    """The "uvu" convolution product of NequIP and MACE: features (x) edge harmonics -> every allowed irrep.

    Each channel u of each input irrep is coupled with each harmonic into every output irrep that
    is allowed, kept by `irreps_out` (only its irreps are kept; multiplicities ignored) or by
    `lmax` (l <= lmax); with neither, all are kept. One output block per instruction, sorted by
    irrep (the order NequIP uses), with per-sample (per-edge) weights by default:
    weight [..., weight_numel] with one weight per (channel, path).

    Returns a TensorProduct; `.irreps_out` tells the output layout, `.weight_numel` the weights
    a radial network must produce.
    """
    irreps_in, irreps_sh = Irreps(irreps_in), Irreps(irreps_sh)
    keep = None if irreps_out is None else {ir for _, ir in Irreps(irreps_out)}
    out, instructions = [], []
    for i1, (mul, ir1) in enumerate(irreps_in):
        for i2, (_, ir2) in enumerate(irreps_sh):
            for ir_out in ir1 * ir2:
                if (keep is not None and ir_out not in keep) or (lmax is not None and ir_out.l > lmax):
                    continue
                instructions.append((i1, i2, len(out), "uvu", True))
                out.append((mul, ir_out))
    if not out:
        raise ValueError(f"channelwise_tensor_product: {irreps_in} x {irreps_sh} gives no allowed output "
                         f"(irreps_out={irreps_out}, lmax={lmax})")
    out, p, _ = Irreps(out).sort()
    instructions = [(i1, i2, p[io], mode, w) for i1, i2, io, mode, w in instructions]
    return TensorProduct(irreps_in, irreps_sh, out, instructions, shared_weights=shared_weights,
                         internal_weights=internal_weights, **kwargs)

