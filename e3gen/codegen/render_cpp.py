"""The native renderer: a C++ unit plan -> source text, with the Jinja templates in `templates/cpp/`.

The C++ counterpart of `render.py`: templates only format; the plan (`plan_cpp`) decides. The
rendered source is deterministic for a given IR, templates and e3gen version, and its sha256
names the compiled library in the cache (`e3gen.native.build`).
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Dict

import jinja2

from e3gen.codegen.plan_cpp import CppUnitPlan


def _template_files() -> Dict[str, str]:
    folder = resources.files("e3gen.templates").joinpath("cpp")
    return {f"cpp/{item.name}": item.read_text(encoding="utf-8") for item in folder.iterdir() if item.name.endswith(".j2")}


def template_sha256() -> str:
    digest = hashlib.sha256()
    for name, text in sorted(_template_files().items()):
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()


def render_cpp_unit(plan: CppUnitPlan, namespace: str, version: str) -> str:
    """The C++ source of one native library; `namespace` is its torch.library namespace."""
    env = jinja2.Environment(
        loader=jinja2.DictLoader(_template_files()),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    text = env.get_template("cpp/channelwise.cpp.j2").render(plan=plan, namespace=namespace, version=version)
    return text.rstrip("\n") + "\n"
