"""The arguments of the `supermasks` command: every subcommand, its options and their help.

Only argparse and a few constants are imported here, so that `supermasks list` and `--help` load
no torch. Which function runs each subcommand is the caller's to say (`cli.commands`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from supermasks import __version__
from supermasks.results.commands import add_parser as add_results_parser
from supermasks.compute.threads import ENV_THREADS
from supermasks.config.workload import DEFAULT_MAX_RUNS

Command = Callable[[argparse.Namespace], int]  # a subcommand: its parsed arguments in, the exit status out


def _console_flags(parser: argparse.ArgumentParser, default: Any) -> None:
    """-q and -v, the console's verbosity, on `parser`, with `default` where they are not given."""
    parser.add_argument("-q", "--quiet", action="store_true", default=default,
                        help="only warnings and errors on the console")
    parser.add_argument("-v", "--verbose", action="store_true", default=default,
                        help="also debug messages on the console")


def build_parser(commands: Mapping[str, Command]) -> argparse.ArgumentParser:
    """The parser of `supermasks` and its subcommands; each subcommand's `func` is `commands[its name]`.

    Names: run, compare, aggregate, report, sweep, list, "data status" and "data fetch" (`results` brings its own).
    """
    parser = argparse.ArgumentParser(
        prog="supermasks", description="Continual learning with supermasks: run experiments, list components, manage data.")
    parser.add_argument("--version", action="version", version=f"supermasks {__version__}")
    _console_flags(parser, default=False)
    flags = argparse.ArgumentParser(add_help=False)  # the same flags after a subcommand: `run CONFIG -q`
    _console_flags(flags, default=argparse.SUPPRESS)  # given there or not at all: the value before it stands
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
        p = sub.add_parser(name, parents=[flags], help=summary, description=description)
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
        p.set_defaults(func=commands[name])

    p = sub.add_parser(
        "aggregate", parents=[flags], help="tables over seeds of finished runs: means, 95%% intervals, paired comparisons",
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
    p.set_defaults(func=commands["aggregate"])

    p = sub.add_parser(
        "report", parents=[flags], help="one self-contained HTML page of runs, a sweep or a study: summary, figures, tables",
        description="Write one HTML file (figures embedded, no network needed to view it) about the finished runs "
                    "among PATH: a run directory, a directory of runs, a sweep directory or a study directory. "
                    "It opens with a summary in plain words computed from the numbers, then sections with a "
                    "table of contents: ACC, BWT, FWT and forgetting with their definitions, the accuracy matrix "
                    "as a heat map, accuracy during training, memory and time, mask overlap (heat maps, overlap "
                    "against relatedness, Mantel tests; the mask images with --full), task inference, and provenance (git commit, "
                    "versions, seed, machine, duration, config). Several runs add the means over seeds with 95% "
                    "intervals and paired t-tests (as `aggregate`); a study adds its Experiment 1 findings and its "
                    "Experiment 3 task-inference table and confusion matrices. An Experiment 2 (transfer study) "
                    "directory gets its own page: accuracy against budget per transfer mode with paired tests, "
                    "similarity heat maps and against relatedness, alphas, signature task inference. "
                    "Figures past the first few are folded under a click. Progress goes to stderr (quiet with -q). "
                    "Tables sort by clicking a header. `run` writes this report into the run or study "
                    "directory unless run.report=false. Runs that did not finish or cannot be read are left out "
                    "with a warning each. The report goes nowhere inside a run, sweep or study directory but to "
                    "its report.html, and replaces no existing file but an earlier report.")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                   help="a run directory, a directory of runs, a sweep directory, a study or transfer-study directory")
    p.add_argument("-o", "--out", type=Path, default=None,
                   help="the HTML file (default: PATH/report.html for one PATH, else ./report.html); not a "
                        "directory, nor an existing file other than a report")
    p.add_argument("--full", action="store_true",
                   help="also draw the mask images (one per task and layer); left out by default, the page stays small")
    p.set_defaults(func=commands["report"])

    p = sub.add_parser(
        "sweep", parents=[flags], help="run a grid of settings times seeds, each run its own run directory, in parallel on Ray",
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
    p.set_defaults(func=commands["sweep"])

    p = sub.add_parser("list", parents=[flags],
                       help="list benchmarks, data sources, models, methods, scenarios and shipped configs")
    p.set_defaults(func=commands["list"])

    data = sub.add_parser("data", parents=[flags], help="data sources: status and downloads")
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    p = dsub.add_parser("status", aliases=["list"], parents=[flags],
                        help="which data sources are available here, and how to get the others")
    p.set_defaults(func=commands["data status"])
    p = dsub.add_parser("fetch", parents=[flags],
                        help="download a data set (SHA-256 checked) into the cache; ImageNet cannot be "
                        "downloaded: see docs/data.md",
                        description="Download a data set's files into the cache, each checked against its published "
                                    "SHA-256. Ctrl-C or SIGTERM deletes the unfinished file (exit 130 or 143) and "
                                    "keeps the checked ones; a killed download's leftover is removed by the next "
                                    "fetch.")
    p.add_argument("name", choices=["mnist", "fashion-mnist", "kmnist", "cifar100"])
    p.add_argument("--dir", type=Path, default=None, help="cache directory (default: the user cache)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=commands["data fetch"])
    add_results_parser(sub, parents=[flags])
    return parser
