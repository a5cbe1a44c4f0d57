"""Property-based equivariance testing for your own layers and models.

* `assert_equivariant` / `equivariance_error`: f(g x) = g f(x) for a rotation, the rotation times
  the inversion and (for positions) a translation, with errors per output and irrep block;
* hypothesis strategies (need hypothesis, in e3gen's ``test`` extra): `rotations`, `o3_elements`,
  `irreps`, `irreps_tensors`;
* a pytest plugin, active wherever e3gen is installed: ``pytest --e3gen-seed N`` repeats a run
  (see `e3gen.testing.pytest_plugin`).

>>> import torch
>>> from e3gen import o3
>>> from e3gen.testing import assert_equivariant
>>> errors = assert_equivariant(lambda x: o3.spherical_harmonics("0e + 1o + 2e", x, True), "1o", "0e + 1o + 2e", seed=1)
>>> max(row.relative for row in errors) < 1e-12
True
"""

import importlib

# Public name -> the submodule defining it. Nothing is imported up front: the pytest plugin lives in
# this package and is loaded by every pytest run where e3gen is installed, so importing the package
# must not import torch; and the strategies need hypothesis, a test-only dependency.
_HOMES = {
    "assert_equivariant": "equivariance",
    "equivariance_error": "equivariance",
    "DEFAULT_RTOL": "equivariance",
    "EquivarianceErrors": "report",
    "BlockError": "report",
    "CARTESIAN_POINTS": "specs",
    "rotations": "strategies",
    "o3_elements": "strategies",
    "irreps": "strategies",
    "irreps_tensors": "strategies",
}

__all__ = list(_HOMES)


def __getattr__(name):
    if name not in _HOMES:
        raise AttributeError(f"module 'e3gen.testing' has no attribute {name!r}")
    try:
        module = importlib.import_module(f"e3gen.testing.{_HOMES[name]}")
    except ImportError as error:
        if _HOMES[name] == "strategies" and getattr(error, "name", None) == "hypothesis":
            raise ImportError(f"e3gen.testing.{name} is a hypothesis strategy and needs hypothesis: pip install hypothesis") from error
        raise
    return getattr(module, name)


def __dir__():
    return sorted(list(globals()) + __all__)
