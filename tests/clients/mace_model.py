"""MACE 0.3.16 ScaleShiftMACE (max_ell 3, correlation 3, two interaction blocks) on whatever e3nn
this interpreter imports. Run by tests/test_clients.py in a client venv, from outside the repo:

    python mace_model.py --state STATE.pt (--save | --load) --out OUT.pt [--time]

--save writes the freshly built model's state_dict; --load loads STATE.pt strictly (a model saved on
real e3nn). OUT.pt gets energies, forces and stresses (float64 and float32) on periodic and
molecular inputs, the e3nn version, and with --time the eager seconds per forward+forces.
"""

import sys

import mace  # noqa: F401  (before e3nn: it sets what e3nn 0.4.4 needs to import on new torch)
import numpy as np
import torch
from e3nn import o3
from mace import data, modules, tools
from mace.tools import torch_geometric

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from script_args import fastest_seconds, parse_args  # noqa: E402
from structures import molecular, periodic  # noqa: E402

R_MAX = 5.0
Z = [29, 79]


def build():
    torch.manual_seed(0)
    return modules.ScaleShiftMACE(
        r_max=R_MAX, num_bessel=8, num_polynomial_cutoff=5, max_ell=3,
        interaction_cls=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
        interaction_cls_first=modules.interaction_classes["RealAgnosticInteractionBlock"],
        num_interactions=2, num_elements=len(Z), hidden_irreps=o3.Irreps("16x0e + 16x1o + 16x2e"),
        MLP_irreps=o3.Irreps("16x0e"), gate=torch.nn.functional.silu, atomic_energies=np.array([-3.1, -2.4]),
        avg_num_neighbors=12.0, atomic_numbers=Z, correlation=3, radial_type="bessel",
        atomic_inter_scale=1.3, atomic_inter_shift=0.1,
    )


def batch(atoms_list, dtype):
    z_table = tools.AtomicNumberTable(Z)
    items = [data.AtomicData.from_config(data.config_from_atoms(a), z_table=z_table, cutoff=R_MAX) for a in atoms_list]
    loader = torch_geometric.dataloader.DataLoader(items, batch_size=len(items), shuffle=False)
    out = next(iter(loader)).to_dict()
    return {k: (v.to(dtype) if torch.is_floating_point(v) else v) for k, v in out.items()}


def evaluate(model, inputs, periodic_input):
    out = model(dict(inputs), compute_force=True, compute_stress=periodic_input)
    result = {"energy": out["energy"].detach(), "forces": out["forces"].detach()}
    if periodic_input:
        result["stress"] = out["stress"].detach()
    return result


def u_matrices_without_checkpoints(model, state):
    """What the checkpoint's symmetric-contraction U matrices change: {"differ": names of the U buffers
    this interpreter's wigner_3j builds differently from the checkpoint's, "energy": float64 energies of
    the periodic inputs with every weight from the checkpoint but these U matrices left as built here}."""
    own = {k: v.clone() for k, v in model.state_dict().items() if ".U_matrix_" in k}
    differ = sorted(k for k, v in own.items() if not torch.allclose(v, state[k], atol=1e-12))
    model.load_state_dict({**state, **own}, strict=True)
    energy = evaluate(model, batch(periodic(), torch.float64), False)["energy"]
    return {"differ": differ, "energy": energy}


def main():
    args = parse_args()
    import e3nn

    torch.set_default_dtype(torch.float64)
    model = build()
    if args.save:
        torch.save(model.state_dict(), args.state)
    results = {"e3nn": e3nn.__version__}
    if args.load:
        state = torch.load(args.state, weights_only=True)
        results["u_matrices_without_checkpoints"] = u_matrices_without_checkpoints(model, state)
        model.load_state_dict(state, strict=True)
    for dtype in (torch.float64, torch.float32):
        m = model.to(dtype)
        for name, atoms_list in (("periodic", periodic()), ("molecular", molecular())):
            results[(str(dtype), name)] = evaluate(m, batch(atoms_list, dtype), name == "periodic")
    if args.time:
        m = model.to(torch.float64)
        inputs = batch(periodic(), torch.float64)
        results["seconds_per_forward_forces"] = fastest_seconds(lambda: evaluate(m, inputs, False))
        results["atoms"] = int(inputs["positions"].shape[0])
    torch.save(results, args.out)


if __name__ == "__main__":
    main()
