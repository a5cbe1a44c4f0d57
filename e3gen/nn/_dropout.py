"""Equivariant dropout (e3nn 0.6.0's `nn.Dropout`)."""

from typing import List, Tuple

import torch

from e3gen.o3 import Irreps


class Dropout(torch.nn.Module):
    """In training, each irrep copy of each batch element is zeroed with probability ``p`` (all its 2l+1
    components together, so the map stays equivariant) and the rest scaled by 1/(1-p); identity in eval.

    x [batch, ..., irreps.dim] -> the same shape; the mask is shared along the middle dimensions. The
    random draws are e3nn's (one ``bernoulli_`` of shape [batch, mul] per term, in order), so the same
    torch seed gives the same mask as e3nn.
    """

    def __init__(self, irreps, p: float) -> None:
        super().__init__()
        self.irreps = Irreps(irreps)
        self.p = p
        self._blocks: List[Tuple[int, int]] = [(mul, ir.dim) for mul, ir in self.irreps]
        self._dim = self.irreps.dim
        self._name = repr(self)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__} ({self.irreps}, p={self.p})"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        if x.dim() < 2 or x.shape[-1] != self._dim:
            raise ValueError(f"{self._name}: expected x [batch, ..., {self._dim}], got {list(x.shape)}")
        batch = x.shape[0]
        noises = []
        for mul, dim in self._blocks:
            noise = x.new_empty(batch, mul)
            if self.p >= 1:
                noise.fill_(0)
            elif self.p <= 0:
                noise.fill_(1)
            else:
                noise.bernoulli_(1 - self.p).div_(1 - self.p)
            noises.append(noise[:, :, None].expand(-1, -1, dim).reshape(batch, mul * dim))
        noise = torch.cat(noises, dim=-1) if noises else x.new_ones(batch, 0)
        while noise.dim() < x.dim():
            noise = noise[:, None]
        return x * noise
