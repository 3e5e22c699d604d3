"""Time and memory of the 2,500-task GNu run (configs/permuted2500.yaml), measured on scaled-down runs.

Runs the shipped config with fewer tasks (`data.num_tasks=T`, everything else as shipped) in a
fresh subprocess each, and reads from the operating system (os.wait4) its wall time, CPU time
(user + system) and peak resident set (ru_maxrss), and from the run's own tables its training
seconds per task and its time per single-image inference + classification. Then, in another
fresh process, one-shot single-image inference against 2,500 random packed masks (LeNet-300-100,
500 outputs: the bank the full run ends with), 128 images in one batched call, and the
bookkeeping one task costs at 2,500 tasks (the state checkpoint's results JSON and tasks.csv); and the peak
memory of the report's task-inference table at 2,500 tasks (what `run` builds last, which the scaled runs are too
small to show).
The extrapolation to 2,500 tasks: (wall per task outside the final evaluation, at the largest T)
x 2,500 + (ms per evaluated image, linear in T from the two largest T) x 2,500 x `run.eval_sample`;
peak memory grows linearly from the two largest T. The machine is shared: wall times vary, CPU times less.
Run: `.venv/bin/python benchmarks/long_runs.py` (T = 50 and 250, about 10 minutes on 2 cores)
or `--quick` (T = 10 and 25, about 3 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "permuted2500.yaml"
FULL = 2500

RUN = "import sys; from supermasks.cli import main; sys.exit(main())"

# Measured in a fresh process: per-image inference at FULL masks, and one task's bookkeeping at FULL tasks.
AT_FULL = """
import json, sys, tempfile, time
from pathlib import Path
import numpy as np, pandas as pd, torch
from supermasks.inference import MaskBank
from supermasks.inference.oneshot import infer_per_image
from supermasks.models import build_model, masked_layers
from supermasks.runner import tables
from supermasks.runner.evaluate import Results
from supermasks.store.files import write_csv
k = int(sys.argv[1])
model = build_model("lenet-300-100", output_size=500, seed=0)
layers = masked_layers(model)
bank = MaskBank({n: tuple(m.weight.shape) for n, m in layers.items()})
gen = torch.Generator().manual_seed(0)
for _ in range(k):
    bank.add({n: torch.rand(m.weight.shape, generator=gen) < 0.5 for n, m in layers.items()})
x = torch.randn(128, 1, 28, 28, generator=gen)
infer_per_image(model, bank, x[:8])  # warm-up
t0, c0 = time.perf_counter(), time.thread_time()
infer_per_image(model, bank, x)
wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
results = Results.empty(k)
rows = [{"task": i, "name": f"permuted-{i}"} for i in range(k)]
c1 = time.thread_time()
json.dumps({**results.to_json(), "rows": rows})
state_json = time.thread_time() - c1
with tempfile.TemporaryDirectory() as d:
    c2 = time.thread_time()
    write_csv(Path(d) / "tasks.csv", pd.DataFrame(rows, columns=list(tables.TASK_COLUMNS)))
    tasks_csv = time.thread_time() - c2
with open("/proc/self/status") as f:
    rss = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
print(json.dumps({"ms_per_image": 1000 * wall / 128, "cpu_ms_per_image": 1000 * cpu / 128, "bank_mb": bank.nbytes() / 1e6,
                  "peak_mib": rss, "state_json_s": state_json, "tasks_csv_s": tasks_csv}))
"""

# Measured in a fresh process: the report's task-inference table of a run of FULL tasks evaluated after its last one
# (task_inference.csv as the runner writes it, one filled row), built and rendered as `run` does when it ends. The
# scaled runs cannot show its cost: a table that grew as T**2 was small at 250 tasks and 2.5 GiB at 2,500.
REPORT_AT_FULL = """
import json, sys, tempfile, time
from pathlib import Path
import numpy as np
from supermasks.report import render
from supermasks.report.model import Report
from supermasks.report.sections import inference_section
from supermasks.report.source import RunData
from supermasks.runner.tables import MethodResult, task_matrix
from supermasks.store.files import write_csv
def peak():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
class Task:
    def __init__(self, task_id):
        self.task_id = task_id
n = int(sys.argv[1])
inference = np.full((n, n), np.nan)
inference[-1] = np.random.default_rng(0).random(n)
with tempfile.TemporaryDirectory() as d:
    d = Path(d)
    write_csv(d / "task_inference.csv", task_matrix(inference, [Task(t) for t in range(n)]))
    before, t0 = peak(), time.perf_counter()
    result = MethodResult("permuted", "supsup", d, inference, np.full(n, np.nan), {})
    section = inference_section([RunData(d, None, "", {}, [result])], figures=False)
    page = render(Report("report", [], [section]))
    print(json.dumps({"rows": len(section.blocks[0].rows), "page_mb": len(page.encode()) / 1e6, "peak_mib": peak(),
                      "added_mib": peak() - before, "seconds": time.perf_counter() - t0}))
