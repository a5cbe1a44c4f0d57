"""The native output cache (`e3gen.native.output_cache`): outputs of 4 MB or more reuse freed blocks.

What must hold: a reused block is dirty (it held another tensor), so every kernel must write every
element of its output (receivers without edges included); a live tensor's block is never handed out;
a kept block is handed out only for a request it can hold; the limit and `release` bound what is
kept; every native library of the process shares one cache; E3GEN_NATIVE_OUTPUT_CACHE_MB=0 turns
it off. Oracle: the Torch kernels (strategy="dense"), float64, 1e-12.
"""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from helpers import native_toolchain_problem

from e3gen import o3
from e3gen.native import build, harmonics, ops, output_cache, rowwise

TOL = dict(rtol=0, atol=1e-12)
ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(native_toolchain_problem() is not None,
                                reason=f"native kernels: {native_toolchain_problem()}")


def _randn(*shape, seed, requires_grad=False):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=requires_grad)


def _twice_on_dirty_blocks(run):
    """run() -> tuple of tensors. Runs it, fills every result with NaN and frees it (so the cache keeps
    NaN blocks of exactly the results' sizes), runs it again and returns the second results, after
    checking that the results of 4 MB or more were served from kept blocks (intermediates, such as the
    forward output inside a gradient, are kept and served too: at least one hit per such result)."""
    first = run()
    for t in first:
        t.detach().fill_(float("nan"))
    big = sum(t.nbytes >= 4 << 20 for t in first)
    assert big > 0, "the case must have outputs the cache takes"
    del first, t
    hits = output_cache.stats().hits
    second = run()
    assert output_cache.stats().hits - hits >= big
    return second


def test_channelwise_product_and_its_gradients_are_written_whole_into_reused_blocks():
    dense = o3.channelwise_tensor_product("32x0e+32x1o+32x2e", "0e+1o+2e", lmax=3, strategy="dense")
    native = o3.channelwise_tensor_product("32x0e+32x1o+32x2e", "0e+1o+2e", lmax=3, strategy="native")
    rows = 2000
    x = _randn(rows, dense.irreps_in1.dim, seed=1, requires_grad=True)
    y = _randn(rows, dense.irreps_in2.dim, seed=2, requires_grad=True)
    w = _randn(rows, dense.weight_numel, seed=3, requires_grad=True)
    expected = dense(x, y, w)
    (out,) = _twice_on_dirty_blocks(lambda: (native(x, y, w).detach(),))
    torch.testing.assert_close(out, expected, **TOL)
    cotangent = _randn(*expected.shape, seed=4)
    expected_grads = torch.autograd.grad(expected, (x, y, w), cotangent)
    grads = _twice_on_dirty_blocks(lambda: torch.autograd.grad(native(x, y, w), (x, y, w), cotangent))
    for got, want in zip(grads, expected_grads):
        torch.testing.assert_close(got, want, **TOL)


def test_product_blocks_shared_by_paths_or_written_by_none_are_whole_in_reused_blocks():
    # The product writes each output block when its last path has run (and zeroes the accumulator for
    # the next row): two paths add into 32x0e and two into 32x1o, none into 32x2e (zero, never computed).
    instructions = [(0, 0, 0, "uvu", True), (1, 1, 0, "uvu", True), (0, 1, 1, "uvu", True), (1, 0, 1, "uvu", True)]
    layers = {strategy: o3.TensorProduct("32x0e+32x1o", "0e+1o", "32x0e+32x1o+32x2e", instructions, shared_weights=False,
                                         internal_weights=False, strategy=strategy) for strategy in ("dense", "native")}
    assert layers["native"]._native_layout is not None
    rows = 2000
    x, y, w = (_randn(rows, d, seed=s) for s, d in enumerate((layers["dense"].irreps_in1.dim, layers["dense"].irreps_in2.dim,
                                                                layers["dense"].weight_numel)))
    with torch.no_grad():
        expected = layers["dense"](x, y, w)
        (out,) = _twice_on_dirty_blocks(lambda: (layers["native"](x, y, w),))
    assert expected[:, 128:].abs().max() == 0 and expected[:, :128].abs().min() > 0
    torch.testing.assert_close(out, expected, **TOL)


