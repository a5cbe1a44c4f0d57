"""e3nn 0.6.0's `o3.experimental`: weightless full and elementwise tensor products (e3nn-jax style)."""

from e3gen.o3.experimental._elementwise_tp import ElementwiseTensorProduct as ElementwiseTensorProductv2
from e3gen.o3.experimental._full_tp import FullTensorProduct as FullTensorProductv2

__all__ = ["FullTensorProductv2", "ElementwiseTensorProductv2"]
