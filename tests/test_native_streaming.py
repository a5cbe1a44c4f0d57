"""Native results larger than the caches (>= 32 MB) are written with streaming stores (the product
block by block, as each block's last path has run, where a block starts on a 64-byte boundary; other
results through a row buffer): they must hold the same numbers as the Torch kernels, whatever the
row length's alignment.

Property: for a product whose output crosses that size, the native forward equals strategy="dense"
to 1e-12 (float64; float32 to 1e-5, the same coefficients summed in another order) on
(1) rows of a length that keeps every row on a 64-byte boundary (NequIP's lmax-3 convolution
    product, 4,992 components) and
(2) rows of an odd length, so that most rows start inside a cache line and the ragged ends of each
    row take ordinary stores;
(3) blocks of 16 channels (whole vectors, moved in registers) that start off a 64-byte boundary
    (behind a 3x0e block), which must take ordinary stores, not streaming ones;
and the float32 case too (eight floats per vector instead of four doubles). Small outputs take the
ordinary path and are covered by tests/test_native.py.
"""

import pytest
import torch

from helpers import needs_native_toolchain

from e3gen import bench, o3

STREAM_BYTES = 32 << 20  # kStreamBytes in templates/cpp/_driver.cpp.j2


def _conv_product(strategy):
    tp = bench._conv_product(o3)  # case (a) of `e3gen bench`: NequIP's lmax-3 convolution product
    tp.strategy = strategy
    return tp


def _odd_product(strategy):
    return o3.channelwise_tensor_product("3x0e+1x1o+1x2e", "0e+1o", lmax=3, strategy=strategy)


def _wide_blocks_off_the_line(strategy):
    return o3.channelwise_tensor_product("3x0e+16x1o+16x2e", "0e+1o", lmax=3, strategy=strategy)


@needs_native_toolchain
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("make, aligned", [(_conv_product, True), (_odd_product, False), (_wide_blocks_off_the_line, False)])
def test_outputs_larger_than_the_caches_equal_the_torch_kernels(make, aligned, dtype, tol):
    dense, native = make("dense"), make("native")
    dim = dense.irreps_out.dim
    assert (dim * dtype.itemsize % 64 == 0) == aligned, dim  # the case this parameter is meant to be
    rows = STREAM_BYTES // (dim * dtype.itemsize) + 7  # just past the threshold, a ragged row count
    g = torch.Generator().manual_seed(rows)
    x, y, w = (torch.randn(rows, d, generator=g, dtype=dtype)
               for d in (dense.irreps_in1.dim, dense.irreps_in2.dim, dense.weight_numel))
    with torch.no_grad():
        expected = dense(x, y, w)
        result = native(x, y, w)
    assert result.nbytes >= STREAM_BYTES
    torch.testing.assert_close(result, expected, rtol=0, atol=tol * max(1.0, expected.abs().max().item()))
