"""The README is a page for users: short, a prediction first, and every link it and the docs/
pages it sends readers to hold leads somewhere."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def test_readme_is_short_and_shows_a_prediction_before_any_table():
    text = README.read_text()
    assert len(text.encode()) <= 15 * 1024, f"README.md is {len(text.encode()):,} bytes"
    first_image = re.search(r"!\[[^\]]*\]\(([^)]+)\)", text)
    first_table = re.search(r"^\|", text, re.MULTILINE)
    assert first_image and first_image.group(1).startswith("docs/predictions")
    assert first_table is None or first_image.start() < first_table.start()
    assert "make run-all" in text and "make test" in text  # the two commands


def test_readme_speaks_to_users_not_to_its_builders():
    text = README.read_text().lower()
    for phrase in ("the issue", "goal is met", "goals are met", "by no margin", ".gitignore"):
        assert phrase not in text, phrase


def test_readme_links_every_docs_page_and_each_links_back():
    text = README.read_text()
    linked = {ROOT / target.split("#")[0] for target in LINK.findall(text)}
    for page in PAGES:
        assert page in linked, f"README.md does not link {page.name}"
        assert "](../README.md" in page.read_text(), f"{page.name} does not link back"


@pytest.mark.parametrize("page", [README, *PAGES], ids=lambda p: p.name)
def test_relative_links_resolve(page):
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        assert file.exists(), f"{page.name}: {target} does not exist"
        if anchor and file.suffix == ".md":
            assert anchor in _anchors(file), f"{page.name}: no heading #{anchor} in {file.name}"


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


# The README's study table: its rows and the runs of docs/study/summary.json they average.
STUDY_ROWS = {
    "l2": "main-l2-s",
    "adv (l2 + adversarial; 2 seeds)": "main-adv-s",
    "l1 + GDL": "main-l1_gdl-s",
    "adv + GDL": "main-adv_gdl-s",
    "adv + GDL, D by Adam (2 seeds)": "d_adam-adv_gdl-s",
    "l1 + GDL, 100,000 steps (2 seeds)": "long-l1_gdl-s",
    "adv + GDL, D held back, 100,000 steps (2 seeds)": "long_capped_mixed-adv_gdl-s",
    "copy_last": "copy_last",
    "flow": "flow",
}


def test_the_study_table_is_the_committed_results():
    summary = json.loads((ROOT / "docs" / "study" / "summary.json").read_text())
    text = README.read_text().split("## What the study found", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:-1] for line in text.splitlines() if line.startswith("| ")]
    header, body = rows[0], rows[1:]
    horizons = [int(cell.strip().removeprefix("t+")) for cell in header[1:]]
    checked = 0
    for label, *cells in body:
        prefix = STUDY_ROWS.get(label.strip())
        if prefix is None:  # a row this test does not know yet
            continue
        names = [name for name in summary["means"] if name.startswith(prefix)]
        for horizon, cell in zip(horizons, cells):
            moving, whole = (float(value) for value in cell.split("/"))
            for region, shown in (("moving", moving), ("whole", whole)):
                mean = sum(summary["means"][n]["psnr"][region][horizon - 1] for n in names)
                assert abs(mean / len(names) - shown) < 0.006, (label, horizon, region)
        checked += 1
    assert checked == len(STUDY_ROWS)
