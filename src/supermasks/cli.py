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
from supermasks.errors import ConfigError, DataError, WorkerError
from supermasks.results.commands import add_parser as add_results_parser
from supermasks.workload import DEFAULT_MAX_RUNS
from supermasks.threads import ENV_THREADS, apply_threads, plan_threads


def _cmd_run(args: argparse.Namespace) -> int:
    try:  # before torch loads (the imports below): OpenMP reads its variables once
        apply_threads(plan_threads(args.threads, os.environ))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    args.config = find_config(args.config)  # a shipped config may be named bare: `run experiment1`
    from supermasks.aggregate.seeded import run_seeds
    from supermasks.config_seeds import load_configs
    from supermasks.runner import run
    from supermasks.studies.grid import is_study_file, load_study, run_study, study_summary
    from supermasks.studies.overlap import study_findings

    from supermasks.studies.transfer import run_transfer_study
    from supermasks.studies.transfer_file import is_transfer_study_file, load_transfer_study
    from supermasks.studies.transfer_results import study_text

    if is_transfer_study_file(args.config):
        if args.part is not None:
            raise ConfigError(f"{args.config} is a transfer study; --part applies to study files with parts")
        transfer = load_transfer_study(args.config, args.overrides, max_runs=args.max_runs)
        tables = run_transfer_study(transfer, progress=not args.no_progress)
        print()
        print(study_text(tables))
        config = next(iter(transfer.benchmarks.values()))["random"]
        if config.run.report:
            _write_report([transfer.directory()], transfer.directory(), figures=config.run.figures)
        print(f"study directory: {transfer.directory()}")
        return 0
    if is_study_file(args.config):
        study = load_study(args.config, args.overrides, only=args.part, max_runs=args.max_runs)
        frame = run_study(study, force=args.force, progress=not args.no_progress)
        print()
        if study.note:
            print(study.note)
        print(study_summary(frame))
        found = study_findings(study.directory())
        if found:
            print("\nDoes mask overlap follow task relatedness? How much: overlap / chance of the most and "
                  "the least related pairs and its slope with relatedness (95% intervals over seeds), Mantel test "
                  "stratified by seed; a trend where the Holm-adjusted p < 0.05 (\"p <=\": at the permutation floor)")
            print(found)
        if study.runs and study.runs[0].config.run.report:
            _write_report([study.directory()], study.directory(), figures=study.runs[0].config.run.figures)
        print(f"study directory: {study.directory()}")
        return 0
    if args.part is not None:
        raise ConfigError(f"{args.config} has no parts; --part applies to study files only")
    configs, seeds = load_configs(args.config, args.overrides, max_runs=args.max_runs)
    if seeds is not None:  # `seeds: [...]`: one run per seed, then the tables over the seeds
        seed_runs = run_seeds(configs, force=args.force, progress=not args.no_progress)
        if configs[0].run.report:
            _write_report(seed_runs.directories, seed_runs.directory, figures=configs[0].run.figures)
        _print_seeds(seed_runs)
        return 0
    (config,) = configs
    result = run(config, force=args.force, progress=not args.no_progress)
    _print_summary(result)  # a finished run that was not repeated shows its stored results
    if args.command == "compare" or len(config.method) > 1:
        _print_comparison(result)
    if config.run.report:
        _write_report([result.directory], result.directory, figures=config.run.figures)
    print(f"run directory: {result.directory}")
    return 0


def _write_report(paths: list[Path], directory: Path, *, figures: bool) -> None:
    """report.html in `directory` (`run.report`; the runs' figures only with `run.figures`), its path printed.
    A report that cannot be written is a warning: the run's results are saved already."""
    from supermasks.report import REPORT_FILE, write_report

    try:
        path = write_report(paths, directory / REPORT_FILE, figures=figures)
    except (OSError, ValueError, KeyError, TypeError, ConfigError) as error:
        logging.getLogger("supermasks").warning("warning: no report written (%s: %s); `supermasks report %s` "
                                                "tries again", type(error).__name__, error,
                                                " ".join(str(p) for p in paths))
        return
    print(f"report: {path}")


