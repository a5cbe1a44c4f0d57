from e3gen.compat._mirror import mirror

mirror(globals(), "e3gen.nn.models.gate_points_2102")
