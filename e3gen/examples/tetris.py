"""Tetris: classify the eight 3D tetrominoes with an E(3)-equivariant network, all in one batched pass.

Run it: ``python -m e3gen.examples.tetris`` or ``e3gen demo``.

The data (e3nn's tetris example): eight shapes of four unit cubes. Two of them, ``chiral_1`` and
``chiral_2``, are mirror images: no rotation maps one onto the other. A network whose outputs are
all invariant scalars (0e) gives them the same outputs; a pseudoscalar (0o) output flips its sign
under a mirror, and tells them apart. For the six mirror-symmetric shapes the 0o output is exactly
zero (the shape equals its own mirror image up to a rotation, so y_0o = -y_0o).

The model (`TetrisNetwork`, a NequIP-style network on e3gen layers):

    x = o3.Linear(node_scalars)                      # embed the per-node scalars: [N, mul x 0e]
    repeat `layers` times:
        x = nn.Gate(nn.Convolution(x, node_scalars, edges))    # scalars and gated l <= lmax irreps
    y = nn.Convolution(x, node_scalars, edges)       # [N, irreps_out.dim], default "0o + 6x0e"
    out = sum of y over the nodes of each graph      # [num_graphs, irreps_out.dim]

The node scalars are any per-node invariant features ([N, S], irreps "Sx0e"): a constant 1 for
plain tetris, or masses, charges, species one-hots. They are both the first features and the
attributes of every convolution's self-connection (NequIP's "sc"), so they reach every layer.

Classification (`tetris_logits`): eight logits from the "0o + 6x0e" output y, in `CLASSES` order,
(y_0o, -y_0o, y_0e[0], ..., y_0e[5]): the screw classes share one pseudoscalar with opposite signs,
so the mirror image of a ``chiral_1`` scores as ``chiral_2`` by construction, and the six achiral
shapes (whose y_0o is zero) are decided by the invariant scalars. Trained with cross-entropy.

Batching: the shapes are one graph with disjoint components: positions concatenated, a batch vector
[N] naming each node's shape, and `nn.radius_graph(pos, R_MAX, batch)` for the edges (neighbours
at distance 1 and the diagonal sqrt(2) of the square, within R_MAX = 1.5).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import math
import sys
import time
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Sequence, TextIO, Tuple

import torch

from e3gen import nn, o3

# name -> the centres of its four unit cubes (e3nn's tetris example; chiral_2 is chiral_1 with y -> -y)
SHAPES: Dict[str, List[Tuple[int, int, int]]] = {
    "chiral_1": [(0, 0, 0), (0, 0, 1), (1, 0, 0), (1, 1, 0)],
    "chiral_2": [(0, 0, 0), (0, 0, 1), (1, 0, 0), (1, -1, 0)],
    "square": [(0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0)],
    "line": [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 0, 3)],
    "corner": [(0, 0, 0), (0, 0, 1), (0, 1, 0), (1, 0, 0)],
    "L": [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 0)],
    "T": [(0, 0, 0), (0, 0, 1), (0, 0, 2), (0, 1, 1)],
    "zigzag": [(0, 0, 0), (1, 0, 0), (1, 1, 0), (2, 1, 0)],
}
CLASSES: Tuple[str, ...] = tuple(SHAPES)
IRREPS_OUT = o3.Irreps("0o + 6x0e")
R_MAX = 1.5

# The demo's settings: `trained_demo_model`, `main` and the tests all train exactly this.
DEMO_STEPS = 80
DEMO_LR = 2e-2
DEMO_ROTATED_COPIES = 16  # random rotations (and translations) of every shape for the rotated accuracy


def tetris_positions(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The eight shapes in `CLASSES` order: [8, 4, 3], in their reference orientation."""
    return torch.tensor([SHAPES[name] for name in CLASSES], dtype=dtype)


