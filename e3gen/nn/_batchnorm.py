"""Batch and instance normalisation of irreps features (e3nn 0.6.0's `nn.BatchNorm`)."""

from typing import List, Optional, Tuple

import torch

from e3gen.o3 import Irreps
from e3gen.o3._input_checks import check_float_tensors


def _present(value: Optional[torch.Tensor]) -> torch.Tensor:
    """A buffer or parameter that the layer's configuration guarantees (refines Optional for TorchScript)."""
    assert value is not None
    return value


class BatchNorm(torch.nn.Module):
    """input [batch, ..., irreps.dim] -> same shape; statistics per irrep copy, over batch and the middle dims.

    For each term (mul, ir), viewed as [batch, sample, mul, 2l+1]:

    * scalars (0e) are centred first: by the mean over (batch, sample) in training (and the running
      mean, updated with ``momentum``), by the running mean in eval, by the per-batch-element mean
      if ``instance``;
    * then divided by sqrt(v + eps), where v is the squared norm per copy ("norm": sum over the
      2l+1 components, "component": mean over them), reduced over samples by ``reduce`` ("mean" or
      "max") and, unless ``instance``, averaged over the batch; in eval the running v is used;
    * with ``affine``, multiplied by ``weight`` [num_irreps] (ones) and, for scalars, shifted by
      ``bias`` [number of scalar copies] (zeros, if ``include_bias``).

    Running statistics: ``running_mean`` [scalar copies] and ``running_var`` [num_irreps] (None if
    ``instance``), updated as (1 - momentum) * old + momentum * batch value (v is not
    bias-corrected, as in e3nn); an empty batch (no rows) returns an empty output and leaves them
    unchanged, as torch's BatchNorm does (e3nn fills them with NaN). Only 0e counts as a scalar; 0o
    is treated like any other irrep (no centring, which would break its parity).
    """

    __constants__ = ["instance", "normalization", "affine", "include_bias", "reduce"]

    def __init__(
        self,
        irreps,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        reduce: str = "mean",
        instance: bool = False,
        include_bias: bool = True,
        normalization: str = "component",
    ) -> None:
        super().__init__()
        self.irreps = Irreps(irreps)
        name = f"BatchNorm({self.irreps})"
        if reduce not in ("mean", "max"):
            raise ValueError(f"{name}: reduce must be 'mean' or 'max', got {reduce!r}")
        if normalization not in ("norm", "component"):
            raise ValueError(f"{name}: normalization must be 'norm' or 'component', got {normalization!r}")
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.instance = instance
        self.include_bias = include_bias
        self.reduce = reduce
        self.normalization = normalization

        num_scalar = sum(mul for mul, ir in self.irreps if ir.is_scalar())
        num_features = self.irreps.num_irreps
        if instance:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
        else:
            self.register_buffer("running_mean", torch.zeros(num_scalar))
            self.register_buffer("running_var", torch.ones(num_features))
        if affine:
            self.weight = torch.nn.Parameter(torch.ones(num_features))
            if include_bias:
                self.bias = torch.nn.Parameter(torch.zeros(num_scalar))
        else:
            self.register_parameter("weight", None)
            if include_bias:
                self.register_parameter("bias", None)

        self.irs: List[Tuple[int, int, bool]] = [(mul, ir.dim, ir.is_scalar()) for mul, ir in self.irreps]
        self._dim = self.irreps.dim
        self._name = name

    def __repr__(self) -> str:
        return f"{self.__class__.__name__} ({self.irreps}, eps={self.eps}, momentum={self.momentum})"

    def _roll_avg(self, curr: torch.Tensor, update: torch.Tensor) -> torch.Tensor:
        return (1 - self.momentum) * curr + self.momentum * update.detach()

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 - e3nn's argument name
        """input [batch, ..., irreps.dim] -> [batch, ..., irreps.dim]."""
        if not torch.jit.is_scripting():  # (numpy or integer input would fail inside torch)
            check_float_tensors(self._name, {"input": input})
        if input.dim() < 2 or input.shape[-1] != self._dim:
            raise ValueError(f"{self._name}: expected input of shape [batch, ..., {self._dim}], got shape {list(input.shape)}")
        orig_shape = input.shape
        batch = input.shape[0]
        samples = 1
        for size in input.shape[1:-1]:
            samples *= size
        input = input.reshape(batch, samples, self._dim)  # [batch, sample, stacked features]
        # An empty batch has no statistics (its mean is 0/0): like torch's BatchNorm, it leaves the
        # running ones as they are instead of writing NaN into them (e3nn does; every later eval is NaN).
        update_running = self.training and not self.instance and batch * samples > 0
        new_means: List[torch.Tensor] = []
        new_vars: List[torch.Tensor] = []

        fields: List[torch.Tensor] = []
        ix = 0
        irm = 0
        irv = 0
        iw = 0
        ib = 0
        for mul, d, is_scalar in self.irs:
            if mul == 0:  # no features, no statistics
                continue
            field = input[:, :, ix : ix + mul * d].reshape(batch, samples, mul, d)  # [batch, sample, mul, repr]
            ix += mul * d

            if is_scalar:
                if self.instance:
                    field_mean = field.mean(1).reshape(batch, mul)  # [batch, mul]
                else:
                    running_mean = _present(self.running_mean)
                    if self.training:
                        field_mean = field.mean([0, 1]).reshape(mul)  # [mul]; NaN for an empty batch, which is not used
                        new_means.append(self._roll_avg(running_mean[irm : irm + mul], field_mean))
                    else:
                        field_mean = running_mean[irm : irm + mul]
                irm += mul
                field = field - field_mean.reshape(-1, 1, mul, 1)

            if self.training or self.instance:
                if self.normalization == "norm":
                    field_norm = field.pow(2).sum(3)  # [batch, sample, mul]
                else:
                    field_norm = field.pow(2).mean(3)  # [batch, sample, mul]
                if self.reduce == "mean":
                    field_norm = field_norm.mean(1)  # [batch, mul]
                else:
                    field_norm = field_norm.max(1).values  # [batch, mul]
                if not self.instance:
                    field_norm = field_norm.mean(0)  # [mul]
                    new_vars.append(self._roll_avg(_present(self.running_var)[irv : irv + mul], field_norm))
            else:
                field_norm = _present(self.running_var)[irv : irv + mul]
            irv += mul

            field_norm = (field_norm + self.eps).pow(-0.5)  # [(batch,) mul]
            if self.affine:
                field_norm = field_norm * _present(self.weight)[iw : iw + mul]
                iw += mul
            field = field * field_norm.reshape(-1, 1, mul, 1)

            if self.affine and self.include_bias and is_scalar:
                field = field + _present(self.bias)[ib : ib + mul].reshape(mul, 1)
                ib += mul

            fields.append(field.reshape(batch, samples, mul * d))

        if update_running:
            # in place, like e3nn's torch.cat(..., out=running_*): the buffers keep their identity
            with torch.no_grad():
                if len(new_means) > 0:
                    _present(self.running_mean).copy_(torch.cat(new_means))
                if len(new_vars) > 0:
                    _present(self.running_var).copy_(torch.cat(new_vars))

        if len(fields) == 0:
            return input.reshape(orig_shape)
        return torch.cat(fields, dim=2).reshape(orig_shape)
