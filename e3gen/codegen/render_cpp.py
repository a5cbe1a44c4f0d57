"""The native renderer: a C++ unit plan -> source text, with the Jinja templates in `templates/cpp/`.

The C++ counterpart of `render.py`: templates only format; the plan (`plan_cpp`) decides. The
rendered sources are deterministic for a given IR, templates and e3gen version, and their sha256
names the compiled library in the cache (`e3gen.native.build`).
"""

from __future__ import annotations

from typing import Dict

from e3gen.codegen.plan_cpp import FUNCTION_ROLES, CppUnitPlan
from e3gen.codegen.render import environment, template_files, templates_sha256


def template_sha256() -> str:
    """The hash of the native renderer's templates (part of a native library's cache name)."""
    return templates_sha256(template_files("cpp"))


def render_cpp_sources(plan: CppUnitPlan, namespace: str, version: str) -> Dict[str, str]:
    """The C++ sources of one native library, by file name: the driver and op registration
    (`channelwise.cpp`) and the kernel units (`channelwise_kernels_<n>.cpp`), compiled in parallel."""
    env = environment(template_files("cpp"))
    sources = {"channelwise.cpp": render_cpp_unit(plan, namespace, version)}
    per_triple = len(FUNCTION_ROLES)
    for unit, triples in enumerate(plan.kernel_units):
        functions = [plan.functions[t * per_triple + r] for t in triples for r in range(per_triple)]
        text = env.get_template("cpp/channelwise_kernels.cpp.j2").render(
            plan=plan, namespace=namespace, version=version, unit=unit, triples=triples, functions=functions)
        sources[f"channelwise_kernels_{unit}.cpp"] = text.rstrip("\n") + "\n"
    return sources


def render_cpp_unit(plan: CppUnitPlan, namespace: str, version: str) -> str:
    """The driver translation unit of one native library; `namespace` is its torch.library namespace."""
    env = environment(template_files("cpp"))
    text = env.get_template("cpp/channelwise.cpp.j2").render(plan=plan, namespace=namespace, version=version)
    return text.rstrip("\n") + "\n"


def render_harmonics_unit(plan, namespace: str, version: str) -> str:
    """The C++ source of one native spherical-harmonics library (a `HarmonicsUnitPlan`)."""
    env = environment(template_files("cpp"))
    text = env.get_template("cpp/spherical_harmonics.cpp.j2").render(plan=plan, namespace=namespace, version=version)
    return text.rstrip("\n") + "\n"


def render_rowwise_unit(plan, namespace: str, version: str) -> str:
    """The C++ source of one native library of products without weights (a `RowwiseUnitPlan`)."""
    env = environment(template_files("cpp"))
    text = env.get_template("cpp/rowwise.cpp.j2").render(plan=plan, namespace=namespace, version=version)
    return text.rstrip("\n") + "\n"
