"""The guided tour in docs/ runs: every ```python block of every page, in order, in one namespace per page.

Specification:
* each page's python blocks run top to bottom in a fresh namespace (like a reader pasting them into
  one Python session started in the repository root) without raising; the blocks' own asserts carry
  the checks (a block that prints a claim also asserts it);
* a page shows no other kind of code: fenced blocks are ```python (run here) or ```text (output,
  and tables that are not code), so nothing a reader could copy goes untested;
* a block whose first line is ``# file: PATH`` is that file's content, byte for byte (the file exists
  so that a command such as ``e3gen debug --model PATH:make`` can load it);
* every image and every link to another page exists; images are PNGs made by the e3gen commands
  named beside them (tests/test_plots.py runs those commands).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
PAGES = sorted(DOCS.glob("*.md"))
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", flags=re.S | re.M)


def blocks(page: Path):
    """(language, code) of every fenced block of a page, in order."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(page.read_text())]


def test_the_tour_has_pages_and_an_index():
    names = [p.name for p in PAGES]
    assert "README.md" in names
    index = (DOCS / "README.md").read_text()
    tour = [p for p in PAGES if re.match(r"\d\d-", p.name)]
    assert len(tour) >= 5
    for page in tour:
        assert f"({page.name})" in index, f"docs/README.md does not link to {page.name}"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_fences_are_python_or_text(page):
    for language, code in blocks(page):
        assert language in ("python", "text"), (
            f"{page.name}: a ```{language or '(no language)'} block; the tour shows only ```python (executed by this "
            f"test) and ```text (output) blocks:\n{code[:200]}"
        )


@pytest.mark.parametrize("page", PAGES + [REPO / "README.md", REPO / "REFERENCE.md"],
                         ids=[p.name for p in PAGES] + ["top/README.md", "top/REFERENCE.md"])
def test_page_links_and_images_exist(page):
    text = re.sub(r"`[^`\n]*`", "", FENCE.sub("", page.read_text()))  # links live in the prose, not in code
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target:
            continue
        path = (page.parent / target).resolve()
        assert path.exists(), f"{page.name} links to {target}, which does not exist"
        if path.suffix == ".png":
            data = path.read_bytes()
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000, f"{target} is not a PNG image"


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_page_code_runs(page, monkeypatch):
    python = [code for language, code in blocks(page) if language == "python"]
    monkeypatch.chdir(REPO)
    torch.manual_seed(0)
    namespace = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    # a page may set torch's default dtype, as a reader would in their session: not past the page
    default_dtype = torch.get_default_dtype()
    try:
        _run_blocks(page, python, namespace)
    finally:
        torch.set_default_dtype(default_dtype)


def _run_blocks(page: Path, python, namespace) -> None:
    for number, code in enumerate(python, start=1):
        first = code.splitlines()[0] if code else ""
        if first.startswith("# file: "):
            path = REPO / first[len("# file: "):].strip()
            assert path.read_text() == code, f"{page.name} block {number} must equal {path} (copy one onto the other)"
        try:
            exec(compile(code, f"{page.name}:python-block-{number}", "exec"), namespace)
        except Exception as error:  # name the page and the block, then show the original traceback
            raise AssertionError(f"{page.name}, python block {number} raised {type(error).__name__}: {error}") from error


def test_figures_in_the_docs_are_small():
    """Committed PNGs stay small (they are drawn at dpi 90): under 300 kB each."""
    for image in (DOCS / "img").glob("*.png"):
        assert os.path.getsize(image) < 300_000, f"{image.name} is {os.path.getsize(image)} bytes"
