"""Wall and CPU time of one SupSup run (task given) on one thread, on two OpenMP threads, and in two worker processes.

The run: the seed setting, SupSup on `--tasks` Permuted Fashion-MNIST tasks of `--steps` steps
(FC 784-300-300-10, batch 128, RMSprop 1e-4, threshold rule), as `supermasks run ... --threads N`
does it, each measurement a fresh process (OpenMP reads its variables when torch loads):
- one thread: `--threads 1`;
- two OpenMP threads (before): `--threads 2` with the run's core planning left out, so both
  threads share each operation, as runs trained before `runner.parallel.plan_cores` existed;
- two processes (after): `--threads 2` as it is now: `run.parallel_tasks: auto` trains the
  independent tasks in two worker processes of one thread each.
Wall time is the whole command (imports, data, training, evaluation); CPU time is user + system of
the process and every process under it (workers and their fork server included: this script
adopts and waits for them, Linux's child subreaper). Rounds interleave the three; medians over
rounds. The masks (checkpoints/task_*.safetensors) of each setting are compared with one thread's.

Run: `.venv/bin/python benchmarks/parallel_tasks.py` (a few minutes), or `--quick` (4 tasks x 100 steps, one round).
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

# The child: the command line's thread set-up (supermasks.cli), then the run; `before` leaves the core planning out.
CHILD = textwrap.dedent("""
    import os, sys
    from supermasks.compute.threads import apply_threads, plan_threads
    threads, mode, overrides = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    apply_threads(plan_threads(threads, os.environ))
    from supermasks.config import load_config
    from supermasks.runner import parallel, run
    if mode == "before":
        parallel.plan_cores = lambda config, **_: parallel.CorePlan("sequence")
    run(load_config(None, overrides), progress=False, force=True)
""")
SETTINGS = {"one thread": (1, "now"), "two OpenMP threads (before)": (2, "before"),
            "two processes (after)": (2, "now")}
PR_SET_CHILD_SUBREAPER = 36


def adopt_descendants() -> None:
    """Make this process the reaper of its orphaned descendants (a fork server outlives the run that started it)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def reap() -> None:
    """Wait for every descendant this process has adopted, so that their CPU time counts as its children's."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(setting: str, overrides: list[str], out: Path) -> tuple[float, float, dict[str, str]]:
    """(wall s, CPU s, SHA-256 of each task's mask file) of one run in a fresh process."""
    threads, mode = SETTINGS[setting]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "SUPERMASKS_THREADS")}
    cpu, start = children_cpu(), time.perf_counter()
    subprocess.run([sys.executable, "-c", CHILD, str(threads), mode, *overrides, f"run.out_dir={out}"], env=env,
                   check=True, timeout=3600)
    wall = time.perf_counter() - start
    reap()
    masks = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.glob("*/*/*/checkpoints/*"))}
    return wall, children_cpu() - cpu, masks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round of 4 tasks x 100 steps")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--steps", type=int, default=469, help="training steps per task (469: one epoch)")
    parser.add_argument("--source", default="fashion-mnist")
    args = parser.parse_args()
    rounds, tasks, steps = (1, 4, 100) if args.quick else (args.rounds, args.tasks, args.steps)
    overrides = ["method=supsup", f"data.source={args.source}", "data.benchmark=permuted", f"data.num_tasks={tasks}",
                 "model.arch=fc-300-300", "model.mask_rule=threshold", "training.optimizer=rmsprop",
                 "training.lr=0.0001", "training.batch_size=128", f"training.steps_per_task={steps}",
                 "scenario.name=task", "run.overlap=false", "run.figures=false", "run.report=false",
                 "run.checkpoint_state=false"]
    adopt_descendants()
    walls: dict[str, list[float]] = {s: [] for s in SETTINGS}
    cpus: dict[str, list[float]] = {s: [] for s in SETTINGS}
    same: dict[str, bool] = {s: True for s in SETTINGS}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(rounds):
            reference = None
            for setting in SETTINGS:
                wall, cpu, masks = measure(setting, overrides, Path(tmp) / f"{round_}-{len(walls[setting])}-{setting[:3]}")
                walls[setting].append(wall)
                cpus[setting].append(cpu)
                if reference is None:
                    reference = masks
                    assert len(masks) == tasks, f"expected {tasks} mask files, found {len(masks)}"
                same[setting] = same[setting] and masks == reference
    base = statistics.median(walls["one thread"])
    print("## Two cores: one thread, two OpenMP threads, two worker processes\n")
    print(f"SupSup GG on {tasks} Permuted {args.source} tasks x {steps} steps (FC 784-300-300-10, batch 128), the whole "
          f"command in a fresh process; medians of {rounds} interleaved round(s) on {len(os.sched_getaffinity(0))} "
          "logical CPUs. Wall times depend on what else the machine runs; CPU time is user + system of the run and "
          "every process under it.\n")
    print("| setting | wall s | CPU s | one thread's wall / this | masks as one thread's |")
    print("|---|---:|---:|---:|---|")
    for setting in SETTINGS:
        wall, cpu = statistics.median(walls[setting]), statistics.median(cpus[setting])
        print(f"| {setting} | {wall:.1f} | {cpu:.1f} | {base / wall:.2f} | {'identical' if same[setting] else 'differ'} |")
    print()
    print("- walls per round: " + "; ".join(f"{s}: {', '.join(f'{w:.1f}' for w in walls[s])}" for s in SETTINGS))


if __name__ == "__main__":
    main()
