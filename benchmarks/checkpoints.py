"""Bytes written and seconds per resumable-state save of SupSup on LeNet-300-100 as tasks accumulate.

Two ways to save the full training state after every task, measured in one process, interleaved:
- whole: every tensor in one safetensors file per checkpoint, then read back for its SHA-256
  (how `supermasks.store.checkpoints` saved before tensors were stored as shared blobs);
- incremental: `supermasks.store.checkpoints.save_state_checkpoint`, which writes only the tensors no
  kept checkpoint already holds (the new task's scores, the mask bank's changed parts, generators).
A real run's sequence is replayed: tasks of random scores are added one by one (their masks
banked, as after training) and the incremental state is saved after each; near each reported
task count both ways save, and their medians are printed with the space each directory takes.
Run: `.venv/bin/python benchmarks/checkpoints.py` (about two minutes on 2 CPU cores), `--quick` for a short one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from supermasks.store import blobs as _blobs
from supermasks.methods.supsup import SupSup
from supermasks.models import add_task, build_model, masked_layers
from supermasks.store.checkpoints import save_state_checkpoint
from supermasks.store.files import write_json
from supermasks.store.state import capture_state

MB = 1e6


def grow(method: SupSup) -> None:
    """One more task: fresh random scores, then ended (mask packed), as `learn` leaves a finished task."""
    task_id = add_task(method.model, method.score_generator_)
    method.end_task(task_id)
    method.alphas_.append({})
    method.similarities_.append({})


def save_whole(directory: Path, task_id: int, method: SupSup, kept: list[Path], keep: int = 2) -> None:
    """A checkpoint as one file of every tensor: write, read back for the checksum, list it, drop old ones."""
    state = capture_state(method, copy=False)
    path = directory / f"state_task_{task_id:03d}.safetensors"
    tmp = directory / f".{path.name}.tmp"
    save_file(state.tensors, str(tmp), metadata={"supermasks_state": json.dumps(state.tree)})
    with open(tmp, "rb") as fh:
        digest = hashlib.sha256()
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    kept.append(path)
    write_json(directory / "manifest.json", {"checkpoints": [{"file": p.name, "sha256": digest.hexdigest()}
                                                             for p in kept[-keep:]]})
    for old in kept[:-keep]:
        old.unlink()
    del kept[:-keep]


def snapshot(directory: Path) -> dict[Path, tuple[int, int]]:
    return {p: (p.stat().st_ino, p.stat().st_size) for p in directory.rglob("*") if p.is_file()}


def timed_save(directory: Path, save) -> tuple[float, float]:
    """(seconds, bytes written) of one save; every write creates a new file, so new inodes count them all."""
    before = snapshot(directory)
    start = time.perf_counter()
    save()
    seconds = time.perf_counter() - start
    after = snapshot(directory)
    return seconds, sum(size for p, (ino, size) in after.items() if before.get(p, (None,))[0] != ino)


def disk(directory: Path) -> float:
    return sum(size for _, size in snapshot(directory).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, nargs="+", default=[10, 100, 250], help="task counts to report")
    parser.add_argument("--repeats", type=int, default=3, help="saves per way near each task count")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="10 and 30 tasks, 2 saves each")
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.repeats = [10, 30], 2
    torch.set_num_threads(args.threads)
    marks = {k - r for k in args.tasks for r in range(args.repeats)}

    method = SupSup(build_model("lenet-300-100", output_size=100))
    weights = sum(m.weight.numel() for m in masked_layers(method.model).values())
    rows: dict[int, dict[str, list[float]]] = {k: {} for k in args.tasks}
    total_incremental = total_whole = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        whole_dir, incremental_dir = Path(tmp, "whole"), Path(tmp, "incremental")
        whole_dir.mkdir()
        kept: list[Path] = []
        for task_id in range(max(args.tasks)):
            grow(method)
            state_bytes = sum(t.nbytes for t in capture_state(method, copy=False).tensors.values())
            total_whole += state_bytes
            measured = task_id + 1 in marks
            if measured:  # the whole file first on odd tasks, second on even ones: neither always sees a warm cache
                saves = [("whole", whole_dir, lambda: save_whole(whole_dir, task_id, method, kept)),
                         ("incremental", incremental_dir,
                          lambda: save_state_checkpoint(incremental_dir, task_id, method, {}))]
                for way, directory, save in saves[::1 if task_id % 2 else -1]:
                    seconds, written = timed_save(directory, save)
                    if way == "incremental":
                        total_incremental += written
                    k = min(k for k in args.tasks if k >= task_id + 1)
                    for name, value in ((f"{way} s", seconds), (f"{way} MB", written / MB)):
                        rows[k].setdefault(name, []).append(value)
                rows[k].setdefault("state MB", []).append(state_bytes / MB)
                rows[k]["whole disk"] = [disk(whole_dir) / MB]
                rows[k]["incremental disk"] = [disk(incremental_dir) / MB]
            else:
                total_incremental += timed_save(incremental_dir, lambda: save_state_checkpoint(
                    incremental_dir, task_id, method, {}))[1]
        # The first save after a resume: every blob was checked by the load, but no digest is cached yet.
        _blobs._DIGESTS.clear()
        resumed_seconds, resumed_written = timed_save(incremental_dir, lambda: save_state_checkpoint(
            incremental_dir, max(args.tasks) - 1, method, {}))

    print("## Resumable-state checkpoints: whole file against incremental blobs\n")
    print(f"SupSup on LeNet-300-100 ({weights:,} masked weights), keep=2; medians of {args.repeats} saves "
          f"ending at each task count; MB = 1e6 bytes\n")
    print("```")
    print(f"{'tasks':>5} {'state':>8} | {'whole: written':>14} {'s/save':>7} {'on disk':>8} | "
          f"{'incremental: written':>20} {'s/save':>7} {'on disk':>8} | {'bytes':>6} {'time':>6}")
    for k, row in rows.items():
        med = {name: statistics.median(values) for name, values in row.items()}
        print(f"{k:>5} {med['state MB']:>7.1f}M | {med['whole MB']:>13.1f}M {med['whole s']:>7.3f} "
              f"{med['whole disk']:>7.1f}M | {med['incremental MB']:>19.2f}M {med['incremental s']:>7.3f} "
              f"{med['incremental disk']:>7.1f}M | {med['whole MB'] / med['incremental MB']:>5.0f}x "
              f"{med['whole s'] / med['incremental s']:>5.1f}x")
    print(f"written over all {max(args.tasks)} saves: whole {total_whole / 1e9:.1f} GB (the state's tensors alone), "
          f"incremental {total_incremental / MB:.0f} MB (measured)")
    print(f"first save after a resume at {max(args.tasks)} tasks (every tensor hashed once more): "
          f"{resumed_seconds:.3f} s, {resumed_written / MB:.2f} MB written")
    print("```")


if __name__ == "__main__":
    main()
