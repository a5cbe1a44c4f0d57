"""e3gen: a symbolic, code-generating compiler for E(3)-equivariant neural networks.

Stages (dependencies point one way):
    e3gen.symbolic -> e3gen.ir -> e3gen.codegen -> e3gen.generated -> e3gen.runtime / e3gen.o3

`import e3gen` is cheap: torch-using submodules (`e3gen.o3`, ...) load on first access.
"""

import importlib

__version__ = "0.1.0"

_LAZY_SUBMODULES = ("o3", "nn", "math", "testing", "debug", "examples")


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"e3gen.{name}")
    raise AttributeError(f"module 'e3gen' has no attribute {name!r}")
