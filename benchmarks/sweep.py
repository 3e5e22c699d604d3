"""Wall time of an 8-run sweep in-process against on a local Ray, and Ray's overhead per run.

The sweep: SupSup and naive fine-tuning x 4 seeds on the synthetic source (2 permuted tasks,
`--steps` training steps each), every run one torch thread. Per round, in fresh output folders:
- local: `--executor local`, the 8 runs one after another in this process;
- ray: a local Ray with `--cpus` CPUs (default: this machine's), one CPU per run, so that
  `--cpus` runs go at once; Ray's start-up (`ray.init`) is timed apart;
- ray, one at a time: the same Ray tasks, each reserving every CPU, so they run one after
  another as the local ones do; (this - local) / 8 is what Ray adds per run (dispatch, a worker
  process that imports torch and the package, result collection).
Rounds interleave the three, so a change of machine load hits all of them; medians over rounds.

Run: `.venv/bin/python benchmarks/sweep.py` (a few minutes), or `--quick` (one short round). Needs Ray.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

RUNS = 8


def sweep_for(folder: Path, steps: int):
    from supermasks.sweep import load_sweep

    config = folder / "bench.yaml"
    config.write_text("name: bench\ndata: {source: synthetic, benchmark: [permuted], num_tasks: 2}\n"
                      f"training: {{steps_per_task: {steps}, batch_size: 64}}\nrun: {{figures: false, overlap: false}}\n")
    return load_sweep(config, ["method=supsup,naive", f"run.out_dir={folder / 'runs'}"], seeds=RUNS // 2)


def timed_local(steps: int) -> float:
    from supermasks.sweep import local_executor, run_sweep

    with tempfile.TemporaryDirectory() as tmp:
        sweep = sweep_for(Path(tmp), steps)
        start = time.perf_counter()
        record = run_sweep(sweep, local_executor, progress=False)
        seconds = time.perf_counter() - start
    assert record.summary()["done"] == RUNS, record.summary()
    return seconds


def timed_ray(steps: int, cpus: int, cpus_per_run: float) -> tuple[float, float]:
    """(ray.init seconds, sweep seconds) on a fresh local Ray of `cpus` CPUs, each run reserving `cpus_per_run`."""
    import ray

    from supermasks.sweep import RayExecutor, run_sweep
    from supermasks.sweep.job import Job, run_job

    start = time.perf_counter()
    ray.init(**RayExecutor(num_cpus=cpus).init_arguments())
    init = time.perf_counter() - start
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sweep = sweep_for(Path(tmp), steps)
            start = time.perf_counter()
            if cpus_per_run <= 1:
                record = run_sweep(sweep, RayExecutor(cpus_per_run=1), executor_name="ray", progress=False)
                assert record.summary()["done"] == RUNS, record.summary()
            else:  # one at a time, still one torch thread each: the tasks reserve every CPU
                from supermasks.config import to_dict

                task = ray.remote(run_job).options(num_cpus=cpus_per_run)
                refs = [task.remote(Job(run.key, to_dict(run.config), 1)) for run in sweep.runs]
                assert [o.status for o in ray.get(refs)] == ["done"] * RUNS
            seconds = time.perf_counter() - start
    finally:
        ray.shutdown()
    return init, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round of short runs")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=200, help="training steps per task")
    parser.add_argument("--cpus", type=int, default=len(os.sched_getaffinity(0)), help="CPUs of the local Ray")
    args = parser.parse_args()
    rounds, steps = (1, 60) if args.quick else (args.rounds, args.steps)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import logging

    logging.getLogger("supermasks").setLevel(logging.WARNING)
    local, ray_all, ray_one, inits = [], [], [], []
    for _ in range(rounds):
        local.append(timed_local(steps))
        init, seconds = timed_ray(steps, args.cpus, 1)
        inits.append(init)
        ray_all.append(seconds)
        init, seconds = timed_ray(steps, args.cpus, args.cpus)
        inits.append(init)
        ray_one.append(seconds)
    m_local, m_all, m_one, m_init = map(statistics.median, (local, ray_all, ray_one, inits))
    print(f"## Sweep: {RUNS} runs in-process against on a local Ray of {args.cpus} CPUs\n")
    print(f"{RUNS} runs (SupSup and naive x 4 seeds, 2 synthetic tasks x {steps} steps, one thread each), "
          f"medians of {rounds} interleaved round(s); wall times on a shared machine, so the ratios are the figures.\n")
    print("| executor | sweep wall time | local / this |")
    print("|---|---|---|")
    print(f"| local (in-process, one after another) | {m_local:.1f} s | 1.00 |")
    print(f"| ray, {args.cpus} runs at once | {m_all:.1f} s | {m_local / m_all:.2f} |")
    print(f"| ray, {args.cpus} runs at once, with ray.init | {m_all + m_init:.1f} s | {m_local / (m_all + m_init):.2f} |")
    print(f"| ray, one run at a time | {m_one:.1f} s | {m_local / m_one:.2f} |")
    print()
    print(f"- Ray's overhead per run (one at a time against in-process): {(m_one - m_local) / RUNS:+.2f} s")
    print(f"- ray.init of a local Ray: {m_init:.1f} s (once per sweep)")


if __name__ == "__main__":
    main()
