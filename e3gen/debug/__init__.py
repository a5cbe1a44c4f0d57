"""Where is equivariance, or precision, lost? A per-layer, per-irrep report of a model's errors.

`equivariance_report(model, inputs, specs)` hooks every submodule that has ``irreps_out``, runs
float64 and float32 copies of the model on x and on g x (g: a random rotation times the inversion,
plus a translation of positions), and reports per module call and output block (mul, l, p):
the equivariance error in float64 and in float32, the float32-vs-float64 discrepancy, where the
error first grows, and the blocks over what exact coefficients and rounding explain. The command
line runs it as ``e3gen debug`` (the tetris demo model, or ``--model module:function``).

Dropping higher-l irreps (a truncated tensor product, a ``filter_ir_out``) does not cost
equivariance: every irrep block transforms on its own. The report shows it: errors stay at
rounding level for every l unless some layer is wrong, and ``summary.by_l`` compares the ls.

>>> import torch
>>> from e3gen import o3
>>> from e3gen.debug import equivariance_report
>>> lin = o3.Linear("2x0e + 1x1o + 1x2e", "3x0e + 2x1o + 1x2e")
>>> report = equivariance_report(lin, torch.randn(5, 10), seed=0)
>>> report.summary.flagged, max(row.err64 for row in report) < 1e-12
((), True)
"""

import importlib

# Lazy, as e3gen.testing: `e3gen --help` and the CLI's argument parser must not import torch.
_HOMES = {
    "equivariance_report": "probe",
    "EquivarianceReport": "report",
    "BlockRow": "report",
    "Bounds": "report",
    "Summary": "report",
}

__all__ = list(_HOMES)


def __getattr__(name):
    if name not in _HOMES:
        raise AttributeError(f"module 'e3gen.debug' has no attribute {name!r}")
    return getattr(importlib.import_module(f"e3gen.debug.{_HOMES[name]}"), name)


def __dir__():
    return sorted(list(globals()) + __all__)
