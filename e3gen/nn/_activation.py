"""Scalar activations on the scalar parts of irreps features (e3nn 0.6.0's `nn.Activation`)."""

from typing import Callable, List, Optional, Sequence, Tuple

import torch

from e3gen.math import normalize2mom
from e3gen.math._normalize_activation import _device_of
from e3gen.o3 import Irreps
from e3gen.o3._input_checks import check_float_tensors


def _parity(act: Callable[[torch.Tensor], torch.Tensor], device) -> int:
    """+1 if act is even, -1 if odd, 0 if neither: e3nn's test on linspace(0, 10, 256), tolerance 1e-5."""
    x = torch.linspace(0, 10, 256, device=device)
    a1, a2 = act(x), act(-x)
    if (a1 - a2).abs().max() < 1e-5:
        return 1
    if (a1 + a2).abs().max() < 1e-5:
        return -1
    return 0


class Activation(torch.nn.Module):
    """Applies ``acts[i]`` (normalised by `normalize2mom`) to the i-th term of ``irreps_in``: [..., dim] -> [..., dim].

    ``acts[i]`` is None to pass a term through unchanged (required for l > 0). A scalar of parity
    p_in keeps it unless it is odd (0o), in which case the output parity is the activation's: an
    even activation (e.g. abs) makes 0e, an odd one (e.g. tanh) keeps 0o, and one with no parity
    is rejected. ``irreps_out`` holds the result, term by term (nothing merged or sorted).

    ``acts`` is a ModuleList as in e3nn, with ``torch.nn.Identity()`` where e3nn stores None (so the
    layer is TorchScript-able; state dict keys are the same).
    """

    def __init__(self, irreps_in, acts: Sequence[Optional[Callable[[torch.Tensor], torch.Tensor]]]) -> None:
        super().__init__()
        irreps_in = Irreps(irreps_in)
        acts = list(acts)
        if len(irreps_in) != len(acts):
            raise ValueError(
                f"Activation({irreps_in}): got {len(acts)} activation functions for {len(irreps_in)} terms of irreps_in; "
                f"give one per term (None for no activation)"
            )
        acts = [normalize2mom(act) if act is not None else None for act in acts]

        irreps_out = []
        slices: List[Tuple[int, int]] = []
        for (mul, ir), act, s in zip(irreps_in, acts, irreps_in.slices()):
            slices.append((s.start, s.stop - s.start))
            if act is None:
                irreps_out.append((mul, ir))
                continue
            if ir.l != 0:
                raise ValueError(f"Activation({irreps_in}): cannot apply an activation function to the non-scalar {mul}x{ir}; give None for it")
            p_act = _parity(act, _device_of(act))
            p_out = p_act if ir.p == -1 else ir.p
            if p_out == 0:
                raise ValueError(
                    f"Activation({irreps_in}): the input {mul}x{ir} is odd, so its activation must be even or odd "
                    f"(checked on [-10, 10]); {act.f} is neither, which would break parity"
                )
            irreps_out.append((mul, (0, p_out)))

        self.irreps_in = irreps_in
        self.irreps_out = Irreps(irreps_out)
        self.acts = torch.nn.ModuleList([torch.nn.Identity() if act is None else act for act in acts])
        self._has_act = [act is not None for act in acts]
        self._slices = slices
        self._name = f"Activation({irreps_in})"
        self._dim = irreps_in.dim

    def __repr__(self) -> str:
        acts = "".join(["x" if has else " " for has in self._has_act])
        return f"{self.__class__.__name__} [{acts}] ({self.irreps_in} -> {self.irreps_out})"

    def forward(self, features: torch.Tensor, dim: int = -1) -> torch.Tensor:
        """features [..., irreps_in.dim, ...] (the irreps along ``dim``) -> the same shape."""
        # The checks read shapes, which torch.fx.symbolic_trace cannot (MACE traces this layer);
        # the traced graph then fails in narrow/cat on a wrong shape instead.
        if not torch.jit.is_scripting():
            if not isinstance(features, torch.fx.Proxy):
                check_float_tensors(self._name, {"features": features})
                if features.dim() == 0 or features.shape[dim] != self._dim:
                    raise ValueError(
                        f"{self._name}: expected features with irreps_in.dim={self._dim} entries along dim {dim}, "
                        f"got shape {list(features.shape)}"
                    )
        output = []
        for i, act in enumerate(self.acts):
            start, length = self._slices[i]
            output.append(act(features.narrow(dim, start, length)))
        if len(output) > 1:
            return torch.cat(output, dim=dim)
        if len(output) == 1:
            return output[0]
        return torch.zeros_like(features)
