"""e3nn.math on e3gen: every name in `e3gen.math.__all__`."""

from e3gen.compat._mirror import mirror

mirror(globals(), "e3gen.math")
