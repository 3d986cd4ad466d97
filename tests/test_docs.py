"""The README stays a front page, runs CI's exact command, and every docs link resolves."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [
    ROOT / "README.md",
    ROOT / "benchmarks" / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
]


def test_readme_is_a_front_page_with_ci_command():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200
    ci_command = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci_command in lines  # the set-up-and-test line is exactly what CI runs
    assert max(len(line) for line in lines) <= max(len(ci_command), 120)


def _anchors(path):
    text = path.read_text(encoding="utf-8")
    titles = re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", text, flags=re.S), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-") for title in titles}


def test_every_relative_link_and_anchor_resolves():
    broken = []
    for page in PAGES:
        for target, anchor in re.findall(
            r"\]\(([^)#:\s]*)(?:#([^)\s]*))?\)", page.read_text("utf-8")
        ):
            path = (page.parent / target).resolve() if target else page
            if not path.exists() or (anchor and anchor not in _anchors(path)):
                broken.append(f"{page.relative_to(ROOT)} → {target}#{anchor}")
    assert not broken, broken


def test_the_index_links_every_docs_page():
    index = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    missing = [
        p.name
        for p in (ROOT / "docs").glob("*.md")
        if p.name != "index.md" and f"]({p.name})" not in index
    ]
    assert not missing, f"docs/index.md does not link {missing}"


def test_sections_are_named_by_concept_not_by_row_code():
    # A catalogue row code ("A2", "C19") may follow a concept name in parentheses, never lead it.
    leading = []
    for page in PAGES:
        for title in re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), flags=re.M):
            if re.match(r"[A-K][0-9]{1,2}\b", title):
                leading.append(f"{page.relative_to(ROOT)}: {title}")
    assert not leading, leading
