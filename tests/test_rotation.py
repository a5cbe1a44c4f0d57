"""Tests of e3gen.o3._rotation: properties of the conventions, errors, and agreement with e3nn 0.6.0.

Oracle tests feed the same seeded float64 inputs to e3gen and e3nn and require agreement to 1e-12;
they are skipped when e3nn is not installed.
"""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from e3gen.o3 import _rotation as rot

ATOL = 1e-12
DTYPE = torch.float64

seeds = st.integers(0, 2**32 - 1)
batch_shapes = st.lists(st.integers(0, 3), min_size=0, max_size=2).map(tuple)


def close(actual, expected, atol=ATOL):
    torch.testing.assert_close(actual, expected, atol=atol, rtol=0)


def all_close(actual, expected, atol=ATOL):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        close(a, e, atol)


def random_inputs(seed, shape):
    """Seeded float64 inputs of every kind the conversions take, with batch shape ``shape``."""
    g = torch.Generator().manual_seed(seed)

    def normal(*s):
        return torch.randn(*shape, *s, generator=g, dtype=DTYPE)

    angles = tuple(4 * math.pi * (torch.rand(shape, generator=g, dtype=DTYPE) - 0.5) for _ in range(3))
    q = normal(4)
    return {
        "angles": angles,
        "matrix": rot.angles_to_matrix(*angles),
        "quaternion": q / q.norm(dim=-1, keepdim=True),
        "axis": normal(3),
        "angle": 4 * math.pi * (torch.rand(shape, generator=g, dtype=DTYPE) - 0.5),
        "xyz": normal(3),
    }


# Degenerate inputs: identity, half turns, the poles (beta = 0, pi), the zero vector.
SPECIAL_ANGLES = torch.tensor(
    [[0.0, 0.0, 0.0], [0.3, 0.0, 1.1], [0.3, math.pi, 1.1], [math.pi, math.pi, math.pi], [-math.pi, 0.5, 2.0]],
    dtype=DTYPE,
).unbind(-1)
SPECIAL_XYZ = torch.tensor(
    [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -2.0], [-1.0, 0.0, 0.0]], dtype=DTYPE
)
SPECIAL_AXIS_ANGLE = (
    torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [0.0, -3.0, 0.0]], dtype=DTYPE),
    torch.tensor([0.0, math.pi, 2 * math.pi / 3, 1.0, -0.5], dtype=DTYPE),
)


# --- conventions -------------------------------------------------------------------------


def test_axis_matrices_rotate_counterclockwise():
    quarter = torch.tensor(math.pi / 2, dtype=DTYPE)
    e_x, e_y, e_z = torch.eye(3, dtype=DTYPE)
    close(rot.matrix_x(quarter) @ e_y, e_z)
    close(rot.matrix_y(quarter) @ e_z, e_x)
    close(rot.matrix_z(quarter) @ e_x, e_y)


def test_angles_to_matrix_is_y_x_y():
    a, b, c = (torch.tensor(v, dtype=DTYPE) for v in (0.1, 0.7, -1.3))
    close(rot.angles_to_matrix(a, b, c), rot.matrix_y(a) @ rot.matrix_x(b) @ rot.matrix_y(c))


def test_angles_to_xyz_is_rotated_e_y():
    # Y is the polar axis (e3nn's docstring says e_z, its code uses e_y).
    a, b = torch.tensor(0.4, dtype=DTYPE), torch.tensor(1.2, dtype=DTYPE)
    e_y = torch.tensor([0.0, 1.0, 0.0], dtype=DTYPE)
    close(rot.angles_to_xyz(a, b), rot.angles_to_matrix(a, b, torch.zeros_like(a)) @ e_y)
    close(rot.angles_to_xyz(torch.tensor(1.7), torch.tensor(0.0)).abs(), torch.tensor([0.0, 1.0, 0.0]))


def test_xyz_to_angles_of_zero_vector_is_finite():
    alpha, beta = rot.xyz_to_angles(torch.zeros(3, dtype=DTYPE))
    assert alpha.item() == 0.0 and beta.item() == pytest.approx(math.pi / 2)


