"""Run a documented result's command afresh in a temporary folder: to store its small files, or to diff them.

A benchmark result keeps the Markdown section its script printed and the machine that measured it; its rerun is
compared where the figures do not depend on the machine (`supermasks.results.bench`).
"""

from __future__ import annotations

import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from supermasks import __version__
from supermasks.results.bench import OUTPUT_FILE, compare_sections, markdown_section
from supermasks.results.diff import diff_results
from supermasks.results.machine import describe_machine
from supermasks.results.registry import Result
from supermasks.results.version import VERSION_FILE, read_version
from supermasks.compute.threads import plan_threads

log = logging.getLogger("supermasks")


def default_root() -> Path:
    """The source checkout this package runs from, else the current folder."""
    checkout = Path(__file__).resolve().parents[3]  # src/supermasks/results/rerun.py -> the repository
    return checkout if (checkout / "pyproject.toml").is_file() and (checkout / "results").is_dir() else Path.cwd()


def command_line(result: Result) -> str:
    """The command as a user types it (from the repository, for a benchmark script)."""
    return " ".join(["python" if result.kind == "benchmark" else "supermasks", *result.command])


def kept_files(out_dir: Path, patterns: tuple[str, ...]) -> list[str]:
    """The files under each top-level directory of `out_dir` that match `patterns`, relative to `out_dir`."""
    found = set()
    for top in sorted(p for p in out_dir.iterdir() if p.is_dir()):
        for pattern in patterns:
            found.update(p.relative_to(out_dir).as_posix() for p in top.glob(pattern) if p.is_file())
    return sorted(found)


def committed_files(result_dir: Path) -> list[str]:
    """The files of a committed result, its version file aside."""
    return sorted(p.relative_to(result_dir).as_posix() for p in result_dir.rglob("*")
                  if p.is_file() and p.name != VERSION_FILE)


@dataclass(frozen=True)
class Rerun:
    """A fresh run of a result's command: where its kept files are (`out_dir`), how long it took (wall clock), the
    CPU time (user + system) of the command and its children, the largest resident set any of them reached, and,
    for a benchmark, the machine it ran on."""

    work: Path
    out_dir: Path
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    machine: dict | None = None


def _subprocess(result: Result, root: Path, work: Path) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of a result's command, run from `work`."""
    if result.kind == "benchmark":  # the script of this checkout, importing this checkout's package
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root / "src"), env.get("PYTHONPATH")]))
        return [sys.executable, str(root / result.command[0]), *result.command[1:]], env
    args = [str(root / a) if (root / a).is_file() else a for a in result.command]  # the config, from this checkout
    return [sys.executable, "-m", "supermasks.cli", "-q", *args, "--no-progress"], dict(os.environ)


