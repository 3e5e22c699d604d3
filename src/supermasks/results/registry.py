"""The registry of documented results: the command behind each, the files it keeps, the tables it renders."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from supermasks.results import tables

# What a result keeps of its output: small files only (no checkpoints, state, masks, figures, reports, logs).
# Patterns are relative to each top-level directory the command wrote (a run or a study directory).
RUN_FILES = ("config.yaml", "comparison.csv", "*/*/metrics.json", "*/*/accuracy.csv")
STUDY_FILES = ("study.csv", "definitions.csv")
# An overlap study: its summary tables and each run's config (the baseline runs' too), not the runs' per-pair tables.
OVERLAP_STUDY_FILES = ("config.yaml", *STUDY_FILES, "overlap_study.csv", "overlap_baseline.csv")

Renderer = Callable[[Path], str]  # results/NAME -> the markdown between a table's markers


@dataclass(frozen=True)
class Result:
    """One documented result.

    `command` follows `supermasks` and names the config by its path in the repository; `minutes` is about how long
    it takes on two idle cores (the slow suite reproduces those under 5); `tables` maps a marker's name to the
    function that renders it from the committed files; `needs` names data sources beyond the embedded ones.
    """

    name: str
    command: tuple[str, ...]
    minutes: float
    tables: Mapping[str, Renderer]
    files: tuple[str, ...] = RUN_FILES + STUDY_FILES
    needs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.tables:
            raise ValueError(f"result {self.name!r} renders no table: a result that no page shows is not documented")


# Adding a result: one entry here and a renderer in tables/; then `supermasks results update NAME` and
# markers `<!-- results:TABLE -->` ... `<!-- /results:TABLE -->` where the table belongs (results/README.md).
_ENTRIES = (
    Result(
        name="compare",
        command=("compare", "configs/compare.yaml"),
        minutes=1,
        tables={"compare": tables.compare_table, "compare-printout": tables.compare_printout},
    ),
    Result(
        name="forgetting",
        command=("run", "configs/forgetting.yaml"),
        minutes=2,
        tables={"forgetting": tables.forgetting_table, "forgetting-memory": tables.forgetting_memory_table},
        needs=("fashion-mnist",),
    ),
    Result(
        name="experiment3",
        command=("run", "configs/experiment3.yaml"),
        minutes=4,
        tables={"experiment3": tables.experiment3_table},
    ),
    Result(
        name="experiment2",
        command=("run", "configs/experiment2.yaml"),
        minutes=36,
        tables={"experiment2": tables.experiment2_table, "experiment2-budgets": tables.experiment2_budgets_table,
                "experiment2-guided": tables.experiment2_guided_table},
        # The study's resolved file (its settings), the per-budget summary against random, and the per-task
        # accuracies from which other comparisons (similar against mean) are tested; not the per-unit files.
        files=("study.json", "summary.csv", "evaluation.csv"),
    ),
    Result(
        name="nns",
        command=("run", "configs/nns.yaml"),
        minutes=1,
        tables={"nns": tables.nns_table},
        files=(*RUN_FILES, "*/*/boundaries.json"),
    ),
    Result(
        name="hopsupsup",
        command=("run", "configs/hopsupsup.yaml"),
        minutes=1,
        tables={"hopsupsup": tables.hopsupsup_table},
        files=(*RUN_FILES, "*/*/hopfield.csv"),
    ),
    Result(
        name="permuted250",
        command=("run", "configs/permuted250.yaml"),
        minutes=8,
        tables={"permuted250": tables.long_sequence_table, "permuted250-cost": tables.long_sequence_cost_table},
    ),
    Result(
        name="permuted2500",
        command=("run", "configs/permuted2500.yaml"),
        minutes=55,  # its committed run: 52 min on one thread (36 min CPU) on a busy machine
        tables={"permuted2500": tables.long_sequence_table, "permuted2500-cost": tables.long_sequence_cost_table},
        # Not accuracy.csv: with run.evaluate=last it is 2,500 x 2,500 cells (6 MB) of which only the last row is
        # filled, and metrics.json holds its mean (ACC) and the task inference.
        files=("config.yaml", "comparison.csv", "*/*/metrics.json"),
    ),
    Result(
        name="lenet5",
        command=("run", "configs/lenet5.yaml"),
        minutes=3,
        tables={"lenet5": tables.lenet5_table},
        needs=("fashion-mnist",),
    ),
    Result(
        name="experiment1-quick",
        command=("run", "configs/experiment1-quick.yaml"),
        minutes=4,
        tables={"experiment1-quick": tables.experiment1_table,
                "experiment1-quick-study": tables.experiment1_study_table,
                "experiment1-quick-layers": tables.experiment1_layers_table},
        files=OVERLAP_STUDY_FILES,
    ),
    Result(
        name="experiment1",
        command=("run", "configs/experiment1.yaml"),
        minutes=52,
        tables={"experiment1": tables.experiment1_table,
                "experiment1-layers": tables.experiment1_layers_table},
        files=OVERLAP_STUDY_FILES,
        needs=("fashion-mnist",),
    ),
    Result(
        name="replay",
        command=("run", "configs/replay.yaml"),
        minutes=4,  # its committed run took 211 s on a busy machine (153 s with less beside it)
        tables={"replay-seed": tables.replay_seed_table, "replay-fraction": tables.replay_fraction_table,
                "replay-five-tasks": tables.replay_five_tasks_table, "replay-selection": tables.replay_selection_table},
    ),
    Result(
        # The seed's comparison trained ten times longer: the same two optimisers, without and with replay.
        name="replay-3000",
        command=("run", "configs/replay.yaml", "--part", "baseline", "training.steps_per_task=3000"),
        minutes=4,  # its committed run took 218 s on a busy machine (163 s with less beside it)
        tables={"replay-seed-3000": tables.replay_seed_table},
    ),
)

RESULTS: dict[str, Result] = {r.name: r for r in _ENTRIES}


def _table_owners() -> dict[str, Result]:
    owners: dict[str, Result] = {}
    for result in RESULTS.values():
        for table in result.tables:
            if table in owners:
                raise ValueError(f"table {table!r} is rendered by both {owners[table].name!r} and {result.name!r}")
            owners[table] = result
    return owners


TABLES: dict[str, Result] = _table_owners()


def get_result(name: str) -> Result:
    """The registered result `name`; the error lists the registered ones."""
    try:
        return RESULTS[name]
    except KeyError:
        raise KeyError(f"no documented result {name!r}; registered: {', '.join(sorted(RESULTS))}") from None


def list_results() -> list[Result]:
    """Every registered result, in registry order."""
    return list(RESULTS.values())


__all__ = ["RESULTS", "RUN_FILES", "STUDY_FILES", "TABLES", "Renderer", "Result", "get_result", "list_results"]
