"""The switch's post-import hooks (e3gen.compat._post_import) and NequIP's fused convolution (_nequip).

Property: a client module named in HOOKS is loaded by its own loader and then handed to its hook;
the NequIP hook replaces only TensorProductScatter.forward, by a call of nn.tensor_product_scatter
that gives the client's numbers (1e-12 in float64: two summation orders) with the fused op, while
the class, its state_dict, pickling, TorchScript and subclasses that override forward (NequIP's
OpenEquivariance / CuEquivariance modifiers) are as before; E3GEN_FUSE_CLIENTS=0 leaves the module
as written. The client here is a copy of NequIP 0.19.1's nequip/nn/_tp_scatter_base.py code (the
class and its scatter, on e3gen's TensorProduct) written to a temporary folder, so that these run
in-process without the client venvs; tests/test_clients.py and test_client_nequip_deploy.py check
the real NequIP.
"""

import importlib
import io
import sys
import textwrap

import pytest
import torch

from helpers import needs_native_toolchain

import e3gen.compat
from e3gen import o3
from e3gen.compat import _post_import
from e3gen.o3._scriptable import scriptable_twin

NAME = "e3gen_test_client_tp_scatter"
FUSED_OP = "e3gen::channelwise_conv"

CLIENT = '''
import torch
from e3gen.o3 import TensorProduct


def scatter(src, index, dim: int = -1, dim_size: int = -1):  # NequIP's scatter, sum over dim 0
    index = index.unsqueeze(-1).expand_as(src)
    size = list(src.size())
    size[0] = dim_size
    return torch.zeros(size, dtype=src.dtype, device=src.device).scatter_add_(0, index, src)


class TensorProductScatter(torch.nn.Module):
    def __init__(self, feature_irreps_in, irreps_edge_attr, irreps_mid, instructions):
        super().__init__()
        self.tp = TensorProduct(feature_irreps_in, irreps_edge_attr, irreps_mid, instructions,
                                shared_weights=False, internal_weights=False)

    def forward(self, x, edge_attr, edge_weight, edge_dst, edge_src):
        edge_features = self.tp(x[edge_src], edge_attr, edge_weight)
        x = scatter(edge_features, edge_dst, dim=0, dim_size=x.size(0))
        return x


class OverridingForward(TensorProductScatter):  # as NequIP's OpenEquivariance / CuEquivariance modules
    def forward(self, x, edge_attr, edge_weight, edge_dst, edge_src):
        return torch.zeros(x.shape[0], 1)
'''


def _import_client(tmp_path, monkeypatch, source=CLIENT, hook="e3gen.compat._nequip:fuse_tensor_product_scatter"):
    (tmp_path / f"{NAME}.py").write_text(textwrap.dedent(source))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(_post_import.HOOKS, NAME, hook)
    monkeypatch.setattr(sys, "meta_path", [_post_import.PostImportFinder(), *sys.meta_path])
    monkeypatch.delitem(sys.modules, NAME, raising=False)
    importlib.invalidate_caches()
    return importlib.import_module(NAME)  # (it leaves sys.modules when the monkeypatch is undone)


