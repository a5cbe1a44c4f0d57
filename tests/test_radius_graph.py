"""radius_graph: exactly the pairs and periodic images closer than r_max, in a deterministic order.

Strategy: hypothesis draws 1-2 graphs of 1-5 atoms, each with its own random (possibly small and
skewed) cell, periodicity per axis and atoms placed up to half a cell outside it; r_max up to 2.5
times the smallest cell height. Reference: brute force over every pair and every shift k in a cube
[-n, n]^3 with n from a bound independent of the implementation (|k @ cell| >= sigma_min(cell) |k|,
so |k| <= (r_max + largest pair distance) / sigma_min). Comparison is of exact sets of
(sender, receiver, shift).
"""

import math

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from e3gen.nn import edge_vectors, radius_graph

UNIT = st.floats(-1.0, 1.0, allow_nan=False)


@st.composite
def periodic_graphs(draw):
    """(pos [N, 3], batch [N], cell [B, 3, 3], pbc [B, 3], r_max), float64."""
    num_graphs = draw(st.integers(1, 2))
    positions, batch, cells, pbcs = [], [], [], []
    for b in range(num_graphs):
        lengths = [draw(st.floats(0.6, 2.5)) for _ in range(3)]
        skew = torch.tensor([[draw(UNIT) * 0.6 for _ in range(3)] for _ in range(3)], dtype=torch.float64)
        cell = torch.diag(torch.tensor(lengths, dtype=torch.float64)) + skew
        assume(torch.linalg.svdvals(cell).min() > 0.3)
        n = draw(st.integers(1, 5))
        frac = torch.tensor([[draw(st.floats(-0.5, 1.5)) for _ in range(3)] for _ in range(n)], dtype=torch.float64)
        positions.append(frac @ cell)
        batch += [b] * n
        cells.append(cell)
        pbcs.append([draw(st.booleans()) for _ in range(3)])
    r_max = draw(st.floats(0.3, 2.5))
    return torch.cat(positions), torch.tensor(batch), torch.stack(cells), torch.tensor(pbcs), r_max


def reference_edges(pos, batch, cell, pbc, r_max, self_interaction=False):
    """Set of (sender, receiver, shift) by brute force over a cube of shifts that provably suffices."""
    edges = set()
    for b in range(cell.shape[0]):
        nodes = (batch == b).nonzero().flatten().tolist()
        p = pos[nodes]
        spread = (p[:, None] - p[None, :]).norm(dim=-1).max().item()
        n = math.ceil((r_max + spread) / torch.linalg.svdvals(cell[b]).min().item())
        axes = [torch.arange(-n, n + 1) if pbc[b, i] else torch.zeros(1, dtype=torch.long) for i in range(3)]
        shifts = torch.cartesian_prod(*axes).reshape(-1, 3)
        vec = p[None, :, None, :] - p[:, None, None, :] + (shifts.double() @ cell[b])[None, None]
        for s, r, k in (vec.pow(2).sum(-1) < r_max**2).nonzero().tolist():
            shift = tuple(shifts[k].tolist())
            if self_interaction or s != r or shift != (0, 0, 0):
                edges.add((nodes[s], nodes[r], shift))
    return edges


def as_list(edge_index, edge_shift):
    """[(sender, receiver, shift)] in edge order."""
    return [(s, r, tuple(int(v) for v in k)) for (s, r), k in zip(edge_index.T.tolist(), edge_shift.tolist())]


def as_set(edge_index, edge_shift):
    return set(as_list(edge_index, edge_shift))


@given(graphs=periodic_graphs(), self_interaction=st.booleans())
def test_finds_exactly_the_pairs_and_images_within_r_max(graphs, self_interaction):
    pos, batch, cell, pbc, r_max = graphs
    edge_index, edge_shift = radius_graph(pos, r_max, batch, cell, pbc, self_interaction=self_interaction)
    assert edge_index.dtype == torch.long and edge_shift.dtype == pos.dtype
    assert torch.equal(edge_shift, edge_shift.round())
    assert as_set(edge_index, edge_shift) == reference_edges(pos, batch, cell, pbc, r_max, self_interaction)
    assert len(as_set(edge_index, edge_shift)) == edge_index.shape[1]  # no duplicates

    vec = edge_vectors(pos, edge_index, edge_shift, cell, batch)
    assert (vec.norm(dim=1) < r_max).all()


@given(graphs=periodic_graphs())
def test_edges_are_ordered_and_symmetric(graphs):
    pos, batch, cell, pbc, r_max = graphs
    edge_index, edge_shift = radius_graph(pos, r_max, batch, cell, pbc)
    keys = [(batch[s].item(), s, r, k) for s, r, k in as_list(edge_index, edge_shift)]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    edges = as_set(edge_index, edge_shift)
    assert edges == {(r, s, tuple(-v for v in k)) for s, r, k in edges}