def make_inputs(
    pos: torch.Tensor, node_scalars: Optional[torch.Tensor] = None, r_max: float = R_MAX
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Batch B shapes of n nodes into the model's inputs (pos, node_scalars, edge_index, batch).

    pos [B, n, 3]; node_scalars [B, n, S] (default: a constant 1, S = 1). Returns pos [B*n, 3],
    node_scalars [B*n, S], edge_index [2, E] from `nn.radius_graph` (row 0 senders, row 1 receivers,
    no edge between different shapes), batch [B*n] (the shape of each node, 0..B-1).
    """
    num_graphs, n, _ = pos.shape
    if node_scalars is None:
        node_scalars = pos.new_ones(num_graphs, n, 1)
    batch = torch.arange(num_graphs, device=pos.device).repeat_interleave(n)
    flat_pos = pos.reshape(num_graphs * n, 3)
    edge_index, _ = nn.radius_graph(flat_pos, r_max, batch=batch)
    return flat_pos, node_scalars.reshape(num_graphs * n, -1), edge_index, batch


def random_rigid_motions(pos: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """pos [B, n, 3] with each shape rotated by its own uniformly random proper rotation and translated."""
    q = torch.randn(pos.shape[0], 4, generator=generator, dtype=torch.float64)
    R = o3.quaternion_to_matrix(q / q.norm(dim=1, keepdim=True))  # uniform on SO(3)
    t = 3.0 * torch.randn(pos.shape[0], 1, 3, generator=generator, dtype=torch.float64)
    return (torch.einsum("bij,bnj->bni", R, pos.to(torch.float64)) + t).to(pos.dtype)


def _reachable(irreps_in: o3.Irreps, irreps_sh: o3.Irreps, ir) -> bool:
    """Whether a product of irreps_in with the harmonics can give `ir` (else such features stay 0)."""
    return any(ir in list(ir1 * ir2) for _, ir1 in irreps_in for _, ir2 in irreps_sh)


def _gate(irreps_in: o3.Irreps, irreps_sh: o3.Irreps, mul: int, lmax: int) -> nn.Gate:
    """e3nn's hidden layer recipe: mul copies of every irrep l <= lmax, both parities, that the next
    convolution can produce; scalars through silu (0e) / tanh (0o), the rest gated by sigmoid(0e)."""
    candidates = [(mul, o3.Irrep(l, p)) for l in range(lmax + 1) for p in (1, -1)]
    kept = [(m, ir) for m, ir in candidates if _reachable(irreps_in, irreps_sh, ir)]
    scalars = o3.Irreps([(m, ir) for m, ir in kept if ir.l == 0])
    gated = o3.Irreps([(m, ir) for m, ir in kept if ir.l > 0])
    gates = o3.Irreps([(gated.num_irreps, "0e")]) if gated.num_irreps else o3.Irreps("")
    return nn.Gate(
        scalars, [torch.nn.functional.silu if ir.p == 1 else torch.tanh for _, ir in scalars],
        gates, [torch.sigmoid] * len(gates),
        gated,
    )  # fmt: skip


class TetrisNetwork(torch.nn.Module):
    """Graph classifier: (pos, node_scalars, edge_index, batch) -> per-graph outputs [num_graphs, irreps_out.dim].

    Args:
        irreps_node_scalars: the per-node invariant features, "Sx0e" (e.g. "1x0e": a constant 1).
        irreps_out: per-graph output irreps (default "0o + 6x0e": a pseudoscalar and six scalars).
        mul: multiplicity of every hidden irrep. lmax: of the edge harmonics and hidden irreps.
        layers: number of gated convolutions before the output convolution (3 convolutions in all
            make the pseudoscalar of a screw: 0e -> 1o -> 1e -> 0o via the l=1 harmonics).
        r_max, num_basis, radial_hidden, avg_num_neighbors: as `nn.Convolution`.
    """

    def __init__(
        self,
        irreps_node_scalars="1x0e",
        irreps_out=IRREPS_OUT,
        *,
        mul: int = 8,
        lmax: int = 2,
        layers: int = 2,
        r_max: float = R_MAX,
        num_basis: int = 8,
        radial_hidden: Sequence[int] = (16,),
        avg_num_neighbors: float = 2.5,
    ) -> None:
        super().__init__()
        self.irreps_node_scalars = o3.Irreps(irreps_node_scalars)
        self.irreps_out = o3.Irreps(irreps_out)
        if not self.irreps_node_scalars.is_scalar() or any(ir.p != 1 for _, ir in self.irreps_node_scalars):
            raise ValueError(
                f"TetrisNetwork: irreps_node_scalars must be invariant scalars such as '1x0e' or '3x0e', "
                f"got {self.irreps_node_scalars}"
            )
        irreps_sh = o3.Irreps.spherical_harmonics(lmax)
        conv = dict(irreps_sh=irreps_sh, r_max=r_max, num_basis=num_basis, radial_hidden=radial_hidden,
                    avg_num_neighbors=avg_num_neighbors)  # fmt: skip

        irreps = o3.Irreps([(mul, "0e")])
        self.embed = o3.Linear(self.irreps_node_scalars, irreps)
        self.convolutions = torch.nn.ModuleList()
        self.gates = torch.nn.ModuleList()
        for _ in range(layers):
            gate = _gate(irreps, irreps_sh, mul, lmax)
            self.convolutions.append(nn.Convolution(irreps, self.irreps_node_scalars, gate.irreps_in, **conv))
            self.gates.append(gate)
            irreps = gate.irreps_out
        self.output = nn.Convolution(irreps, self.irreps_node_scalars, self.irreps_out, **conv)
        self._scalars_dim = self.irreps_node_scalars.dim
        # How each forward input transforms (e3gen.testing / e3gen.debug read this): positions,
        # invariant node scalars, then index tensors that no rotation touches.
        self.input_specs = ("cartesian_points", str(self.irreps_node_scalars), None, None)

    def forward(self, pos: torch.Tensor, node_scalars: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        """pos [N, 3] (positions: rotate and translate them), node_scalars [N, S] (invariant),
        edge_index [2, E] (node indices, untransformed), batch [N] (graph of each node, 0..B-1,
        untransformed) -> [B, irreps_out.dim], B = batch.max() + 1."""
        if pos.dim() != 2 or pos.shape[1] != 3:
            raise ValueError(f"TetrisNetwork: expected pos of shape [N, 3], got {list(pos.shape)}")
        if node_scalars.shape != (pos.shape[0], self._scalars_dim):
            raise ValueError(
                f"TetrisNetwork: expected node_scalars of shape [{pos.shape[0]}, {self._scalars_dim}] "
                f"(irreps {self.irreps_node_scalars}), got {list(node_scalars.shape)}"
            )
        if batch.shape != (pos.shape[0],):
            raise ValueError(f"TetrisNetwork: expected batch of shape [{pos.shape[0]}], got {list(batch.shape)}")
        edge_vec = nn.edge_vectors(pos, edge_index)  # [E, 3], pos[receiver] - pos[sender]
        x = self.embed(node_scalars)
        for convolution, gate in zip(self.convolutions, self.gates):
            x = gate(convolution(x, node_scalars, edge_index, edge_vec))
        x = self.output(x, node_scalars, edge_index, edge_vec)  # [N, irreps_out.dim]
        num_graphs = int(batch.max()) + 1 if batch.numel() > 0 else 0
        return x.new_zeros(num_graphs, x.shape[1]).index_add(0, batch, x)


def tetris_logits(outputs: torch.Tensor) -> torch.Tensor:
    """outputs [B, 7] ("0o + 6x0e", e3gen's layout: the 0o first) -> logits [B, 8] in `CLASSES` order."""
    pseudoscalar = outputs[:, :1]
    return torch.cat([pseudoscalar, -pseudoscalar, outputs[:, 1:]], dim=1)


@dataclass
class TrainingStep:
    step: int
    loss: float
    accuracy: float


def train(
    model: torch.nn.Module,
    inputs: Tuple[torch.Tensor, ...],
    labels: torch.Tensor,
    *,
    steps: int = DEMO_STEPS,
    lr: float = DEMO_LR,
    to_logits=tetris_logits,
    progress: Optional[TextIO] = None,
    on_step: Optional[Callable[[torch.nn.Module], None]] = None,
) -> List[TrainingStep]:
    """Full-batch Adam on cross-entropy(to_logits(model(*inputs)), labels); the history of every step.

    ``progress``: a stream (e.g. sys.stderr) for a one-line progress bar, redrawn in place.
    ``on_step(model)``: called once per step with the weights that step's loss and accuracy were
    computed with (before the update), e.g. to measure accuracy on other data along the way.
    """
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    with single_thread():
        for step in range(1, steps + 1):
            logits = to_logits(model(*inputs))
            loss = torch.nn.functional.cross_entropy(logits, labels)
            if on_step is not None:
                on_step(model)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            accuracy = (logits.argmax(dim=1) == labels).double().mean().item()  # of the weights before this step
            history.append(TrainingStep(step, loss.item(), accuracy))
            if progress is not None:
                _draw_progress(progress, step, steps, loss.item(), accuracy)
    if progress is not None:
        progress.write("\n")
        progress.flush()
    return history


_BAR_WIDTH = 30


def _draw_progress(stream: TextIO, step: int, steps: int, loss: float, accuracy: float) -> None:
    """Redraw the bar in place, only when it grows (about 30 writes in all, also when stderr is a file)."""
    done = _BAR_WIDTH * step // steps
    if step != 1 and done == _BAR_WIDTH * (step - 1) // steps and step != steps:
        return
    bar = "#" * done + "." * (_BAR_WIDTH - done)
    stream.write(f"\rtraining [{bar}] {step:4d}/{steps}  loss {loss:<9.3g}  accuracy {100 * accuracy:5.1f}%")
    stream.flush()


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch ops on one thread, then restore the thread count.

    The tensors here are tiny ([32, 78]-sized): splitting each op across threads costs more than the
    op, and on a busy machine a waiting thread turns a 20 ms training step into 250 ms.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@torch.no_grad()
def accuracy(model: torch.nn.Module, inputs, labels: torch.Tensor, to_logits=tetris_logits) -> float:
    """Fraction of graphs whose largest logit is their label."""
    return (to_logits(model(*inputs)).argmax(dim=1) == labels).double().mean().item()


def tetris_data(dtype: torch.dtype = torch.float32):
    """(inputs, labels): the eight shapes batched (see `make_inputs`), labels [8] = 0..7 (`CLASSES`)."""
    return make_inputs(tetris_positions(dtype)), torch.arange(len(CLASSES))


def rotated_tetris_data(copies: int, seed: int, dtype: torch.dtype = torch.float32):
    """(inputs, labels) of `copies` randomly rotated and translated copies of every shape ([8 * copies])."""
    generator = torch.Generator().manual_seed(seed)
    pos = random_rigid_motions(tetris_positions(dtype).repeat(copies, 1, 1), generator)
    return make_inputs(pos), torch.arange(len(CLASSES)).repeat(copies)


# --- per-node scalar features ----------------------------------------------------------------------------

HEAVY_LINE_CLASSES: Tuple[str, ...] = ("uniform", "heavy end", "heavy inner")
HEAVY_LINE_MASSES = [[1.0, 1.0, 1.0, 1.0], [2.0, 1.0, 1.0, 1.0], [1.0, 2.0, 1.0, 1.0]]


def heavy_line_data(copies: int = 1, seed: Optional[int] = None, dtype: torch.dtype = torch.float32):
    """(inputs, labels): the line tetromino with a per-node mass ("1x0e") as its only node feature.

    The three classes (`HEAVY_LINE_CLASSES`) have the same geometry and differ only in the masses
    (`HEAVY_LINE_MASSES`): all 1, an end cube of mass 2, an inner cube of mass 2. Telling "heavy end"
    from "heavy inner" needs the scalar and the geometry together (an end cube has one neighbour
    at distance 1, an inner cube two). ``copies`` repeats them; with a ``seed`` each copy is randomly
    rotated and translated. Labels [3 * copies].
    """
    line = torch.tensor(SHAPES["line"], dtype=dtype)
    pos = line.expand(len(HEAVY_LINE_CLASSES) * copies, 4, 3).clone()
    if seed is not None:
        pos = random_rigid_motions(pos, torch.Generator().manual_seed(seed))
    masses = torch.tensor(HEAVY_LINE_MASSES, dtype=dtype).repeat(copies, 1)[:, :, None]  # [3 * copies, 4, 1]
    return make_inputs(pos, masses), torch.arange(len(HEAVY_LINE_CLASSES)).repeat(copies)


def train_heavy_lines(seed: int = 0, steps: int = 40, progress: Optional[TextIO] = None):
    """A `TetrisNetwork` with node scalars "1x0e" (the mass) and outputs "3x0e" (the logits), trained
    on `heavy_line_data` in its reference orientation: (model, history)."""
    torch.manual_seed(seed)
    model = TetrisNetwork("1x0e", "3x0e")
    inputs, labels = heavy_line_data()
    history = train(model, inputs, labels, steps=steps, to_logits=_identity, progress=progress)
    return model.eval(), history


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def train_demo(seed: int = 0, progress: Optional[TextIO] = None, on_step=None):
    """The demo's model trained on the eight shapes (`DEMO_STEPS` steps of Adam at `DEMO_LR`, weights
    seeded by ``seed``): (model in eval mode, inputs, labels, history). ``on_step``: as `train`."""
    torch.manual_seed(seed)
    model = TetrisNetwork()
    inputs, labels = tetris_data()
    history = train(model, inputs, labels, progress=progress, on_step=on_step)
    return model.eval(), inputs, labels, history


@functools.lru_cache(maxsize=4)
def _trained_state(seed: int) -> Dict[str, torch.Tensor]:
    model, _, _, _ = train_demo(seed)
    return {k: v.clone() for k, v in model.state_dict().items()}


def trained_demo_model(seed: int = 0) -> Tuple[TetrisNetwork, Tuple[torch.Tensor, ...]]:
    """The demo's trained model (float32, eval mode) and example inputs for ``model(*inputs)``.

    inputs = (pos [32, 3], node_scalars [32, 1], edge_index [2, E], batch [32]): the eight shapes
    batched. Specs for `e3gen.testing.assert_equivariant`:
    ``["cartesian_points", "1x0e", None, None]`` in, ``"0o + 6x0e"`` out: pos are positions
    (rotated and translated), node_scalars invariant scalars, edge_index and batch indices (not
    transformed). The training is done once per seed and process (a fresh copy is returned each call).
    """
    model = TetrisNetwork()
    model.load_state_dict(_trained_state(seed))
    inputs, _ = tetris_data()
    return model.eval(), inputs


# --- the demo -------------------------------------------------------------------------------------------


def equivariance_errors(model: torch.nn.Module, inputs, seed: int = 0) -> Dict[torch.dtype, Tuple[float, float]]:
    """dtype -> (error, scale) for float32 and float64 copies of the model: error is the largest
    |model(g x) - g model(x)| over a random rotation, the rotation times the inversion and a
    translation (`e3gen.testing.equivariance_error`), scale the largest |output|."""
    from e3gen.testing import equivariance_error

    specs_in = ["cartesian_points", str(model.irreps_node_scalars), None, None]
    result = {}
    for dtype in (torch.float32, torch.float64):
        errors = equivariance_error(copy.deepcopy(model).to(dtype), specs_in, str(model.irreps_out), inputs=inputs, dtype=dtype, seed=seed)
        result[dtype] = (max(row.error for row in errors), max(row.scale for row in errors))
    return result


def build_report() -> List[str]:
    """Lines describing the shipped lmax=3 build: verified against its manifest, not rebuilt."""
    from e3gen import store

    path = store.shipped_root() / store.build_dirname(3)
    status = store.verify_build(path)
    manifest = status.manifest or {}
    summary = manifest.get("summary", {})
    certificate = manifest.get("certificate", {})
    checks = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(certificate.get("checks", {}).items()))
    return [
        f"build     {path}",
        f"verified  {'ok' if status.ok else 'FAILED: ' + status.describe()} (sha256 of every file, compiler and template hashes)",
        f"kernels   {summary.get('coupling_paths', '?')} coupling paths, {summary.get('nonzero_terms', '?')} nonzero terms "
        f"(density {summary.get('density', '?')}), {summary.get('spherical_harmonics_steps', '?')} harmonic steps",
        f"certified {'passed' if certificate.get('passed') else 'NOT passed'}, {certificate.get('arithmetic', '?')} arithmetic: {checks}",
        f"ir sha256 {str(manifest.get('ir_sha256', '?'))[:16]}...",
    ]


def demo(seed: int = 0, out: Optional[TextIO] = None, err: Optional[TextIO] = None, plot=None) -> int:
    """Print the build report, train with a progress bar (on ``err``), and report accuracies,
    equivariance and time (on ``out``); 0 if every accuracy is 100%, else 1.

    ``plot``: a file to draw the loss and the accuracies per step to (`e3gen.plots.write_demo_figure`;
    needs matplotlib, checked before training). The accuracy on the rotated copies is then measured
    at every step too, which makes training slower.
    """
    if plot is not None:
        from e3gen.plots import PlotUnavailable, require_matplotlib

        try:
            require_matplotlib()
        except PlotUnavailable as error:
            print(f"e3gen demo --plot: error: {error}", file=err or sys.stderr)
            return 2
    with single_thread():
        return _demo(seed, out or sys.stdout, err or sys.stderr, plot)


def _demo(seed: int, out: TextIO, err: TextIO, plot=None) -> int:
    start = time.perf_counter()
    print("== e3gen build (shipped, lmax=3) ==", file=out)
    for line in build_report():
        print("  " + line, file=out)

    print(f"\n== training: 8 tetrominoes in one batch, {DEMO_STEPS} full-batch Adam steps (seed {seed}) ==", file=out)
    out.flush()
    train_start = time.perf_counter()
    rotated_inputs, rotated_labels = rotated_tetris_data(DEMO_ROTATED_COPIES, seed=seed + 1)
    rotated_per_step: List[float] = []
    on_step = None if plot is None else (
        lambda model: rotated_per_step.append(accuracy(model, rotated_inputs, rotated_labels)))
    model, inputs, labels, history = train_demo(seed, progress=err, on_step=on_step)
    train_seconds = time.perf_counter() - train_start
    n_params = sum(p.numel() for p in model.parameters())
    print(f"  model: TetrisNetwork, {n_params} parameters, outputs {model.irreps_out} -> 8 classes", file=out)
    shown = sorted({1, 10, 20, 40, 80, len(history)} & set(range(1, len(history) + 1)))
    for row in (history[s - 1] for s in shown):
        print(f"  step {row.step:4d}  loss {row.loss:<9.3g}  accuracy {100 * row.accuracy:5.1f}%", file=out)
    print(f"  trained in {train_seconds:.1f} s", file=out)

    print("\n== accuracy ==", file=out)
    final = accuracy(model, inputs, labels)
    rotated = accuracy(model, rotated_inputs, rotated_labels)
    print(f"  the 8 shapes as trained:                    {100 * final:5.1f}%", file=out)
    print(f"  {len(rotated_labels)} randomly rotated and translated copies: {100 * rotated:5.1f}%", file=out)

    print("\n== per-node scalar features: lines that differ only in their masses ==", file=out)
    heavy, _ = train_heavy_lines(seed)
    heavy_inputs, heavy_labels = heavy_line_data(DEMO_ROTATED_COPIES, seed=seed + 2)
    heavy_accuracy = accuracy(heavy, heavy_inputs, heavy_labels, to_logits=_identity)
    print(f"  classes {', '.join(HEAVY_LINE_CLASSES)} (node scalars 1x0e = mass, outputs 3x0e)", file=out)
    print(f"  {len(heavy_labels)} randomly rotated and translated copies: {100 * heavy_accuracy:5.1f}%", file=out)

    print("\n== equivariance of the trained model (random rotation, rotation+inversion, translation) ==", file=out)
    for dtype, (error, scale) in equivariance_errors(model, inputs, seed=seed).items():
        name = str(dtype).replace("torch.", "")
        print(f"  {name + ':':8} max |f(g x) - g f(x)| = {error:.1e} on outputs up to {scale:.1e} (relative {error / scale:.1e})", file=out)

    print(f"\ntotal time {time.perf_counter() - start:.1f} s (the demo itself; Python and torch start-up come before)", file=out)
    if plot is not None:
        from e3gen.plots import demo_figure_data, write_demo_figure

        data = demo_figure_data(history, rotated_per_step, len(rotated_labels))
        print(f"wrote {write_demo_figure(plot, data, title=f'e3gen demo: tetris, seed {seed}')}", file=out)
    return 0 if final == 1.0 and rotated == 1.0 and heavy_accuracy == 1.0 else 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m e3gen.examples.tetris", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights (default 0)")
    args = parser.parse_args(argv)
    return demo(seed=args.seed)


if __name__ == "__main__":
    sys.exit(main())
