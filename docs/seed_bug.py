# file: docs/seed_bug.py
"""e3simple's bug, re-enacted: a tensor product that reads its l=2 coupling block in another index order.

`e3gen debug --model docs/seed_bug.py:make` loads `make()` from this file (see docs/04-why-e3simple-failed.md).
"""

import torch

from e3gen import o3


class SeedTensorProduct(torch.nn.Module):
    """x (x) y into every irrep with l <= lmax, one wigner_3j block per path, as e3simple did it.

    x [..., irreps_in1.dim], y [..., irreps_in2.dim] -> [..., irreps_out.dim] (one channel per irrep).
    seed_order=True re-enacts the bug: the l=2 block's output index is read in the order m = +2..-2,
    as a second source of coefficients stored it, instead of e3nn's m = -2..+2. At l=1 both sources
    agree on (x, y, z), so nothing changes there.
    """

    def __init__(self, irreps_in1, irreps_in2, lmax: int, seed_order: bool = False):
        super().__init__()
        self.irreps_in1, self.irreps_in2 = o3.Irreps(irreps_in1), o3.Irreps(irreps_in2)
        self.paths, out = [], []
        for s1, (_, ir1) in zip(self.irreps_in1.slices(), self.irreps_in1):
            for s2, (_, ir2) in zip(self.irreps_in2.slices(), self.irreps_in2):
                for ir3 in ir1 * ir2:
                    if ir3.l <= lmax:
                        C = o3.wigner_3j(ir1.l, ir2.l, ir3.l, dtype=torch.float64)
                        if seed_order and ir3.l == 2:
                            C = C.flip(-1)  # THE BUG: another library's order of the 5 components
                        self.paths.append((s1, s2, C))
                        out.append((1, ir3))
        self.irreps_out = o3.Irreps(out)

    def forward(self, x, y):
        return torch.cat([torch.einsum("...i,...j,ijk->...k", x[..., s1], y[..., s2], C.to(x.dtype))
                          for s1, s2, C in self.paths], dim=-1)


class SeedModel(torch.nn.Module):
    """features [N, 2x0e + 2x1o] -> embed (Linear) -> tp (x) itself -> out (Linear) -> [N, 0e + 1o (+ 2e)]."""

    def __init__(self, lmax: int, seed_order: bool = False):
        super().__init__()
        self.irreps_in = o3.Irreps("2x0e + 2x1o")
        self.embed = o3.Linear(self.irreps_in, "0e + 1o")
        self.tp = SeedTensorProduct("0e + 1o", "0e + 1o", lmax, seed_order)
        self.irreps_out = o3.Irreps("0e + 1o + 2e" if lmax >= 2 else "0e + 1o")
        self.out = o3.Linear(self.tp.irreps_out, self.irreps_out)

    def forward(self, x):
        h = self.embed(x)
        return self.out(self.tp(h, h))


def make(lmax: int = 2, seed_order: bool = True):
    """(model, inputs, input_specs), the form `e3gen debug --model FILE:make` expects."""
    torch.manual_seed(0)
    model = SeedModel(lmax, seed_order)
    return model, torch.randn(16, model.irreps_in.dim), str(model.irreps_in)
