"""The method-comparison and forgetting tables (README, docs/baselines.md)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from supermasks.results.tables._format import markdown, one_run, percent, short_float, study_directory
from supermasks.units import human_bytes
from supermasks.config.yaml_files import read_yaml_file


def compare_table(result_dir: Path) -> str:
    """README's method comparison: ACC (%), BWT (points) and the bytes kept, one row per method."""
    frame = pd.read_csv(one_run(result_dir) / "comparison.csv")
    rows = [[row["method"], percent(row["ACC"]), percent(row["BWT"], signed=True), human_bytes(row["memory_total_bytes"])]
            for row in frame.to_dict("records")]
    return markdown(["method", "ACC %", "BWT", "memory total"], ["l", "r", "r", "r"], rows)


def compare_printout(result_dir: Path) -> str:
    """The table `supermasks compare` printed for the committed run (its times are that run's), as a code block."""
    from supermasks.report.text import format_comparison

    frame = pd.read_csv(one_run(result_dir) / "comparison.csv")
    return "```\n" + format_comparison(frame) + "\n```"

_OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "rmsprop": "RMSprop"}


def _forgetting_label(method: str, config: dict) -> str:
    """A row's name, with the settings that distinguish it read from the run's own config."""
    if method == "naive":
        return "naive, shared head"
    if method == "ewc":
        return f"EWC, lambda {config['ewc']['lambda']:g}"
    if method == "replay":
        return f"replay, {config['replay']['fraction']:.0%} of MNIST mixed into every batch"
    if method == "supsup":
        training = config["training"]
        return f"SupSup (task id given, {_OPTIMIZERS.get(training['optimizer'], training['optimizer'])} " \
               f"{short_float(training['lr'])})"
    return method


def _forgetting_rows(result_dir: Path, *, memory: bool) -> list[list[str]]:
    study = pd.read_csv(study_directory(result_dir) / "study.csv")
    rows = []
    for row in study.to_dict("records"):
        run = result_dir / Path(row["run_directory"]).name  # kept under its own name; the path is the rerun's
        config = read_yaml_file(run / "config.yaml")
        accuracy = pd.read_csv(run / row["benchmark"] / row["method"] / "accuracy.csv")
        first, second = accuracy.iloc[-1]["task_0"], accuracy.iloc[-1]["task_1"]
        cells = [_forgetting_label(row["method"], config), f"{percent(first, digits=1)}%", f"{percent(second, digits=1)}%"]
        if memory:
            cells += [human_bytes(row["memory_peak_training_bytes"]), human_bytes(row["memory_total_bytes"])]
        rows.append(cells)
    return rows


_FORGETTING_HEADER = ["method", "MNIST after both, `R[1, 0]`", "Fashion-MNIST, `R[1, 1]`"]


def forgetting_table(result_dir: Path) -> str:
    """README's forgetting study: each method's accuracy on MNIST and on Fashion-MNIST after both."""
    return markdown(_FORGETTING_HEADER, ["l", "l", "l"], _forgetting_rows(result_dir, memory=False))


def forgetting_memory_table(result_dir: Path) -> str:
    """docs/baselines.md's forgetting study: README's columns plus the bytes held while training and kept."""
    return markdown([*_FORGETTING_HEADER, "peak training", "kept"], ["l"] * 5, _forgetting_rows(result_dir, memory=True))
