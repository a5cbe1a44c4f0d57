"""Checks that the tensors a layer receives can meet in one computation.

Without them, a float32 tensor meeting a float64 one (or an integer tensor, or a numpy array)
fails deep inside torch ("expected m1 and m2 to have the same dtype", "result type Double can't
be cast to ... long int"), naming neither the layer nor the argument. The checks look only at
dtypes, devices and types, never at values: they cost nothing next to the layer and do not
break torch.compile (dtypes and devices are static while it traces).
"""

from typing import Dict, Optional

import torch


def check_float_tensors(layer: str, tensors: Dict[str, Optional[torch.Tensor]]) -> None:
    """Raise TypeError unless every tensor in ``tensors`` (name -> tensor; None entries are skipped)
    is a floating-point torch.Tensor. ``layer`` names the layer in the message, each name the argument."""
    for name, value in tensors.items():
        if value is None:
            continue
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"{layer}: {name} must be a floating-point torch.Tensor, got {type(value).__module__}.{type(value).__name__}; "
                f"convert it with torch.as_tensor({name}, dtype=torch.get_default_dtype())"
            )
        if not value.is_floating_point():
            raise TypeError(
                f"{layer}: {name} must be a floating-point tensor, got dtype {value.dtype}; "
                f"convert it with {name}.to(torch.get_default_dtype())"
            )


def check_same_dtype_and_device(layer: str, tensors: Dict[str, Optional[torch.Tensor]], parameters: Optional[torch.Tensor] = None) -> None:
    """Raise ValueError unless the tensors in ``tensors`` (None entries skipped) and the layer's
    ``parameters`` (any one of its parameters, if it has some) share one dtype and one device."""
    present = [(name, value) for name, value in tensors.items() if value is not None]
    if parameters is not None:
        present.append(("the layer's parameters", parameters))
    if not present:
        return
    first = present[0][1]
    if any(value.dtype != first.dtype for _, value in present):
        listing = ", ".join(f"{name} {value.dtype}" for name, value in present)
        fix = "convert the inputs to one dtype"
        if parameters is not None:
            fix = f"convert the inputs to {parameters.dtype}, or move the layer to theirs with layer.to(dtype)"
        raise ValueError(f"{layer}: the inputs must share one dtype, got {listing}; {fix}")
    if any(value.device != first.device for _, value in present):
        listing = ", ".join(f"{name} on {value.device}" for name, value in present)
        raise ValueError(f"{layer}: the inputs must be on one device, got {listing}; move them (or the layer) with .to(device)")
