"""The `supermasks` command line: a thin layer that parses arguments and calls the library."""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import sys
from pathlib import Path

from supermasks import __version__
from supermasks._configs import ConfigNotFoundError, find_config, shipped_configs
from supermasks.errors import ConfigError, DataError
from supermasks.threads import ENV_THREADS, apply_threads, plan_threads


def _cmd_run(args: argparse.Namespace) -> int:
    try:  # before torch loads (the imports below): OpenMP reads its variables once
        apply_threads(plan_threads(args.threads, os.environ))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    args.config = find_config(args.config)  # a shipped config may be named bare: `run experiment1`
    from supermasks.config import load_config
    from supermasks.runner import run
    from supermasks.studies.grid import is_study_file, load_study, run_study, study_summary

    from supermasks.studies.transfer import is_transfer_study_file, load_transfer_study, run_transfer_study, study_text

    if is_transfer_study_file(args.config):
        if args.part is not None:
            raise ConfigError(f"{args.config} is a transfer study; --part applies to study files with parts")
        transfer = load_transfer_study(args.config, args.overrides)
        tables = run_transfer_study(transfer, progress=not args.no_progress)
        print()
        print(study_text(tables))
        print(f"study directory: {transfer.directory()}")
        return 0
    if is_study_file(args.config):
        study = load_study(args.config, args.overrides, only=args.part)
        frame = run_study(study, force=args.force, progress=not args.no_progress)
        print()
        print(study_summary(frame))
        print(f"study directory: {study.directory()}")
        return 0
    if args.part is not None:
        raise ConfigError(f"{args.config} has no parts; --part applies to study files only")
    config = load_config(args.config, args.overrides)
    result = run(config, force=args.force, progress=not args.no_progress)
    _print_summary(result)  # a finished run that was not repeated shows its stored results
    if args.command == "compare" or len(config.method) > 1:
        _print_comparison(result)
    print(f"run directory: {result.directory}")
    return 0


def _print_summary(result) -> None:
    for res in result.results:
        final = res.accuracy[-1]
        shown = 20  # long sequences: the first tasks here, every task in accuracy.csv
        per_task = "  ".join(f"{i}:{a:.1%}" for i, a in enumerate(final[:shown]))
        more = f"  ... ({len(final) - shown} more in accuracy.csv)" if len(final) > shown else ""
        bwt = res.metrics["BWT"]
        line = f"\n{res.benchmark}/{res.method}: ACC {res.metrics['ACC']:.2%}"
        # NaN (null in metrics.json) when R has only its last row
        line += f", BWT {bwt:+.2%}" if bwt is not None and bwt == bwt else ", BWT n/a"
        if "task_inference_accuracy" in res.metrics:
            line += f", task inference {res.metrics['task_inference_accuracy']:.2%}"
        if res.metrics.get("eval_sample") is not None:  # run.eval_sample: not every test image
            line += f" (on a sample of {res.metrics['eval_sample']} test images per task)"
        if "num_tasks_found" in res.metrics:  # NNs: the learner found the tasks itself
            line += (f", {res.metrics['num_tasks_found']} task(s) found for {res.metrics['num_true_tasks']} "
                     f"({res.metrics['false_alarms']} false alarm(s), {res.metrics['boundaries_missed']} missed)")
        print(line)
        print(f"  accuracy per task after the last task: {per_task}{more}")
        if res.overlap_summary is not None:
            for row in res.overlap_summary.itertuples():
                print(f"  mean overlap {row.layer}: {row.mean_jaccard_pct:.2f}% "
                      f"(chance {row.mean_chance_pct:.2f}%, {row.mean_relative_to_chance:.3f}x chance)")


def _print_comparison(result) -> None:
    from supermasks.metrics import DEFINITIONS
    from supermasks.report.text import format_comparison

    print()
    print(format_comparison(result.comparison()))
    print("\nACC, BWT, FWT and forgetting in percentage points of accuracy; definitions:")
    for name, text in DEFINITIONS.items():
        print(f"  {name}: {text}")
    print("  memory/task: bytes the method's state grows by per task after the first (masks, heads, buffer, Fisher)")
    print("  peak training: the most bytes of state the method held while learning one task (its state for the task"
          " plus all it kept from earlier tasks, when the task began or when its learning ended, whichever is larger)")
    print("  memory total: bytes of state kept after the last task (no replay samples or Fisher terms are stored"
          " for the last task: no task follows it)")
    print("  time/task: wall time of learning one task (evaluation excluded)")
    print("  task inf.: GNs/GNu only: fraction of test batches whose task was inferred correctly, after the last task")


def _cmd_list(args: argparse.Namespace) -> int:
    from supermasks.catalog import sections  # names and descriptions only: no torch to import

    for title, entries in {**sections(), "shipped configs": {name: "" for name in shipped_configs()}}.items():
        print(f"{title}:")
        width = max(map(len, entries), default=0)
        for name, desc in entries.items():
            print(f"  {name:<{width}}  {desc}".rstrip())
    return 0


def _cmd_data_status(args: argparse.Namespace) -> int:
    from supermasks.data import list_sources

    for info in list_sources():
        state = "available" if info.available else "missing"
        where = f" at {info.location}" if info.available and info.location else ""
        print(f"{info.name:<14} {state}{where}")
        if not info.available:
            print(f"{'':<14} to get it: {info.how_to_get}")
    return 0


