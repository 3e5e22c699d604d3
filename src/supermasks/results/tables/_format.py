"""What every table of results/ shares: finding a result's run and study directories, and writing cells and pipe tables."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from supermasks.store.json_files import read_json
from supermasks.config.yaml_files import read_yaml_file


def run_directories(result_dir: Path) -> list[Path]:
    """The run directories a result keeps (those holding `config.yaml`), sorted by name."""
    return sorted(p for p in result_dir.iterdir() if (p / "config.yaml").is_file())


def directory_holding(result_dir: Path, name: str) -> Path:
    """The one directory of a result that holds the file `name` (a study's `study.csv`, `summary.csv`, ...)."""
    found = sorted(p for p in result_dir.iterdir() if (p / name).is_file())
    if len(found) != 1:
        raise FileNotFoundError(f"{result_dir}: expected one study directory with {name}, found {len(found)}")
    return found[0]


def study_directory(result_dir: Path) -> Path:
    """The one study directory (holding `study.csv`) of a result."""
    return directory_holding(result_dir, "study.csv")


def one_run(result_dir: Path) -> Path:
    runs = run_directories(result_dir)
    if len(runs) != 1:
        raise FileNotFoundError(f"{result_dir}: expected one run directory with config.yaml, found {len(runs)}")
    return runs[0]


def percent(value: float, *, signed: bool = False, digits: int = 2) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{100 * value:{'+' if signed else ''}.{digits}f}"


def markdown(header: list[str], align: list[str], rows: list[list[str]]) -> str:
    """A pipe table; `align` holds `l` or `r` per column."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if a == "r" else "---" for a in align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)

def short_float(x: float) -> str:
    """`0.0001` -> `1e-4`, `0.0015` -> `1.5e-3`."""
    mantissa, exponent = f"{x:e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"

BENCHMARK_LABELS = {"split": "split (pairs, labels remapped)"}


def benchmark_metrics(result_dir: Path) -> list[tuple[str, dict, dict]]:
    """(benchmark, the run's config, metrics.json) of every benchmark of a result's one run, in config order."""
    run = one_run(result_dir)
    config = read_yaml_file(run / "config.yaml")
    (method,) = config["method"]
    return [(benchmark, config, read_json(run / benchmark / method / "metrics.json"))
            for benchmark in config["data"]["benchmark"]]


def benchmark_runs(result_dir: Path) -> list[tuple[str, dict, dict, pd.DataFrame]]:
    """(benchmark, the run's config, metrics.json, accuracy.csv) of every benchmark of a result's one run, in config order."""
    run = one_run(result_dir)
    return [(benchmark, config, metrics, pd.read_csv(run / benchmark / config["method"][0] / "accuracy.csv"))
            for benchmark, config, metrics in benchmark_metrics(result_dir)]


def benchmark_label(benchmark: str, config: dict) -> str:
    if benchmark == "rotated":
        step = config["data"].get("rotation_step") or 360 // config["data"]["num_tasks"]
        return f"rotated ({step:g} degree steps)"
    return BENCHMARK_LABELS.get(benchmark, benchmark)