def test_fused_convolution_zeroes_receivers_without_edges_in_a_reused_block():
    dense = o3.channelwise_tensor_product("32x0e+32x1o+32x2e", "0e+1o+2e", lmax=3, strategy="dense")
    nodes, edges = 2000, 3000
    g = torch.Generator().manual_seed(5)
    sender = torch.randint(0, nodes, (edges,), generator=g)
    receiver = torch.randint(0, nodes // 2, (edges,), generator=g)  # nodes >= 1000 receive nothing
    h = _randn(nodes, dense.irreps_in1.dim, seed=6)
    y = _randn(edges, dense.irreps_in2.dim, seed=7)
    w = _randn(edges, dense.weight_numel, seed=8)
    messages = dense(h.index_select(0, sender), y, w)
    expected = messages.new_zeros(nodes, messages.shape[1]).index_add(0, receiver, messages)
    (out,) = _twice_on_dirty_blocks(lambda: (ops.convolution(dense._native_key, h, y, w, sender, receiver),))
    torch.testing.assert_close(out, expected, **TOL)
    assert torch.equal(out[nodes // 2:], torch.zeros_like(out[nodes // 2:]))


def test_products_without_weights_and_fully_connected_products_fill_reused_blocks():
    cases = [
        (o3.FullTensorProduct("8x0e+8x1o+8x2e", "0e+1o+2e", strategy="dense"),
         o3.FullTensorProduct("8x0e+8x1o+8x2e", "0e+1o+2e", strategy="native"), 8000),
        (o3.FullyConnectedTensorProduct("16x0e+16x1o", "0e+1o", "16x0e+16x1o", strategy="dense").double(),
         o3.FullyConnectedTensorProduct("16x0e+16x1o", "0e+1o", "16x0e+16x1o", strategy="native").double(), 10000),
    ]
    for dense, native, rows in cases:
        native.load_state_dict(dense.state_dict())
        x = _randn(rows, dense.irreps_in1.dim, seed=9, requires_grad=True)
        y = _randn(rows, dense.irreps_in2.dim, seed=10, requires_grad=True)
        expected = dense(x, y)
        (out,) = _twice_on_dirty_blocks(lambda: (native(x, y).detach(),))
        torch.testing.assert_close(out, expected, **TOL)
        cotangent = _randn(*expected.shape, seed=11)
        expected_grad = torch.autograd.grad(expected, x, cotangent)[0]
        (grad,) = _twice_on_dirty_blocks(lambda: torch.autograd.grad(native(x, y), x, cotangent))
        torch.testing.assert_close(grad, expected_grad, **TOL)


def test_harmonics_and_their_double_backward_fill_reused_blocks():
    dense = o3.SphericalHarmonics([0, 1, 2, 3], True, strategy="dense")
    native = o3.SphericalHarmonics([0, 1, 2, 3], True, strategy="native")
    x = _randn(40000, 3, seed=12, requires_grad=True)
    expected = dense(x)
    (out,) = _twice_on_dirty_blocks(lambda: (native(x).detach(),))
    torch.testing.assert_close(out, expected, **TOL)
    # the double backward's cotangent on the forward's cotangent g is as large as the output
    g = _randn(*expected.shape, seed=13, requires_grad=True)
    v = _randn(40000, 3, seed=14)

    def grad_of_g(module):
        (first,) = torch.autograd.grad(module(x), x, g, create_graph=True)
        return torch.autograd.grad(first, g, v)

    (want,) = grad_of_g(dense)
    (got,) = _twice_on_dirty_blocks(lambda: grad_of_g(native))
    torch.testing.assert_close(got, want, **TOL)


def _product_of_rows(rows):
    native = o3.channelwise_tensor_product("32x0e+32x1o+32x2e", "0e+1o+2e", lmax=3, strategy="native")
    x, y, w = (_randn(rows, d, seed=15) for d in (native.irreps_in1.dim, native.irreps_in2.dim, native.weight_numel))
    return lambda: native(x, y, w)


def test_live_outputs_are_never_handed_out_and_small_blocks_never_serve_larger_outputs():
    run = _product_of_rows(2000)
    a = run()
    kept = a.clone()
    b = run()
    assert a.data_ptr() != b.data_ptr() and torch.equal(a, kept)
    del b
    larger = _product_of_rows(2200)()  # 10% more than the kept block holds: a new mapping
    assert larger.data_ptr() != a.data_ptr()
    torch.testing.assert_close(larger[:2000], kept, **TOL)


@pytest.mark.parametrize("megabytes", [4, 6, 14, 40])
def test_a_freed_output_serves_the_next_output_of_its_size(megabytes):
    """Blocks are mapped in whole 2 MB pages: an output just over a multiple of 2 MB (here 64 bytes
    over) must still be served from the block its predecessor of the same size left (a block 2 MB
    larger than the request is within the quarter allowed once the request is rounded the same way)."""
    native = o3.SphericalHarmonics([0, 1, 2, 3], True, strategy="native")  # 16 float32 columns: 64 bytes a row
    x = torch.randn(((megabytes << 20) + 64) // 64, 3)
    with torch.no_grad():
        native(x)
        before = output_cache.stats()
        out = native(x)
    after = output_cache.stats()
    assert out.nbytes == (megabytes << 20) + 64
    assert (after.hits - before.hits, after.misses - before.misses) == (1, 0)


def test_limit_and_release_bound_what_is_kept_and_all_libraries_share_one_cache():
    run = _product_of_rows(2000)
    out = run()
    nbytes = out.nbytes
    del out
    assert output_cache.stats().kept_bytes >= nbytes
    assert output_cache.release().kept_bytes == 0
    limit = output_cache.stats().limit_bytes
    try:
        output_cache.set_limit(nbytes // 2)  # too small for this output: freed blocks are unmapped
        out = run()
        del out
        assert output_cache.stats().kept_bytes == 0
    finally:
        output_cache.set_limit(limit)
    with pytest.raises(ValueError, match="bytes >= 0"):
        output_cache.set_limit(-1)
    harmonics.load_harmonics_library(3), rowwise.load_rowwise_library(3), build.load_library(3)
    namespaces = [lib.namespace for module in (build, rowwise, harmonics) for lib in module._loaded.values()]
    addresses = {int(getattr(torch.ops, ns).output_cache_link(0)) for ns in namespaces}
    assert len(namespaces) >= 3 and len(addresses) == 1


def test_resizing_a_cached_output_keeps_its_values():
    out = _product_of_rows(2000)()
    kept = out.clone()
    out.resize_(3000, out.shape[1])
    assert torch.equal(out[:2000], kept)


def test_threads_freeing_and_taking_blocks_at_once_get_their_own_results():
    dense = o3.channelwise_tensor_product("32x0e+32x1o+32x2e", "0e+1o+2e", lmax=3, strategy="dense")
    native = o3.channelwise_tensor_product("32x0e+32x1o+32x2e", "0e+1o+2e", lmax=3, strategy="native")
    inputs = [[_randn(1500 + 100 * i, d, seed=20 + i) for d in (dense.irreps_in1.dim, dense.irreps_in2.dim, dense.weight_numel)]
              for i in range(4)]
    expected = [dense(*xs) for xs in inputs]
    failures = []

    def work(i):
        for _ in range(6):
            out = native(*inputs[i])
            if not torch.allclose(out, expected[i], rtol=0, atol=1e-12):
                failures.append(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_the_environment_variable_sets_the_limit_and_zero_turns_the_cache_off(tmp_path):
    script = (
        "import torch\n"
        "from e3gen import o3\n"
        "from e3gen.native import output_cache\n"
        "tp = o3.channelwise_tensor_product('32x0e+32x1o+32x2e', '0e+1o+2e', lmax=3, strategy='native')\n"
        "x, y, w = (torch.randn(2000, d) for d in (tp.irreps_in1.dim, tp.irreps_in2.dim, tp.weight_numel))\n"
        "ref = tp(x, y, w).clone()\n"
        "for _ in range(3): assert torch.equal(tp(x, y, w), ref)\n"
        "s = output_cache.stats(); print(s.limit_bytes, s.hits, s.misses, s.kept_bytes)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "E3GEN_NATIVE_OUTPUT_CACHE_MB"}
    results = {}
    for setting in ("0", "64"):
        done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                              env={**env, "E3GEN_NATIVE_OUTPUT_CACHE_MB": setting})
        assert done.returncode == 0, done.stderr
        results[setting] = [int(v) for v in done.stdout.split()]
    assert results["0"] == [0, 0, 0, 0]
    limit, hits, misses, kept = results["64"]
    assert limit == 64 << 20 and hits == 3 and misses == 1 and kept > 0
