"""Each notebook reads in one sitting: short code cells, short blocks of prose, no test
harness in the lesson (checks of committed results live in tests, e.g.
tests/test_notebook_claims.py)."""

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CODE_LINES = 40
BLOCK_WORDS = 250
# About 1,500 words of prose is the aim; this bound catches a notebook outgrowing one sitting.
NOTEBOOK_WORDS = 2000
ASSERTS = 5  # a cell may check what its text claims; more is a test harness


def prose_words(markdown: str) -> int:
    """Words of prose: formulas count as one word, fenced code as none."""
    markdown = re.sub(r"```.*?```", " ", markdown, flags=re.S)
    markdown = re.sub(r"\$\$.*?\$\$", " x ", markdown, flags=re.S)
    markdown = re.sub(r"\$[^$]*\$", "x", markdown)
    return len(markdown.split())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_one_sitting(path):
    cells = nbformat.read(path, as_version=4).cells
    for cell in cells:
        if cell.cell_type == "code":
            lines = len(cell.source.splitlines())
            assert lines <= CODE_LINES, f"a code cell of {lines} lines: {cell.source[:60]!r}"
            asserts = len(re.findall(r"^\s*assert\b", cell.source, re.M))
            assert asserts <= ASSERTS, f"a code cell with {asserts} asserts: {cell.source[:60]!r}"
        elif cell.cell_type == "markdown":
            words = prose_words(cell.source)
            assert words <= BLOCK_WORDS, f"a markdown block of {words} words: {cell.source[:60]!r}"
    total = sum(prose_words(c.source) for c in cells if c.cell_type == "markdown")
    assert total <= NOTEBOOK_WORDS, f"{total} words of prose"