def test_non_periodic_graphs_match_brute_force():
    g = torch.Generator().manual_seed(0)
    pos = torch.randn(30, 3, dtype=torch.float64, generator=g) * 2
    batch = torch.randint(0, 3, (30,), generator=g)  # nodes of the graphs interleaved
    edge_index, edge_shift = radius_graph(pos, 1.5, batch)
    distances = torch.cdist(pos, pos)
    expected = {(s, r, (0, 0, 0)) for s in range(30) for r in range(30) if s != r and batch[s] == batch[r] and distances[s, r] < 1.5}
    assert as_set(edge_index, edge_shift) == expected and len(expected) > 0


def test_a_shared_cell_and_default_pbc_mean_periodic_everywhere():
    g = torch.Generator().manual_seed(1)
    cell = torch.tensor([[1.0, 0.0, 0.0], [0.4, 0.9, 0.0], [0.2, 0.3, 0.8]], dtype=torch.float64)
    pos = torch.rand(6, 3, dtype=torch.float64, generator=g) @ cell
    batch = torch.tensor([0, 0, 0, 1, 1, 1])
    ours = as_set(*radius_graph(pos, 1.7, batch, cell))
    everywhere = torch.ones(2, 3, dtype=torch.bool)
    assert ours == reference_edges(pos, batch, cell.expand(2, 3, 3), everywhere, 1.7)
    assert any(s == r for s, r, _ in ours)  # a tiny cell: atoms see their own images


def test_max_num_neighbors_keeps_the_nearest():
    g = torch.Generator().manual_seed(2)
    pos = torch.rand(12, 3, dtype=torch.float64, generator=g) * 3
    cell = torch.eye(3, dtype=torch.float64) * 3
    full_index, full_shift = radius_graph(pos, 2.0, cell=cell)
    edge_index, edge_shift = radius_graph(pos, 2.0, cell=cell, max_num_neighbors=4)
    full_len = edge_vectors(pos, full_index, full_shift, cell).norm(dim=1)
    kept = as_set(edge_index, edge_shift)
    for receiver in range(12):
        mine = full_index[1] == receiver
        order = torch.argsort(full_len[mine], stable=True)[:4]
        nearest = as_set(full_index[:, mine][:, order], full_shift[mine][order])
        assert {e for e in kept if e[1] == receiver} == nearest
    # the kept edges keep their relative order
    positions = {e: i for i, e in enumerate(as_list(full_index, full_shift))}
    kept_order = [positions[e] for e in as_list(edge_index, edge_shift)]
    assert kept_order == sorted(kept_order)


def test_edge_vectors_are_differentiable_in_positions_and_cell():
    g = torch.Generator().manual_seed(3)
    cell = (torch.eye(3, dtype=torch.float64) * 2 + 0.2 * torch.rand(3, 3, dtype=torch.float64, generator=g)).requires_grad_()
    pos = (torch.rand(4, 3, dtype=torch.float64, generator=g) @ cell.detach()).requires_grad_()
    edge_index, edge_shift = radius_graph(pos, 1.2, cell=cell)
    assert edge_shift.abs().sum() > 0  # some edges cross the cell
    assert torch.autograd.gradcheck(lambda p, c: edge_vectors(p, edge_index, edge_shift, c), (pos, cell))


def test_empty_and_isolated_inputs():
    edge_index, edge_shift = radius_graph(torch.zeros(0, 3), 1.0)
    assert edge_index.shape == (2, 0) and edge_shift.shape == (0, 3)
    edge_index, _ = radius_graph(torch.tensor([[0.0, 0.0, 0.0], [5.0, 0.0, 0.0]]), 1.0)
    assert edge_index.shape == (2, 0)
    edge_index, _ = radius_graph(torch.tensor([[0.0, 0.0, 0.0]]), 1.0, self_interaction=True)
    assert edge_index.tolist() == [[0], [0]]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"pos": torch.zeros(4, 2)}, r"expected pos as a float tensor of shape \[N, 3\], got torch.float32 of shape \[4, 2\]"),
        ({"r_max": 0.0}, "r_max must be positive, got 0.0"),
        ({"pbc": torch.tensor([True, False, False])}, r"pbc \[True, False, False\] asks for periodicity but no cell was given"),
        ({"cell": torch.zeros(3, 3)}, r"cell \[\[0.0, 0.0, 0.0\], .*\] is singular \(det = 0.0\)"),
        ({"cell": torch.eye(3).expand(2, 3, 3)}, r"expected cell of shape \[3, 3\] or \[1, 3, 3\]"),
        ({"cell": torch.eye(3), "pbc": torch.tensor([1, 1, 1])}, "expected pbc as bools, got torch.int64"),
        ({"batch": torch.zeros(3, dtype=torch.long)}, r"expected batch as non-negative integer graph indices of shape \[4\]"),
        ({"max_num_neighbors": -1}, "max_num_neighbors must be >= 0 or None"),
    ],
)
def test_bad_inputs_are_named(kwargs, match):
    args = {"pos": torch.zeros(4, 3), "r_max": 1.0, **kwargs}
    with pytest.raises(ValueError, match=f"radius_graph: {match}"):
        radius_graph(**args)
