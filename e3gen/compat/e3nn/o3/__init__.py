"""e3nn.o3 on e3gen: every name in `e3gen.o3.__all__`, plus the `irrep` and `experimental` modules."""

from e3gen.compat._mirror import mirror

mirror(globals(), "e3gen.o3")

from e3nn.o3 import experimental, irrep  # noqa: E402  (e3nn.o3 exposes both as attributes)

if "FullTensorProductv2" not in globals() and hasattr(experimental, "FullTensorProductv2"):
    FullTensorProductv2 = experimental.FullTensorProductv2
    __all__.append("FullTensorProductv2")
__all__.append("irrep")
