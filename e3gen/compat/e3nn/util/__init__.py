"""e3nn.util: e3nn 0.6.0's tooling (jit, codegen, test), adapted to e3gen's layers."""

from .default_type import explicit_default_types, torch_get_default_device, torch_get_default_tensor_type


def prod(x):
    """Compute the product of a sequence."""
    out = 1
    for a in x:
        out *= a
    return out


__all__ = ["torch_get_default_tensor_type", "torch_get_default_device", "explicit_default_types", "prod"]
