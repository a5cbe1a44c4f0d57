"""e3nn 0.6.0's namespace, backed by e3gen (see `e3gen.compat`). Import it as ``e3nn`` only.

Every module below re-exports e3gen's implementation under e3nn's module path (public and the
private paths client packages import); `e3nn.util` keeps e3nn's own tooling (jit, codegen, test),
adapted from e3nn 0.6.0 (MIT licence, copyright the e3nn developers).
"""

if __name__ != "e3nn":
    raise ImportError(
        f"{__name__} is e3gen's e3nn namespace and must be imported as `e3nn` (a second copy under another "
        f"name would define its classes twice): set E3GEN_AS_E3NN=1 or call e3gen.compat.install(), then `import e3nn`"
    )

from typing import Dict

import e3gen as _e3gen

__version__ = f"0.6.0+e3gen.{_e3gen.__version__}"
__e3gen__ = True  # marks this tree (see e3gen.compat.is_active)

# e3nn 0.6.0 defaults. jit_mode "eager" as e3nn chooses on torch >= 2.10; e3gen's layers generate
# their code ahead of time, so these switches are recorded for callers (NequIP sets them) and
# change no numbers.
_OPT_DEFAULTS: Dict[str, object] = dict(specialized_code=True, optimize_einsums=True, jit_script_fx=True, jit_mode="eager")
_JIT_MODES = ("script", "inductor", "eager")


def set_optimization_defaults(**kwargs) -> None:
    """e3nn's global optimisation switches (specialized_code, optimize_einsums, jit_script_fx, jit_mode).

    Unknown names raise ValueError and an unknown jit_mode AssertionError, as in e3nn; the legacy
    jit_script_fx flag maps onto jit_mode as in e3nn 0.6.0.
    """
    for key, value in kwargs.items():
        if key not in _OPT_DEFAULTS:
            raise ValueError(f"Unknown optimization option: {key}")
        if key == "jit_script_fx":
            mode = _OPT_DEFAULTS["jit_mode"]
            if not value:
                mode = "eager"
            elif mode not in ("script", "inductor"):
                mode = "script"
            _OPT_DEFAULTS["jit_mode"] = mode
            _OPT_DEFAULTS[key] = value
        elif key == "jit_mode":
            assert value in _JIT_MODES, f"Invalid jit_mode: {value}. Expected 'script', 'inductor', or 'eager'."
            _OPT_DEFAULTS[key] = value
        else:
            _OPT_DEFAULTS[key] = value


def get_optimization_defaults() -> Dict[str, object]:
    """A copy of the global optimisation switches."""
    return dict(_OPT_DEFAULTS)
