"""The identity on irreps features (e3nn 0.6.0's `nn.Identity`)."""

import torch

from e3gen.o3 import Irreps


class Identity(torch.nn.Module):
    """features [..., dim] -> features. ``irreps_in`` and ``irreps_out`` must agree once simplified.

    Keeps e3nn's ``output_mask`` buffer (ones [dim]) so that state dicts load strictly both ways.
    """

    def __init__(self, irreps_in, irreps_out) -> None:
        super().__init__()
        self.irreps_in = Irreps(irreps_in).simplify()
        self.irreps_out = Irreps(irreps_out).simplify()
        if self.irreps_in != self.irreps_out:
            raise AssertionError(f"Identity: irreps_in {self.irreps_in} and irreps_out {self.irreps_out} differ")
        self.register_buffer("output_mask", torch.ones(self.irreps_out.dim))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.irreps_in} -> {self.irreps_out})"

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features