@settings(deadline=None, max_examples=30)
@given(seed=seeds, shape=batch_shapes)
def test_round_trips(seed, shape):
    x = random_inputs(seed, shape)
    R = x["matrix"]
    eye = torch.eye(3, dtype=DTYPE).expand_as(R)

    close(R @ R.transpose(-1, -2), eye)
    close(torch.det(R), torch.ones(shape, dtype=DTYPE))
    close(rot.angles_to_matrix(*rot.matrix_to_angles(R)), R, 1e-10)
    close(rot.quaternion_to_matrix(rot.matrix_to_quaternion(R)), R, 1e-10)
    close(rot.axis_angle_to_matrix(*rot.matrix_to_axis_angle(R)), R, 1e-10)
    close(rot.axis_angle_to_matrix(*rot.angles_to_axis_angle(*x["angles"])), R, 1e-10)
    close(rot.quaternion_to_matrix(rot.angles_to_quaternion(*x["angles"])), R, 1e-10)
    q = x["quaternion"]
    close(rot.angles_to_matrix(*rot.quaternion_to_angles(q)), rot.quaternion_to_matrix(q), 1e-10)

    close(rot.angles_to_matrix(*rot.inverse_angles(*x["angles"])), R.transpose(-1, -2), 1e-10)
    close(rot.quaternion_to_matrix(rot.inverse_quaternion(q)), rot.quaternion_to_matrix(q).transpose(-1, -2), 1e-10)
    direction = x["xyz"] / x["xyz"].norm(dim=-1, keepdim=True)
    close(rot.angles_to_xyz(*rot.xyz_to_angles(x["xyz"])), direction, 1e-10)


@settings(deadline=None, max_examples=30)
@given(seed=seeds, shape=batch_shapes)
def test_compositions_agree_with_matrix_product(seed, shape):
    x, y = random_inputs(seed, shape), random_inputs(seed + 1, shape)
    product = x["matrix"] @ y["matrix"]
    close(rot.angles_to_matrix(*rot.compose_angles(*x["angles"], *y["angles"])), product, 1e-10)

    qx, qy = rot.angles_to_quaternion(*x["angles"]), rot.angles_to_quaternion(*y["angles"])
    close(rot.quaternion_to_matrix(rot.compose_quaternion(qx, qy)), product, 1e-10)

    ax, ay = rot.angles_to_axis_angle(*x["angles"]), rot.angles_to_axis_angle(*y["angles"])
    close(rot.axis_angle_to_matrix(*rot.compose_axis_angle(*ax, *ay)), product, 1e-10)


def test_broadcasting():
    a = torch.zeros(2, 1, dtype=DTYPE)
    b = torch.zeros(3, dtype=DTYPE)
    assert rot.angles_to_matrix(a, b, torch.tensor(0.5, dtype=DTYPE)).shape == (2, 3, 3, 3)
    assert rot.compose_angles(a, b, b, b, a, a)[0].shape == (2, 3)
    assert rot.axis_angle_to_quaternion(torch.tensor([0.0, 1.0, 0.0]), torch.zeros(4)).shape == (4, 4)
    assert rot.angles_to_xyz(a, b).shape == (2, 3, 3)


# --- constructors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn, suffix",
    [
        (rot.rand_matrix, (3, 3)),
        (rot.rand_quaternion, (4,)),
        (rot.identity_quaternion, (4,)),
    ],
)
@pytest.mark.parametrize("requires_grad", [False, True])
def test_tensor_constructors(fn, suffix, requires_grad):
    x = fn(2, 5, requires_grad=requires_grad, dtype=DTYPE)
    assert x.shape == (2, 5, *suffix) and x.dtype == DTYPE
    assert x.requires_grad == requires_grad and x.is_leaf
    assert fn().shape == suffix


@pytest.mark.parametrize("fn", [rot.rand_angles, rot.identity_angles, rot.rand_axis_angle])
@pytest.mark.parametrize("requires_grad", [False, True])
def test_tuple_constructors(fn, requires_grad):
    out = fn(2, 5, requires_grad=requires_grad, dtype=DTYPE)
    assert isinstance(out, tuple)
    for x in out:
        assert x.shape[:2] == (2, 5) and x.dtype == DTYPE
        assert x.requires_grad == requires_grad and x.is_leaf


def test_identities():
    close(rot.angles_to_matrix(*rot.identity_angles(3, dtype=DTYPE)), torch.eye(3, dtype=DTYPE).expand(3, 3, 3))
    close(rot.quaternion_to_matrix(rot.identity_quaternion(dtype=DTYPE)), torch.eye(3, dtype=DTYPE))


