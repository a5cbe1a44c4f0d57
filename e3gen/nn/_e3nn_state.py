"""Buffers e3nn's weightless tensor products carry, kept so that state dicts match e3nn's key for key.

e3nn builds Gate's product of gates and gated irreps, and NormActivation's norms and rescaling, from
`o3.TensorProduct` modules without weights. Each keeps an empty ``weight`` buffer and an
``output_mask`` of ones in its state dict. e3gen computes these products directly and never reads
the buffers; they exist only so that ``load_state_dict`` works in both directions with strict=True.
"""

import torch


class WeightlessProductState(torch.nn.Module):
    """``weight`` (empty) and ``output_mask`` (ones [output_dim]), in the default dtype, as e3nn's."""

    def __init__(self, output_dim: int) -> None:
        super().__init__()
        self.register_buffer("weight", torch.Tensor())
        self.register_buffer("output_mask", torch.ones(output_dim))


class NormState(torch.nn.Module):
    """e3nn's `o3.Norm` state: its tensor product's buffers under ``tp``."""

    def __init__(self, output_dim: int) -> None:
        super().__init__()
        self.tp = WeightlessProductState(output_dim)
