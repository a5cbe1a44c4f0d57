"""e3nn.nn on e3gen: every name in `e3gen.nn.__all__`."""

from e3gen.compat._mirror import mirror

mirror(globals(), "e3gen.nn")
