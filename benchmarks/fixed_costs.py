"""A short run's fixed costs: imports, the optimiser's first step, and figures, in CPU seconds of fresh processes.

Every figure comes from a fresh interpreter (one thread, `OMP_WAIT_POLICY=PASSIVE`) and is its
process CPU time (`time.process_time`), which another process on the machine inflates less than
wall time; medians over `--repeats` processes, interleaved.
- imports: `torch` alone; `supermasks` (the package's lazy front); `supermasks.cli`; the training
  path (`supermasks.config` + `supermasks.runner`, what `supermasks run` loads before training); and
  whether any of them loaded scipy, matplotlib or `torch._dynamo`.
- the first optimiser step (construction, backward, step) of `torch.optim.RMSprop` against the
  library's `make_optimizer("rmsprop")`, after `import torch`: torch.optim imports `torch._dynamo`.
- a tiny run (synthetic data, 2 tasks of 50 SupSup steps, overlap analysis on) split into imports
  and the run itself (training, evaluation, tables, checkpoints, figures); with figures off, PNG
  (the default), and PNG+SVG: the figures' cost is the difference to "off".

Run: `.venv/bin/python benchmarks/fixed_costs.py` (about two minutes), `--quick` for one process each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap

IMPORTS = {
    "torch": "import torch",
    "supermasks": "import supermasks",
    "supermasks.cli": "import supermasks.cli",
    "training path": "import supermasks.config, supermasks.runner",
}
HEAVY = ("torch", "scipy", "matplotlib", "pandas", "torch._dynamo")

IMPORT_PROBE = textwrap.dedent("""
    import sys, time
    start = time.process_time()
    exec(sys.argv[1])
    print(time.process_time() - start, ",".join(m for m in sys.argv[2:] if m in sys.modules) or "-")
""")

STEP_PROBE = textwrap.dedent("""
    import sys, time
    import torch
    from supermasks.training import make_optimizer
    p = torch.nn.Parameter(torch.randn(300, 784))
    start = time.process_time()
    opt = torch.optim.RMSprop([p], lr=1e-4) if sys.argv[1] == "torch.optim" else make_optimizer("rmsprop", [p], 1e-4)
    (p ** 2).sum().backward()
    opt.step()
    print(time.process_time() - start, "torch._dynamo" in sys.modules)
""")

RUN_PROBE = textwrap.dedent("""
    import sys, time
    start = time.process_time()
    from supermasks.config import load_config
    from supermasks.runner import run
    imported = time.process_time()
    config = load_config(None, ["data.source=synthetic", "data.num_tasks=2", "training.steps_per_task=50",
                                "training.batch_size=32", f"run.out_dir={sys.argv[1]}", *sys.argv[2:]])
    run(config, force=True, progress=False)
    print(imported - start, time.process_time() - imported)
""")


def _child(code: str, *args: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "SUPERMASKS_THREADS")}
    env |= {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, check=True,
                         timeout=1800)
    return out.stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one process per measurement")
    parser.add_argument("--repeats", type=int, default=None, help="processes per measurement (default 3, quick 1)")
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)

    imports: dict[str, list[float]] = {name: [] for name in IMPORTS}
    loaded: dict[str, str] = {}
    steps: dict[str, list[float]] = {"torch.optim": [], "make_optimizer": []}
    dynamo: dict[str, str] = {}
    runs = {"figures off": ["run.figures=false"], "PNG (default)": [], "PNG+SVG": ["run.figure_format=png+svg"]}
    run_costs: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in runs}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            for name, statement in IMPORTS.items():
                seconds, modules = _child(IMPORT_PROBE, statement, *HEAVY)
                imports[name].append(float(seconds))
                loaded[name] = modules
            for name in steps:
                seconds, has_dynamo = _child(STEP_PROBE, name)
                steps[name].append(float(seconds))
                dynamo[name] = has_dynamo
            for name, overrides in runs.items():
                imported, ran = _child(RUN_PROBE, tmp, *overrides)
                run_costs[name][0].append(float(imported))
                run_costs[name][1].append(float(ran))

    med = statistics.median
    print("## Fixed costs of a short run: imports, the first optimiser step, figures\n")
    print(f"CPU seconds of fresh processes (one thread), median of {repeats}.\n")
    print("| import | CPU s | heavy modules loaded |")
    print("|---|---:|---|")
    for name in IMPORTS:
        print(f"| `{name}` | {med(imports[name]):.2f} | {loaded[name].replace(',', ', ')} |")
    print("\n| first optimiser step (after `import torch`) | CPU s | imports torch._dynamo |")
    print("|---|---:|---|")
    for name in steps:
        print(f"| `{name}` RMSprop | {med(steps[name]):.2f} | {dynamo[name]} |")
    off = med(run_costs["figures off"][1])
    print("\n| tiny run (2 tasks x 50 steps, synthetic) | imports CPU s | run CPU s | figures CPU s (run - off) |")
    print("|---|---:|---:|---:|")
    for name in runs:
        imported, ran = med(run_costs[name][0]), med(run_costs[name][1])
        extra = "-" if name == "figures off" else f"{ran - off:.2f}"
        print(f"| {name} | {imported:.2f} | {ran:.2f} | {extra} |")


if __name__ == "__main__":
    main()
