"""The README and docs tables of a checkout: render each from results/, rewrite them, or list those that drifted."""

from __future__ import annotations

from pathlib import Path

from supermasks.results.markers import Drift, check, documents, rewrite_files, tables_in
from supermasks.results.registry import TABLES


def render_table(name: str, results_dir: Path) -> str:
    """The markdown of table `name` from the committed files of the result that owns it (under `results_dir`)."""
    if name not in TABLES:
        raise KeyError(f"no table {name!r} is registered; known: {', '.join(sorted(TABLES))} "
                       "(supermasks/results/registry.py)")
    owner = TABLES[name]
    if not (results_dir / owner.name).is_dir():
        raise FileNotFoundError(f"table {name!r} needs {results_dir / owner.name}, which is missing: "
                                f"`supermasks results update {owner.name}` makes it")
    return owner.tables[name](results_dir / owner.name)


def write_tables(root: Path) -> list[Path]:
    """Rewrite every marked table of README.md and docs/*.md under `root`; returns the files that changed."""
    return rewrite_files(documents(root), lambda name: render_table(name, root / "results"))


def drifted_tables(root: Path) -> list[Drift]:
    """The marked tables of README.md and docs/*.md under `root` that differ from their committed results."""
    return check(documents(root), lambda name: render_table(name, root / "results"))


def shown_tables(root: Path) -> set[str]:
    """The names of the tables that README.md and docs/*.md under `root` mark."""
    return {name for path in documents(root) for name, _ in tables_in(path.read_text(), str(path))}


__all__ = ["drifted_tables", "render_table", "shown_tables", "write_tables"]
