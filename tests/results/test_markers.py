"""Table markers: only the text between a pair is replaced; unbalanced markers are errors that say where."""

from pathlib import Path

import pytest

from supermasks.results.markers import check, rewrite, tables_in

PAGE = """# Title
Some prose with 1.0%.
<!-- results:alpha -->
| old | table |
<!-- /results:alpha -->
More prose.
<!-- results:beta -->
<!-- /results:beta -->
End.
"""


def test_rewrite_replaces_only_the_bodies_between_markers():
    new = rewrite(PAGE, lambda name: f"[{name} table]")
    assert new == PAGE.replace("| old | table |\n", "[alpha table]\n").replace(
        "<!-- results:beta -->\n", "<!-- results:beta -->\n[beta table]\n")
    assert rewrite(new, lambda name: f"[{name} table]") == new  # a second pass changes nothing


def test_tables_in_lists_names_and_bodies_in_page_order():
    assert tables_in(PAGE) == [("alpha", "| old | table |\n"), ("beta", "")]


def test_an_opening_marker_without_its_closing_one_names_the_line():
    text = "a\nb\n<!-- results:gamma -->\n| x |\n<!-- /results:other -->\n"
    with pytest.raises(ValueError, match=r"page.md:3: `<!-- results:gamma -->` has no closing"):
        tables_in(text, "page.md")
    with pytest.raises(ValueError, match="has no closing"):
        rewrite(text, lambda name: "", "page.md")


def test_a_marker_quoted_inside_a_line_is_prose_not_a_marker():
    text = "Tables sit between `<!-- results:NAME -->` markers.\n" + PAGE
    assert [name for name, _ in tables_in(text)] == ["alpha", "beta"]
    assert rewrite(text, lambda name: "x").startswith("Tables sit between `<!-- results:NAME -->` markers.\n")


def test_check_reports_only_the_tables_that_differ(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(PAGE)
    drifts = check([page], lambda name: "| old | table |" if name == "alpha" else "[beta]")
    assert [(d.path, d.table) for d in drifts] == [(page, "beta")]
    assert "+[beta]" in drifts[0].message()
