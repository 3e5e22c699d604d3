"""The `supermasks results` command: list, regenerate and check the documented results' tables, rerun one.

The command line (`cli.commands`) adds this subcommand with `add_parser` and knows nothing else of it;
everything heavier than argparse is imported when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from supermasks.errors import ConfigError


def add_parser(sub: Any, parents: Sequence[argparse.ArgumentParser] = ()) -> None:
    """Add `results` and its subcommands to `sub` (the command line's subparsers), each with `parents`' options."""
    parents = list(parents)
    results = sub.add_parser(
        "results", parents=parents,
        help="the committed results behind README and docs: regenerate their tables, check, reproduce",
        description="results/NAME holds the small files (config, metrics, tables, code version) of each documented "
                    "result; README.md and docs/*.md show tables rendered from them between "
                    "`<!-- results:TABLE -->` markers. See results/README.md.")
    results.add_argument("--root", type=Path, default=None,
                         help="the repository (default: the checkout this package runs from, else the current folder)")
    rsub = results.add_subparsers(dest="results_command", required=True, metavar="SUBCOMMAND")
    p = rsub.add_parser("list", parents=parents, help="the documented results, their commands and tables")
    p.set_defaults(func=run)
    p = rsub.add_parser("tables", parents=parents,
                        help="rewrite every marked table of README.md and docs/*.md from results/")
    p.set_defaults(func=run)
    p = rsub.add_parser("check", parents=parents,
                        help="exit 1, naming file and table, when a marked table differs from results/")
    p.set_defaults(func=run)
    p = rsub.add_parser("update", parents=parents,
                        help="rerun NAME afresh in a temporary folder and store its small files in "
                             "results/NAME (then `make tables`)")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=run)
    p = rsub.add_parser("reproduce", parents=parents,
                        help="rerun NAME afresh in a temporary folder and diff it against results/NAME "
                             "(exit 0 when identical, timings and paths aside; 1 otherwise). A "
                             "benchmark's timings are shown beside the committed ones, not compared")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--keep", action="store_true", help="keep the rerun's folder even when it is identical")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """`supermasks results SUBCOMMAND`: list, tables, check, update NAME, reproduce NAME; the exit status."""
    from supermasks.results import pages, rerun
    from supermasks.results.markers import FIX
    from supermasks.results.registry import get_result, list_results
    from supermasks.results.version import read_version

    root = args.root if args.root is not None else rerun.default_root()
    if args.results_command == "list":
        width = max(len(r.name) for r in list_results())
        for result in list_results():
            kind = "; a benchmark: timings not reproduced" if result.kind == "benchmark" else ""
            print(f"{result.name:<{width}} {rerun.command_line(result)}  (about {result.minutes:g} min{kind}; tables: "
                  f"{', '.join(result.tables)})")
        return 0
    if args.results_command in ("tables", "check"):
        try:  # a marker without its pair, an unregistered table, a result's file missing: one line, no traceback
            changed = pages.write_tables(root) if args.results_command == "tables" else []
            drifts = pages.drifted_tables(root) if args.results_command == "check" else []
        except (ValueError, KeyError, FileNotFoundError) as exc:
            print(f"supermasks: error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
            return 1
    if args.results_command == "tables":
        print("\n".join(f"rewrote {path}" for path in changed) or "every table is up to date")
        return 0
    if args.results_command == "check":
        for drift in drifts:
            print(drift.message(), file=sys.stderr)
        if not drifts:
            print("every table matches results/")
        return 1 if drifts else 0
    try:
        result = get_result(args.name)
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from None
    try:
        if args.results_command == "update":
            dest = rerun.update(result, root)
            print(f"wrote {dest}; now {FIX} puts its tables into README and docs")
            return 0
        found = rerun.reproduce(result, root, keep=args.keep)
    except (RuntimeError, FileNotFoundError) as exc:  # the command failed (its log's tail says why), or no results
        print(f"supermasks: error: {exc}", file=sys.stderr)
        return 1
    committed = read_version(root / "results" / result.name)
    print(f"`{rerun.command_line(result)}` ran in {found.seconds:.1f} s with the code of "
          f"{rerun.code_version(root)['git_commit']}; results/{result.name}/ came from {committed.get('git_commit')}")
    aside = "timings and paths aside"
    if result.kind == "benchmark":
        aside = "the machine's measurements aside"
        machine = committed.get("machine", {})
        print(f"timings and the other measurements of the machine are not compared: they vary with the machine and its "
              f"load. Committed ({machine.get('cpu', 'unknown CPU')}, {machine.get('date', 'unrecorded date')}) / "
              "this rerun:")
        print("\n".join(f"  {line}" for line in found.measurements))
    if found.differences:
        print(f"differs from results/{result.name}/ ({aside}):", file=sys.stderr)
        print("\n".join(f"  {line}" for line in found.differences), file=sys.stderr)
    elif result.kind == "benchmark":
        print(f"the same tables as results/{result.name}/: columns, row labels and every count and size that does "
              "not depend on the machine")
    else:
        print(f"identical to results/{result.name}/ ({aside})")
    if found.kept is not None:
        print(f"the rerun is in {found.kept}")
    return 1 if found.differences else 0


__all__ = ["add_parser", "run"]
