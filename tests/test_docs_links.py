"""The README and docs/ pages: every relative link points to a file that exists and, with `#anchor`, to a heading
there (GitHub's anchors); every page under docs/ is linked from the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Pages written in parallel with this one: the README lists them; a link to one is checked once it exists.
ANNOUNCED = {"docs/conv.md", "docs/data.md", "docs/devices.md"}
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def anchors(text: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens, `-1`, `-2` for repeats."""
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*$", FENCE.sub("", text), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def links(page: Path) -> list[str]:
    return [target for target in LINK.findall(FENCE.sub("", page.read_text(encoding="utf-8")))
            if not re.match(r"[a-z]+:", target)]


def test_anchors_follow_github():
    text = "# Run directories: where results go\n## What can go wrong\n## What can go wrong\n```\n# not one\n```\n"
    assert anchors(text) == {"run-directories-where-results-go", "what-can-go-wrong", "what-can-go-wrong-1"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    for target in links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        relative = file.relative_to(ROOT).as_posix() if file.is_relative_to(ROOT) else str(file)
        if relative in ANNOUNCED and not file.exists():
            continue
        assert file.exists(), f"{page.name}: {target} points to a missing file"
        if anchor:
            assert anchor in anchors(file.read_text(encoding="utf-8")), f"{page.name}: no heading for {target}"


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in links(ROOT / "README.md")}
    assert [p.name for p in PAGES[1:] if p.resolve() not in linked] == []
    assert ANNOUNCED <= {p.relative_to(ROOT).as_posix() for p in linked}
