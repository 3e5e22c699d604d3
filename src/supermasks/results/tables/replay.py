"""The replay study's tables (docs/baselines.md): the seed's comparison and its three open questions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from supermasks.results.tables._format import markdown, percent, short_float, study_directory
from supermasks.units import human_bytes
from supermasks.config.yaml_files import read_yaml_file

_OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "rmsprop": "RMSprop"}
# The seed study's optimiser (docs/algorithms.md section 4): the row trained with it says so.
SEED_OPTIMIZER = ("sgd", 1e-3)
_MIX = {"concat": "concatenated with the task's data", "batch": "mixed into every batch"}
_SELECTIONS = {"random": "random", "balanced": "class-balanced", "uncertain": "least-confident",
               "misclassified": "misclassified-first"}


@dataclass(frozen=True)
class _Row:
    """One method of one study run: its config, the accuracy matrix's last row, and its memory."""

    run: str
    method: str
    config: dict
    last: list[float]  # R[T-1, j] for every task j
    peak: int
    kept: int
    acc: float


def _rows(result_dir: Path, part: str) -> list[_Row]:
    study = pd.read_csv(study_directory(result_dir) / "study.csv")
    rows = []
    for row in study[study["part"] == part].to_dict("records"):
        run = result_dir / Path(row["run_directory"]).name  # kept under its own name; the path is the rerun's
        config = read_yaml_file(run / "config.yaml")
        accuracy = pd.read_csv(run / row["benchmark"] / row["method"] / "accuracy.csv")
        last = [float(v) for v in accuracy.drop(columns="after").iloc[-1]]
        rows.append(_Row(run.name, row["method"], config, last, int(row["memory_peak_training_bytes"]),
                         int(row["memory_total_bytes"]), float(row["ACC"])))
    if not rows:
        raise ValueError(f"{result_dir}: the study has no run of part {part!r}")
    return rows


def _pct(value: float) -> str:
    return f"{percent(value, digits=1)}%"


def _fraction(value: float) -> str:
    """`0.005` -> `0.5%`."""
    return f"{100 * value:g}%"


def _optimiser(config: dict) -> str:
    training = config["training"]
    name = _OPTIMIZERS.get(training["optimizer"], training["optimizer"])
    seed = " (the seed's)" if (training["optimizer"], training["lr"]) == SEED_OPTIMIZER else ""
    return f"{name} {short_float(training['lr'])}{seed}"


def _one(values: list, what: str) -> object:
    """The one value every run shares (a setting a header states), else an error naming it."""
    distinct = list(dict.fromkeys(values))
    if len(distinct) != 1:
        raise ValueError(f"the runs differ in {what} ({distinct}): a table header cannot state one value")
    return distinct[0]


def _memory(peak: int, kept: int) -> str:
    return human_bytes(kept) if peak == kept else f"{human_bytes(peak)} / {human_bytes(kept)}"


def replay_seed_table(result_dir: Path) -> str:
    """The seed's comparison: per optimiser, R[1, 0] and R[1, 1] without replay (naive) and with replay,
    and the bytes each holds; the replayed fraction and its mixing come from the runs' configs."""
    rows = _rows(result_dir, "baseline")
    runs: dict[str, dict[str, _Row]] = {}
    for row in rows:
        runs.setdefault(row.run, {})[row.method] = row
    replays = [methods["replay"] for methods in runs.values()]
    fraction = _one([r.config["replay"]["fraction"] for r in replays], "replay.fraction")
    mix = _one([r.config["replay"]["mix"] for r in replays], "replay.mix")
    same = all(r.peak == r.kept for methods in runs.values() for r in methods.values())
    body = []
    for methods in runs.values():
        naive, replay = methods["naive"], methods["replay"]
        label = f"{_optimiser(naive.config)}, {naive.config['training']['steps_per_task']:,}"
        memory = ", ".join(human_bytes(r.kept) if same else _memory(r.peak, r.kept) for r in (naive, replay))
        body.append([label, f"{_pct(naive.last[0])}, {_pct(naive.last[1])}",
                     f"{_pct(replay.last[0])}, {_pct(replay.last[1])}", memory])
    header = ["optimiser, steps per task", "without replay: `R[1, 0]`, `R[1, 1]`",
              f"{_fraction(fraction)} of task 0 replayed ({_MIX.get(mix, mix)}): `R[1, 0]`, `R[1, 1]`",
              f"{'peak training = kept' if same else 'peak training / kept'}: without, with replay"]
    return markdown(header, ["l"] * 4, body)


