from e3gen.compat._mirror import mirror

mirror(globals(), "e3gen.math._soft_one_hot_linspace", "e3gen.math")