def _cmd_data_fetch(args: argparse.Namespace) -> int:
    from supermasks.data import fetch

    path = fetch(args.name, cache_dir=args.dir, progress=not args.no_progress)
    print(f"{args.name}: files checked and stored in {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="supermasks", description="Continual learning with supermasks: run experiments, list components, manage data.")
    parser.add_argument("--version", action="version", version=f"supermasks {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on the console")
    parser.add_argument("-v", "--verbose", action="store_true", help="also debug messages on the console")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    runners = {
        "run": ("run an experiment config (or a study file) into its run directory",
                "Run CONFIG (YAML) with optional key=value overrides (dotted keys name a section's setting), e.g. "
                "`supermasks run configs/experiment1.yaml data.benchmark=rotated data.num_tasks=10 seed=3`. "
                "A run that did not finish (killed, Ctrl-C) resumes after its last finished task when "
                "run again; a finished one is skipped. Study files (with `parts`) and transfer studies "
                "(with `transfer_study`, e.g. configs/experiment2.yaml) run every run they describe."),
        "compare": ("run several methods on the same tasks and print one metrics table",
                    "Like `run`, for a config with several methods (e.g. configs/compare.yaml); prints methods "
                    "as rows and ACC, BWT, FWT, forgetting, memory and time as columns."),
    }
    for name, (summary, description) in runners.items():
        p = sub.add_parser(name, help=summary, description=description)
        p.add_argument("config", type=Path,
                       help="experiment, study or transfer-study YAML file, or a shipped config's name (see `list`)")
        p.add_argument("overrides", nargs="*", metavar="key=value",
                       help="override a setting by its dotted key, e.g. training.lr=1e-3 (value read as YAML)")
        p.add_argument("--force", action="store_true", help="start afresh: re-run a finished config, do not resume an unfinished one")
        p.add_argument("--part", default=None, help="study files only: run just this part")
        p.add_argument("--no-progress", action="store_true", help="no progress bars")
        p.add_argument("--threads", type=int, default=None, metavar="N",
                       help=f"CPU threads for torch (default: ${ENV_THREADS} if set, else $OMP_NUM_THREADS if set, "
                            "else 1; 0: torch's default of one per core). OMP_WAIT_POLICY=PASSIVE unless set")
        p.set_defaults(func=_cmd_run)

    p = sub.add_parser("list", help="list benchmarks, data sources, models, methods, scenarios and shipped configs")
    p.set_defaults(func=_cmd_list)

    data = sub.add_parser("data", help="data sources: status and downloads")
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    p = dsub.add_parser("status", help="which data sources are available here, and how to get the others")
    p.set_defaults(func=_cmd_data_status)
    p = dsub.add_parser("fetch", help="download a data set (SHA-256 checked) into the cache")
    p.add_argument("name", choices=["mnist", "fashion-mnist", "kmnist"])
    p.add_argument("--dir", type=Path, default=None, help="cache directory (default: the user cache)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_data_fetch)
    return parser


_console: logging.Handler | None = None


def _configure_logging(level: int) -> None:
    """Progress messages of the package on stderr (results go to stdout); every run also keeps its run.log."""
    global _console
    logger = logging.getLogger("supermasks")
    if _console is not None:  # a second main() in one process (tests): today's stderr, not the old one
        logger.removeHandler(_console)
    _console = logging.StreamHandler(sys.stderr)
    _console.setFormatter(logging.Formatter("%(message)s"))
    _console.setLevel(level)  # a run raises the logger to INFO for its run.log; -q still keeps the console quiet
    logger.addHandler(_console)
    logger.setLevel(level)


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt as exc:  # Ctrl-C at any time (start-up included), or SIGTERM during a run
        print(f"supermasks: {str(exc) or 'interrupted'}", file=sys.stderr)
        return 128 + int(getattr(exc, "signum", signal.SIGINT))  # 130 for Ctrl-C, 143 for SIGTERM (the shell's codes)


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    # Overrides may come after options (`run CONFIG --part x seed=3`): collect stray key=value words.
    args, extra = parser.parse_known_args(argv)
    if extra:
        if not hasattr(args, "overrides") or any(w.startswith("-") or "=" not in w for w in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = [*args.overrides, *extra]
    _configure_logging(logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO)
    try:
        return args.func(args)
    except FloatingPointError as exc:
        print(f"supermasks: error: training diverged: {exc}. A smaller training.lr (or ewc.lambda) usually helps.",
              file=sys.stderr)
        return 1
    except (ConfigError, ConfigNotFoundError, DataError) as exc:
        print(f"supermasks: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        if exc.errno not in _DISK_ERRORS:
            raise
        print(f"supermasks: error: {_disk_error(exc)}", file=sys.stderr)
        return 1


# A disk that is full, over quota, read-only or not ours: the user's to fix, so one line, no traceback.
_DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def _disk_error(exc: OSError) -> str:
    where = f" {exc.filename}" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"cannot write{where}: {exc.strerror or 'no space left on device'}. Free some space and run the same "
                f"command again: the run resumes after its last finished task")
    return f"{exc.filename or 'cannot write'}: {exc.strerror or exc}"


if __name__ == "__main__":
    sys.exit(main())
