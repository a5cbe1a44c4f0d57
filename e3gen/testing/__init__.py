"""Property-based testing helpers for equivariant code (hypothesis strategies and assertions)."""

from e3gen.testing.strategies import irrep_terms, irreps, o3_elements, rotations

__all__ = ["irrep_terms", "irreps", "o3_elements", "rotations"]
