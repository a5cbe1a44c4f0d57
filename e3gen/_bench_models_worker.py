"""Bench case m, one side: times a whole client model (MACE or NequIP) forward+forces in the
interpreter it runs in (a client venv: real e3nn, or e3gen with E3GEN_AS_E3NN=1), and splits the time
per module. Run by e3gen/bench_models.py with `python -P` (so that this folder, whose `math`
package would shadow the standard library's, is not on sys.path); imports no e3gen itself.

    python -P _bench_models_worker.py MODEL DTYPE REPEATS OUT.json

The configurations are those of the drop-in checks (tests/clients/mace_model.py, nequip_model.py):
MACE ScaleShiftMACE max_ell 3, correlation 3, two interactions, 16x0e+16x1o+16x2e hidden, r_max 5;
NequIP NequIPGNNModel l_max 2, 3 layers, 16 features, r_max 4.5. Inputs: two rattled CuAu cells
(40 atoms, ~1,400 edges) and a 500-atom CuAu cell (~21,000 edges), made with ASE.

The split: forward hooks open a torch.profiler record_function scope per module of the categories
below (the outermost one wins); each backward op is charged to the scope of the forward op that
made it (autograd's sequence numbers), so every category holds its forward and backward time.
NequIP's TensorProductScatter (its product on gathered rows plus the scatter; on e3gen with the
switch, the fused native convolution) is one category, so the product inside it is counted there.
Uncategorised time (MACE's and NequIP's own code, MACE's scatter, radial bases, autograd overhead)
is "other".
"""

import json
import statistics
import sys
import time

import ase.build
import numpy as np
import torch

CATEGORIES = ("TensorProductScatter", "TensorProduct", "Linear", "FullyConnectedNet", "SphericalHarmonics", "SymmetricContraction")


