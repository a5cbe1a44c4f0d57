"""`e3gen bench`'s timing protocol and its table.

Properties: `_median_interleaved` times every run `repeats` times, each repeat in another of their
orders (all permutations in turn), so that every run follows every other one (the memory and cache state a library
meets depends on what ran before it); a comparison library (sphericart in case d) is reported with
the e3gen time of its own pairing, and the ratio printed is that pair's ratio.
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
