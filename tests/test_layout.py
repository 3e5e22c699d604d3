"""The package's layout holds: every import runs down the layers that docs/internals.md draws, no module is over
400 lines without saying why at its top, and nothing imports torch's private names.

A room is a sub-package of `supermasks` (`config/`, `methods/`, ...) or one of the few modules at the top
(`errors.py`, `seeds.py`, ...). Imports are read from the source (those under `if TYPE_CHECKING:` and inside
functions too), so a layer that only names a higher one in a type hint breaks the rule as well.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "supermasks"
INTERNALS = ROOT / "docs" / "internals.md"
MAX_LINES = 400
REASON = "over 400 lines"  # what a longer module's docstring says, with why

# Bottom to top. A room imports only rooms on lower layers; the top-level face (`supermasks/__init__.py`)
# hands every public name on, lazily, and is not a room.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "units", "conditional", "seeds", "cache_folder"),
    ("compute", "scenarios", "store", "imports", "loggers"),
    ("data",),
    ("training",),
    ("models",),
    ("inference", "analysis"),
    ("methods",),
    ("config",),
    ("runner",),
    ("aggregate", "sweep"),
    ("studies",),
    ("report",),
    ("results", "api"),
    ("cli",),
]


def _room(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported(path: Path) -> set[str]:
    """The `supermasks` modules `path` imports, as dotted names (relative imports resolved)."""
    module = ["supermasks", *path.relative_to(PACKAGE).with_suffix("").parts]
    package = module if module[-1] == "__init__" else module[:-1]
    if package[-1] == "__init__":
        package = package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("supermasks.")}


def _edges() -> dict[str, dict[str, str]]:
    """room -> {room it imports: the first file that does}."""
    edges: dict[str, dict[str, str]] = {}
    rooms = {_room(p) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "__init__.py":
            continue
        me = _room(path)
        for name in _imported(path):
            other = name.split(".")[1]
            if other in rooms and other != me:
                edges.setdefault(me, {}).setdefault(other, str(path.relative_to(ROOT)))
    return edges


def _layer_of() -> dict[str, int]:
    return {room: i for i, rooms in enumerate(LAYERS) for room in rooms}


def test_every_room_has_a_layer():
    rooms = {_room(p) for p in PACKAGE.rglob("*.py") if p != PACKAGE / "__init__.py"}
    assert rooms == set(_layer_of()), "add the new room to LAYERS here and to docs/internals.md"


def test_every_import_runs_down_the_layers():
    layer = _layer_of()
    upward = [f"{where}: {room} (layer {layer[room]}) imports {other} (layer {layer[other]})"
              for room, targets in _edges().items() for other, where in targets.items()
              if layer[other] >= layer[room]]
    assert not upward, "\n".join(upward)


def test_the_layers_in_the_docs_are_the_layers_here():
    text = INTERNALS.read_text()
    block = text.split("<!-- layers -->")[1].split("<!-- /layers -->")[0]
    rows = re.findall(r"^\| (\d+) \| ([^|]+) \|", block, flags=re.M)
    documented = {int(number): tuple(name.strip(" `/") for name in names.split(",")) for number, names in rows}
    assert documented == {i + 1: rooms for i, rooms in enumerate(LAYERS)}


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_module_over_400_lines_says_why_at_its_top(path):
    lines = path.read_text().splitlines()
    if len(lines) > MAX_LINES:
        docstring = ast.get_docstring(ast.parse("\n".join(lines))) or ""
        assert REASON in docstring.lower(), f"{path.name} has {len(lines)} lines: split it, or say why at its top"


def _torch_private(path: Path) -> list[str]:
    """The private torch names `path` imports (`from torch.x import _y`, `import torch._y`) or reads (`torch._y`)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "torch":
            modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            found += [m for m in modules if any(part.startswith("_") for part in m.split("."))]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "torch"
                      and any(part.startswith("_") for part in a.name.split("."))]
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id == "torch":
                found.append(ast.unparse(node))
    return found


def test_nothing_imports_torch_private_names():
    private = [f"{p.relative_to(ROOT)}: {name}" for p in sorted(PACKAGE.rglob("*.py")) for name in _torch_private(p)]
    assert not private, "\n".join(private)
