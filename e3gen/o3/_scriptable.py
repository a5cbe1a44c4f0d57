"""TorchScript twins of the layers whose eager forward does not script (tensor products, harmonics).

The eager layers plan at run time (formulations, chunking, torch.compile switches, an autograd
Function with a closed-form backward): fast, but not TorchScript. Deployment paths that need
TorchScript (e3nn.util.jit.compile / script, used by MACE's LAMMPS export and NequIP's compile)
get a twin per instance instead: the same exact tables as buffers, the same numbers, written as
plain differentiable tensor code that `torch.jit.script` accepts, with the instance's structure
(paths, slices, modes) frozen into attributes. Gradients (forces) come from autograd.

    twin = scriptable_twin(layer)          # None for layers that script as they are
    scripted = torch.jit.script(twin)      # same call signature and outputs as `layer`

The twin shares the layer's weight Parameter, so it sees later updates of the weights.
"""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

import torch

from e3gen.o3._spherical_harmonics import SphericalHarmonics
from e3gen.o3._tensor_product import TensorProduct, TensorSquare
from e3gen.o3._wigner import wigner_3j

# einsum of (x1 [z,u,i], x2 [z,v,j], C [i,j,k][, w]) per mode: (shared weights, per-sample weights, no weights)
_EQUATIONS = {
    "uvw": ("zui,zvj,ijk,uvw->zwk", "zui,zvj,ijk,zuvw->zwk", ""),
    "uvu": ("zui,zvj,ijk,uv->zuk", "zui,zvj,ijk,zuv->zuk", "zui,zvj,ijk->zuk"),
    "uvv": ("zui,zvj,ijk,uv->zvk", "zui,zvj,ijk,zuv->zvk", "zui,zvj,ijk->zvk"),
    "uuw": ("zui,zuj,ijk,uw->zwk", "zui,zuj,ijk,zuw->zwk", "zui,zuj,ijk->zk"),
    "uuu": ("zui,zuj,ijk,u->zuk", "zui,zuj,ijk,zu->zuk", "zui,zuj,ijk->zuk"),
    "uvuv": ("zui,zvj,ijk,uv->zuvk", "zui,zvj,ijk,zuv->zuvk", "zui,zvj,ijk->zuvk"),
    # u<v modes: the (u, v) products first, then the pairs u < v are picked and weighted
    "uvu<v": ("zui,zvj,ijk->zuvk",) * 3,
    "u<vw": ("zui,zvj,ijk->zuvk",) * 3,
}


