"""e3gen's exception types: ValueError for callers of e3gen, and e3nn 0.6.0's type for callers of e3nn.

e3gen reports bad input as ValueError with a message that names the argument and the fix. Where
e3nn raises a different type for the same mistake (its checks are asserts, index lookups, or
RuntimeError), e3gen's exception derives from both, so `except ValueError` and e3nn-style
`except AssertionError` (or IndexError, KeyError, RuntimeError) both catch it.
"""


class ForbiddenPathError(ValueError, AssertionError):
    """A coupling no selection rule allows (for example 1o x 1o -> 0o): e3nn asserts."""


class InstructionIndexError(ValueError, IndexError):
    """An instruction names a term its irreps do not have: e3nn fails with IndexError."""


class ConnectionModeError(ValueError, KeyError):
    """An unknown tensor-product connection mode: e3nn fails with KeyError."""

    __str__ = ValueError.__str__  # KeyError would print the message quoted


class MissingWeightsError(ValueError, RuntimeError):
    """A layer without internal weights called without them: e3nn raises RuntimeError."""


class InputShapeError(ValueError, AssertionError):
    """An input whose last dimension is not the irreps' dim: e3nn's tensor products assert."""


__all__ = ["ForbiddenPathError", "InstructionIndexError", "ConnectionModeError", "MissingWeightsError", "InputShapeError"]
