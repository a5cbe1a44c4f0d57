"""Rendering: plans -> source text, with Jinja templates that only format.

The templates ship as package data (`e3gen.templates`); `template_sha256` hashes them so a build
records exactly which templates made it. Rendering is deterministic: the same plan and templates
give the same bytes.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Dict

import jinja2

from e3gen.codegen.planner import ModulePlan, PackagePlan


def _template_files() -> Dict[str, str]:
    folder = resources.files("e3gen.templates")
    return {item.name: item.read_text(encoding="utf-8") for item in folder.iterdir() if item.name.endswith(".j2")}


def template_sha256() -> str:
    digest = hashlib.sha256()
    for name, text in sorted(_template_files().items()):
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()


def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.DictLoader(_template_files()),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_module(env: jinja2.Environment, module: ModulePlan, package: PackagePlan, version: str) -> str:
    text = env.get_template(module.template).render(
        module=module, lmax=package.lmax, ir_sha256=package.ir_sha256, version=version
    )
    return text.rstrip("\n") + "\n"


def render_package(package: PackagePlan, version: str) -> Dict[str, str]:
    """{filename: source text} for every module of the plan."""
    env = environment()
    return {module.filename: render_module(env, module, package, version) for module in package.modules}
