"""The `supermasks` command: `commands` (one function per subcommand, and `main`), `parser` (the arguments, built
without importing what the commands run, so `supermasks list` and `--help` need no torch) and `printing` (what a
finished run, comparison or set of seeds prints)."""

from __future__ import annotations

from supermasks.cli.commands import main

__all__ = ["main"]
