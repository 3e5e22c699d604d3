"""The bfloat16 parity table (docs/training.md): ACC of each seed in float32 and bfloat16, and their paired difference."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from scipy import stats

from supermasks.results.tables._format import markdown, percent, study_directory


def precision_table(result_dir: Path) -> str:
    """One row per seed (ACC in each precision, bfloat16 minus float32), then the means and the paired
    difference's mean with its 95% Student t interval over the seeds. Speed is benchmarks/precision_step.py's: the
    study's seconds per task come from one busy machine and say little."""
    study = pd.read_csv(study_directory(result_dir) / "study.csv")
    acc = study.pivot(index="seed", columns="part", values="ACC")[["float32", "bfloat16"]]
    diff = acc["bfloat16"] - acc["float32"]
    rows = [[str(seed), percent(row["float32"]), percent(row["bfloat16"]), percent(diff[seed], signed=True)]
            for seed, row in acc.iterrows()]
    n = len(diff)
    half = stats.t.ppf(0.975, n - 1) * diff.std(ddof=1) / math.sqrt(n) if n > 1 else math.nan
    rows.append([f"mean ({n} seeds)", percent(acc["float32"].mean()), percent(acc["bfloat16"].mean()),
                 f"{percent(diff.mean(), signed=True)} (95% CI {percent(diff.mean() - half, signed=True)} to "
                 f"{percent(diff.mean() + half, signed=True)})"])
    return markdown(["seed", "ACC float32 (%)", "ACC bfloat16 (%)", "bfloat16 - float32 (points)"],
                    ["l", "r", "r", "r"], rows)
