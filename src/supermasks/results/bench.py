"""A benchmark's printed Markdown section: parsed into tables and prose, compared with a rerun where the figures do
not depend on the machine, and the machine's measurements (timings, memory growth) set side by side.

A benchmark script prints one section starting with `## title`: prose lines, bullets and pipe tables. A result
names the columns whose cells the machine and its load decide (`Result.measured`); every other cell (a row's label,
counts, sizes, bits, accuracies of seeded runs) must be the same when the script runs again. Numbers in prose are
not compared, since nothing there says which are timings: only the wording around them is.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

OUTPUT_FILE = "output.md"  # what a benchmark result keeps: the section the script printed

# A number as the scripts print it: 1,064,800 / 0.52 / 2.13.0 (a version reads as numbers too).
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)*")


@dataclass(frozen=True)
class Table:
    """A pipe table: its column names, the alignment row as printed, and its rows of cells (strings as printed)."""

    header: list[str]
    align: list[str]
    rows: list[list[str]]

    @property
    def label(self) -> str:
        """The table's name in messages: its first column's name."""
        return self.header[0]

    def row_names(self) -> list[str]:
        """Each row's name in messages: its first cell, or its first two where first cells repeat (`250, packed`)."""
        firsts = [row[0] for row in self.rows]
        if len(set(firsts)) == len(firsts):
            return firsts
        return [", ".join(row[:2]) for row in self.rows]

    def column(self, name: str) -> list[str]:
        """The cells of column `name`, top to bottom."""
        if name not in self.header:
            raise KeyError(f"table `{self.label}` has no column {name!r}; its columns: {', '.join(self.header)}")
        i = self.header.index(name)
        return [row[i] for row in self.rows]

    def cell(self, row: str, column: str) -> str:
        """The cell of the row whose first cell is `row`, in `column`."""
        labels = [r[0] for r in self.rows]
        if row not in labels:
            raise KeyError(f"table `{self.label}` has no row {row!r}; its rows: {', '.join(labels)}")
        return self.column(column)[labels.index(row)]


@dataclass(frozen=True)
class Section:
    """A parsed section: its title and its blocks in order, each a Table or a line of prose (blank lines dropped)."""

    title: str
    blocks: list[Table | str]

    @property
    def tables(self) -> list[Table]:
        return [b for b in self.blocks if isinstance(b, Table)]

    @property
    def prose(self) -> list[str]:
        return [b for b in self.blocks if isinstance(b, str)]

    def table(self, first_column: str) -> Table:
        """The table whose first column is named `first_column`."""
        found = [t for t in self.tables if t.label == first_column]
        if len(found) != 1:
            raise KeyError(f"section {self.title!r}: {len(found)} tables start with column {first_column!r}; "
                           f"its tables start with: {', '.join(t.label for t in self.tables)}")
        return found[0]

    def line_starting(self, prefix: str) -> str:
        """The one prose line starting with `prefix`."""
        found = [line for line in self.prose if line.startswith(prefix)]
        if len(found) != 1:
            raise KeyError(f"section {self.title!r}: {len(found)} prose lines start with {prefix!r}")
        return found[0]


def markdown_section(stdout: str) -> str | None:
    """What a script printed from its first `## ` heading on, ending in one newline; None when it printed none."""
    lines = stdout.strip().splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("## ")), None)
    return None if start is None else "\n".join(lines[start:]) + "\n"


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def parse_section(text: str) -> Section:
    """The title, tables and prose of a printed section (`markdown_section`'s text)."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("## "):
        raise ValueError("a benchmark's output starts with a `## ` heading; this one starts with "
                         f"{lines[0][:60]!r}" if lines else "a benchmark's output is empty")
    blocks: list[Table | str] = []
    table: list[str] = []
    for line in [*lines[1:], ""]:
        if line.startswith("|"):
            table.append(line)
            continue
        if table:
            if len(table) < 2:
                raise ValueError(f"a table needs a header and an alignment row: {table[0][:60]!r}")
            blocks.append(Table(_cells(table[0]), _cells(table[1]), [_cells(row) for row in table[2:]]))
            table = []
        if line.strip():
            blocks.append(line)
    return Section(lines[0][3:].strip(), blocks)


def _numbers(line: str) -> list[str]:
    return _NUMBER.findall(line)


def _wording(line: str) -> str:
    return _NUMBER.sub("#", line)


def _side_by_side(old: Table, new: Table, measured: list[str]) -> list[str]:
    columns = [old.header.index(c) for c in measured]
    lines = [f"| {old.label} | " + " | ".join(measured) + " |"]
    for name, a, b in zip(old.row_names(), old.rows, new.rows):
        lines.append(f"| {name} | " + " | ".join(f"{a[i]} / {b[i]}" for i in columns) + " |")
    return lines


@dataclass(frozen=True)
class Comparison:
    """A rerun's section against the committed one: what differs beyond the machine's measurements (empty when the
    two agree), and those measurements side by side (committed / rerun), never compared."""

    differences: list[str]
    measurements: list[str]


def compare_sections(committed: str, rerun: str, measured: Collection[str]) -> Comparison:
    """Compare two printed sections: the title and the wording of the prose (numbers aside), then each table's columns,
    row labels and every cell outside the `measured` columns, which are collected side by side instead."""
    old, new = parse_section(committed), parse_section(rerun)
    differences: list[str] = []
    measurements: list[str] = []
    if _wording(old.title) != _wording(new.title):
        differences.append(f"title: committed {old.title!r}, rerun {new.title!r}")
    if len(old.prose) != len(new.prose):
        differences.append(f"{len(old.prose)} lines of prose committed, {len(new.prose)} in the rerun")
    for a, b in zip(old.prose, new.prose):
        if _wording(a) != _wording(b):
            differences.append(f"prose: committed {a!r}, rerun {b!r}")
        elif _numbers(a) != _numbers(b):
            measurements.append(f"{_wording(a)[:70]}: {', '.join(_numbers(a))} / {', '.join(_numbers(b))}")
    if len(old.tables) != len(new.tables):
        differences.append(f"{len(old.tables)} tables committed, {len(new.tables)} in the rerun")
    for a, b in zip(old.tables, new.tables):
        if a.header != b.header:
            differences.append(f"table `{a.label}`: columns differ: committed {a.header}, rerun {b.header}")
            continue
        labels_a, labels_b = [r[0] for r in a.rows], [r[0] for r in b.rows]
        if labels_a != labels_b:
            differences.append(f"table `{a.label}`: rows differ: committed {labels_a}, rerun {labels_b}")
            continue
        for name, row_a, row_b in zip(a.row_names(), a.rows, b.rows):
            for column, x, y in zip(a.header[1:], row_a[1:], row_b[1:]):
                if column not in measured and x != y:
                    differences.append(f"table `{a.label}`, row {name}, column {column}: committed {x}, rerun {y}")
        timed = [c for c in a.header[1:] if c in measured]
        if timed:
            measurements += ["", *_side_by_side(a, b, timed)]
    return Comparison(differences, measurements)


def unknown_columns(text: str, measured: Collection[str]) -> list[str]:
    """The names in `measured` that no table of the printed section has (a misspelt column is never compared)."""
    columns = {c for t in parse_section(text).tables for c in t.header}
    return sorted(set(measured) - columns)


__all__ = ["OUTPUT_FILE", "Comparison", "Section", "Table", "compare_sections", "markdown_section", "parse_section",
           "unknown_columns"]
