"""Field-by-field comparison of a rerun's small files with a committed result; timings and paths are ignored."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from supermasks.config import IDLE_VALUES
from supermasks.store.json_files import read_json
from supermasks.config.yaml_files import read_yaml_file


# The only fields that may differ between two runs of the same code and config: each is a field name (a JSON key,
# a CSV column or a config key, dotted where nested) matched as the whole key or its last part. Everything else,
# every number included, must be equal as written (runs are deterministic, whatever the thread count).
VOLATILE: dict[str, str] = {
    "seconds_per_task": "wall time of learning one task",
    "samples_per_second": "training throughput",
    "inference_ms": "time to infer and classify one test batch",
    "seconds": "wall time",
    "train_seconds": "wall time of training",
    "seconds_per_batch": "wall time per batch",
    "run_directory": "where the rerun wrote its run (the results keep it under its own name)",
    "run.out_dir": "the folder runs are written into",
}


def _volatile(key: str) -> bool:
    return key in VOLATILE or key.rsplit(".", 1)[-1] in VOLATILE


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out if out or not prefix else {prefix[:-1]: {}}
    return {prefix[:-1]: value}


def _diff_mapping(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    problems = []
    for key in sorted(set(old) | set(new), key=str):
        if _volatile(key):
            continue
        if key not in new:
            problems.append(f"{key}: missing in the rerun (committed {old[key]!r})")
        elif key not in old:
            problems.append(f"{key}: new in the rerun ({new[key]!r})")
        elif old[key] != new[key]:
            problems.append(f"{key}: committed {old[key]!r}, rerun {new[key]!r}")
    return problems


def _read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="") as f:
        return list(csv.reader(f))


def _diff_csv(old_path: Path, new_path: Path) -> list[str]:
    """Cells compared as written (exact for numbers); a row is named by its first cell."""
    old, new = _read_csv(old_path), _read_csv(new_path)
    if not old or not new:
        return [] if old == new else ["one of the two files is empty"]
    if old[0] != new[0]:
        return [f"columns differ: committed {old[0]}, rerun {new[0]}"]
    header = old[0]
    problems = []
    if len(old) != len(new):
        problems.append(f"{len(old) - 1} rows committed, {len(new) - 1} in the rerun")
    for i, (a, b) in enumerate(zip(old[1:], new[1:]), start=1):
        for column, x, y in zip(header, a, b):
            if x != y and not _volatile(column):
                problems.append(f"row {i} ({a[0]}), column {column}: committed {x}, rerun {y}")
    return problems


def _idle_as_written_before(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """`new` (a rerun's config.yaml, flat) with each setting that does nothing in its run (written null) at the value
    an earlier version wrote for it (`config.IDLE_VALUES`), where the committed file holds that value: the same run,
    whose hash never included the difference."""
    return {**new, **{key: idle for key, idle in IDLE_VALUES.items()
                      if key in new and new[key] is None and old.get(key) == idle}}


def diff_file(old: Path, new: Path) -> list[str]:
    """What differs between a committed file and its rerun, volatile fields aside; [] when they agree."""
    if old.suffix == ".csv":
        return _diff_csv(old, new)
    if old.suffix == ".json":
        return _diff_mapping(_flatten(read_json(old)), _flatten(read_json(new)))
    if old.suffix in (".yaml", ".yml"):
        committed = _flatten(read_yaml_file(old))
        return _diff_mapping(committed, _idle_as_written_before(committed, _flatten(read_yaml_file(new))))
    return [] if old.read_bytes() == new.read_bytes() else ["contents differ"]


def diff_results(committed: Path, rerun: Path, files: list[str]) -> list[str]:
    """Every difference between `committed` and `rerun` over `files` (relative paths present in either), one line
    each, naming the file and the field."""
    lines = []
    for rel in sorted(files):
        old, new = committed / rel, rerun / rel
        if not new.is_file():
            lines.append(f"{rel}: committed, but the rerun did not write it")
        elif not old.is_file():
            lines.append(f"{rel}: written by the rerun, not in the committed result")
        else:
            lines += [f"{rel}: {problem}" for problem in diff_file(old, new)]
    return lines


__all__ = ["VOLATILE", "diff_file", "diff_results"]
