"""Run every benchmark script, one after the other, and collect their sections into benchmarks/results.md.

A benchmark script is any `benchmarks/*.py` but this file and names starting with `_`. Each runs in
its own subprocess (so one's imports, threads and memory do not colour the next) with the
package's `src/` first on `PYTHONPATH`; with `--quick` it gets `--quick` too, where its source
declares that option. A script prints a Markdown section starting with `## <title>`; output
without one is kept under a heading made from the file name. A script that fails gets a section
saying so, with the tail of its stderr, and the harness exits non-zero after running the rest.

The file starts with the machine: CPU model, cores, memory, OS, Python and torch versions, the
thread settings the scripts inherit, and the date.

Run: `make bench` (or `make bench QUICK=1`), i.e. `.venv/bin/python benchmarks/run_all.py [--quick]`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))  # the machine description below, without an installed package

from supermasks.results.bench import markdown_section  # noqa: E402
from supermasks.results.machine import describe_machine, thread_settings  # noqa: E402

STDERR_TAIL = 30  # lines of a failing script's stderr kept in the results


def benchmark_scripts(directory: Path = HERE) -> list[Path]:
    """Every benchmark script in `directory`, by name: all `*.py` but this harness and `_private.py` files."""
    return sorted(p for p in directory.glob("*.py") if p.name != Path(__file__).name and not p.name.startswith("_"))


def machine_header(quick: bool, environ: dict[str, str]) -> str:
    """The results file's header: what machine and software the figures below come from."""
    m = describe_machine(environ)
    memory = "unknown" if m["memory_gib"] is None else f"{m['memory_gib']:.1f} GiB"
    lines = [
        "# Benchmark results",
        "",
        f"- date: {m['date']}",
        f"- CPU: {m['cpu']}, {m['logical_cores']} logical cores ({m['usable_cores']} usable by this process); "
        f"bfloat16 matrix units in its flags: {', '.join(m['bfloat16_flags']) or 'none'}",
        f"- memory: {memory}",
        f"- OS: {m['os']}",
        f"- Python {m['python']}, torch {m['torch']}, numpy {m['numpy']}",
        f"- thread variables the scripts inherit: {thread_settings(m)} (each script may set its own)",
        f"- mode: {'quick (`--quick`)' if quick else 'full'}",
        "",
    ]
    return "\n".join(lines)


def _accepts_quick(script: Path) -> bool:
    return '"--quick"' in script.read_text(encoding="utf-8")


def section(script: Path, returncode: int, stdout: str, stderr: str, seconds: float, quick_passed: bool) -> str:
    """One script's Markdown section: its own output, wrapped under a heading if it printed none."""
    name = script.stem
    note = f"*`{script.parent.name}/{script.name}`{' --quick' if quick_passed else ''}: {seconds:.0f} s*"
    if returncode != 0:
        tail = "\n".join(stderr.rstrip().splitlines()[-STDERR_TAIL:])
        body = f"## {name}\n\n**failed** with exit code {returncode}. The end of its stderr:\n\n```\n{tail}\n```\n"
        return f"{body}\n{note}\n"
    body = markdown_section(stdout)
    if body is None:
        return f"## {name}\n\n```\n{stdout.strip()}\n```\n\n{note}\n"
    return f"{body}\n{note}\n"


def run_script(script: Path, quick: bool, timeout: float, env: dict[str, str]) -> tuple[str, bool]:
    """Run one script in a subprocess; its section and whether it succeeded."""
    quick_passed = quick and _accepts_quick(script)
    command = [sys.executable, str(script), *(["--quick"] if quick_passed else [])]
    start = time.perf_counter()
    try:
        proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
        returncode, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        returncode = 124
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        stderr = (exc.stderr.decode() if isinstance(exc.stderr, bytes) else exc.stderr or "") + \
            f"\n(stopped after the time limit of {timeout:.0f} s)"
    seconds = time.perf_counter() - start
    return section(script, returncode, stdout, stderr, seconds, quick_passed), returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="pass --quick to every script that has it")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these scripts (file names without .py)")
    parser.add_argument("--output", type=Path, default=HERE / "results.md", help="the results file")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds each script may run")
    parser.add_argument("--directory", type=Path, default=HERE, help="where the scripts are")
    args = parser.parse_args()

    scripts = benchmark_scripts(args.directory)
    if args.only:
        unknown = set(args.only) - {p.stem for p in scripts}
        if unknown:
            parser.error(f"no benchmark script named {', '.join(sorted(unknown))}")
        scripts = [p for p in scripts if p.stem in args.only]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
    parts = [machine_header(args.quick, env)]
    failed = []
    for script in scripts:
        print(f"running {script.name} ...", file=sys.stderr, flush=True)
        text, ok = run_script(script, args.quick, args.timeout, env)
        parts.append(text)
        if not ok:
            failed.append(script.name)
            print(f"  failed: {script.name}", file=sys.stderr, flush=True)
    args.output.write_text("\n".join(parts), encoding="utf-8")
    print(f"wrote {args.output}" + (f"; failed: {', '.join(failed)}" if failed else ""), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
