"""Radius graphs of point clouds, with periodic boundary conditions, in pure torch.

Convention (NequIP's): ``edge_index[0]`` is the sender (source) and ``edge_index[1]`` the receiver
(target) of each edge, and ``edge_shift`` [E, 3] holds integer cell shifts k with

    edge_vec = pos[edge_index[1]] - pos[edge_index[0]] + edge_shift @ cell[graph]

the vector from the sender to the periodic image of the receiver, |edge_vec| < r_max. `edge_vectors`
computes it (differentiably in pos and cell, for forces and stress). e3nn's example networks write
pos[src] - pos[dst], the opposite sign; without max_num_neighbors the graph is symmetric (every
edge (s, r, k) comes with (r, s, -k)), so only the sign of edge_vec depends on the reading.
"""

import itertools
import math
from typing import List, Optional, Tuple

import torch

# Pairs x images evaluated at once; bounds the [chunk, n, images, 3] intermediate (~100 MB in float64).
_PAIRS_PER_CHUNK = 4_000_000


# Periodic images per graph that radius_graph accepts by default. Enough for any cell whose lattice
# planes are at least ~r_max / 20 apart (41^3 images); a smaller or flatter cell than that is almost
# always a unit mistake (nm for Angstrom) or a degenerate cell, and would take O(N^2 images) work.
MAX_PERIODIC_IMAGES = 100_000


def _shift_ranges(frac_span: torch.Tensor, inverse: torch.Tensor, pbc: torch.Tensor, r_max: float) -> List[float]:
    """Per axis, the largest |k_i| of an integer shift that can bring two atoms within r_max (0 if not periodic).

    A periodic image k of a pair is within r_max only if, along each periodic axis i,
    |f_r - f_s + k|_i < r_max |inv(cell)[:, i]| (1 / |inv(cell)[:, i]| is the spacing of the lattice
    planes), so |k_i| <= r_max |inv(cell)[:, i]| + (spread of the fractional coordinates along i).
    Returned as floats: the reach of a degenerate cell can exceed any int.
    """
    reach = (r_max * inverse.norm(dim=0) + frac_span).tolist()  # [3]
    return [(float(math.ceil(reach[i])) if math.isfinite(reach[i]) else math.inf) if bool(pbc[i]) else 0.0 for i in range(3)]


