from e3gen.compat._mirror import mirror

mirror(globals(), "e3gen.nn._normact", "e3gen.nn")