def rerun(result: Result, root: Path, work: Path) -> Rerun:
    """Run the command with `work` as the current folder, so that its runs land in a new, empty `work/runs`
    (never the user's runs/, never a finished run that would be reused). Output goes to `work/command.log`; a
    benchmark's standard output, its printed section, to `work/out/output.md`."""
    cmd, env = _subprocess(result, root, work)
    benchmark = result.kind == "benchmark"
    machine = describe_machine(os.environ) if benchmark else None  # before it starts: the load it started under
    log.info("running `%s` in %s", command_line(result), work)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with (work / "command.log").open("w") as out:
        stdout = subprocess.PIPE if benchmark else out
        proc = subprocess.run(cmd, cwd=work, env=env, stdout=stdout, stderr=out if benchmark else subprocess.STDOUT,
                              text=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        tail = "\n".join((work / "command.log").read_text().splitlines()[-20:])
        raise RuntimeError(f"`{command_line(result)}` exited with {proc.returncode} (log: {work / 'command.log'}):\n{tail}")
    out_dir = work / "runs"
    if benchmark:
        section = markdown_section(proc.stdout)
        if section is None:
            raise RuntimeError(f"`{command_line(result)}` printed no Markdown section (a line starting with `## `); "
                               f"it printed:\n{proc.stdout[-2000:]}")
        out_dir = work / "out"
        out_dir.mkdir()
        (out_dir / OUTPUT_FILE).write_text(section)
    # ru_maxrss is in KiB on Linux: the peak of the largest child waited for so far (this command, as it is the
    # largest thing this process runs).
    return Rerun(work, out_dir, seconds, cpu, after.ru_maxrss / 1024, machine)


def result_files(result: Result, out_dir: Path) -> list[str]:
    """The files a rerun wrote that the result keeps, relative to `out_dir`."""
    return [OUTPUT_FILE] if result.kind == "benchmark" else kept_files(out_dir, result.files)


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.rstrip() if out.returncode == 0 else None  # rstrip: porcelain lines may start with a space


def code_version(root: Path, code: tuple[str, ...] = ("src", "configs")) -> dict:
    """The package version and the git commit of `root`, with the files under `code` that differed from it."""
    changes = _git(root, "status", "--porcelain", "--", *code)
    return {"package_version": __version__, "git_commit": _git(root, "rev-parse", "HEAD"),
            "uncommitted_changes": [line[3:] for line in changes.splitlines()] if changes else []}


def _threads(environ: Mapping[str, str]) -> int | str:
    """The torch thread count the command ran with (compute.threads' precedence: SUPERMASKS_THREADS, then the user's
    OMP_NUM_THREADS, then one thread)."""
    planned = plan_threads(None, environ).threads
    if planned is not None:
        return planned
    text = environ.get("OMP_NUM_THREADS", "").strip()
    return int(text) if text.isdigit() else "torch's default"


def update(result: Result, root: Path) -> Path:
    """Rerun `result` and replace results/NAME with its small files and a version.json; returns results/NAME."""
    dest = root / "results" / result.name
    with tempfile.TemporaryDirectory(prefix=f"supermasks-{result.name}-") as tmp:
        done = rerun(result, root, Path(tmp))
        files = result_files(result, done.out_dir)
        if dest.exists():
            shutil.rmtree(dest)
        for rel in files:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(done.out_dir / rel, dest / rel)
    code = ("src", "benchmarks") if result.kind == "benchmark" else ("src", "configs")
    version = {"command": command_line(result), **code_version(root, code), "seconds": round(done.seconds, 1),
               "cpu_seconds": round(done.cpu_seconds, 1), "peak_rss_mib": round(done.peak_rss_mib)}
    if done.machine is not None:  # a benchmark sets its own threads: the machine lists the variables it inherited
        version["machine"] = done.machine
    else:
        version["threads"] = _threads(os.environ)
    (dest / VERSION_FILE).write_text(json.dumps(version, indent=2) + "\n")
    return dest


@dataclass(frozen=True)
class Reproduction:
    """What a rerun gave against the committed files: `differences` is empty when they agree. For a benchmark,
    `measurements` holds the machine's figures side by side (committed / rerun), which are never compared."""

    differences: list[str]
    seconds: float
    kept: Path | None  # the rerun's folder, kept for a look when it differs
    measurements: list[str] = field(default_factory=list)


def reproduce(result: Result, root: Path, *, keep: bool = False) -> Reproduction:
    """Rerun `result` into a temporary folder and compare its small files with results/NAME field by field; a
    benchmark's section where it does not depend on the machine."""
    committed = root / "results" / result.name
    if not committed.is_dir():
        raise FileNotFoundError(f"{committed} is missing: `supermasks results update {result.name}` makes it")
    work = Path(tempfile.mkdtemp(prefix=f"supermasks-{result.name}-"))
    done = rerun(result, root, work)
    measurements: list[str] = []
    if result.kind == "benchmark":
        if not (committed / OUTPUT_FILE).is_file():
            raise FileNotFoundError(f"{committed / OUTPUT_FILE} is missing: `supermasks results update "
                                    f"{result.name}` makes it")
        found = compare_sections((committed / OUTPUT_FILE).read_text(), (done.out_dir / OUTPUT_FILE).read_text(),
                                 result.measured)
        differences, measurements = [f"{OUTPUT_FILE}: {line}" for line in found.differences], found.measurements
    else:
        files = sorted(set(committed_files(committed)) | set(kept_files(done.out_dir, result.files)))
        differences = diff_results(committed, done.out_dir, files)
    if differences or keep:
        return Reproduction(differences, done.seconds, work, measurements)
    shutil.rmtree(work)
    return Reproduction(differences, done.seconds, None, measurements)


__all__ = ["Reproduction", "Rerun", "VERSION_FILE", "code_version", "command_line", "committed_files", "default_root",
           "kept_files", "read_version", "reproduce", "rerun", "result_files", "update"]