def _open_question_settings(rows: list[_Row]) -> str:
    """The settings the open questions' runs share, from their configs: optimiser, steps, batch and mixing."""
    optimiser = _one([_optimiser(r.config) for r in rows], "the optimiser")
    steps = _one([r.config["training"]["steps_per_task"] for r in rows], "training.steps_per_task")
    batch = _one([r.config["training"]["batch_size"] for r in rows], "training.batch_size")
    mix = _one([r.config["replay"]["mix"] for r in rows], "replay.mix")
    return f"{optimiser}, {steps:,} steps per task, batch {batch}, buffer {_MIX.get(mix, mix)}"


def replay_fraction_table(result_dir: Path) -> str:
    """Open question 1: the first task after the second, R[1, 0], against the fraction of it stored."""
    rows = _rows(result_dir, "fraction")
    body = [[_fraction(r.config["replay"]["fraction"]), _pct(r.last[0]), _pct(r.last[1]), _memory(r.peak, r.kept)]
            for r in rows]
    header = [f"stored fraction of task 0 ({_open_question_settings(rows)})", "`R[1, 0]`", "`R[1, 1]`",
              "peak training / kept" if any(r.peak != r.kept for r in rows) else "peak training = kept"]
    return markdown(header, ["l", "r", "r", "r"], body)


def replay_five_tasks_table(result_dir: Path) -> str:
    """Open question 2: ACC over all five pairs without and with replay, and the buffer's bytes (replay's kept
    bytes less those of the network alone, which naive keeps)."""
    rows = _rows(result_dir, "five_tasks")
    network = {r.kept for r in rows if r.method == "naive"}
    (network_bytes,) = network  # one naive run: the network alone
    last = _one([r.config["data"]["num_tasks"] - 1 for r in rows], "data.num_tasks")
    body = []
    for r in rows:
        if r.method == "replay":
            label = f"replay, {_fraction(r.config['replay']['fraction'])} of each pair"
            buffer = human_bytes(r.kept - network_bytes)
        else:
            label, buffer = "without replay (naive)", "none"
        body.append([label, _pct(r.acc), _memory(r.peak, r.kept), buffer])
    header = [f"method ({_open_question_settings(rows)})", f"ACC, `mean_j R[{last}, j]`",
              "peak training / kept" if any(r.peak != r.kept for r in rows) else "peak training = kept",
              "of which buffer"]
    return markdown(header, ["l", "r", "r", "r"], body)


def replay_selection_table(result_dir: Path) -> str:
    """Open question 3: ACC per selection rule, every rule storing the same number of images per task."""
    rows = _rows(result_dir, "selection")
    last = _one([r.config["data"]["num_tasks"] - 1 for r in rows], "data.num_tasks")
    body = [[_SELECTIONS.get(r.config["replay"]["selection"], r.config["replay"]["selection"]),
             f"{r.config['replay']['per_task']:,}", _pct(r.acc), _memory(r.peak, r.kept)] for r in rows]
    header = [f"selection ({_open_question_settings(rows)})", "images stored per task", f"ACC, `mean_j R[{last}, j]`",
              "peak training / kept" if any(r.peak != r.kept for r in rows) else "peak training = kept"]
    return markdown(header, ["l", "r", "r", "r"], body)
