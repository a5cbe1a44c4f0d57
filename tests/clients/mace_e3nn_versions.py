"""e3nn 0.4.4 (MACE's pin) against e3gen: which wigner_3j signs differ, and what a 0.4.4 TensorProduct
checkpoint does on e3gen. Run by tests/test_clients_e3nn_versions.py, from outside the repo:

    python mace_e3nn_versions.py --save DIR   # in mace-ref: e3nn 0.4.4's wigner_3j and TP checkpoints
    python mace_e3nn_versions.py --load DIR   # with E3GEN_AS_E3NN=1: compares and loads them

--save writes DIR/e3nn.pt: wigner_3j(l1, l2, l3) for every triple up to L_MAX, and for each case of
CASES a FullyConnectedTensorProduct's state_dict, inputs and outputs. --load writes DIR/e3gen.pt:
the triples whose wigner_3j is the negative of the saved one, and per case either the largest
relative output difference after a strict load or the load error's message.
"""

import argparse
import itertools
import sys

try:
    import mace  # noqa: F401  (e3nn 0.4.4 needs it first on new torch: it lets e3nn load its constants)
except ImportError:
    pass
import torch
from e3nn import o3

L_MAX = 6
# irreps_in1, irreps_in2, irreps_out: natural parity (no odd l1 + l2 + l3 path), a path through the
# flipped triple (1, 2, 2), and a product with both a flipped and an unflipped path.
CASES = {
    "natural": ("4x0e + 4x1o + 2x2e", "0e + 1o + 2e", "4x0e + 4x1o + 4x2e"),
    "flipped_122": ("3x1o", "2e", "3x2o"),
    "mixed": ("2x1o + 2x2e", "1o + 2e", "2x1e + 2x2o + 2x3o"),
}


def triples():
    return [t for t in itertools.product(range(L_MAX + 1), repeat=3) if abs(t[0] - t[1]) <= t[2] <= t[0] + t[1]]


def save(folder):
    torch.manual_seed(0)
    torch.set_default_dtype(torch.float64)  # as MACE does: e3nn 0.4.4 rounds its wigner_3j to the default dtype
    out = {"w3j": {t: o3.wigner_3j(*t, dtype=torch.float64) for t in triples()}, "cases": {}}
    for name, (a, b, c) in CASES.items():
        tp = o3.FullyConnectedTensorProduct(a, b, c).double()
        x1, x2 = torch.randn(5, tp.irreps_in1.dim, dtype=torch.float64), torch.randn(5, tp.irreps_in2.dim, dtype=torch.float64)
        out["cases"][name] = {"state": tp.state_dict(), "x1": x1, "x2": x2, "y": tp(x1, x2).detach()}
    torch.save(out, f"{folder}/e3nn.pt")


def load(folder):
    saved = torch.load(f"{folder}/e3nn.pt", weights_only=False)
    flipped = sorted(t for t, c in saved["w3j"].items() if torch.allclose(o3.wigner_3j(*t, dtype=torch.float64), -c, atol=1e-12)
                     and c.abs().max() > 0)
    unequal = sorted(t for t, c in saved["w3j"].items() if t not in flipped and not torch.allclose(o3.wigner_3j(*t, dtype=torch.float64), c, atol=1e-12))
    cases = {}
    for name, (a, b, c) in CASES.items():
        case = saved["cases"][name]
        tp = o3.FullyConnectedTensorProduct(a, b, c).double()
        try:
            tp.load_state_dict(case["state"], strict=True)
        except RuntimeError as error:
            cases[name] = {"error": str(error)}
            continue
        y = tp(case["x1"], case["x2"]).detach()
        cases[name] = {"relative_difference": ((y - case["y"]).abs().max() / case["y"].abs().max()).item()}
    torch.save({"flipped": flipped, "unequal": unequal, "cases": cases}, f"{folder}/e3gen.pt")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--save")
    p.add_argument("--load")
    args = p.parse_args()
    save(args.save) if args.save else load(args.load)


if __name__ == "__main__":
    sys.exit(main())
