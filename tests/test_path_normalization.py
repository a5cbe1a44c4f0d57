"""TensorProduct's normalisation checked from its definition, without e3nn: output second moments.

The definition (e3nn 0.6.0, CONVENTIONS.md "TensorProduct"): instruction i into output block o
has coefficient c_i = sqrt(alpha_i * out_var[o] * path_weight_i / X_i), where alpha_i is d_out
("component"), d1 d2 ("norm") or 1 ("none"), f_i = in1_var in2_var num_elements_i is the fan-in,
and X_i is sum_{j into o} f_j ("element"), f_i times the number of paths into o ("path") or 1
("none"). Since sum_ij C_ijk^2 = 1/d_out for the unit-norm coupling tensors, with independent
zero-mean inputs of component variance in_var * s (s = 1, or 1/d for "norm" inputs) and weights of
unit variance, every component k of block o has the second moment

    E[out_k^2] = out_var[o] * sum_{i into o} path_weight_i * (f_i / X_i) * alpha_i s1 s2 / d_out,

which is out_var for the defaults: unit-variance inputs give unit-variance outputs. This is the
oracle of the e3nn-free run: a wrong fan-in, a missing path count or a wrong alpha changes some
second moment by a factor (at least 4/3 in the cases below), while the e3nn comparison
(test_tensor_product.py) is skipped.

Statistics: N = 20000 independent samples, each with its own inputs and per-sample weights, so the
per-sample block means z_n = mean_k out_{n,k}^2 / E[out_k^2] are i.i.d. with mean 1. The test
asserts |mean(z) - 1| <= 5 standard errors (std(z) / sqrt(N)): by the central limit theorem a
correct layer fails with probability below 1e-6, and the seed is fixed, so the run is
reproducible. It also asserts the standard error is below 0.03, so 5 of them (0.15) stay well
under the smallest error a wrong normalisation makes (1/3 here).
"""

import math

import pytest
import torch

from e3gen import o3

N = 20000

