"""Tables between `<!-- results:NAME -->` and `<!-- /results:NAME -->` markers in README and docs: rewrite, check."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# A marker is a line of its own, so that prose may quote one in backticks.
_OPEN = re.compile(r"^<!-- results:(?P<name>[\w-]+) -->$", re.M)
_BLOCK = re.compile(r"^(?P<open><!-- results:(?P<name>[\w-]+) -->\n)(?P<body>.*?)^(?P<close><!-- /results:(?P=name) -->)$",
                    re.S | re.M)

FIX = "`make tables` (or `supermasks results tables`)"


def documents(root: Path) -> list[Path]:
    """The pages whose tables come from results/: README.md and docs/*.md."""
    return [p for p in [root / "README.md", *sorted((root / "docs").glob("*.md"))] if p.is_file()]


def tables_in(text: str, where: str = "text") -> list[tuple[str, str]]:
    """Each marked table's name and its current body; an opening marker without its closing one is an error."""
    blocks = [(m["name"], m["body"]) for m in _BLOCK.finditer(text)]
    closed = {name for name, _ in blocks}
    for opened in _OPEN.finditer(text):
        if opened["name"] not in closed:
            line = text.count("\n", 0, opened.start()) + 1
            raise ValueError(f"{where}:{line}: `<!-- results:{opened['name']} -->` has no closing "
                             f"`<!-- /results:{opened['name']} -->`")
    return blocks


def rewrite(text: str, render: Callable[[str], str], where: str = "text") -> str:
    """`text` with every marked table's body replaced by `render(name)` (the markers stay on their own lines)."""
    tables_in(text, where)  # unbalanced markers fail before anything is replaced
    return _BLOCK.sub(lambda m: f"{m['open']}{render(m['name'])}\n{m['close']}", text)


@dataclass(frozen=True)
class Drift:
    """A marked table whose text differs from what its committed results render."""

    path: Path
    table: str
    shown: str
    rendered: str

    def message(self) -> str:
        diff = difflib.unified_diff(self.shown.splitlines(), self.rendered.splitlines(),
                                    f"{self.path} (shown)", "results/ (rendered)", lineterm="", n=0)
        return (f"{self.path}: table `{self.table}` differs from its committed results; run {FIX} to rewrite it\n"
                + "\n".join(diff))


def check(paths: list[Path], render: Callable[[str], str]) -> list[Drift]:
    """Every marked table of `paths` whose body is not exactly what `render` gives for it."""
    drifts = []
    for path in paths:
        for name, body in tables_in(path.read_text(), str(path)):
            rendered = render(name) + "\n"
            if body != rendered:
                drifts.append(Drift(path, name, body, rendered))
    return drifts


def rewrite_files(paths: list[Path], render: Callable[[str], str]) -> list[Path]:
    """Rewrite the marked tables of `paths` in place; returns the files that changed."""
    changed = []
    for path in paths:
        text = path.read_text()
        new = rewrite(text, render, str(path))
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed


__all__ = ["FIX", "Drift", "check", "documents", "rewrite", "rewrite_files", "tables_in"]
