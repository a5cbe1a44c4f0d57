"""Small helpers shared by the test files (import as `from helpers import ...`; pytest puts tests/ on the path)."""

import torch


def random_tensor(*shape, seed: int, dtype=torch.float64) -> torch.Tensor:
    """Standard-normal entries from a private generator: the same tensor for the same seed."""
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def randomize_parameters(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Non-trivial values for every parameter (biases start at zero, which would hide them)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module
