"""Rendering: plans -> source text, with Jinja templates that only format.

The templates ship as package data (`e3gen.templates`); `template_sha256` hashes them so a build
records exactly which templates made it. Rendering is deterministic: the same plan and templates
give the same bytes.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from typing import Dict, Optional

import jinja2

from e3gen.codegen.planner import ModulePlan, PackagePlan


def template_files(subfolder: str = "") -> Dict[str, str]:
    """The `.j2` templates of `e3gen.templates` (the Torch renderer's) or of one of its subfolders (the
    native renderer's "cpp"), keyed by their path below `e3gen.templates`."""
    folder = resources.files("e3gen.templates")
    prefix = ""
    if subfolder:
        folder, prefix = folder.joinpath(subfolder), f"{subfolder}/"
    return {prefix + item.name: item.read_text(encoding="utf-8") for item in folder.iterdir() if item.name.endswith(".j2")}


def templates_sha256(files: Dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name, text in sorted(files.items()):
        digest.update(name.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()


def template_sha256() -> str:
    """The hash of the Torch renderer's templates, recorded in every build's manifest."""
    return templates_sha256(template_files())


def environment(files: Optional[Dict[str, str]] = None) -> jinja2.Environment:
    """The one Jinja setup of both renderers (strict, whitespace-trimmed, no escaping) over `files`
    (default: the Torch renderer's templates)."""
    return jinja2.Environment(
        loader=jinja2.DictLoader(template_files() if files is None else files),
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
