"""The native renderer: a C++ unit plan -> source text, with the Jinja templates in `templates/cpp/`.

The C++ counterpart of `render.py`: templates only format; the plan (`plan_cpp`) decides. The
rendered source is deterministic for a given IR, templates and e3gen version, and its sha256
names the compiled library in the cache (`e3gen.native.build`).
"""

from __future__ import annotations

from e3gen.codegen.plan_cpp import CppUnitPlan
from e3gen.codegen.render import environment, template_files, templates_sha256


def template_sha256() -> str:
    """The hash of the native renderer's templates (part of a native library's cache name)."""
    return templates_sha256(template_files("cpp"))


def render_cpp_unit(plan: CppUnitPlan, namespace: str, version: str) -> str:
    """The C++ source of one native library; `namespace` is its torch.library namespace."""
    env = environment(template_files("cpp"))
    text = env.get_template("cpp/channelwise.cpp.j2").render(plan=plan, namespace=namespace, version=version)
    return text.rstrip("\n") + "\n"


def render_harmonics_unit(plan, namespace: str, version: str) -> str:
    """The C++ source of one native spherical-harmonics library (a `HarmonicsUnitPlan`)."""
    env = environment(template_files("cpp"))
    text = env.get_template("cpp/spherical_harmonics.cpp.j2").render(plan=plan, namespace=namespace, version=version)
    return text.rstrip("\n") + "\n"
