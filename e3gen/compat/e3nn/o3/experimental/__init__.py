"""e3nn.o3.experimental (FullTensorProductv2, ElementwiseTensorProductv2) from e3gen."""

from e3gen.compat._mirror import mirror

mirror(globals(), "e3gen.o3.experimental", "e3gen.o3")
__all__ = [n for n in ("FullTensorProductv2", "ElementwiseTensorProductv2") if n in globals()]
