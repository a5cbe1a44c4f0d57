"""NequIP 0.19.1 NequIPGNNModel (l_max 2, 3 layers) on whatever e3nn this interpreter imports.
Run by tests/test_clients.py in a client venv, from outside the repo:

    python nequip_model.py --state STATE.pt (--save | --load) --out OUT.pt [--time]

Same contract as mace_model.py: energies, forces and stresses (float64 and float32 models) on
periodic and molecular inputs. Also which e3gen ops ran ("e3gen_ops": {dtype: sorted names of the
e3gen:: ops in a profile of one forward+forces}; empty on real e3nn) and the module that defines
TensorProductScatter.forward ("tp_scatter_forward": nequip's own, or e3gen's fusion hook).
"""

import sys

import torch
from nequip.data import AtomicDataDict, compute_neighborlist_, from_ase
from nequip.model import NequIPGNNModel
from nequip.utils.global_state import set_global_state

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from script_args import fastest_seconds, parse_args  # noqa: E402
from structures import molecular, periodic  # noqa: E402

R_MAX = 4.5
TYPES = ["Cu", "Au"]


def build(model_dtype: str):
    return NequIPGNNModel(
        seed=7, model_dtype=model_dtype, type_names=TYPES, r_max=R_MAX, num_layers=3, l_max=2, parity=True,
        num_features=16, radial_mlp_depth=2, radial_mlp_width=32, avg_num_neighbors=12.0,
        per_type_energy_shifts={"Cu": -3.1, "Au": -2.4}, per_type_energy_scales={"Cu": 1.3, "Au": 1.1},
    )


def batch(atoms_list):
    items = []
    for atoms in atoms_list:
        d = from_ase(atoms)
        d[AtomicDataDict.ATOM_TYPE_KEY] = torch.tensor([TYPES.index(s) for s in atoms.get_chemical_symbols()])
        items.append(compute_neighborlist_(d, R_MAX))
    return AtomicDataDict.batched_from_list(items)


def evaluate(model, inputs, periodic_input):
    out = model(dict(inputs))
    result = {"energy": out["total_energy"].detach(), "forces": out["forces"].detach()}
    if periodic_input:
        result["stress"] = out["stress"].detach()
    return result


def e3gen_ops(model, inputs):
    """Names of the e3gen:: ops (the native kernels) that one forward+forces pass runs."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        evaluate(model, inputs, False)
    return sorted({event.name for event in profile.events() if event.name.startswith("e3gen::")})


def main():
    args = parse_args()
    import e3nn

    set_global_state()
    from nequip.nn._tp_scatter_base import TensorProductScatter

    results = {"e3nn": e3nn.__version__, "tp_scatter_forward": TensorProductScatter.forward.__module__, "e3gen_ops": {}}
    states = torch.load(args.state, weights_only=True) if args.load else {}
    for model_dtype in ("float64", "float32"):
        model = build(model_dtype)
        if args.save:
            states[model_dtype] = model.state_dict()
        if args.load:
            model.load_state_dict(states[model_dtype], strict=True)
        for name, atoms_list in (("periodic", periodic()), ("molecular", molecular())):
            results[("torch." + model_dtype, name)] = evaluate(model, batch(atoms_list), name == "periodic")
        results["e3gen_ops"]["torch." + model_dtype] = e3gen_ops(model, batch(periodic()))
        if args.time and model_dtype == "float64":
            inputs = batch(periodic())
            results["seconds_per_forward_forces"] = fastest_seconds(lambda: evaluate(model, inputs, False))
            results["atoms"] = int(inputs[AtomicDataDict.POSITIONS_KEY].shape[0])
    if args.save:
        torch.save(states, args.state)
    torch.save(results, args.out)


if __name__ == "__main__":
    main()