def test_rand_angles_ranges():
    torch.manual_seed(0)
    alpha, beta, gamma = rot.rand_angles(10_000, dtype=DTYPE)
    for angle in (alpha, gamma):
        assert angle.min() >= 0 and angle.max() < 2 * math.pi
    assert beta.min() >= 0 and beta.max() <= math.pi
    # beta = acos(uniform) makes cos(beta) uniform on [-1, 1] (Haar measure): mean ~ 0.
    assert beta.cos().mean().abs() < 0.05


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [rot.matrix_to_angles, rot.matrix_to_axis_angle, rot.matrix_to_quaternion])
def test_improper_matrix_is_rejected(fn):
    R = torch.stack([torch.eye(3, dtype=DTYPE), -torch.eye(3, dtype=DTYPE)])
    with pytest.raises(ValueError, match=r"determinant \+1.*-1"):
        fn(R)


# --- oracle: e3nn 0.6.0 ------------------------------------------------------------------


@pytest.fixture(scope="module")
def e3nn_rot():
    pytest.importorskip("e3nn")
    from e3nn.o3 import _rotation

    return _rotation


def test_same_public_functions_as_e3nn(e3nn_rot):
    theirs = {name for name, value in vars(e3nn_rot).items() if callable(value) and not name.startswith("_")}
    assert set(rot.__all__) == theirs


def compare_all_conversions(ours, theirs, x):
    """Every conversion and composition of the two modules on the inputs ``x``."""
    angles, R, q = x["angles"], x["matrix"], x["quaternion"]
    axis, angle, xyz = x["axis"], x["angle"], x["xyz"]
    angles2 = tuple(a.flip(0) if a.dim() else -a for a in angles)

    cases = [
        ("matrix_x", (angle,)),
        ("matrix_y", (angle,)),
        ("matrix_z", (angle,)),
        ("angles_to_matrix", angles),
        ("matrix_to_angles", (R,)),
        ("angles_to_quaternion", angles),
        ("matrix_to_quaternion", (R,)),
        ("axis_angle_to_quaternion", (axis, angle)),
        ("quaternion_to_axis_angle", (q,)),
        ("matrix_to_axis_angle", (R,)),
        ("angles_to_axis_angle", angles),
        ("axis_angle_to_matrix", (axis, angle)),
        ("quaternion_to_matrix", (q,)),
        ("quaternion_to_angles", (q,)),
        ("axis_angle_to_angles", (axis, angle)),
        ("angles_to_xyz", angles[:2]),
        ("xyz_to_angles", (xyz,)),
        ("inverse_angles", angles),
        ("inverse_quaternion", (q,)),
        ("compose_angles", angles + angles2),
        ("compose_quaternion", (q, q.flip(-1))),
        ("compose_axis_angle", (axis, angle, xyz, angles[0])),
    ]
    for name, args in cases:
        mine, expected = getattr(ours, name)(*args), getattr(theirs, name)(*args)
        if isinstance(expected, tuple):
            all_close(mine, expected)
        else:
            close(mine, expected)


@settings(deadline=None, max_examples=50)
@given(seed=seeds, shape=batch_shapes)
def test_conversions_match_e3nn(e3nn_rot, seed, shape):
    compare_all_conversions(rot, e3nn_rot, random_inputs(seed, shape))


def test_degenerate_inputs_match_e3nn(e3nn_rot):
    x = random_inputs(0, (5,))
    x["angles"] = SPECIAL_ANGLES
    x["matrix"] = rot.angles_to_matrix(*SPECIAL_ANGLES)
    x["xyz"] = SPECIAL_XYZ
    x["axis"], x["angle"] = SPECIAL_AXIS_ANGLE
    compare_all_conversions(rot, e3nn_rot, x)


@pytest.mark.parametrize(
    "name",
    ["rand_matrix", "rand_angles", "rand_quaternion", "rand_axis_angle", "identity_angles", "identity_quaternion"],
)
@settings(deadline=None, max_examples=20)
@given(seed=seeds, shape=batch_shapes)
def test_constructors_match_e3nn_for_same_seed(e3nn_rot, name, seed, shape):
    torch.manual_seed(seed)
    mine = getattr(rot, name)(*shape, dtype=DTYPE)
    torch.manual_seed(seed)
    expected = getattr(e3nn_rot, name)(*shape, dtype=DTYPE)
    if isinstance(expected, tuple):
        all_close(mine, expected, atol=0)
    else:
        close(mine, expected, atol=0)
