"""The `supermasks` command line: a thin layer that runs each subcommand by calling the library.

`main` reads the arguments (`cli.parser`), sets up the console, runs the subcommand and turns the
errors a user can fix into one line and an exit status; what a finished run prints is `cli.printing`'s.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from supermasks.config.shipped import ConfigNotFoundError, find_config, shipped_configs
from supermasks.cli.parser import Command, build_parser
from supermasks.cli.printing import print_comparison, print_seeds, print_summary
from supermasks.errors import ConfigError, DataError, WorkerError
from supermasks.compute.threads import apply_threads, plan_threads


def _cmd_run(args: argparse.Namespace) -> int:
    try:  # before torch loads (the imports below): OpenMP reads its variables once
        apply_threads(plan_threads(args.threads, os.environ))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    args.config = find_config(args.config)  # a shipped config may be named bare: `run experiment1`
    from supermasks.api.kinds import Seeds, load_config
    from supermasks.api.running import StudyResult, TransferResult, run
    from supermasks.studies.grid import study_summary
    from supermasks.studies.transfer_results import study_text

    loaded = load_config(args.config, args.overrides, part=args.part, max_runs=args.max_runs)
    result = run(loaded, force=args.force, progress=not args.no_progress, report=False)
    config = _first_config(loaded)
    if isinstance(result, TransferResult):
        print()
        print(study_text(result.tables))
        _write_report([result.directory], result.directory, config)
        print(f"study directory: {result.directory}")
    elif isinstance(result, StudyResult):
        print()
        if result.note:
            print(result.note)
        print(study_summary(result.table))
        if result.findings:  # the question, its short answer and a compact table of the tests
            print()
            print(result.findings)
        if config is not None:
            _write_report([result.directory], result.directory, config)
        print(f"study directory: {result.directory}")
    elif isinstance(loaded, Seeds):
        _write_report(result.directories, result.directory, config)
        print_seeds(result)
    else:
        print_summary(result)  # a finished run that was not repeated shows its stored results
        if args.command == "compare" or len(config.method) > 1:
            print_comparison(result)
        _write_report([result.directory], result.directory, config)
        print(f"run directory: {result.directory}")
    return 0


def _first_config(loaded: Any) -> Any:
    """The config whose `run` settings (report, figures) a loaded config of any kind follows: its first run's."""
    from supermasks.api.kinds import Seeds
    from supermasks.studies.grid import Study
    from supermasks.studies.transfer_file import TransferStudy

    if isinstance(loaded, Seeds):
        return loaded.configs[0]
    if isinstance(loaded, Study):
        return loaded.runs[0].config if loaded.runs else None
    if isinstance(loaded, TransferStudy):
        return next(iter(loaded.benchmarks.values()))["random"]
    return loaded


def _write_report(paths: list[Path], directory: Path, config: Any) -> None:
    """report.html in `directory` where the config asks for it (`run.report`), its path printed."""
    from supermasks.api.running import write_run_report

    if config.run.report:
        path = write_run_report(paths, directory, figures=config.run.figures)
        if path is not None:
            print(f"report: {path}")