class ScriptableTensorProduct(torch.nn.Module):
    """TorchScript twin of a TensorProduct: forward(x [..., dim1], y [..., dim2], weight=None) -> [..., dim_out].

    One einsum per path on its exact Clebsch-Gordan block (path coefficient folded in), as e3nn's
    generated code does; leading dims of x, y (and per-sample weights) broadcast.
    """

    def __init__(self, tp: TensorProduct) -> None:
        super().__init__()
        self.dim_in1, self.dim_in2, self.dim_out = tp.irreps_in1.dim, tp.irreps_in2.dim, tp.irreps_out.dim
        self.weight_numel = tp.weight_numel
        self.shared_weights, self.internal_weights = bool(tp.shared_weights), bool(tp.internal_weights)
        self.name = type(tp).__name__
        if isinstance(tp.weight, torch.nn.Parameter):
            self.weight = tp.weight
        else:
            self.register_buffer("weight", tp.weight)
        starts1 = [s.start for s in tp.irreps_in1.slices()]
        starts2 = [s.start for s in tp.irreps_in2.slices()]
        self.out_shapes: List[Tuple[int, int]] = [(mul, ir.dim) for mul, ir in tp.irreps_out]
        self.paths: List[List[int]] = []  # per path: start1, mul1, d1, start2, mul2, d2, i_out, cg_start, d_out, w_start, w_stop
        self.path_shapes: List[List[int]] = []
        self.modes: List[str] = []
        self.equations: List[str] = []
        blocks, cg_offset, w_offset = [], 0, 0
        for ins in tp.instructions:
            numel = math.prod(ins.path_shape) if ins.has_weight else 0
            (mul1, ir1), (mul2, ir2), (mul_out, ir_out) = tp.irreps_in1[ins.i_in1], tp.irreps_in2[ins.i_in2], tp.irreps_out[ins.i_out]
            if 0 not in ins.path_shape and mul_out > 0 and ins.path_weight != 0:
                block = ins.path_weight * wigner_3j(ir1.l, ir2.l, ir_out.l, dtype=torch.float64)
                blocks.append(block.reshape(-1))
                self.paths.append([starts1[ins.i_in1], mul1, ir1.dim, starts2[ins.i_in2], mul2, ir2.dim, ins.i_out, cg_offset,
                                   ir_out.dim, w_offset, w_offset + numel])
                self.path_shapes.append(list(ins.path_shape))
                self.modes.append(ins.connection_mode)
                which = 2 if not ins.has_weight else (0 if self.shared_weights else 1)
                self.equations.append(_EQUATIONS[ins.connection_mode][which])
                cg_offset += block.numel()
            w_offset += numel
        self.has_weight: List[bool] = [self.paths[i][10] > self.paths[i][9] for i in range(len(self.paths))]
        # float64 tables, rounded to the input's dtype in forward (a module.to(dtype) rounds them once)
        self.register_buffer("clebsch_gordan", torch.cat(blocks) if blocks else torch.zeros(0, dtype=torch.float64))

    def _product(self, x: torch.Tensor, y: torch.Tensor, weight: Optional[torch.Tensor]) -> torch.Tensor:
        if x.shape[-1] != self.dim_in1 or y.shape[-1] != self.dim_in2:
            raise RuntimeError(f"{self.name}: expected x [..., {self.dim_in1}] and y [..., {self.dim_in2}]")
        if weight is None:
            if self.weight_numel > 0 and not self.internal_weights:
                raise RuntimeError(f"{self.name}: this product has external weights: pass weight [..., {self.weight_numel}]")
            w = self.weight
        else:
            w = weight
        lead = torch.broadcast_tensors(x[..., :1], y[..., :1])[0].shape[:-1]
        if not self.shared_weights:
            lead = torch.broadcast_tensors(x[..., :1], w[..., :1])[0].shape[:-1]
        x = x.expand(lead + [self.dim_in1]).reshape(-1, self.dim_in1)
        y = y.expand(lead + [self.dim_in2]).reshape(-1, self.dim_in2)
        if not self.shared_weights:
            w = w.expand(lead + [w.shape[-1]]).reshape(-1, w.shape[-1])
        batch = x.shape[0]
        cg = self.clebsch_gordan.to(x.dtype)
        outs: List[torch.Tensor] = [x.new_zeros(batch, mul, d) for mul, d in self.out_shapes]
        for p, path in enumerate(self.paths):
            s1, mul1, d1, s2, mul2, d2, i_out, c0, d_out, w0, w1 = path
            mode = self.modes[p]
            x1 = x[:, s1 : s1 + mul1 * d1].reshape(batch, mul1, d1)
            x2 = y[:, s2 : s2 + mul2 * d2].reshape(batch, mul2, d2)
            c = cg[c0 : c0 + d1 * d2 * d_out].reshape(d1, d2, d_out)
            operands = [x1, x2, c]
            path_w = x.new_zeros(0)
            if self.has_weight[p]:
                if self.shared_weights:
                    path_w = w[w0:w1].reshape(self.path_shapes[p])
                else:
                    path_w = w[:, w0:w1].reshape([batch] + self.path_shapes[p])
                if mode != "uvu<v" and mode != "u<vw":
                    operands.append(path_w)
            t = torch.einsum(self.equations[p], operands)
            if mode == "uuw" and not self.has_weight[p]:
                t = t.unsqueeze(1)
            elif mode == "uvuv":
                t = t.reshape(batch, mul1 * mul2, d_out)
            elif mode == "uvu<v" or mode == "u<vw":
                iu = torch.triu_indices(mul1, mul2, 1, device=x.device)
                t = t[:, iu[0], iu[1]]  # [z, pairs, k]
                if self.has_weight[p]:
                    if mode == "uvu<v":
                        t = t * (path_w.unsqueeze(-1) if self.shared_weights else path_w.unsqueeze(-1))
                    else:
                        t = torch.einsum("zqk,qw->zwk" if self.shared_weights else "zqk,zqw->zwk", [t, path_w])
            outs[i_out] = outs[i_out] + t
        if len(outs) == 0:
            return x.new_zeros(lead + [0])
        return torch.cat([o.reshape(batch, -1) for o in outs], dim=1).reshape(lead + [self.dim_out])

    def forward(self, x: torch.Tensor, y: torch.Tensor, weight: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self._product(x, y, weight)


class ScriptableTensorSquare(ScriptableTensorProduct):
    """TorchScript twin of TensorSquare: forward(x [..., dim], weight=None)."""

    def forward(self, x: torch.Tensor, weight: Optional[torch.Tensor] = None) -> torch.Tensor:  # type: ignore[override]
        return self._product(x, x, weight)


class ScriptableSphericalHarmonics(torch.nn.Module):
    """TorchScript twin of SphericalHarmonics: x [..., 3] -> [..., irreps_out.dim], by the same
    recursion Y^l = M_l (r (x) Y^(l-1)) on the same exact step matrices (normalisation folded in)."""

    def __init__(self, sh: SphericalHarmonics) -> None:
        super().__init__()
        self.ls: List[int] = list(sh.ls)
        self.lmax: int = sh.lmax
        self.normalize: bool = bool(sh.normalize)
        self.y0: float = float(sh._y0)
        self.y1_factor: float = float(sh._y1_factor)
        self.dim: int = sum(2 * l + 1 for l in self.ls)
        steps = [m.T.contiguous().reshape(-1) for m in sh._steps_float64[1:]]  # l = 2.. lmax: [2l+1, 3 (2l-1)]
        self.register_buffer("steps", torch.cat(steps) if steps else torch.zeros(0, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != 3:
            raise RuntimeError("SphericalHarmonics expects vectors of shape [..., 3]")
        lead = x.shape[:-1]
        r = x.reshape(-1, 3).transpose(0, 1)  # [3, B]
        b = r.shape[1]
        if self.normalize:
            r = r / (r * r).sum(0).clamp_min(1e-24).sqrt()
        steps = self.steps.to(x.dtype)
        per_l: List[torch.Tensor] = [r.new_full((1, b), self.y0)]
        if self.lmax >= 1:
            per_l.append(r * self.y1_factor)
        offset = 0
        for l in range(2, self.lmax + 1):
            rows, cols = 2 * l + 1, 3 * (2 * l - 1)
            matrix = steps[offset : offset + rows * cols].reshape(rows, cols)
            offset += rows * cols
            outer = (r.unsqueeze(1) * per_l[l - 1].unsqueeze(0)).reshape(cols, b)
            per_l.append(matrix @ outer)
        return torch.cat([per_l[l].transpose(0, 1) for l in self.ls], dim=1).reshape(lead + [self.dim])


def scriptable_twin(module: torch.nn.Module) -> Optional[torch.nn.Module]:
    """The TorchScript twin of an e3gen layer that needs one, else None (the layer scripts as it is)."""
    if isinstance(module, TensorSquare):
        return ScriptableTensorSquare(module)
    if isinstance(module, TensorProduct):
        return ScriptableTensorProduct(module)
    if isinstance(module, SphericalHarmonics):
        return ScriptableSphericalHarmonics(module)
    return None


__all__ = ["ScriptableTensorProduct", "ScriptableTensorSquare", "ScriptableSphericalHarmonics", "scriptable_twin"]
