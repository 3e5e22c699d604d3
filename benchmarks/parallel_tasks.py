"""Wall time of one SupSup run (task given) with its tasks trained in sequence against as Ray tasks.

The run: SupSup on the synthetic source, `--tasks` permuted tasks of `--steps` training steps,
one torch thread. Per round, in fresh output folders: `run.parallel_tasks=false` (every task in
this process, one after another) and `run.parallel_tasks=true` (each task a Ray task of one CPU
on a local Ray of `--cpus` CPUs, started once by this script, as a caller's Ray). Both runs
write the same results; the script checks that R (accuracy.csv) is the same file. Rounds
interleave the two, medians over rounds; Ray's start-up (`ray.init`, then one untimed tiny
parallel run that starts its worker processes) is timed apart: a run that starts its own Ray
pays it once.

Run: `.venv/bin/python benchmarks/parallel_tasks.py` (a few minutes), or `--quick` (one short round). Needs Ray.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path


def timed_run(tasks: int, steps: int, parallel: bool) -> tuple[float, bytes, float]:
    """(wall seconds, accuracy.csv, median training seconds of a task) of one fresh run."""
    import pandas as pd

    from supermasks.config import load_config
    from supermasks.runner import run

    with tempfile.TemporaryDirectory() as tmp:
        config = load_config(None, ["data.source=synthetic", "data.benchmark=permuted", f"data.num_tasks={tasks}",
                                    f"training.steps_per_task={steps}", "training.batch_size=64",
                                    "run.figures=false", "run.overlap=false", f"run.out_dir={tmp}",
                                    f"run.parallel_tasks={str(parallel).lower()}"])
        start = time.perf_counter()
        result = run(config, progress=False)
        seconds = time.perf_counter() - start
        where = result.directory / "permuted" / "supsup"
        return seconds, (where / "accuracy.csv").read_bytes(), float(pd.read_csv(where / "tasks.csv")["train_seconds"].median())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round of a short run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=6)
    parser.add_argument("--steps", type=int, default=300, help="training steps per task")
    parser.add_argument("--cpus", type=int, default=len(os.sched_getaffinity(0)), help="CPUs of the local Ray")
    args = parser.parse_args()
    rounds, tasks, steps = (1, 4, 100) if args.quick else (args.rounds, args.tasks, args.steps)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import ray
    import torch

    torch.set_num_threads(1)
    logging.getLogger("supermasks").setLevel(logging.WARNING)
    start = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, object_store_memory=200 * 2**20,
             logging_level=logging.WARNING)
    timed_run(2, 1, True)  # starts the worker processes
    startup = time.perf_counter() - start
    sequential, parallel, per_task_seq, per_task_par = [], [], [], []
    try:
        for _ in range(rounds):
            seconds, in_sequence, per_task = timed_run(tasks, steps, False)
            sequential.append(seconds)
            per_task_seq.append(per_task)
            seconds, apart, per_task = timed_run(tasks, steps, True)
            parallel.append(seconds)
            per_task_par.append(per_task)
            assert apart == in_sequence, "parallel tasks changed R"
    finally:
        ray.shutdown()
    m_seq, m_par = statistics.median(sequential), statistics.median(parallel)
    print(f"## Parallel tasks: one SupSup run's tasks in sequence against as Ray tasks ({args.cpus} CPUs)\n")
    print(f"SupSup GG, {tasks} synthetic permuted tasks x {steps} steps, one thread per task; medians of {rounds} "
          "interleaved round(s); wall times on a shared machine, so the ratio is the figure. R was the same file "
          "both ways in every round.\n")
    print("| tasks trained | run wall time | sequential / this |")
    print("|---|---|---|")
    print(f"| in sequence (run.parallel_tasks=false) | {m_seq:.1f} s | 1.00 |")
    print(f"| as Ray tasks (run.parallel_tasks=true) | {m_par:.1f} s | {m_seq / m_par:.2f} |")
    print()
    print(f"- Ray's start-up (ray.init and its first workers), paid once per process: {startup:.1f} s")
    seq_task, par_task = statistics.median(per_task_seq), statistics.median(per_task_par)
    print(f"- training wall time of one task (median of tasks.csv train_seconds): {seq_task:.2f} s in sequence, "
          f"{par_task:.2f} s as Ray tasks, {args.cpus} at once ({par_task / seq_task:.2f}x; near 1x where the "
          "cores are free, more where other work shares them)")


if __name__ == "__main__":
    main()
