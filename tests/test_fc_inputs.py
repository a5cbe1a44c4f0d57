"""nn.FullyConnectedNet takes x [..., hs[0]] with any number of leading dims, none included.

A single vector [hs[0]] is a valid input (e3nn's layer is a matmul on the last dim) and gives the
same numbers as the same vector in a batch; a 0-dim tensor has no last dim and is refused with a
message naming the expected shape, not an IndexError from inside torch. Float64, 1e-12 relative:
the same numbers, only the matmul kernel (summation order) may differ.
"""

import pytest
import torch

from helpers import random_tensor

from e3gen import nn


def test_a_single_vector_and_a_batch_agree_and_a_scalar_is_refused():
    torch.manual_seed(0)
    net = nn.FullyConnectedNet([4, 8, 3], torch.tanh).double()
    x = random_tensor(5, 4, seed=1)
    batch = net(x)
    for i in range(5):
        single = net(x[i])
        assert single.shape == (3,)
        torch.testing.assert_close(single, batch[i], rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match=r"FullyConnectedNet\[4, 8, 3\]: expected input of shape \[\.\.\., 4\], got shape \[\]"):
        net(torch.tensor(1.0, dtype=torch.float64))
