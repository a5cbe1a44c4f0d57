"""e3nn.o3.irrep: ``irrep.l1o`` is ``Irrep("1o")`` (any ``l<L><p>``), looked up by name."""

from e3gen.o3 import Irrep


def __getattr__(name: str) -> Irrep:
    prefix, *ir = name
    if prefix != "l" or not ir:
        raise AttributeError(f"'e3nn.o3.irrep' module has no attribute '{name}'")
    try:
        return Irrep("".join(ir))
    except (ValueError, AssertionError):
        raise AttributeError(f"'e3nn.o3.irrep' module has no attribute '{name}'") from None