def _cmd_report(args: argparse.Namespace) -> int:
    from supermasks.outputs import REPORT, check_inputs, check_output, read_directories
    from supermasks.report import REPORT_FILE, write_report

    check_inputs(args.paths)
    out = args.out
    if out is None:
        out = (args.paths[0] / REPORT_FILE) if len(args.paths) == 1 else Path(REPORT_FILE)
    try:
        check_output(out, REPORT, read_directories(args.paths))  # before any work: nothing written when refused
        path = write_report(args.paths, out)
    except (FileNotFoundError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    print(f"report: {path}")
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


def _print_seeds(seed_runs) -> None:
    from supermasks.aggregate.report import format_aggregate

    result = seed_runs.aggregate
    print()
    print(format_aggregate(result.summary, result.comparisons, result.settings))
    _print_definitions()
    for item in result.skipped:
        print(f"skipped {item.directory}: {item.reason}")
    print("run directories:")
    for directory in seed_runs.directories:
        print(f"  {directory}")
    print(f"aggregate directory: {seed_runs.directory}")


def _print_comparison(result) -> None:
    from supermasks.report.text import format_comparison

    print()
    print(format_comparison(result.comparison()))
    _print_definitions()


def _print_definitions() -> None:
    from supermasks.metrics import DEFINITIONS

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


def _cmd_aggregate(args: argparse.Namespace) -> int:
    from supermasks.aggregate import aggregate_runs, write_aggregate
    from supermasks.aggregate.report import format_aggregate
    from supermasks.outputs import AGGREGATE, check_inputs, check_output, read_directories

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
    if sweep.runs and sweep.runs[0].config.run.report and counts["done"] + counts["skipped"]:
        _write_report([sweep.directory()], sweep.directory(), figures=sweep.runs[0].config.run.figures)
    print(summary_text(record))
    return 1 if record.summary()["failed"] else 0


def _sweep_lines_only(record: logging.LogRecord) -> bool:
    """On the console during a sweep: the sweep's own messages, and the runs' warnings and errors."""
    return record.levelno >= logging.WARNING or record.name.startswith("supermasks.sweep")


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
                "`supermasks run configs/supsup.yaml data.benchmark=rotated data.num_tasks=10 seed=3`. "
                "A run that did not finish (killed, Ctrl-C) resumes after its last finished task when "
                "run again; a finished one is skipped. Study files (with `parts`) and transfer studies "
                "(with `transfer_study`, e.g. configs/experiment2.yaml) run every run they describe. `seeds=[0,1,2]` "
                "(or `seeds:` in the file) runs every seed as its own run and prints means with 95% intervals. "
                "`run.device=cuda` (or cpu, auto, cuda:N) picks where it computes (docs/devices.md). "
                "Unless run.report=false, report.html (see `report`) is written into the run, seeds, study or "
                "transfer-study directory and its path printed."),
        "compare": ("run several methods on the same tasks and print one metrics table",
                    "Like `run`, for a config with several methods (e.g. configs/compare.yaml); prints methods "
                    "as rows and ACC, BWT, FWT, forgetting, memory and time as columns. With `seeds=[0,1,2]` "
                    "(or `seeds:` in the config) every seed is its own run, and the table shows each metric's "
                    "mean over the seeds with its 95% t interval, followed by paired t-tests between methods "
                    "(Holm-adjusted); the tables go into <out_dir>/<name>-seeds-<hash> as with `aggregate`."),
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
        p.add_argument("--max-runs", type=int, default=None, metavar="N",
                       help=f"refuse a study (parts x grid points x seeds; a transfer study: benchmarks x modes x seeds) or a "
                            f"`seeds:` list of more than N runs "
                            f"(default {DEFAULT_MAX_RUNS}), counted before any run is built")
        p.add_argument("--threads", type=int, default=None, metavar="N",
                       help=f"CPU threads for torch (default: ${ENV_THREADS} if set, else $OMP_NUM_THREADS if set, "
                            "else 1; 0: torch's default of one per core). OMP_WAIT_POLICY=PASSIVE unless set. "
                            "Independent tasks (run.parallel_tasks: auto) train in N one-thread processes instead; "
                            "dependent tasks of a small FC net train with one thread (two are slower), as the log says")
        p.set_defaults(func=_cmd_run)

    p = sub.add_parser(
        "aggregate", help="tables over seeds of finished runs: means, 95%% intervals, paired comparisons",
        description="Read the finished runs among PATH (run directories, or directories holding them such as runs/ "
                    "or a sweep directory) and write into OUT: runs.csv, the tidy table (one row per run, "
                    "benchmark, method, task and metric, with the seed and the settings that differ between "
                    "the runs as columns); summary.csv, grouped by everything but the seed (n_seeds, mean, std, "
                    "95% Student t interval); comparisons.csv, paired t-tests between methods over the same "
                    "seeds with Holm-adjusted p-values per metric; skipped.csv; and figures/ with error bars. "
                    "Tables are also written as Parquet when pyarrow is installed. Unfinished or failed runs "
                    "are listed and skipped with a warning. OUT may not be a run, sweep or study directory nor lie "
                    "inside one (a sweep's or study's own aggregate/ excepted), nor be an existing file.")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                   help="a run directory, a directory of runs, or a sweep directory")
    p.add_argument("-o", "--out", type=Path, default=None,
                   help="output directory (default: PATH/aggregate for one directory of runs, else ./aggregate); "
                        "not an existing file")
    p.add_argument("--by", default="method", help="the column whose values are compared in pairs (default: method)")
    p.add_argument("--baseline", default=None, help="compare every other value of --by with this one only")
    p.add_argument("--no-figures", action="store_true", help="tables only")
    p.set_defaults(func=_cmd_aggregate)

    p = sub.add_parser(
        "report", help="one self-contained HTML page of runs, a sweep or a study: summary, figures, tables",
        description="Write one HTML file (figures embedded, no network needed to view it) about the finished runs "
                    "among PATH: a run directory, a directory of runs, a sweep directory or a study directory. "
                    "It opens with a summary in plain words computed from the numbers, then sections with a "
                    "table of contents: ACC, BWT, FWT and forgetting with their definitions, the accuracy matrix "
                    "as a heat map, accuracy during training, memory and time, mask overlap (heat maps, overlap "
                    "against relatedness, mask images, Mantel tests), task inference, and provenance (git commit, "
                    "versions, seed, machine, duration, config). Several runs add the means over seeds with 95% "
                    "intervals and paired t-tests (as `aggregate`); a study adds its Experiment 1 findings and its "
                    "Experiment 3 task-inference table and confusion matrices. An Experiment 2 (transfer study) "
                    "directory gets its own page: accuracy against budget per transfer mode with paired tests, "
                    "similarity heat maps and against relatedness, alphas, signature task inference. "
                    "Tables sort by clicking a header. `run` writes this report into the run or study "
                    "directory unless run.report=false. Runs that did not finish or cannot be read are left out "
                    "with a warning each. The report goes nowhere inside a run, sweep or study directory but to "
                    "its report.html, and replaces no existing file but an earlier report.")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                   help="a run directory, a directory of runs, a sweep directory, a study or transfer-study directory")
    p.add_argument("-o", "--out", type=Path, default=None,
                   help="the HTML file (default: PATH/report.html for one PATH, else ./report.html); not a "
                        "directory, nor an existing file other than a report")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser(
        "sweep", help="run a grid of settings times seeds, each run its own run directory, in parallel on Ray",
        description="Expand CONFIG's `sweep:` block (dotted key -> list of values) and comma lists in overrides "
                    "(`method=supsup,ewc data.benchmark=permuted,rotated`; a value in brackets stays one value) "
                    "into runs, times --seeds seeds each, and run them: as Ray tasks (a local Ray with this "
                    "machine's CPUs, or the cluster at --address), or one after another in this process "
                    "(--executor local, and wherever Ray is not installed). Each run is an ordinary run directory; "
                    "finished runs are skipped, unfinished ones resume, a failed one is recorded (sweep.json, "
                    "failures/) without stopping the others. It first says how many runs there are and how much "
                    "work is left, and refuses more than --max-runs runs. Exits 1 when a run failed, 2 on a bad "
                    "option or config, 130/143 when stopped by Ctrl-C/SIGTERM (runs in flight are marked "
                    "interrupted and resume next time).")
    p.add_argument("config", type=Path, help="experiment YAML file, or a shipped config's name (see `list`)")
    p.add_argument("overrides", nargs="*", metavar="key=value[,value...]",
                   help="a setting by its dotted key; a comma list sweeps it (each value read as YAML)")
    p.add_argument("--seeds", type=int, default=None, metavar="N",
                   help="seeds per grid point: the config's seed and the N-1 after it (default 1; or list them: "
                        "seed=0,3,7)")
    p.add_argument("--executor", choices=["auto", "ray", "local"], default="auto",
                   help="ray: Ray tasks; local: one run after another in this process; auto (default): ray where "
                        "it is installed (pip install 'supermasks[ray]'), else local")
    p.add_argument("--address", default=None,
                   help="join this Ray cluster (HOST:PORT such as 10.0.0.1:6379, ray://HOST:PORT, or `auto`: the "
                        "cluster this machine belongs to) instead of starting a local Ray; it must answer within "
                        "--connect-timeout")
    p.add_argument("--connect-timeout", type=float, default=None, metavar="S",
                   help="seconds to wait for the cluster at --address to answer (default 5)")
    p.add_argument("--num-cpus", type=int, default=None, metavar="N",
                   help="CPUs of the local Ray started for the sweep, 1 or more (default: this machine's)")
    p.add_argument("--max-runs", type=int, default=None, metavar="N",
                   help=f"refuse a sweep of more than N runs (grid points x seeds; default {DEFAULT_MAX_RUNS}), "
                        "counted before any run is built")
    p.add_argument("--cpus-per-run", type=float, default=1, metavar="N",
                   help="CPUs Ray reserves for each run; each run uses max(1, floor(N)) torch threads (default 1)")
    p.add_argument("--gpus-per-run", type=float, default=0, metavar="N",
                   help="GPUs Ray reserves for each run (fractions share a GPU; default 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser("list", help="list benchmarks, data sources, models, methods, scenarios and shipped configs")
    p.set_defaults(func=_cmd_list)

    data = sub.add_parser("data", help="data sources: status and downloads")
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    p = dsub.add_parser("status", aliases=["list"],
                        help="which data sources are available here, and how to get the others")
    p.set_defaults(func=_cmd_data_status)
    p = dsub.add_parser("fetch", help="download a data set (SHA-256 checked) into the cache; ImageNet cannot be "
                        "downloaded: see docs/data.md",
                        description="Download a data set's files into the cache, each checked against its published "
                                    "SHA-256. Ctrl-C or SIGTERM deletes the unfinished file (exit 130 or 143) and "
                                    "keeps the checked ones; a killed download's leftover is removed by the next "
                                    "fetch.")
    p.add_argument("name", choices=["mnist", "fashion-mnist", "kmnist", "cifar100"])
    p.add_argument("--dir", type=Path, default=None, help="cache directory (default: the user cache)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_data_fetch)
    add_results_parser(sub)
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


if __name__ == "__main__":
    sys.exit(main())
