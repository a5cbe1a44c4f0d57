"""NequIP on e3gen: its convolution runs as one fused op (a post-import hook, see `_post_import`).

NequIP (>= 0.7, checked on 0.19.1) computes each interaction's messages and their sum in
`nequip.nn._tp_scatter_base.TensorProductScatter.forward`:

    edge_features = self.tp(x[edge_src], edge_attr, edge_weight)          # [E, irreps_mid.dim]
    x = scatter(edge_features, edge_dst, dim=0, dim_size=x.size(0))       # [N, irreps_mid.dim]

which is exactly `e3gen.nn.tensor_product_scatter(self.tp, x, edge_attr, edge_weight,
sender=edge_src, receiver=edge_dst)`. The hook replaces that one method with a call to it, so
that the fused native convolution runs where it applies (CPU, float32/float64, eager or
torch.compile), and the Torch kernels otherwise (export for AOTInductor: product + index_add).
Under torch.jit.script (``nequip-compile --mode torchscript``) the method compiles to NequIP's
own two lines, on e3gen's TorchScript twin of the product.

Untouched: the class itself (name, module, bases), its __init__, parameters and buffers (so
state_dicts and pickles), and the subclasses that NequIP's model modifiers swap in
(enable_OpenEquivariance / enable_CuEquivariance override forward). E3GEN_FUSE_CLIENTS=0 leaves
the method as NequIP wrote it.
"""

import inspect
import sys

import torch

from e3gen.compat._post_import import OPT_OUT_VARIABLE, hooks_enabled
from e3gen.nn._tensor_product_scatter import tensor_product_scatter

_EXPECTED_PARAMETERS = ["self", "x", "edge_attr", "edge_weight", "edge_dst", "edge_src"]


def fuse_tensor_product_scatter(module) -> None:
    """Make `module.TensorProductScatter.forward` (module: nequip.nn._tp_scatter_base) call
    tensor_product_scatter. Idempotent; does nothing when E3GEN_FUSE_CLIENTS=0, and says why (once,
    on stderr) when the module is not the one this hook was written for."""
    if not hooks_enabled():
        return
    cls = getattr(module, "TensorProductScatter", None)
    scatter = getattr(module, "scatter", None)
    original = getattr(cls, "forward", None)
    if getattr(original, "__e3gen_fused__", False):
        return
    if original is None or scatter is None or list(inspect.signature(original).parameters) != _EXPECTED_PARAMETERS:
        print(f"e3gen: {module.__name__}.TensorProductScatter is not NequIP 0.19's (forward{_EXPECTED_PARAMETERS[1:]}, "
              f"scatter); left unfused ({OPT_OUT_VARIABLE}=0 silences this)", file=sys.stderr, flush=True)
        return
    cls.forward = _fused_forward(scatter)


def _fused_forward(scatter):
    def forward(self, x, edge_attr, edge_weight, edge_dst, edge_src):
        if torch.jit.is_scripting():  # NequIP's own forward (TorchScript compiles only this branch)
            edge_features = self.tp(x[edge_src], edge_attr, edge_weight)
            return scatter(edge_features, edge_dst, dim=0, dim_size=x.size(0))
        return tensor_product_scatter(self.tp, x, edge_attr, edge_weight, edge_src, edge_dst)

    forward.__qualname__ = "TensorProductScatter.forward"
    forward.__doc__ = ("sum over edges into each node of tp(x[edge_src], edge_attr, edge_weight), by "
                       "e3gen.nn.tensor_product_scatter (installed by e3gen.compat._nequip)")
    forward.__e3gen_fused__ = True
    return forward
