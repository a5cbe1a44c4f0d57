"""e3nn.io (CartesianTensor, SphericalTensor) from `e3gen.io` (absent names raise AttributeError on use)."""

from e3gen.compat._mirror import mirror

mirror(globals(), "e3gen.io")
