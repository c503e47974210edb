"""The documents in docs/ (and the README) cannot drift from the code.

Every ```python block of a docs/*.md file and of README.md runs here, the blocks of
one file in order and sharing their names, like one script; a ```pycon block (an
interactive session) runs as a doctest in the same names, its output checked; every
picture a document shows exists, and the derivation's figures are the ones
docs/make_figures.py draws.
"""
import doctest
import re
import runpy
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"^```(python|pycon)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
PICTURE = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")
DOCUMENTS = sorted(DOCS.glob("*.md"))


def code_blocks(document, kind="python"):
    return [body for found, body in BLOCK.findall(document.read_text(encoding="utf-8"))
            if found == kind]


def all_blocks(document):
    """(kind, body) of every python and pycon block, in order."""
    return BLOCK.findall(document.read_text(encoding="utf-8"))


def test_the_derivation_is_here_with_its_code():
    assert DOCS / "derivation.md" in DOCUMENTS
    assert len(code_blocks(DOCS / "derivation.md")) >= 8


@pytest.mark.parametrize("document", DOCUMENTS + [DOCS.parent / "README.md"],
                         ids=lambda path: path.name)
def test_every_code_block_runs(document):
    namespace = {"__name__": f"docs.{document.stem}"}
    for number, (kind, block) in enumerate(all_blocks(document), start=1):
        name = f"{document.name}, block {number}"
        if kind == "pycon":
            test = doctest.DocTestParser().get_doctest(block, namespace, name, name, 0)
            failures = doctest.DocTestRunner(verbose=False).run(test, out=lambda text: None)
            assert failures.failed == 0, f"{name}: the session's output differs\n{block}"
            continue
        try:
            exec(compile(block, name, "exec"), namespace)
        except Exception as error:
            pytest.fail(f"{name} failed: {error!r}\n{block}")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
def test_every_picture_shown_exists(document):
    for target in PICTURE.findall(document.read_text(encoding="utf-8")):
        assert (document.parent / target).is_file(), f"{document.name} shows missing {target}"


def test_make_figures_draws_every_figure_of_the_derivation(tmp_path):
    pytest.importorskip("matplotlib", reason="docs/make_figures.py needs matplotlib "
                                             "(pip install -e '.[examples]')")
    script = runpy.run_path(str(DOCS / "make_figures.py"), run_name="make_figures")
    assert script["main"](["--out", str(tmp_path)]) == 0
    drawn = sorted(path.name for path in tmp_path.iterdir())
    assert drawn == sorted(script["FIGURES"])
    for name in drawn:
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    shown = PICTURE.findall((DOCS / "derivation.md").read_text(encoding="utf-8"))
    assert sorted(shown) == drawn


def test_the_backward_figure_uses_the_derivations_example():
    pytest.importorskip("matplotlib", reason="docs/make_figures.py needs matplotlib")
    script = runpy.run_path(str(DOCS / "make_figures.py"), run_name="make_figures")
    namespace = {}
    for block in code_blocks(DOCS / "derivation.md"):
        exec(compile(block, "derivation.md", "exec"), namespace)
    assert (script["IMAGE"] == namespace["IMAGE"][0, 0]).all()
    assert (script["KERNEL"] == namespace["KERNEL"][0, 0]).all()
    _, grads = script["backward_stages"]()
    assert (grads[0] == namespace["x_img"].grad[0, 0]).all()
