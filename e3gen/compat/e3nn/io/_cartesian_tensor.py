from e3gen.compat._mirror import mirror

mirror(globals(), "e3gen.io._cartesian_tensor", "e3gen.io")
