"""``e3gen debug``: the equivariance and precision report of the demo model, or of any model.

    e3gen debug                                  # the tetris demo (e3gen.examples.tetris)
    e3gen debug --model mypkg.models:make        # make() -> (model, inputs, input_specs)
    e3gen debug --model path/to/file.py:make     # the same, from a file

``--model`` names a function of no arguments returning ``(model, inputs, input_specs)``, or
``(model, inputs)`` with the specs in ``model.input_specs``, or ``model.irreps_in`` (see
`e3gen.debug.equivariance_report` for what inputs and specs are). A dotted module is imported
from the current directory or the environment.

The demo model comes from ``e3gen.examples.tetris.trained_demo_model(seed=0) -> (model, inputs)``;
its input specs are ``model.input_specs`` when the model has them, otherwise the inputs are read
as positions (``"cartesian_points"``) followed by index tensors (batch, edge_index: untransformed).

Exit status: 0 if no block is flagged, 1 if one is, 2 if the model could not be loaded.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import math
import os
import sys
from pathlib import Path
from typing import Any, Optional, Tuple

__all__ = ["configure", "run", "DemoUnavailable"]


class DemoUnavailable(RuntimeError):
    """The tetris demo model is not part of this e3gen."""


class _LoadError(ValueError):
    """--model does not name a usable function."""


MAX_SEED = 2**63 - 1  # the largest --seed: int64-safe, and seed + 1 (the demo's data) is within torch's 2**64 - 1


def seed_type(text: str) -> int:
    """argparse type of ``--seed``: an integer 0..MAX_SEED (beyond torch's range it raised a RuntimeError deep inside)."""
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed needs an integer such as 0, got {text!r}") from None
    if not 0 <= seed <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"--seed must be between 0 and {MAX_SEED}, got {seed}")
    return seed


def configure(parser: argparse.ArgumentParser) -> None:
    """Add ``e3gen debug``'s options to its subparser (argparse only: torch loads when it runs)."""
    parser.add_argument("--model", metavar="MODULE:FUNCTION",
                        help="a function returning (model, inputs, input_specs); default: the tetris demo model")
    parser.add_argument("--seed", type=seed_type, default=0, help="seed of the random rotation and translation (default 0)")
    parser.add_argument("--bound32", type=float, default=None, help="relative float32 error to flag (default 1e-4)")
    parser.add_argument("--bound64", type=float, default=None, help="relative float64 error to flag (default 1e-10)")
    parser.add_argument("--plot", metavar="FILE", help="also draw the float64 and float32 errors as heatmaps to FILE "
                                                      "(needs matplotlib)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from e3gen.debug import Bounds, equivariance_report

    if args.plot is not None:
        from e3gen.plots import PlotUnavailable, require_matplotlib

        try:
            require_matplotlib()
        except PlotUnavailable as error:
            print(f"e3gen debug --plot: error: {error}", file=sys.stderr)
            return 2
    for flag, value in (("--bound32", args.bound32), ("--bound64", args.bound64)):
        if value is not None and not (math.isfinite(value) and value > 0):  # nan would flag nothing, silently
            print(f"e3gen debug: error: {flag} must be a finite relative error > 0 such as 1e-4, got {value}",
                  file=sys.stderr)
            return 2
    try:
        model, inputs, specs, source = _load(args.model)
    except (DemoUnavailable, _LoadError) as error:
        print(f"e3gen debug: error: {error}", file=sys.stderr)
        return 2
    defaults = Bounds()
    bounds = Bounds(
        float64=defaults.float64 if args.bound64 is None else args.bound64,
        float32=defaults.float32 if args.bound32 is None else args.bound32,
    )
    report = equivariance_report(model, inputs, specs, seed=args.seed, bounds=bounds)
    print(f"model: {source}")
    print(report)
    if args.plot is not None:
        from e3gen.plots import debug_figure_data, write_debug_figure

        print(f"wrote {write_debug_figure(args.plot, debug_figure_data(report), title=f'e3gen debug: {source}')}")
    return 1 if report.summary.flagged else 0


def _load(target: Optional[str]) -> Tuple[Any, Any, Any, str]:
    """(model, inputs, specs or None, a description of where they came from)."""
    if target is None:
        model, inputs = _demo()
        return model, inputs, _demo_specs(model, inputs), "e3gen.examples.tetris.trained_demo_model(seed=0)"
    function = _function(target)
    result = function()
    if not isinstance(result, tuple) or len(result) not in (2, 3):
        raise _LoadError(f"{target} must return (model, inputs, input_specs) or (model, inputs), got {type(result).__name__}"
                         + (f" of length {len(result)}" if isinstance(result, tuple) else ""))
    model, inputs, specs = result if len(result) == 3 else (*result, None)
    return model, inputs, specs, target


def _demo():
    try:
        from e3gen.examples.tetris import trained_demo_model
    except ImportError as error:
        # only a missing demo is "not available"; an error inside the demo's own imports is a bug to show
        missing = getattr(error, "name", None) in ("e3gen.examples", "e3gen.examples.tetris")
        if not missing:
            raise
        raise DemoUnavailable(
            "the demo model is not available: this e3gen has no e3gen.examples.tetris.trained_demo_model "
            "(it comes with the tetris demo). Run the report on your own model with "
            "`e3gen debug --model module:function`, where function() returns (model, inputs, input_specs)."
        ) from None
    return trained_demo_model(seed=0)


def _demo_specs(model, inputs):
    """The demo's input specs: ``model.input_specs``, else (positions, index tensors...)."""
    import torch

    specs = getattr(model, "input_specs", None)
    if specs is not None:
        return specs
    values = inputs if isinstance(inputs, (tuple, list)) else (inputs,)
    guessed = []
    for i, value in enumerate(values):
        if i == 0 and isinstance(value, torch.Tensor) and value.is_floating_point() and value.shape[-1:] == (3,):
            guessed.append("cartesian_points")
        elif isinstance(value, torch.Tensor) and not value.is_floating_point():
            guessed.append(None)
        else:
            raise _LoadError(
                f"cannot tell how the demo model's input {i} transforms (expected positions [N, 3] first, then index "
                f"tensors): give the model an input_specs attribute"
            )
    return tuple(guessed) if isinstance(inputs, (tuple, list)) else guessed[0]


def _function(target: str):
    module_name, sep, name = target.rpartition(":")
    if not sep or not module_name or not name:
        raise _LoadError(f"--model must be MODULE:FUNCTION (like mypkg.models:make or models.py:make), got {target!r}")
    path = Path(module_name)
    try:
        if module_name.endswith(".py") or path.is_file():
            if not path.is_file():
                raise _LoadError(f"--model {target}: no file {module_name}")
            if str(path.parent.resolve()) not in sys.path:  # as running the file would: its neighbours import
                sys.path.insert(0, str(path.parent.resolve()))
            spec = importlib.util.spec_from_file_location(path.stem, path)
            if spec is None or spec.loader is None:  # a file Python cannot import, e.g. no .py suffix
                raise _LoadError(f"--model {target}: {module_name} is not a Python file (name it like models.py)")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            if module_name.startswith("."):  # import_module would fail with a TypeError about 'package'
                raise _LoadError(f"--model {target}: {module_name} is a relative module name; give the full "
                                 f"dotted name (mypkg.models:make) or a file (models.py:make)")
            if os.getcwd() not in sys.path:  # as `python -m` would: modules next to the user count
                sys.path.insert(0, os.getcwd())
            module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise _LoadError(f"--model {target}: cannot import {module_name} ({error})") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise _LoadError(f"--model {target}: {module_name} has no function {name!r}")
    return function