def _unhooked(tmp_path):
    """The same client source as a module that no hook saw."""
    spec = importlib.util.spec_from_file_location(NAME + "_plain", tmp_path / f"{NAME}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _client_inputs(module, seed=0):
    irreps_in, sh = o3.Irreps("3x0e+2x1o+1x2e"), o3.Irreps("0e+1o+2e")
    tp = o3.channelwise_tensor_product(irreps_in, sh, lmax=2)  # NequIP's instructions and sorted irreps_mid
    layer = module.TensorProductScatter(irreps_in, sh, tp.irreps_out, [tuple(i[:5]) for i in tp.instructions]).double()
    g = torch.Generator().manual_seed(seed)
    n, edges = 5, [(i % 5, (2 * i + 1) % 5) for i in range(13)] + [(4, 4)]
    x = torch.randn(n, irreps_in.dim, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(len(edges), sh.dim, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(len(edges), layer.tp.weight_numel, generator=g, dtype=torch.float64, requires_grad=True)
    dst, src = torch.tensor([r for _, r in edges]), torch.tensor([s for s, _ in edges])
    return layer, (x, y, w, dst, src)


def _ops(f):
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        f()
    return {event.name for event in profile.events()}


@needs_native_toolchain
def test_hooked_forward_runs_the_fused_op_and_gives_the_clients_numbers(tmp_path, monkeypatch):
    module = _import_client(tmp_path, monkeypatch)
    plain = _unhooked(tmp_path)
    assert module.TensorProductScatter.forward.__e3gen_fused__ and module.TensorProductScatter.__module__ == NAME
    assert not hasattr(plain.TensorProductScatter.forward, "__e3gen_fused__")
    fused, inputs = _client_inputs(module)
    reference, _ = _client_inputs(plain)
    reference.load_state_dict(fused.state_dict(), strict=True)
    assert list(reference.state_dict()) == list(fused.state_dict())
    x, y, w, dst, src = inputs
    out_ref = reference(*inputs)
    ran = _ops(lambda: fused(*inputs))
    assert FUSED_OP in ran and "aten::scatter_add_" not in ran
    out = fused(*inputs)
    torch.testing.assert_close(out, out_ref, rtol=0, atol=1e-12)
    # forces training differentiates twice: first and second derivatives agree too
    grads_ref = torch.autograd.grad(out_ref.pow(2).sum(), (x, y, w), create_graph=True)
    grads = torch.autograd.grad(out.pow(2).sum(), (x, y, w), create_graph=True)
    for a, b in zip(grads, grads_ref):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    second_ref = torch.autograd.grad(sum(g.pow(2).sum() for g in grads_ref), (x, y, w))
    second = torch.autograd.grad(sum(g.pow(2).sum() for g in grads), (x, y, w))
    for a, b in zip(second, second_ref):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10 * max(1.0, b.abs().max().item()))


def test_torchscript_compiles_the_clients_own_two_lines(tmp_path, monkeypatch):
    """torch.jit.script (nequip-compile --mode torchscript) of a hooked instance whose product is
    e3gen's TorchScript twin: the scripted forward is the client's (product, then its scatter)."""
    module = _import_client(tmp_path, monkeypatch)
    layer, inputs = _client_inputs(module)
    inputs = tuple(t.detach() for t in inputs)
    layer.tp = scriptable_twin(layer.tp)
    scripted = torch.jit.script(layer)
    assert "scatter" in scripted.code and "tensor_product_scatter" not in scripted.code
    eager, _ = _client_inputs(module)
    torch.testing.assert_close(scripted(*inputs), eager(*inputs), rtol=0, atol=1e-12)


def test_the_class_pickles_and_subclasses_keep_their_own_forward(tmp_path, monkeypatch):
    module = _import_client(tmp_path, monkeypatch)
    layer, inputs = _client_inputs(module)
    buffer = io.BytesIO()
    torch.save(layer, buffer)
    buffer.seek(0)
    again = torch.load(buffer, weights_only=False)
    assert type(again) is module.TensorProductScatter
    torch.testing.assert_close(again(*inputs), layer(*inputs), rtol=0, atol=0)
    assert not hasattr(module.OverridingForward.forward, "__e3gen_fused__")
    assert module.OverridingForward.forward.__qualname__ == "OverridingForward.forward"


def test_opt_out_leaves_the_module_as_written(tmp_path, monkeypatch):
    monkeypatch.setenv("E3GEN_FUSE_CLIENTS", "0")
    module = _import_client(tmp_path, monkeypatch)
    assert module.TensorProductScatter.forward.__module__ == NAME
    assert not hasattr(module.TensorProductScatter.forward, "__e3gen_fused__")
    layer, inputs = _client_inputs(module)
    ran = _ops(lambda: layer(*inputs))
    assert FUSED_OP not in ran and "aten::scatter_add_" in ran


@pytest.mark.parametrize("value, enabled", [("", True), ("1", True), ("0", False), ("off", False), (" False ", False), ("no", False)])
def test_opt_out_values(value, enabled):
    assert _post_import.hooks_enabled({"E3GEN_FUSE_CLIENTS": value}) is enabled
    assert _post_import.hooks_enabled({}) is True


def test_a_client_that_changed_is_left_unfused_with_one_message(tmp_path, monkeypatch, capfd):
    changed = CLIENT.replace("def forward(self, x, edge_attr, edge_weight, edge_dst, edge_src):\n        edge_features",
                             "def forward(self, x, edge_attr, edge_weight, edge_index):\n        edge_dst, edge_src = edge_index\n        edge_features")
    assert changed != CLIENT
    module = _import_client(tmp_path, monkeypatch, source=changed)
    assert not hasattr(module.TensorProductScatter.forward, "__e3gen_fused__")
    assert "TensorProductScatter is not NequIP 0.19's" in capfd.readouterr().err


def test_hook_runs_once_after_the_module_code_and_other_modules_are_not_touched(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(e3gen.compat, "_test_hook", lambda module: seen.append(module.TensorProductScatter), raising=False)
    module = _import_client(tmp_path, monkeypatch, hook="e3gen.compat:_test_hook")
    assert seen == [module.TensorProductScatter] and type(module.__loader__).__name__ == "_HookedLoader"
    assert module.__loader__.get_source(NAME) == (tmp_path / f"{NAME}.py").read_text()  # (tracebacks, inspect)
    finder = _post_import.PostImportFinder()
    assert finder.find_spec("json") is None and finder.find_spec("e3gen.nn") is None


def test_install_puts_the_hook_finder_right_after_the_e3nn_finder_and_uninstall_removes_both(monkeypatch):
    monkeypatch.setattr(sys, "meta_path", [f for f in sys.meta_path if not isinstance(f, (e3gen.compat.E3nnFinder, _post_import.PostImportFinder))])
    monkeypatch.delitem(sys.modules, "e3nn", raising=False)
    e3gen.compat.install()
    e3gen.compat.install()
    kinds = [type(f) for f in sys.meta_path]
    assert kinds[:2] == [e3gen.compat.E3nnFinder, _post_import.PostImportFinder] and kinds.count(_post_import.PostImportFinder) == 1
    e3gen.compat.uninstall()
    assert not any(isinstance(f, (e3gen.compat.E3nnFinder, _post_import.PostImportFinder)) for f in sys.meta_path)


def test_doctor_says_whether_the_client_hooks_are_on(monkeypatch):
    from e3gen.compat import doctor

    monkeypatch.setattr(doctor, "probe", lambda switch: "e3nn (probe skipped)")
    monkeypatch.delenv("E3GEN_FUSE_CLIENTS", raising=False)
    assert doctor.report()[-1] == "client hooks (E3GEN_FUSE_CLIENTS=0 turns them off): on, for nequip.nn._tp_scatter_base"
    monkeypatch.setenv("E3GEN_FUSE_CLIENTS", "0")
    assert doctor.report()[-1].startswith("client hooks (E3GEN_FUSE_CLIENTS=0 turns them off): off")