# name -> (irreps_in1, irreps_in2, irreps_out, instructions, options)
CASES = {
    # several paths of different fan-in into one output (uvw 2*3 = 6, uvu 3, uvv 2): "element"
    # weighs them by fan-in, "path" equally; mul1 != mul2, so a swapped fan-in shows too
    "mixed modes, element": (
        "2x0e + 2x1o", "3x0e + 3x1o", "2x0e + 2x1o + 3x1e",
        [(0, 1, 1, "uvw", True), (1, 0, 1, "uvu", True), (0, 0, 0, "uvw", True), (1, 1, 0, "uvu", True),
         (1, 1, 2, "uvv", True), (1, 1, 2, "uvw", True)],
        {},
    ),
    "mixed modes, path": (
        "2x0e + 2x1o", "3x0e + 3x1o", "2x0e + 2x1o + 3x1e",
        [(0, 1, 1, "uvw", True), (1, 0, 1, "uvu", True), (0, 0, 0, "uvw", True), (1, 1, 0, "uvu", True),
         (1, 1, 2, "uvv", True), (1, 1, 2, "uvw", True)],
        {"path_normalization": "path"},
    ),
    "channel-wise modes and unweighted paths": (
        "3x1o + 3x2e", "3x1o + 3x1e", "3x0e + 3x1e + 9x2e + 3x1o + 3x2o",
        [(0, 0, 0, "uuu", False), (0, 0, 1, "uuu", True), (1, 1, 1, "uuw", True), (1, 1, 2, "uvuv", True),
         (0, 1, 3, "uuu", False), (1, 0, 4, "uuw", True)],
        {},
    ),
    "pairs u<v": (
        "4x1o", "4x1o", "6x0e + 2x2e", [(0, 0, 0, "uvu<v", False), (0, 0, 1, "u<vw", True)], {},
    ),
    "norm inputs and outputs": (
        "2x0e + 2x1o + 1x2e", "1x1o + 2x2e", "2x1o + 2x1e + 1x3o",
        [(0, 0, 0, "uvw", True), (2, 0, 0, "uvw", True), (1, 1, 0, "uvw", True), (1, 0, 1, "uvw", True),
         (2, 0, 2, "uvw", True), (1, 1, 2, "uvw", True)],
        {"irrep_normalization": "norm"},
    ),
    "variances and path weights": (
        "2x0e + 2x1o", "3x0e + 3x1o", "2x0e + 2x1o",
        [(0, 1, 1, "uvw", True, 0.5), (1, 0, 1, "uvu", True, 2.0), (0, 0, 0, "uvw", True, 1.5), (1, 1, 0, "uvw", True, 1.0)],
        {"in1_var": [2.0, 0.5], "in2_var": [1.0, 3.0], "out_var": [0.7, 1.3]},
    ),
    "no path normalisation": (
        "2x0e + 2x1o", "3x0e + 3x1o", "2x0e + 2x1o",
        [(0, 1, 1, "uvw", True), (1, 0, 1, "uvu", True), (0, 0, 0, "uvw", True)],
        {"path_normalization": "none"},
    ),
}
_NUM_ELEMENTS = {"uvw": lambda a, b: a * b, "uvu": lambda a, b: b, "uvv": lambda a, b: a, "uuw": lambda a, b: a,
                 "uuu": lambda a, b: 1, "uvuv": lambda a, b: 1, "uvu<v": lambda a, b: 1,
                 "u<vw": lambda a, b: a * (b - 1) // 2}  # fmt: skip


def _contributions(irreps_in1, irreps_in2, irreps_out, instructions, options):
    """Each instruction's term of E[out_k^2] in its output block, from the definition in the module docstring."""
    irrep_normalization = options.get("irrep_normalization", "component")
    path_normalization = options.get("path_normalization", "element")
    in1_var = options.get("in1_var", [1.0] * len(irreps_in1))
    in2_var = options.get("in2_var", [1.0] * len(irreps_in2))
    out_var = options.get("out_var", [1.0] * len(irreps_out))
    instructions = [tuple(ins) + (1.0,) * (6 - len(ins)) for ins in instructions]

    def fan_in(ins):
        return in1_var[ins[0]] * in2_var[ins[1]] * _NUM_ELEMENTS[ins[3]](irreps_in1[ins[0]].mul, irreps_in2[ins[1]].mul)

    def scale(irreps, i):  # the component variance of "norm" inputs is 1/d
        return 1.0 / irreps[i].ir.dim if irrep_normalization == "norm" else 1.0

    terms = []
    for ins in instructions:
        into = [j for j in instructions if j[2] == ins[2]]
        d1, d2, d_out = (irreps[i].ir.dim for irreps, i in zip((irreps_in1, irreps_in2, irreps_out), ins[:3]))
        alpha = {"component": d_out, "norm": d1 * d2, "none": 1}[irrep_normalization]
        share = {"element": fan_in(ins) / sum(fan_in(j) for j in into), "path": 1.0 / len(into), "none": fan_in(ins)}
        terms.append(out_var[ins[2]] * ins[5] * share[path_normalization] * alpha
                     * scale(irreps_in1, ins[0]) * scale(irreps_in2, ins[1]) / d_out)  # fmt: skip
    return terms


def _inputs(irreps, variances, norm, generator):
    """[N, irreps.dim] with independent zero-mean entries of variance var_i (or var_i / d for "norm")."""
    blocks = []
    for (mul, ir), var in zip(irreps, variances):
        std = math.sqrt(var / (ir.dim if norm else 1))
        blocks.append(std * torch.randn(N, mul * ir.dim, generator=generator, dtype=torch.float64))
    return torch.cat(blocks, dim=1)


@pytest.mark.parametrize("name", list(CASES))
def test_output_second_moments_follow_the_normalisation_definition(name):
    """All paths at once, then each weighted path alone (the other weights zero; unweighted paths
    always run): the sum over paths cannot tell "element" from "path" (both shares sum to 1), but
    each path's own term can."""
    irreps_in1, irreps_in2, irreps_out, instructions, options = CASES[name]
    irreps_in1, irreps_in2, irreps_out = o3.Irreps(irreps_in1), o3.Irreps(irreps_in2), o3.Irreps(irreps_out)
    tp = o3.TensorProduct(irreps_in1, irreps_in2, irreps_out, instructions, shared_weights=False, **options)
    generator = torch.Generator().manual_seed(0)
    norm = options.get("irrep_normalization") == "norm"
    x1 = _inputs(irreps_in1, options.get("in1_var", [1.0] * len(irreps_in1)), norm, generator)
    x2 = _inputs(irreps_in2, options.get("in2_var", [1.0] * len(irreps_in2)), norm, generator)
    weight = torch.randn(N, tp.weight_numel, generator=generator, dtype=torch.float64)
    terms = _contributions(irreps_in1, irreps_in2, irreps_out, instructions, options)

    weighted, offset = {}, 0  # instruction -> its slice of the flat weight vector
    for i, ins in enumerate(tp.instructions):
        if ins.has_weight:
            weighted[i] = slice(offset, offset + math.prod(ins.path_shape))
            offset += math.prod(ins.path_shape)
    unweighted = [i for i, ins in enumerate(tp.instructions) if not ins.has_weight]
    for active in [list(range(len(instructions)))] + [[i] + unweighted for i in weighted]:
        w = torch.zeros_like(weight)
        for i in active:
            if i in weighted:
                w[:, weighted[i]] = weight[:, weighted[i]]
        out = tp(x1, x2, w)
        for o, block in enumerate(irreps_out.slices()):
            moment = sum(terms[i] for i in active if instructions[i][2] == o)
            if moment == 0.0:  # no active instruction writes this block: it must be exactly zero
                assert out[:, block].abs().max() == 0.0
                continue
            z = out[:, block].pow(2).mean(1) / moment
            stderr = (z.std() / math.sqrt(N)).item()
            assert stderr < 0.03, f"block {o}: too few samples to resolve a wrong normalisation (stderr {stderr:.3f})"
            assert abs(z.mean().item() - 1.0) <= 5 * stderr, (
                f"{name}, paths {active}: output block {o} ({irreps_out[o]}) has second moment "
                f"{z.mean().item() * moment:.4f}, the definition gives {moment:.4f} (5 standard errors: {5 * stderr * moment:.4f})"
            )
