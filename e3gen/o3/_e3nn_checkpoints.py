"""What an e3nn TensorProduct checkpoint carries besides its weights, and when e3gen cannot honour it.

e3nn's TensorProduct compiles its forward with torch.fx and stores the Clebsch-Gordan tensors it
used as buffers of that compiled code: a state_dict made on e3nn has keys such as
``<prefix>_compiled_main_left_right._w3j_1_2_2`` holding e3nn's float ``wigner_3j(1, 2, 2)``.
e3gen computes with its exact tables (e3nn >= 0.5.0 conventions) and does not need them.

e3nn 0.4.4 (the version MACE 0.3.16 pins) has the opposite sign of ``wigner_3j`` for some triples:
up to l = 6, exactly the permutations of (1, l, l) for l >= 2, (3, 4, 6), (4, 4, 5), (4, 5, 6),
(5, 5, 5) and (5, 6, 6) (all with l1 + l2 + l3 odd, so a product whose irreps all have natural
parity (l, (-1)^l), as in MACE's and NequIP's default models, never uses one; measured in
tests/test_clients_e3nn_versions.py). A checkpoint whose instruction used such a triple was trained
with that path's sign reversed: e3gen would compute different numbers with the same weights. The
buffers say which sign the checkpoint was made with, so the check is exact: it compares them with
e3gen's tables and refuses a checkpoint whose sign differs on a path the module uses.
"""

from __future__ import annotations

import re
from typing import Iterable, Tuple

import torch

from e3gen.o3._wigner import wigner_3j

_W3J_KEY = re.compile(r"_compiled_main_[a-z_]+\._w3j_(\d+)_(\d+)_(\d+)$")


def check_carried_wigner_3j(module_name: str, prefix: str, state_dict, used_triples: Iterable[Tuple[int, int, int]]) -> None:
    """Raise RuntimeError when ``state_dict`` carries an e3nn wigner_3j of the opposite sign from e3gen's
    for an (l1, l2, l_out) in ``used_triples``; carried tensors of unused triples or of equal sign pass."""
    used = set(used_triples)
    flipped = []
    for key, value in state_dict.items():
        match = _W3J_KEY.match(key[len(prefix):]) if key.startswith(prefix) else None
        if match is None or not isinstance(value, torch.Tensor):
            continue
        triple = tuple(int(g) for g in match.groups())
        if triple not in used:
            continue
        ours = wigner_3j(*triple, dtype=torch.float64)
        carried = value.detach().to(device="cpu", dtype=torch.float64)
        if carried.shape == ours.shape and torch.allclose(carried, -ours, atol=1e-5) and not torch.allclose(carried, ours, atol=1e-5):
            flipped.append(triple)
    if flipped:
        names = ", ".join(f"wigner_3j{t}" for t in sorted(set(flipped)))
        raise RuntimeError(
            f"{module_name} (state_dict prefix {prefix!r}): this checkpoint was made with {names} of the opposite "
            "sign from e3gen's (e3nn < 0.5.0, for example the 0.4.4 that MACE pins, differs from e3nn >= 0.5.0 "
            "on these triples), and this module uses them, so its numbers would silently differ from the "
            "checkpoint's. Fix: negate the weights of the paths with these (l1, l2, l_out) (or the outputs of "
            "the layer that produces them) when converting the checkpoint, or re-train/re-save the model on "
            "e3nn >= 0.5.0 or e3gen."
        )
