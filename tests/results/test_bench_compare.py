"""A benchmark's rerun against its committed section: what the machine decides is shown, everything else compared."""

import pytest

from supermasks.results.bench import compare_sections, markdown_section, parse_section, unknown_columns

COMMITTED = """## State per task

266,200 masked weights; median of 3 runs took 1.25 s.

| tasks | way | bytes/task | peak RSS growth/task |
|---:|---|---:|---:|
| 10 | packed | 33,275 | 696 KiB |
| 10 | float | 1,064,800 | 871 KiB |
| 250 | packed | 33,275 | 326 KiB |
"""
MEASURED = ("peak RSS growth/task",)


def test_an_identical_rerun_agrees_and_still_shows_its_measurements_side_by_side():
    found = compare_sections(COMMITTED, COMMITTED, MEASURED)
    assert found.differences == []
    assert found.measurements == ["", "| tasks | peak RSS growth/task |", "| 10, packed | 696 KiB / 696 KiB |",
                                  "| 10, float | 871 KiB / 871 KiB |", "| 250, packed | 326 KiB / 326 KiB |"]


def test_other_timings_are_shown_committed_then_rerun_and_never_counted_as_differences():
    rerun = COMMITTED.replace("326 KiB", "1,000 KiB").replace("1.25 s", "9.50 s")
    found = compare_sections(COMMITTED, rerun, MEASURED)
    assert found.differences == []
    assert "| 250, packed | 326 KiB / 1,000 KiB |" in found.measurements
    assert "# masked weights; median of # runs took # s.: 266,200, 3, 1.25 / 266,200, 3, 9.50" in found.measurements


def test_a_changed_size_is_a_difference_naming_table_row_and_column():
    rerun = COMMITTED.replace("| 10 | float | 1,064,800 |", "| 10 | float | 1,064,801 |")
    assert compare_sections(COMMITTED, rerun, MEASURED).differences == [
        "table `tasks`, row 10, float, column bytes/task: committed 1,064,800, rerun 1,064,801"]


@pytest.mark.parametrize("change, message", [
    (("| bytes/task |", "| bytes per task |"), "table `tasks`: columns differ"),
    (("| 250 | packed |", "| 100 | packed |"), "table `tasks`: rows differ: committed ['10', '10', '250']"),
    (("masked weights", "scored weights"), "prose: committed '266,200 masked weights"),
    (("## State per task", "## State of a task"), "title: committed 'State per task'"),
    (("| 250 | packed | 33,275 | 326 KiB |\n", "| 250 | packed | 33,275 | 326 KiB |\n\n| x |\n|---|\n"),
     "1 tables committed, 2 in the rerun"),
])
def test_shape_and_wording_are_compared(change, message):
    found = compare_sections(COMMITTED, COMMITTED.replace(*change), MEASURED)
    assert any(line.startswith(message) for line in found.differences), found.differences


def test_a_misspelt_measured_column_is_found():
    assert unknown_columns(COMMITTED, ("peak RSS growth/task", "peak rss")) == ["peak rss"]


def test_the_section_starts_at_the_first_heading_and_a_table_needs_its_alignment_row():
    assert markdown_section("loading...\n## T\n\nx\n\n") == "## T\n\nx\n"
    assert markdown_section("no heading at all\n") is None
    with pytest.raises(ValueError, match="a header and an alignment row"):
        parse_section("## T\n\n| a |\n\ntext\n")
    with pytest.raises(ValueError, match="starts with a `## ` heading"):
        parse_section("T\n")
