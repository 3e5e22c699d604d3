"""README and docs tables against the committed results/: they agree, a changed number is caught, `make tables` fixes it."""

import shutil
from pathlib import Path

import pytest

from supermasks.cli import main
from supermasks.results.markers import documents
from supermasks.results.pages import drifted_tables, render_table, shown_tables, write_tables
from supermasks.results.registry import TABLES

ROOT = Path(__file__).resolve().parents[2]


def test_every_table_in_readme_and_docs_matches_the_committed_results():
    drifts = drifted_tables(ROOT)
    assert not drifts, "\n\n".join(d.message() for d in drifts)


def test_every_registered_table_is_shown_somewhere_and_every_marker_is_registered():
    # A registered table that no page marks would never be checked; a marker without a table cannot render.
    assert shown_tables(ROOT) == set(TABLES)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the pages and results/ that a test may change."""
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copytree(ROOT / "results", tmp_path / "results")
    return tmp_path


def _change_one_number(readme: Path) -> tuple[str, str]:
    """Alter the first data row of README's comparison table by one in the last digit of ACC; returns (old, new)."""
    text = readme.read_text()
    start = text.index("<!-- results:compare -->")
    row = text[start:].splitlines()[3]  # marker, header, rule, first method
    cells = row.split(" | ")
    acc = cells[1]
    changed = f"{acc[:-1]}{(int(acc[-1]) + 1) % 10}"
    new_row = " | ".join([cells[0], changed, *cells[2:]])
    readme.write_text(text.replace(row, new_row, 1))
    return row, new_row


def test_a_changed_number_is_reported_with_its_file_table_and_the_fix(checkout: Path):
    old_row, new_row = _change_one_number(checkout / "README.md")
    drifts = drifted_tables(checkout)
    assert [(d.path.name, d.table) for d in drifts] == [("README.md", "compare")]
    message = drifts[0].message()
    assert message.startswith(f"{checkout / 'README.md'}: table `compare` differs from its committed results")
    assert "make tables" in message
    assert f"-{new_row}" in message and f"+{old_row}" in message  # the shown row against the rendered one


def test_check_command_exits_1_naming_the_table_then_0_after_make_tables(checkout: Path, capsys):
    original = (checkout / "README.md").read_text()
    _change_one_number(checkout / "README.md")
    assert main(["results", "--root", str(checkout), "check"]) == 1
    assert "README.md: table `compare` differs" in capsys.readouterr().err
    assert main(["results", "--root", str(checkout), "tables"]) == 0
    assert (checkout / "README.md").read_text() == original  # the committed numbers are back, nothing else moved
    assert main(["results", "--root", str(checkout), "check"]) == 0


def test_make_tables_is_idempotent(checkout: Path):
    _change_one_number(checkout / "README.md")
    assert write_tables(checkout) == [checkout / "README.md"]
    before = {p: p.read_text() for p in documents(checkout)}
    assert write_tables(checkout) == []
    assert {p: p.read_text() for p in documents(checkout)} == before


def test_an_unknown_table_name_says_where_tables_are_registered(checkout: Path, capsys):
    with pytest.raises(KeyError, match="no table 'nope' is registered.*registry.py"):
        render_table("nope", checkout / "results")
    page = checkout / "docs" / "baselines.md"
    page.write_text(page.read_text() + "\n<!-- results:nope -->\n<!-- /results:nope -->\n")
    assert main(["results", "--root", str(checkout), "check"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("supermasks: error: no table 'nope' is registered") and "Traceback" not in err


def test_a_table_whose_result_is_not_committed_names_the_command_that_makes_it(checkout: Path, capsys):
    shutil.rmtree(checkout / "results" / "compare")
    assert main(["results", "--root", str(checkout), "tables"]) == 1
    err = capsys.readouterr().err.strip()
    assert "results/compare, which is missing: `supermasks results update compare` makes it" in err
    assert len(err.splitlines()) == 1
