"""Irreps by attribute name (e3nn 0.6.0's `o3.irrep`): ``irrep.l1o == Irrep("1o")``, ``from e3gen.o3.irrep import l2e``."""

from e3gen.o3._irreps import Irrep


def __getattr__(name: str) -> Irrep:
    prefix, *ir = name
    if prefix != "l" or not ir:
        raise AttributeError(f"module 'e3gen.o3.irrep' has no attribute '{name}'")
    try:
        return Irrep("".join(ir))
    except (ValueError, AssertionError):
        raise AttributeError(f"module 'e3gen.o3.irrep' has no attribute '{name}' (names are l<l><e|o|y>, e.g. l1o)") from None
