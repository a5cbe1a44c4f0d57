from e3gen.compat._mirror import mirror

mirror(globals(), "e3gen.math._radial", "e3gen.math")
