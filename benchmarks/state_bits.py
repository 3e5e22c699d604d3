"""Memory and state size per task of SupSup on LeNet-300-100: finished tasks as packed masks vs float scores.

Tasks get random scores and are then ended as `SupSup.learn` ends them (`end_task`), no training:
- packed (the default): a finished task keeps its mask at 1 bit per weight;
- float: `keep_scores=True`, every task keeps its float32 scores (how every task was kept before,
  and what guided transfer still keeps).
At 10, 100 and 250 tasks each way reports the bytes the model holds for its tasks per task
(`task_nbytes`), the size of one resumable checkpoint written by the real writer
(`save_state_checkpoint` into a temporary directory: its index plus the blobs it lists) as bits
per weight per task, overall and between marks (the marginal cost of one more task), and the
growth of the process's peak RSS per task (`ru_maxrss`; each way runs in a fresh process, so
the two never share a peak). Sizes are exact; peak RSS includes the allocator's slack (freed heap
it has not returned), so on glibc the resident set is also read after `malloc_trim(0)` hands the
free heap back: what the tasks really retain.
Run: `PYTHONPATH=src .venv/bin/python benchmarks/state_bits.py` (`--quick`: 10 and 50 tasks).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
from pathlib import Path

MODES = ("packed", "float")


def trimmed_rss() -> int | None:
    """Resident bytes now, after returning free heap to the OS (glibc `malloc_trim`); None off Linux/glibc."""
    import ctypes
    import gc

    try:
        gc.collect()
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * resource.getpagesize()
    except (OSError, AttributeError, ValueError, IndexError):
        return None


def checkpoint_bytes(directory: Path) -> int:
    """Bytes of the newest checkpoint: its index and the blobs its manifest entry lists."""
    from supermasks.store.checkpoint_files import BLOB_FOLDERS
    from supermasks.store.checkpoint_manifest import read_manifest
    from supermasks.store.blobs import blob_file

    entry = read_manifest(directory)["checkpoints"][-1]
    folder = directory / BLOB_FOLDERS[entry.get("blob_set", 0)]
    return entry["bytes"] + sum((folder / blob_file(d)).stat().st_size for d in entry["blobs"])


def measure(mode: str, marks: list[int], out: multiprocessing.Queue) -> None:
    """In a fresh process: grow tasks to each mark; put (mark, weights, resident, state bytes, RSS growth) rows."""
    import torch

    from supermasks.methods.supsup import SupSup
    from supermasks.models import add_task, build_model, masked_layers, task_nbytes
    from supermasks.store.checkpoints import save_state_checkpoint

    torch.set_num_threads(1)
    method = SupSup(build_model("lenet-300-100", output_size=10, seed=0), keep_scores=mode == "float")
    weights = sum(m.weight.numel() for m in masked_layers(method.model).values())
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    trimmed_start = trimmed_rss()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for task_id in range(max(marks)):
            add_task(method.model, method.score_generator_)  # random scores, as a task about to finish holds
            method.alphas_.append({})
            method.similarities_.append({})
            method.end_task(task_id)
            if task_id + 1 in marks:
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss_start
                now = trimmed_rss()
                kept = None if now is None or trimmed_start is None else now - trimmed_start
                directory = Path(tmp, f"state{task_id + 1}")
                save_state_checkpoint(directory, task_id, method, {})
                rows.append((task_id + 1, weights, task_nbytes(method.model), checkpoint_bytes(directory), rss, kept))
    out.put((mode, rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 and 50 tasks only")
    args = parser.parse_args()
    marks = [10, 50] if args.quick else [10, 100, 250]
    context = multiprocessing.get_context("spawn")
    results: dict[str, list] = {}
    for mode in MODES:
        queue = context.Queue()
        process = context.Process(target=measure, args=(mode, marks, queue))
        process.start()
        name, rows = queue.get()
        process.join()
        results[name] = rows

    weights = results["packed"][0][1]
    print("## SupSup state per task: packed finished masks vs float scores (LeNet-300-100)")
    print()
    print(f"{weights:,} masked weights; random scores, tasks ended as after training; one checkpoint by "
          "`save_state_checkpoint` (index + its blobs; a run keeps two, in alternating folders). "
          "RSS: growth of the peak resident set per task, each way in a fresh process.")
    print()
    print("| tasks | way | resident bytes/task | state bits/weight/task | marginal bits/weight/task "
          "| peak RSS growth/task | RSS growth/task after trim |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for i, mark in enumerate(marks):
        for mode in MODES:
            tasks, _, resident, state, rss, kept = results[mode][i]
            prev_tasks, prev_state = (0, None) if i == 0 else (results[mode][i - 1][0], results[mode][i - 1][3])
            marginal = "" if prev_state is None else f"{(state - prev_state) * 8 / (weights * (tasks - prev_tasks)):.3f}"
            print(f"| {tasks} | {mode} | {resident / tasks:,.0f} | {state * 8 / (weights * tasks):.3f} | {marginal} "
                  f"| {rss / tasks / 1024:,.0f} KiB | "
                  f"{'n/a' if kept is None else f'{kept / tasks / 1024:,.0f} KiB'} |")
    last = {mode: results[mode][-1] for mode in MODES}
    print()
    print(f"- at {marks[-1]} tasks, float / packed: resident {last['float'][2] / last['packed'][2]:.1f}x, "
          f"state {last['float'][3] / last['packed'][3]:.1f}x, peak RSS growth {last['float'][4] / max(last['packed'][4], 1):.1f}x")
    print(f"- a packed mask is ceil(weights / 8) = {sum(-(-n // 8) for n in (784 * 300, 300 * 100, 100 * 10)):,} bytes "
          "per task; the state's fixed part (weights, generators) is what lifts the overall figure above 1 bit")


if __name__ == "__main__":
    main()