"""


def scaled_run(num_tasks: int, out: Path, env: dict[str, str]) -> dict[str, float]:
    """Run the shipped config with `num_tasks` tasks; the OS's and the run's own figures."""
    args = [sys.executable, "-c", RUN, "run", str(CONFIG), f"data.num_tasks={num_tasks}", f"run.out_dir={out}",
            f"name=long-{num_tasks}"]
    start = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise RuntimeError(f"run of {num_tasks} tasks failed: {proc.stderr.read().decode()[-2000:]}")
    (method_dir,) = out.glob(f"long-{num_tasks}-*/permuted/supsup")
    tasks = pd.read_csv(method_dir / "tasks.csv")
    metrics = json.loads((method_dir / "metrics.json").read_text())
    images = num_tasks * metrics["eval_sample"]
    evaluation = metrics["inference_ms"] * images / 1000
    return {"tasks": num_tasks, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mib": usage.ru_maxrss / 1024,
            "train_median": float(tasks["seconds"].median()), "train_last": float(tasks["seconds"].tail(10).median()),
            "eval_s": evaluation, "ms_per_image": metrics["inference_ms"],
            "wall_per_task": (wall - evaluation) / num_tasks, "sample": metrics["eval_sample"],
            "acc": metrics["ACC"], "inferred": metrics["task_inference_accuracy"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="T = 10 and 25 instead of 50 and 250")
    parser.add_argument("--tasks", type=int, nargs="+", help="the scaled task counts (at least two)")
    args = parser.parse_args()
    counts = args.tasks or ([10, 25] if args.quick else [50, 250])
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    with tempfile.TemporaryDirectory() as tmp:
        runs = [scaled_run(t, Path(tmp) / str(t), env) for t in counts]
    full = json.loads(subprocess.run([sys.executable, "-c", AT_FULL, str(FULL)], env=env, check=True,
                                     capture_output=True, text=True).stdout)
    report = json.loads(subprocess.run([sys.executable, "-c", REPORT_AT_FULL, str(FULL)], env=env, check=True,
                                       capture_output=True, text=True).stdout)
    sample = runs[-1]["sample"]
    print(f"## The 2,500-task GNu run (configs/permuted2500.yaml), measured on {', '.join(map(str, counts))} tasks\n")
    print(f"torch threads: default; ACC on a sample of {sample} test images per task.\n")
    print("| tasks | wall | CPU | peak RSS | train s/task (median, last 10) | wall/task w/o eval | "
          "eval (ms/image) | ACC | task inference |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        print(f"| {r['tasks']} | {r['wall']:.0f} s | {r['cpu']:.0f} s | {r['rss_mib']:.0f} MiB | "
              f"{r['train_median']:.2f}, {r['train_last']:.2f} | {r['wall_per_task']:.2f} s | "
              f"{r['eval_s']:.0f} s ({r['ms_per_image']:.1f}) | {r['acc']:.1%} | {r['inferred']:.1%} |")
    a, b = runs[-2], runs[-1]
    slope = (b["rss_mib"] - a["rss_mib"]) / (b["tasks"] - a["tasks"])
    train = b["wall_per_task"] * FULL
    # The runs' evaluation cost per image grows with the number of masks: extrapolate it linearly
    # from the two largest runs (it includes each task's per-call costs, which the batched
    # 128-image figure at FULL masks spreads over more images).
    per_image = b["ms_per_image"] + (b["ms_per_image"] - a["ms_per_image"]) / (b["tasks"] - a["tasks"]) * (FULL - b["tasks"])
    evaluation = per_image * FULL * sample / 1000
    print(f"\nAt {FULL:,} masks (fresh process, random masks): single-image one-shot inference "
          f"{full['ms_per_image']:.1f} ms per image wall ({full['cpu_ms_per_image']:.1f} ms CPU, 128 images batched), "
          f"packed masks {full['bank_mb']:.1f} MB, peak RSS {full['peak_mib']:.0f} MiB; bookkeeping per task: "
          f"results JSON {full['state_json_s'] * 1000:.0f} ms CPU, tasks.csv {full['tasks_csv_s'] * 1000:.0f} ms CPU.\n")
    print(f"The report's task-inference table at {FULL:,} tasks (run.evaluate=last): {report['rows']} row(s), "
          f"page {report['page_mb']:.1f} MB, built in {report['seconds']:.1f} s; peak RSS {report['peak_mib']:.0f} MiB "
          f"({report['added_mib']:.0f} MiB of it for the table; a cost growing faster than the task count would not "
          f"show in the scaled runs' peaks).\n")
    print(f"- extrapolated to {FULL:,} tasks: training and bookkeeping {b['wall_per_task']:.2f} s x {FULL:,} = "
          f"{train / 60:.0f} min (plus the per-task bookkeeping above, growing to its value at {FULL:,}); "
          f"final evaluation {per_image:.0f} ms x {FULL * sample:,} images = {evaluation / 60:.0f} min (ms per "
          f"image linear in the task count from {a['tasks']} and {b['tasks']} tasks; inference alone, batched by "
          f"128 images, would be {full['ms_per_image'] * FULL * sample / 60000:.0f} min); "
          f"total about {(train + evaluation) / 3600:.1f} h")
    print(f"- peak RSS grows {slope * 1024:.0f} KiB per task between {a['tasks']} and {b['tasks']} tasks: "
          f"{b['rss_mib'] + slope * (FULL - b['tasks']):.0f} MiB extrapolated at {FULL:,} tasks")


if __name__ == "__main__":
    main()
