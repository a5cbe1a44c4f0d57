from e3gen.compat._mirror import mirror

mirror(globals(), "e3gen.o3._tensor_product")
