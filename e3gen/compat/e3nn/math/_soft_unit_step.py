from e3gen.compat._mirror import mirror

mirror(globals(), "e3gen.math._soft_unit_step", "e3gen.math")
