"""Fully connected scalar network (e3nn 0.6.0's `nn.FullyConnectedNet`), used for radial functions."""

from typing import Callable, List, Optional, Sequence, Tuple

import torch

from e3gen.math import normalize2mom
from e3gen.o3._input_checks import check_float_tensors, check_same_dtype_and_device


class _Layer(torch.nn.Module):
    """x [..., h_in] -> [..., h_out]: x @ (weight / sqrt(h_in * var_in)), then act(.) * sqrt(var_out);
    without act: x @ (weight / sqrt(h_in * var_in / var_out)). ``weight`` [h_in, h_out] is randn."""

    h_in: int
    h_out: int
    var_in: float
    var_out: float

    def __init__(self, h_in: int, h_out: int, act: Optional[torch.nn.Module], var_in: float, var_out: float) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(h_in, h_out))
        self.act = act
        self.h_in = h_in
        self.h_out = h_out
        self.var_in = float(var_in)
        self.var_out = float(var_out)

    def __repr__(self) -> str:
        act = self.act
        if hasattr(act, "__name__"):
            act = act.__name__
        elif isinstance(act, torch.nn.Module):
            act = act.__class__.__name__
        return f"Layer({self.h_in}->{self.h_out}, act={act})"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, scale = self.forward_scaled(x, 1.0)
        return x if scale == 1.0 else x * scale

    @torch.jit.export
    def forward_scaled(self, x: torch.Tensor, scale_in: float) -> Tuple[torch.Tensor, float]:
        """(x * scale_in) through the layer as (y, scale_out) with the layer's output = y * scale_out:
        the scalars of the layer (1/sqrt(h_in var_in), the activation's normalisation constant,
        sqrt(var_out)) are applied to the small weight matrix of the next layer instead of to the
        [..., h] activations (one elementwise pass less forward and backward per factor)."""
        act = self.act
        if act is not None:
            x = x @ (self.weight * (scale_in / (self.h_in * self.var_in) ** 0.5))
            x = act.unscaled(x)
            return x, act.scale() * self.var_out**0.5
        return x @ (self.weight * (scale_in / (self.h_in * self.var_in / self.var_out) ** 0.5)), 1.0


class FullyConnectedNet(torch.nn.Sequential):
    """MLP x [..., hs[0]] -> [..., hs[-1]] with layers ``layer0``, ``layer1``, ... (each a ``weight`` [h_i, h_{i+1}]).

    ``act`` is normalised by `normalize2mom` (unit second moment on N(0, 1) input) and applied after
    every layer but the last (also after the last if ``out_act``). With unit-variance input
    (``variance_in``) every hidden layer has unit second moment; the output has ``variance_out``.
    """

    hs: List[int]

    def __init__(
        self,
        hs: Sequence[int],
        act: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
        variance_in: float = 1,
        variance_out: float = 1,
        out_act: bool = False,
    ) -> None:
        super().__init__()
        self.hs = list(hs)
        if len(self.hs) < 2 or any(isinstance(h, bool) or not isinstance(h, int) or h < 0 for h in self.hs):
            raise ValueError(f"FullyConnectedNet: hs must list at least two sizes (input, ..., output), each an int >= 0, got {hs!r}")
        if act is not None:
            act = normalize2mom(act)
        self._h_in = self.hs[0]
        var_in = variance_in
        for i, (h1, h2) in enumerate(zip(self.hs, self.hs[1:])):
            last = i == len(self.hs) - 2
            var_out = variance_out if last else 1
            self.add_module(f"layer{i}", _Layer(h1, h2, act if (out_act or not last) else None, var_in, var_out))
            var_in = var_out

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}{self.hs}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [..., hs[0]] -> [..., hs[-1]]."""
        if not torch.jit.is_scripting():  # (numpy, integer or mixed-dtype input would fail inside torch)
            check_float_tensors(f"FullyConnectedNet{self.hs}", {"x": x})
            check_same_dtype_and_device(f"FullyConnectedNet{self.hs}", {"x": x}, self.layer0.weight)
        if x.dim() == 0 or x.shape[-1] != self._h_in:
            raise ValueError(f"FullyConnectedNet{self.hs}: expected input of shape [..., {self._h_in}], got shape {list(x.shape)}")
        scale = 1.0
        for layer in self:
            x, scale = layer.forward_scaled(x, scale)
        return x if scale == 1.0 else x * scale  # (only after an output activation)
