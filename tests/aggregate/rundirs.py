"""Hand-written run directories, as `supermasks run` leaves them, with chosen numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from supermasks.config import compose, to_dict


def write_run(root: Path, name: str, seed: int, final: dict[str, list[float]], *, status: str = "finished",
              benchmark: str = "permuted", **settings) -> Path:
    """A run directory `root/name` of seed `seed`: per method, the accuracy of each task after the last one
    (`final`), task j at 0.9 right after its training; metrics.json holds ACC, BWT and forgetting of that R."""
    num_tasks = len(next(iter(final.values())))
    config = compose({"name": "hand", "seed": seed, "method": list(final),
                      "data": {"benchmark": [benchmark], "source": "synthetic", "num_tasks": num_tasks}, **settings})
    directory = root / name
    directory.mkdir(parents=True)
    (directory / "config.yaml").write_text(yaml.safe_dump(to_dict(config), sort_keys=False))
    (directory / "meta.json").write_text(json.dumps({"status": status, "seed": seed}))
    for method, last in final.items():
        where = directory / benchmark / method
        where.mkdir(parents=True)
        n = len(last)
        r = np.full((n, n), np.nan)
        for j in range(n):
            r[j:, j] = 0.9
        r[-1] = last
        labels = [f"task_{j}" for j in range(n)]
        pd.DataFrame(r, columns=labels).assign(after=labels)[["after", *labels]].to_csv(where / "accuracy.csv",
                                                                                         index=False)
        pd.DataFrame({"task": range(n), "untrained_accuracy": [0.1] * n, "train_seconds": [0.5] * n}).to_csv(
            where / "tasks.csv", index=False)
        drops = [last[j] - 0.9 for j in range(n - 1)]
        metrics = {"ACC": float(np.mean(last)), "BWT": float(np.mean(drops)) if drops else None, "FWT": None,
                   "forgetting": -float(np.mean(drops)) if drops else None, "memory_total_bytes": 1000 * n,
                   "scenario": "task", "definitions": {"ACC": "mean"}}
        (where / "metrics.json").write_text(json.dumps(metrics))
    return directory
