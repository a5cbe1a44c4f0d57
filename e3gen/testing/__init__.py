"""Property-based testing helpers for equivariant code (hypothesis strategies and assertions)."""

from e3gen.testing.strategies import o3_elements, rotations

__all__ = ["o3_elements", "rotations"]