def _shifts(extent: List[float], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Every integer shift k [S, 3] with |k_i| <= extent[i], zero shift included, in lexicographic order."""
    ranges = [range(-int(e), int(e) + 1) for e in extent]
    return torch.tensor(list(itertools.product(*ranges)), dtype=dtype, device=device).reshape(-1, 3)


def _graph_edges(pos: torch.Tensor, cell: torch.Tensor, pbc: torch.Tensor, r_max: float, self_interaction: bool,
                 max_images: int, name: str):
    """Edges of one graph: (senders [E], receivers [E], shifts [E, 3]) in (sender, receiver, shift) order."""
    n = pos.shape[0]
    if bool(pbc.any()):
        det = torch.linalg.det(cell)
        if not abs(det.item()) > 1e-12 * max(cell.norm().item(), 1e-300) ** 3:
            raise ValueError(f"{name}: cell {cell.tolist()} is singular (det = {det.item()}); give three independent cell vectors (any non-zero vector along non-periodic directions)")
        inverse = torch.linalg.inv(cell)
        frac = pos @ inverse
        span = frac.max(dim=0).values - frac.min(dim=0).values if n > 0 else torch.zeros(3, dtype=pos.dtype, device=pos.device)
        extent = _shift_ranges(span, inverse, pbc, r_max)
        counts = [2 * e + 1 for e in extent]
        images = counts[0] * counts[1] * counts[2]  # a float: exact below 2^53, never overflows
        if not images <= max_images:
            raise ValueError(
                f"{name}: the cell {cell.tolist()} (det {det.item():.3g}) is tiny or flat next to r_max={r_max}: "
                f"the cutoff sphere reaches {' x '.join(f'{c:.0f}' for c in counts)} = {images:.4g} periodic images, "
                f"more than max_images={max_images}, and the work grows as N^2 x images. Check the cell's units and "
                f"vectors, use a smaller r_max, or replicate the cell (a supercell whose lattice planes are at "
                f"least r_max apart needs at most 5 x 5 x 5 = 125); pass max_images=... to allow more"
            )
        shifts = _shifts(extent, pos.dtype, pos.device)
    else:
        shifts = torch.zeros(1, 3, dtype=pos.dtype, device=pos.device)
    offsets = shifts @ cell  # [S, 3]
    num_shifts = shifts.shape[0]
    zero_shift = int((shifts == 0).all(dim=1).nonzero()[0, 0])

    # Chunks of senders, and of shifts when even one sender's [n, S, 3] block is over the budget.
    shift_chunk = num_shifts if n * num_shifts <= _PAIRS_PER_CHUNK else max(1, _PAIRS_PER_CHUNK // max(1, n))
    chunk = max(1, _PAIRS_PER_CHUNK // max(1, n * shift_chunk))
    senders, receivers, images = [], [], []
    for start in range(0, n, chunk):
        s_pos = pos[start : start + chunk]
        for k_start in range(0, num_shifts, shift_chunk):
            k_offsets = offsets[k_start : k_start + shift_chunk]
            # vec[s, r, k] = pos[r] + offsets[k] - pos[s]
            vec = pos[None, :, None, :] + k_offsets[None, None, :, :] - s_pos[:, None, None, :]
            within = vec.pow(2).sum(-1) < r_max * r_max
            if not self_interaction and k_start <= zero_shift < k_start + shift_chunk:
                rows = torch.arange(s_pos.shape[0], device=pos.device)
                within[rows, rows + start, zero_shift - k_start] = False
            s, r, k = within.nonzero(as_tuple=True)
            senders.append(s + start)
            receivers.append(r)
            images.append(k + k_start)
    if not senders:
        empty = torch.zeros(0, dtype=torch.long, device=pos.device)
        return empty, empty, shifts[:0]
    senders, receivers, images = torch.cat(senders), torch.cat(receivers), torch.cat(images)
    if shift_chunk < num_shifts:  # restore the (sender, receiver, shift) order across shift chunks
        order = torch.argsort((senders * n + receivers) * num_shifts + images)
        senders, receivers, images = senders[order], receivers[order], images[order]
    return senders, receivers, shifts[images]


def radius_graph(
    pos: torch.Tensor,
    r_max: float,
    batch: Optional[torch.Tensor] = None,
    cell: Optional[torch.Tensor] = None,
    pbc: Optional[torch.Tensor] = None,
    max_num_neighbors: Optional[int] = None,
    self_interaction: bool = False,
    *,
    max_images: int = MAX_PERIODIC_IMAGES,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """All pairs (and periodic images) closer than r_max, within each graph of a batch.

    Args:
        pos: [N, 3] positions (any float dtype and device).
        r_max: cutoff; an edge needs |edge_vec| < r_max (strictly).
        batch: [N] graph index of each node (0..B-1, any order); None for a single graph.
        cell: [3, 3] or [B, 3, 3] lattice vectors as rows (shared by all graphs, or one per graph).
        pbc: [3] or [B, 3] bools, periodicity along each cell vector; None means all True when a
            cell is given, else no periodicity. Periodic directions need a cell.
        max_num_neighbors: keep at most this many edges per receiver, the nearest ones (ties by
            edge order); this can break the symmetry of the graph. None keeps all.
        self_interaction: include the edge from a node to itself (zero shift). Edges to a node's own
            periodic images are always included.
        max_images: refuse (ValueError, before any allocation) a cell that needs more periodic
            images than this to cover r_max: a tiny or nearly singular cell (say 0.01 * I with
            r_max = 2) would otherwise need millions and exhaust memory.

    Returns:
        edge_index [2, E] (long): row 0 senders, row 1 receivers, as node indices into pos.
        edge_shift [E, 3] (pos's dtype, integer-valued): see the module docstring;
        edge_vec = pos[edge_index[1]] - pos[edge_index[0]] + edge_shift @ cell[batch[edge_index[0]]].

    Edges are ordered by graph, then sender, receiver and shift (lexicographic), so the output is
    deterministic. Cost per graph of n nodes: O(n^2 * images), by brute force in chunks (no
    torch_cluster); the images are every shift that the cell geometry allows within r_max, so small
    or skewed cells get as many repeats as they need.
    """
    name = "radius_graph"
    if not isinstance(pos, torch.Tensor):
        raise TypeError(f"{name}: expected pos as a float torch.Tensor of shape [N, 3], got {type(pos).__name__}; convert it with torch.as_tensor(pos)")
    if pos.dim() != 2 or pos.shape[1] != 3 or not pos.is_floating_point():
        raise ValueError(f"{name}: expected pos as a float tensor of shape [N, 3], got {pos.dtype} of shape {list(pos.shape)}")
    if not r_max > 0:
        raise ValueError(f"{name}: r_max must be positive, got {r_max}")
    finite = torch.isfinite(pos).all(dim=1)
    if not bool(finite.all()):
        bad = (~finite).nonzero().flatten().tolist()
        listed = ", ".join(str(i) for i in bad[:10]) + (f", ... ({len(bad)} in all)" if len(bad) > 10 else "")
        raise ValueError(
            f"{name}: pos has non-finite (nan or inf) coordinates for atom(s) {listed}; "
            f"every position must be finite (check what produced them, e.g. a diverging simulation)"
        )
    if cell is not None and not bool(torch.isfinite(torch.as_tensor(cell)).all()):
        raise ValueError(f"{name}: cell has non-finite (nan or inf) entries: {torch.as_tensor(cell).tolist()}")
    if isinstance(max_images, bool) or not isinstance(max_images, int) or max_images < 1:
        raise ValueError(f"{name}: max_images must be a positive int, got {max_images!r}")
    if max_num_neighbors is not None and max_num_neighbors < 0:
        raise ValueError(f"{name}: max_num_neighbors must be >= 0 or None, got {max_num_neighbors}")
    n = pos.shape[0]
    if batch is None:
        batch = torch.zeros(n, dtype=torch.long, device=pos.device)
    elif batch.shape != (n,) or batch.is_floating_point() or (n > 0 and int(batch.min()) < 0):
        raise ValueError(f"{name}: expected batch as non-negative integer graph indices of shape [{n}], got {batch.dtype} of shape {list(batch.shape)}")
    num_graphs = int(batch.max()) + 1 if n > 0 else 0
    cells, pbcs = _cells_and_pbc(cell, pbc, num_graphs, pos, name)

    senders, receivers, shifts = [], [], []
    with torch.no_grad():  # the graph is discrete; differentiate edge_vectors instead
        for b in range(num_graphs):
            nodes = (batch == b).nonzero().flatten()
            s, r, k = _graph_edges(pos[nodes].detach(), cells[b], pbcs[b], float(r_max), self_interaction, max_images, name)
            senders.append(nodes[s])
            receivers.append(nodes[r])
            shifts.append(k)
    if num_graphs == 0:
        return torch.zeros(2, 0, dtype=torch.long, device=pos.device), pos.new_zeros(0, 3)
    edge_index = torch.stack([torch.cat(senders), torch.cat(receivers)])
    edge_shift = torch.cat(shifts)
    if max_num_neighbors is not None:
        keep = _nearest_per_receiver(pos, edge_index, edge_shift, cells, batch, max_num_neighbors)
        edge_index, edge_shift = edge_index[:, keep], edge_shift[keep]
    return edge_index, edge_shift


def _cells_and_pbc(cell, pbc, num_graphs: int, pos: torch.Tensor, name: str):
    """Per-graph cells [B, 3, 3] (in pos's dtype) and periodicity [B, 3] (bool)."""
    if cell is None:
        if pbc is not None and bool(torch.as_tensor(pbc).any()):
            raise ValueError(f"{name}: pbc {torch.as_tensor(pbc).tolist()} asks for periodicity but no cell was given")
        cells = torch.zeros(num_graphs, 3, 3, dtype=pos.dtype, device=pos.device)
        pbcs = torch.zeros(num_graphs, 3, dtype=torch.bool, device=pos.device)
        return cells, pbcs
    cell = torch.as_tensor(cell, dtype=pos.dtype, device=pos.device)
    if cell.shape == (3, 3):
        cell = cell.expand(num_graphs, 3, 3)
    elif cell.shape != (num_graphs, 3, 3):
        raise ValueError(f"{name}: expected cell of shape [3, 3] or [{num_graphs}, 3, 3] (one per graph), got {list(cell.shape)}")
    pbc = torch.ones(3, dtype=torch.bool) if pbc is None else torch.as_tensor(pbc)
    if pbc.dtype != torch.bool:
        raise ValueError(f"{name}: expected pbc as bools, got {pbc.dtype}")
    pbc = pbc.to(pos.device)
    if pbc.shape == (3,):
        pbc = pbc.expand(num_graphs, 3)
    elif pbc.shape != (num_graphs, 3):
        raise ValueError(f"{name}: expected pbc of shape [3] or [{num_graphs}, 3] (one per graph), got {list(pbc.shape)}")
    return cell, pbc


def _nearest_per_receiver(pos, edge_index, edge_shift, cells, batch, max_num_neighbors: int) -> torch.Tensor:
    """Indices of the edges to keep, in their original order: the max_num_neighbors nearest per receiver."""
    length = edge_vectors(pos.detach(), edge_index, edge_shift, cells, batch).norm(dim=1)
    by_length = torch.argsort(length, stable=True)
    order = by_length[torch.argsort(edge_index[1, by_length], stable=True)]  # by receiver, then length
    receiver = edge_index[1, order]
    counts = torch.bincount(receiver, minlength=pos.shape[0])
    first = torch.cumsum(counts, 0) - counts
    rank = torch.arange(order.shape[0], device=order.device) - first[receiver]
    return order[rank < max_num_neighbors].sort().values


def edge_vectors(
    pos: torch.Tensor,
    edge_index: torch.Tensor,
    edge_shift: Optional[torch.Tensor] = None,
    cell: Optional[torch.Tensor] = None,
    batch: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """edge_vec [E, 3] = pos[edge_index[1]] - pos[edge_index[0]] + edge_shift @ cell (per edge's graph).

    ``cell`` is [3, 3] or [B, 3, 3] (then ``batch`` [N] picks each edge's cell); without a cell or
    shift the edges are taken as non-periodic. Differentiable in pos and cell.
    """
    vec = pos[edge_index[1]] - pos[edge_index[0]]
    if edge_shift is None or cell is None:
        return vec
    if cell.dim() == 2:
        return vec + edge_shift @ cell
    if batch is None:
        if cell.shape[0] != 1:
            raise ValueError(f"edge_vectors: a cell per graph ({list(cell.shape)}) needs batch to say which graph each node is in")
        batch = torch.zeros(pos.shape[0], dtype=torch.long, device=pos.device)
    return vec + torch.einsum("ei,eij->ej", edge_shift, cell[batch[edge_index[0]]])