def _cmd_report(args: argparse.Namespace) -> int:
    from supermasks.report.outputs import REPORT, check_inputs, check_output, read_directories
    from supermasks.report import REPORT_FILE, write_report

    check_inputs(args.paths)
    out = args.out
    if out is None:
        out = (args.paths[0] / REPORT_FILE) if len(args.paths) == 1 else Path(REPORT_FILE)
    try:
        check_output(out, REPORT, read_directories(args.paths))  # before any work: nothing written when refused
        path = write_report(args.paths, out, full=args.full)
    except (FileNotFoundError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    print(f"report: {path}")
    return 0


def _cmd_aggregate(args: argparse.Namespace) -> int:
    from supermasks.aggregate import aggregate_runs, write_aggregate
    from supermasks.aggregate.report import format_aggregate
    from supermasks.report.outputs import AGGREGATE, check_inputs, check_output, read_directories

    check_inputs(args.paths)
    out = args.out if args.out is not None else _default_aggregate_dir(args.paths)
    try:
        check_output(out, AGGREGATE, read_directories(args.paths))  # before any work: nothing written when refused
        result = aggregate_runs(args.paths, by=args.by, baseline=args.baseline)
    except (FileNotFoundError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    write_aggregate(result, out, figures=not args.no_figures)
    runs = result.table["run_directory"].nunique()
    print(f"{runs} finished run(s) aggregated, {len(result.skipped)} skipped")
    for item in result.skipped:
        print(f"  skipped {item.directory}: {item.reason}")
    if runs:
        print()
        print(format_aggregate(result.summary, result.comparisons, result.settings, by=args.by))
    print(f"aggregate directory: {out}")
    return 0 if runs else 1


def _default_aggregate_dir(paths: list[Path]) -> Path:
    """`<dir>/aggregate` for one directory of runs (or one sweep directory); `./aggregate` otherwise."""
    from supermasks.aggregate.discover import is_run_directory

    if len(paths) == 1 and not is_run_directory(paths[0]):
        return paths[0] / "aggregate"
    return Path("aggregate")


def _cmd_sweep(args: argparse.Namespace) -> int:
    # Threads are set per run (to its CPUs) by the sweep; this process only gathers outcomes.
    from supermasks.sweep import executor_for, load_sweep, run_sweep, summary_text

    if _console is not None and not args.verbose:  # each run's own lines stay in its run.log; the bar shows progress
        _console.addFilter(_sweep_lines_only)
    name, executor = executor_for(args.executor, cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run,
                                  address=args.address, num_cpus=args.num_cpus, connect_timeout=args.connect_timeout)
    sweep = load_sweep(find_config(args.config), args.overrides, seeds=args.seeds, max_runs=args.max_runs)
    record = run_sweep(sweep, executor, executor_name=name, cpus_per_run=args.cpus_per_run,
                       progress=not args.no_progress)
    print()
    counts = record.summary()
    if sweep.runs and counts["done"] + counts["skipped"]:
        _write_report([sweep.directory()], sweep.directory(), sweep.runs[0].config)
        _print_sweep_table(sweep.directory())
    print(summary_text(record))
    return 1 if record.summary()["failed"] else 0


def _print_sweep_table(directory: Path) -> None:
    """The sweep's finished runs as `supermasks aggregate` prints them: means over seeds, paired tests."""
    from supermasks.aggregate import aggregate_runs
    from supermasks.aggregate.report import format_aggregate

    result = aggregate_runs([directory])
    print(format_aggregate(result.summary, result.comparisons, result.settings))
    print()


def _sweep_lines_only(record: logging.LogRecord) -> bool:
    """On the console during a sweep: the sweep's own messages, and the runs' warnings and errors."""
    return record.levelno >= logging.WARNING or record.name.startswith("supermasks.sweep")


def _cmd_list(args: argparse.Namespace) -> int:
    from supermasks.config.catalog import sections  # names and descriptions only: no torch to import

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
    from supermasks.runner.signals import sigterm_as_interrupt, signal_number

    try:  # SIGTERM stops a download as Ctrl-C does: its temporary file is deleted, the exit code is 143
        with sigterm_as_interrupt():
            path = fetch(args.name, cache_dir=args.dir, progress=not args.no_progress)
    except KeyboardInterrupt as exc:
        how = "terminated (SIGTERM)" if signal_number(exc) == signal.SIGTERM else "interrupted"
        exc.args = (f"{how}; the unfinished download was deleted, the files already checked are kept: run the "
                    f"same command again to fetch the rest",)
        raise
    print(f"{args.name}: files checked and stored in {path}")
    return 0


# What runs each subcommand (`cli.parser.build_parser`'s names); `results` brings its own.
_COMMANDS: dict[str, Command] = {
    "run": _cmd_run, "compare": _cmd_run, "aggregate": _cmd_aggregate, "report": _cmd_report, "sweep": _cmd_sweep,
    "list": _cmd_list, "data status": _cmd_data_status, "data fetch": _cmd_data_fetch,
}


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
    """Run `supermasks` with the arguments `argv` (None: the command line's); the exit status."""
    try:
        return _main(argv)
    except KeyboardInterrupt as exc:  # Ctrl-C at any time (start-up included), or SIGTERM during a run
        print(f"supermasks: {str(exc) or 'interrupted'}", file=sys.stderr)
        return 128 + int(getattr(exc, "signum", signal.SIGINT))  # 130 for Ctrl-C, 143 for SIGTERM (the shell's codes)


def _main(argv: list[str] | None) -> int:
    parser = build_parser(_COMMANDS)
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
    except WorkerError as exc:  # a worker process of run.parallel_tasks died: the run resumes after its last task
        print(f"supermasks: error: {exc}", file=sys.stderr)
        return 1
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

