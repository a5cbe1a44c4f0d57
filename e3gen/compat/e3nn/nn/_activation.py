from e3gen.compat._mirror import mirror

mirror(globals(), "e3gen.nn._activation", "e3gen.nn")
