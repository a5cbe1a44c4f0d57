"""Gate nonlinearity (e3nn 0.6.0's `nn.Gate`): scalars through activations, other irreps scaled by gates.

Input layout: e3nn sorts the input. ``irreps_in`` is ``(scalars + gates + gated).sort().simplify()``
(each part simplified first), so a gate's input may interleave the three parts: scalars and gates
of the same irrep are adjacent, scalars first. Output layout: ``[act(scalars), act(gates) * gated]``,
scalars first, each in the order given (not sorted).

The i-th gate scalar multiplies every component of the i-th gated irrep copy. e3nn computes this
with an `ElementwiseTensorProduct`; its path coefficient is exactly 1 (C^{l,0,l} = 1/sqrt(2l+1)
times the normalisation sqrt(2l+1)), so the direct product here equals it up to float rounding.
The gated output irrep is (l, p_gated * p_gate): an odd gate (0o, from an odd activation of an odd
scalar) flips the parity.

Rejected, with ValueError, as in e3nn: non-scalar ``irreps_scalars`` or ``irreps_gates``; a number
of gates different from the number of gated irrep copies; activation lists whose length differs
from the number of terms; an activation on an odd scalar that is neither even nor odd.
"""

from typing import List, Tuple

import torch

from e3gen.nn._activation import Activation
from e3gen.nn._e3nn_state import WeightlessProductState
from e3gen.o3 import Irreps
from e3gen.o3._input_checks import check_float_tensors


def _gated_irreps_out(irreps_gated: Irreps, irreps_gates: Irreps) -> Irreps:
    """e3nn's ElementwiseTensorProduct(gated, gates).irreps_out: terms split where multiplicities
    disagree, each (l_gated, p_gated * p_gate)."""
    gated = list(irreps_gated.simplify())
    gates = list(irreps_gates.simplify())
    out = []
    i = 0
    while i < len(gated):
        (mul_1, ir_1), (mul_2, ir_2) = gated[i], gates[i]
        if mul_1 < mul_2:
            gates[i : i + 1] = [(mul_1, ir_2), (mul_2 - mul_1, ir_2)]
        elif mul_2 < mul_1:
            gated[i : i + 1] = [(mul_2, ir_1), (mul_1 - mul_2, ir_1)]
        mul = min(mul_1, mul_2)
        out.append((mul, (ir_1.l, ir_1.p * ir_2.p)))
        i += 1
    return Irreps(out)


def _runs(starts_and_lengths: List[Tuple[int, int]]) -> List[Tuple[int, int]]:
    """Merge blocks that follow each other in the input into one (start, length) run."""
    runs: List[Tuple[int, int]] = []
    for start, length in starts_and_lengths:
        if length == 0:
            continue
        if runs and runs[-1][0] + runs[-1][1] == start:
            runs[-1] = (runs[-1][0], runs[-1][1] + length)
        else:
            runs.append((start, length))
    return runs


def _take(features: torch.Tensor, runs: List[Tuple[int, int]]) -> torch.Tensor:
    """features[..., runs] concatenated: [..., sum of lengths]."""
    if len(runs) == 1:
        return features.narrow(-1, runs[0][0], runs[0][1])
    if len(runs) == 0:
        return features.narrow(-1, 0, 0)
    return torch.cat([features.narrow(-1, start, length) for start, length in runs], dim=-1)


class Gate(torch.nn.Module):
    """features [..., irreps_in.dim] -> [..., irreps_out.dim] (see the module docstring for both layouts).

    ``Gate("16x0o", [torch.tanh], "32x0o", [torch.tanh], "16x1e+16x1o").irreps_out == "16x0o+16x1o+16x1e"``.
    """

    # declared for TorchScript, which cannot infer the element type of an empty list (a gate
    # without gates, as NequIP's last layer has)
    _scalar_runs: List[Tuple[int, int]]
    _gate_runs: List[Tuple[int, int]]
    _gated_runs: List[Tuple[int, int]]

    def __init__(self, irreps_scalars, act_scalars, irreps_gates, act_gates, irreps_gated) -> None:
        super().__init__()
        irreps_scalars, irreps_gates, irreps_gated = Irreps(irreps_scalars), Irreps(irreps_gates), Irreps(irreps_gated)
        name = f"Gate({irreps_scalars} | {irreps_gates} | {irreps_gated})"
        for what, irreps in (("irreps_scalars", irreps_scalars), ("irreps_gates", irreps_gates)):
            if any(ir.l > 0 for _, ir in irreps):
                raise ValueError(f"{name}: {what} must be scalars (l = 0), got {irreps}")
        if irreps_gates.num_irreps != irreps_gated.num_irreps:
            raise ValueError(
                f"{name}: there are {irreps_gated.num_irreps} irreps in irreps_gated but {irreps_gates.num_irreps} "
                f"gate scalars in irreps_gates; give one gate per gated irrep copy"
            )

        parts = [irreps_scalars.simplify(), irreps_gates.simplify(), irreps_gated.simplify()]
        concatenated = parts[0] + parts[1] + parts[2]
        sorted_irreps, p, _ = concatenated.sort()
        sorted_slices = sorted_irreps.slices()
        runs, term = [], 0
        for part in parts:
            blocks = []
            for _ in part:
                s = sorted_slices[p[term]]
                blocks.append((s.start, s.stop - s.start))
                term += 1
            runs.append(_runs(blocks))
        self._scalar_runs, self._gate_runs, self._gated_runs = runs
        self.irreps_scalars, self.irreps_gates, self.irreps_gated = parts
        # the three parts, sorted and simplified (e3nn's input layout)
        self.irreps_in = sorted_irreps.simplify()

        try:
            self.act_scalars = Activation(irreps_scalars, act_scalars)
            self.act_gates = Activation(irreps_gates, act_gates)
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from error
        gated_out = _gated_irreps_out(irreps_gated, self.act_gates.irreps_out)
        # act_scalars.irreps_out + the gated irreps with the gates' parities
        self.irreps_out = self.act_scalars.irreps_out + gated_out

        # copy index of each gated component: gate i scales the 2l+1 components of gated copy i
        copy_of_component = [copy for copy, l in enumerate(parts[2].ls) for _ in range(2 * l + 1)]
        self.register_buffer("_gate_index", torch.tensor(copy_of_component, dtype=torch.long), persistent=False)
        self.mul = WeightlessProductState(gated_out.dim)
        self._has_gates = irreps_gates.dim > 0
        self._name = name
        self._dim = self.irreps_in.dim
        self.irreps_in_str = str(self.irreps_in)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__} ({self.irreps_in} -> {self.irreps_out})"

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_scripting():  # (numpy or integer input would fail inside torch)
            check_float_tensors(self._name, {"features": features})
        if features.dim() == 0 or features.shape[-1] != self._dim:
            raise ValueError(
                f"{self._name}: expected features of shape [..., {self._dim}] (irreps_in={self.irreps_in_str}), "
                f"got shape {list(features.shape)}"
            )
        scalars = self.act_scalars(_take(features, self._scalar_runs))
        if not self._has_gates:
            return scalars
        gates = self.act_gates(_take(features, self._gate_runs))
        gated = _take(features, self._gated_runs) * gates.index_select(-1, self._gate_index)
        return torch.cat([scalars, gated], dim=-1)
