"""`e3gen bench`'s timing protocol and its table.

Properties: `_median_interleaved` times every run `repeats` times, each repeat in another of their
orders (all permutations in turn), so that every run follows every other one (the memory and cache state a library
meets depends on what ran before it); a comparison library (sphericart in case d) is reported with
the e3gen time of its own pairing, and the ratio printed is that pair's ratio; `_forward_backward`
makes its cotangent once (an input of the backward, not work of the library timed).
"""

from e3gen import bench


def test_runs_are_interleaved_with_a_rotating_order():
    order = []
    runs = {name: (lambda name=name: order.append(name)) for name in ("e3nn", "e3gen", "other")}
    medians = bench._median_interleaved(runs, repeats=6)
    assert set(medians) == set(runs)
    assert all(order.count(name) == 6 for name in runs)
    rounds = [tuple(order[i : i + 3]) for i in range(0, len(order), 3)]
    assert len(set(rounds)) == 6  # six repeats of three runs: every order once
    followers = {(a, b) for r in rounds for a, b in zip(r, r[1:])}
    assert followers == {(a, b) for a in runs for b in runs if a != b}  # each run right after each other one


def test_a_comparison_library_is_reported_against_e3gen_time_of_its_own_pairing():
    row = bench.Row("d harmonics lmax3", 100_000, "fwd", "native", 0.005, 0.0015, others={"sphericart": (0.0006, 0.0003)})
    text = bench.format_rows([row])
    assert "sphericart ms 0.60 vs e3gen 0.30 (e3gen/sphericart 0.50)" in text, text
    assert "0.30" in text.splitlines()[-1]  # the e3nn pairing's 1.5 ms is not used for the sphericart ratio


def test_a_row_with_a_bound_prints_it_and_e3gen_time_over_it():
    row = bench.Row("a conv uvu lmax3", 20_000, "fwd", "native", 0.24, 0.09)
    row.bound, row.bandwidth = 0.015, 30e9
    assert "bound 15.0 ms at 30 GB/s (e3gen/bound 6.0)" in bench.format_rows([row])
    assert "bound" not in bench.format_rows([bench.Row("b fully connected 16x", 20_000, "fwd", "eager", 0.7, 0.2)])


def test_forward_backward_makes_its_cotangent_of_ones_once_and_remakes_it_for_a_new_shape():
    import torch

    seen = []

    class Doubling(torch.nn.Module):
        def forward(self, x):
            out = 2 * x
            out.register_hook(lambda g: seen.append(g))
            return out

    x = torch.randn(5, 3)
    run = bench._forward_backward(Doubling(), (x,))
    run(), run(), run()
    assert all(torch.equal(g, torch.ones(5, 3)) for g in seen)
    assert len({g.data_ptr() for g in seen}) == 1  # one cotangent, made by the first call (not timed again)
    run = bench._forward_backward(Doubling(), (torch.randn(4, 2, dtype=torch.float64),))
    run()
    assert seen[-1].shape == (4, 2) and seen[-1].dtype == torch.float64 and torch.equal(seen[-1], torch.ones(4, 2, dtype=torch.float64))


def test_the_convolution_product_keeps_every_output_up_to_lmax_out_and_sorts_them():
    """`_conv_product` (case (a) by default; other shapes for tools/ab_native.py): one uvu instruction per
    (input, harmonic, output l <= lmax_out), outputs sorted by l and parity."""
    from e3gen import o3

    default = bench._conv_product(o3)
    assert str(default.irreps_in1) == "32x0e+32x1o+32x2e+32x3o" and default.irreps_out.dim == 4992
    tp = bench._conv_product(o3, "2x0e+2x1o", "0e+1o+2e", lmax_out=1)
    expected = o3.Irreps([(2, ir) for _, ir1 in o3.Irreps("2x0e+2x1o") for _, ir2 in o3.Irreps("0e+1o+2e")
                          for ir in ir1 * ir2 if ir.l <= 1]).sort().irreps
    assert tp.irreps_out == expected
    assert max(ir.l for _, ir in tp.irreps_out) == 1
    assert [ir for _, ir in tp.irreps_out] == sorted(ir for _, ir in tp.irreps_out)
    assert all(ins.connection_mode == "uvu" and ins.has_weight for ins in tp.instructions)
