"""Wall time of a fixed training workload under torch's thread settings, alone and beside a busy process.

The workload: `--steps` masked training steps (forward, backward, RMSprop from
`supermasks.training.make_optimizer`) of SupSup's FC 784-300-300-10 at batch 128 on random
inputs, after 10 warm-up steps. Each measurement runs in a fresh subprocess, because OpenMP reads
its environment once, when torch loads. Settings:
- default: torch's default thread count (one per core), OpenMP's default (active) wait policy;
- passive: default thread count, `OMP_WAIT_POLICY=PASSIVE` (idle threads sleep instead of spinning);
- one: `OMP_NUM_THREADS=1`;
- one+passive: both (what the `supermasks` command sets by default).
Each is measured on the machine as it is ("idle") and while one extra process burns one core with a
pure-Python loop ("busy"). Rounds interleave every setting, so a change of machine load hits all of
them; the table gives medians over the rounds as ratios to one thread on the idle machine.

Run: `.venv/bin/python benchmarks/threads.py` (a few minutes), or `--quick` (under a minute).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import textwrap

SETTINGS: dict[str, dict[str, str]] = {
    "default": {},
    "passive": {"OMP_WAIT_POLICY": "PASSIVE"},
    "one": {"OMP_NUM_THREADS": "1"},
    "one+passive": {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"},
}
# The variables a setting controls; removed from the inherited environment so only the setting decides.
CONTROLLED = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS", "SUPERMASKS_THREADS")

WORKLOAD = textwrap.dedent("""
    import sys, time
    import torch
    from torch import nn
    from supermasks.models import add_task, build_model, set_task, task_scores
    from supermasks.training import make_optimizer

    steps = int(sys.argv[1])
    model = build_model("fc-300-300", output_size=10, seed=0)
    set_task(model, add_task(model, torch.Generator().manual_seed(1)))
    gen = torch.Generator().manual_seed(2)
    x, y = torch.randn(128, 1, 28, 28, generator=gen), torch.randint(0, 10, (128,), generator=gen)
    opt = make_optimizer("rmsprop", task_scores(model, 0), 1e-4)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    for _ in range(10):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    print(time.perf_counter() - start, torch.get_num_threads())
""")

BURNER = "while True:\n    pass\n"


def measure(setting: str, steps: int) -> tuple[float, int]:
    """Seconds of `steps` steps, and torch's thread count, in a fresh interpreter under `setting`."""
    env = {k: v for k, v in os.environ.items() if k not in CONTROLLED} | SETTINGS[setting]
    out = subprocess.run([sys.executable, "-c", WORKLOAD, str(steps)], env=env, capture_output=True, text=True,
                         check=True, timeout=1800).stdout.split()
    return float(out[0]), int(out[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer steps and rounds")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per measurement (default 200, quick 60)")
    parser.add_argument("--rounds", type=int, default=None, help="measurements per setting (default 5, quick 2)")
    args = parser.parse_args()
    steps = args.steps or (60 if args.quick else 200)
    rounds = args.rounds or (2 if args.quick else 5)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so a killed benchmark still stops its burner
    seconds: dict[tuple[str, str], list[float]] = {}
    threads: dict[str, int] = {}
    for _ in range(rounds):
        for load in ("idle", "busy"):
            burner = subprocess.Popen([sys.executable, "-c", BURNER]) if load == "busy" else None
            try:
                for setting in SETTINGS:
                    s, n = measure(setting, steps)
                    seconds.setdefault((setting, load), []).append(s)
                    print(f"{setting} {load}: {s:.2f} s", file=sys.stderr, flush=True)
                    threads[setting] = n
            finally:
                if burner is not None:
                    burner.kill()
                    burner.wait()

    base = statistics.median(seconds[("one", "idle")])
    print(f"## Thread settings: {steps} masked training steps, FC 784-300-300-10, batch 128\n")
    print(f"Wall time of the steps in a fresh process per measurement, median of {rounds} interleaved rounds; "
          f"`busy`: one extra process burns one core. {os.cpu_count()} logical CPUs here. "
          f"Ratios to `one`/idle ({base:.2f} s).\n")
    print("| setting | torch threads | idle s | busy s | idle / one-idle | busy / one-idle | busy range s |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for setting in SETTINGS:
        idle, busy = seconds[(setting, "idle")], seconds[(setting, "busy")]
        mi, mb = statistics.median(idle), statistics.median(busy)
        print(f"| {setting} | {threads[setting]} | {mi:.2f} | {mb:.2f} | {mi / base:.2f} | {mb / base:.2f} "
              f"| {min(busy):.2f}-{max(busy):.2f} |")


if __name__ == "__main__":
    main()