def structures():
    def cell(repeat, seed):
        atoms = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat(repeat)
        rng = np.random.default_rng(seed)
        symbols = atoms.get_chemical_symbols()
        for i in rng.choice(len(atoms), size=len(atoms) // 3, replace=False):
            symbols[i] = "Au"
        atoms.set_chemical_symbols(symbols)
        atoms.rattle(stdev=0.05, seed=seed)
        return atoms

    return {"small": [cell((2, 2, 2), 0), cell((2, 1, 1), 1)], "large": [cell((5, 5, 5), 2)]}


def mace_model(dtype):
    import mace  # noqa: F401  (before e3nn: it sets what e3nn 0.4.4 needs to import on new torch)
    from e3nn import o3
    from mace import data, modules, tools
    from mace.tools import torch_geometric

    torch.set_default_dtype(dtype)
    torch.manual_seed(0)
    z = [29, 79]
    model = modules.ScaleShiftMACE(
        r_max=5.0, num_bessel=8, num_polynomial_cutoff=5, max_ell=3,
        interaction_cls=modules.interaction_classes["RealAgnosticResidualInteractionBlock"],
        interaction_cls_first=modules.interaction_classes["RealAgnosticInteractionBlock"],
        num_interactions=2, num_elements=2, hidden_irreps=o3.Irreps("16x0e + 16x1o + 16x2e"),
        MLP_irreps=o3.Irreps("16x0e"), gate=torch.nn.functional.silu, atomic_energies=np.array([-3.1, -2.4]),
        avg_num_neighbors=12.0, atomic_numbers=z, correlation=3, radial_type="bessel",
        atomic_inter_scale=1.3, atomic_inter_shift=0.1,
    ).to(dtype)

    def batch(atoms_list):
        table = tools.AtomicNumberTable(z)
        items = [data.AtomicData.from_config(data.config_from_atoms(a), z_table=table, cutoff=5.0) for a in atoms_list]
        out = next(iter(torch_geometric.dataloader.DataLoader(items, batch_size=len(items), shuffle=False))).to_dict()
        return {k: (v.to(dtype) if torch.is_floating_point(v) else v) for k, v in out.items()}

    def run(inputs):
        return model(dict(inputs), compute_force=True)["forces"]

    return model, batch, run, lambda inputs: int(inputs["edge_index"].shape[1])


def nequip_model(dtype):
    from nequip.data import AtomicDataDict, compute_neighborlist_, from_ase
    from nequip.model import NequIPGNNModel
    from nequip.utils.global_state import set_global_state

    set_global_state()
    types = ["Cu", "Au"]
    model = NequIPGNNModel(
        seed=7, model_dtype=str(dtype).removeprefix("torch."), type_names=types, r_max=4.5, num_layers=3, l_max=2,
        parity=True, num_features=16, radial_mlp_depth=2, radial_mlp_width=32, avg_num_neighbors=12.0,
        per_type_energy_shifts={"Cu": -3.1, "Au": -2.4}, per_type_energy_scales={"Cu": 1.3, "Au": 1.1},
    )

    def batch(atoms_list):
        items = []
        for atoms in atoms_list:
            d = from_ase(atoms)
            d[AtomicDataDict.ATOM_TYPE_KEY] = torch.tensor([types.index(s) for s in atoms.get_chemical_symbols()])
            items.append(compute_neighborlist_(d, 4.5))
        return AtomicDataDict.batched_from_list(items)

    def run(inputs):
        return model(dict(inputs))["forces"]

    return model, batch, run, lambda inputs: int(inputs[AtomicDataDict.EDGE_INDEX_KEY].shape[1])


def category(module):
    names = {c.__name__ for c in type(module).__mro__}
    for name in CATEGORIES:
        if name in names and (name != "Linear" or type(module).__module__.split(".")[0] in ("e3nn", "e3gen")):
            return name
    return None


def install_scopes(model):
    """Forward hooks that open a record_function scope named 'bench:<category>' around each
    categorised module (not inside another one)."""
    depth = {"open": 0}

    def pre(module, args):
        if depth["open"] == 0:
            module._bench_scope = torch.profiler.record_function("bench:" + module._bench_category)
            module._bench_scope.__enter__()
        depth["open"] += 1

    def post(module, args, out):
        depth["open"] -= 1
        if depth["open"] == 0:
            module._bench_scope.__exit__(None, None, None)

    for module in model.modules():
        name = category(module)
        if name is not None:
            module._bench_category = name
            module.register_forward_pre_hook(pre)
            module.register_forward_hook(post)


def split(run, inputs):
    """{category: fraction of the time} of one profiled forward+forces call, forward and backward charged
    to their modules (fractions: the profiler's own overhead inflates absolute times)."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        run(inputs)
    events = prof.events()
    scope_of_sequence = {}
    for event in events:
        if event.sequence_nr < 0 or event.name.startswith("autograd::engine"):
            continue
        parent, label = event.cpu_parent, None
        while parent is not None:
            if parent.name.startswith("bench:"):
                label = parent.name[len("bench:"):]
            parent = parent.cpu_parent
        if label is not None:
            scope_of_sequence.setdefault(event.sequence_nr, label)
    totals = {name: 0.0 for name in CATEGORIES}
    for event in events:
        if event.name.startswith("bench:") and (event.cpu_parent is None or not _inside_bench(event.cpu_parent)):
            totals[event.name[len("bench:"):]] += event.cpu_time_total
        elif event.name.startswith("autograd::engine::evaluate_function:") and event.sequence_nr in scope_of_sequence:
            totals[scope_of_sequence[event.sequence_nr]] += event.cpu_time_total
    profiled = sum(e.cpu_time_total for e in events if e.cpu_parent is None)
    totals["other"] = max(0.0, profiled - sum(totals.values()))
    return {k: v / profiled for k, v in totals.items()}


def _inside_bench(event):
    while event is not None:
        if event.name.startswith("bench:"):
            return True
        event = event.cpu_parent
    return False


def products_report(model):
    """For e3gen: each TensorProduct's class, irreps and which native kernels apply (channel-wise,
    rows as lanes, fully connected), or none."""
    out = []
    for name, module in model.named_modules():
        if category(module) == "TensorProduct" and hasattr(module, "_native_layout"):
            families = [family for family, attribute in (("channel-wise", "_native_layout"), ("rowwise", "_native_rowwise"),
                                                         ("fully connected", "_native_fc"))
                        if getattr(module, attribute, None) is not None]
            out.append(f"{name}: {type(module).__name__}({module.irreps_in1} x {module.irreps_in2}) strategy={module.strategy} "
                       f"native={families[0] if families else 'no (no native kernels for these instructions)'}")
    return out


def main():
    model_name, dtype_name, repeats, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    dtype = getattr(torch, dtype_name)
    if model_name == "mace":
        import mace  # noqa: F401  (as above)
    import e3nn

    model, batch, run, edges_of = (mace_model if model_name == "mace" else nequip_model)(dtype)
    install_scopes(model)
    result = {"e3nn": e3nn.__version__, "threads": torch.get_num_threads(), "sizes": {}, "products": products_report(model)}
    for size, atoms_list in structures().items():
        inputs = batch(atoms_list)
        for _ in range(2):
            run(inputs)
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            run(inputs)
            seconds.append(time.perf_counter() - start)
        result["sizes"][size] = {"edges": edges_of(inputs), "median_ms": 1e3 * statistics.median(seconds), "split": split(run, inputs)}
    with open(out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
