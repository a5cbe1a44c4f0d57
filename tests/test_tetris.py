"""The tetris example: it learns, it generalises to every rotation, it knows left from right, it uses
per-node scalar features, and `e3gen demo` reports all of it.

Training runs with the demo's own settings (fixed seed, full batch, CPU), once per test module.
Rotated copies are drawn with a fixed seed, so every check is deterministic; the equivariance
checks are in float64 with a 1e-10 relative tolerance (exact coefficients leave only rounding).
"""

import copy

import pytest
import torch

from e3gen import cli, o3
from e3gen.examples import tetris
from e3gen.testing import assert_equivariant


@pytest.fixture(scope="module")
def trained():
    return tetris.train_demo(seed=0)


def test_training_reaches_100_percent_and_generalises_to_rotated_copies(trained):
    model, inputs, labels, history = trained
    assert history[0].accuracy < 1.0, "an untrained model should not already classify every shape"
    assert tetris.accuracy(model, inputs, labels) == 1.0
    rotated_inputs, rotated_labels = tetris.rotated_tetris_data(copies=8, seed=123)
    assert len(rotated_labels) == 64
    # the copies really are moved (else this would repeat the check above)
    assert not torch.allclose(rotated_inputs[0][:32], inputs[0], atol=0.1)
    assert tetris.accuracy(model, rotated_inputs, rotated_labels) == 1.0


def test_the_whole_batch_is_one_forward_pass_over_disjoint_graphs():
    inputs, labels = tetris.tetris_data()
    pos, node_scalars, edge_index, batch = inputs
    assert pos.shape == (32, 3) and node_scalars.shape == (32, 1) and batch.tolist() == [i // 4 for i in range(32)]
    assert (batch[edge_index[0]] == batch[edge_index[1]]).all(), "no edge may join two shapes"
    assert labels.tolist() == list(range(8))


def test_mirroring_a_screw_flips_its_pseudoscalar_and_rotating_it_does_not(trained):
    model = copy.deepcopy(trained[0]).double()
    screw = tetris.tetris_positions(torch.float64)[tetris.CLASSES.index("chiral_1")]  # [4, 3]
    mirror = torch.diag(torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64))
    R = o3.rand_matrix(dtype=torch.float64)

    def outputs(pos):
        return model(*tetris.make_inputs(pos[None]))[0]  # [7]: 0o, then 6x0e

    original, mirrored, rotated = outputs(screw), outputs(screw @ mirror.T), outputs(screw @ R.T)
    assert original[0].abs() > 1.0, "the trained screw has a clearly non-zero pseudoscalar"
    torch.testing.assert_close(mirrored[0], -original[0], rtol=1e-10, atol=0)
    torch.testing.assert_close(mirrored[1:], original[1:], rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(rotated, original, rtol=1e-10, atol=1e-10)
    # the mirror image of chiral_1 is chiral_2 (the same cubes with y -> -y), and is classified so
    classes = tetris.tetris_logits(torch.stack([original, mirrored])).argmax(dim=1).tolist()
    assert [tetris.CLASSES[c] for c in classes] == ["chiral_1", "chiral_2"]


def test_mirror_symmetric_shapes_have_a_zero_pseudoscalar(trained):
    model = copy.deepcopy(trained[0]).double()
    inputs, _ = tetris.tetris_data(torch.float64)
    out = model(*inputs)
    achiral = [tetris.CLASSES.index(name) for name in ("square", "line", "corner", "L", "T", "zigzag")]
    assert out[achiral, 0].abs().max() <= 1e-10 * out.abs().max()


def _same_weights(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_trained_demo_model_is_deterministic_and_equivariant_with_its_documented_input_specs(trained):
    model, inputs = tetris.trained_demo_model(seed=0)
    assert model(*inputs).shape == (8, 7)
    assert _same_weights(model, trained[0]), "training with a fixed seed must give the same weights every time"
    again, _ = tetris.trained_demo_model(seed=0)
    assert again is not model and _same_weights(again, model)
    assert model.input_specs == ("cartesian_points", "1x0e", None, None)
    # the whole trained model: 1e-10 (relative to its outputs) in float64, 1e-5 in float32
    assert_equivariant(copy.deepcopy(model).double(), list(model.input_specs), "0o + 6x0e", inputs=inputs, rtol=1e-10, seed=0)
    assert_equivariant(copy.deepcopy(model).float(), list(model.input_specs), "0o + 6x0e", inputs=inputs, rtol=1e-5,
                       seed=0, dtype=torch.float32)


def test_a_per_node_scalar_feature_tells_apart_shapes_with_the_same_geometry():
    inputs, labels = tetris.heavy_line_data()
    pos, masses, _, batch = inputs
    # the premise: the three graphs have identical positions and the same total mass for the two
    # heavy ones, so only where the mass sits (a scalar per node) distinguishes the classes
    assert torch.equal(pos[batch == 0], pos[batch == 1]) and torch.equal(pos[batch == 0], pos[batch == 2])
    assert masses[batch == 1].sum() == masses[batch == 2].sum()

    model, history = tetris.train_heavy_lines(seed=0)
    assert history[0].accuracy < 1.0
    rotated_inputs, rotated_labels = tetris.heavy_line_data(copies=8, seed=7)
    assert tetris.accuracy(model, rotated_inputs, rotated_labels, to_logits=lambda x: x) == 1.0


def test_node_scalar_errors_are_named():
    model = tetris.TetrisNetwork("2x0e", "3x0e")
    inputs, _ = tetris.tetris_data()
    with pytest.raises(ValueError, match=r"TetrisNetwork: expected node_scalars of shape \[32, 2\] \(irreps 2x0e\), got \[32, 1\]"):
        model(*inputs)
    with pytest.raises(ValueError, match=r"irreps_node_scalars must be invariant scalars .* got 1x1o"):
        tetris.TetrisNetwork("1x1o")


def test_e3gen_demo_prints_the_build_report_progress_curve_accuracies_equivariance_and_time(capsys):
    assert cli.main(["demo"]) == 0
    captured = capsys.readouterr()
    out = captured.out
    # (a) the shipped build, verified and summarised
    assert "lmax3" in out and "verified  ok" in out and "coupling paths" in out and "nonzero terms" in out
    assert "certified passed, exact arithmetic" in out
    # (b) a progress bar on stderr, ending full, and the training curve
    assert "training [" + "#" * 30 + f"] {tetris.DEMO_STEPS:4d}/{tetris.DEMO_STEPS}" in captured.err
    assert out.count("  step ") == 5 and f"step {tetris.DEMO_STEPS:4d}" in out
    # (c) accuracies
    assert "the 8 shapes as trained:                    100.0%" in out
    assert "128 randomly rotated and translated copies: 100.0%" in out
    # (d) measured equivariance errors, float32 and float64, and the time
    lines = {line.split(":")[0].strip(): line for line in out.splitlines() if "max |f(g x) - g f(x)|" in line}
    assert set(lines) == {"float32", "float64"}
    relative64 = float(lines["float64"].rsplit("relative ", 1)[1].rstrip(")"))
    relative32 = float(lines["float32"].rsplit("relative ", 1)[1].rstrip(")"))
    assert relative64 < 1e-12 and relative32 < 1e-4
    assert "total time" in out
