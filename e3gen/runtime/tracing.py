"""Whether a layer's call is being captured into a graph rather than run.

Two kinds of capture matter to the layers:
* any capture (torch.compile's dynamo, torch.export, make_fx on fake tensors): values are unknown,
  so checks that read them (an index range, say) must not run;
* capture for deployment (torch.export, strict or not, and make_fx on fake tensors, which is what
  torch.export and nequip-compile trace with): the graph will run elsewhere, so it should hold
  only Torch ops (see e3gen.native.backend).
"""

from typing import Sequence

import torch
from torch._subclasses.fake_tensor import FakeTensor


def capturing_for_export(tensors: Sequence[torch.Tensor]) -> bool:
    """torch.export is tracing, or ``tensors`` are a tracer's fake tensors (make_fx, export)."""
    return torch.compiler.is_exporting() or any(isinstance(t, FakeTensor) for t in tensors)


def capturing(tensors: Sequence[torch.Tensor]) -> bool:
    """Any capture: torch.compile (dynamo) or a capture for export."""
    return torch.compiler.is_compiling() or capturing_for_export(tensors)
