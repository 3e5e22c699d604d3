"""The registry of documented results: the command behind each, the files it keeps, the tables it renders.

Two kinds: a `supermasks` run or study, whose small files are kept and reproduce exactly, and a benchmark
script of `benchmarks/`, whose printed Markdown section is kept with the machine that measured it; its timings
are the machine's, so only what does not depend on the machine reproduces.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from supermasks.results import tables
from supermasks.results.bench import OUTPUT_FILE

# What a result keeps of its output: small files only (no checkpoints, state, masks, figures, reports, logs).
# Patterns are relative to each top-level directory the command wrote (a run or a study directory).
RUN_FILES = ("config.yaml", "comparison.csv", "*/*/metrics.json", "*/*/accuracy.csv")
STUDY_FILES = ("study.csv", "definitions.csv")
# An overlap study: its summary tables and each run's config (the baseline runs' too), not the runs' per-pair tables.
OVERLAP_STUDY_FILES = ("config.yaml", *STUDY_FILES, "overlap_study.csv", "overlap_baseline.csv")

Renderer = Callable[[Path], str]  # results/NAME -> the markdown between a table's markers


Kind = Literal["supermasks", "benchmark"]
KINDS: tuple[Kind, ...] = ("supermasks", "benchmark")


@dataclass(frozen=True)
class Result:
    """One documented result.

    `kind` says what `command` is: `supermasks`, the arguments of a `supermasks` subcommand, naming a config by its
    path in the repository; `benchmark`, a script under `benchmarks/` and its options, run with this Python (its
    printed Markdown section is kept as `output.md`, beside the machine that measured it). `minutes` is about how
    long it takes on two idle cores (the slow suite reproduces those under 5); `tables` maps a marker's name to the
    function that renders it from the committed files; `needs` names data sources beyond the embedded ones.
    `measured` (benchmarks only) names the columns of the printed tables whose cells the machine and its load
    decide (timings, memory growth, thread counts): `reproduce` shows them side by side and compares the rest.
    """

    name: str
    command: tuple[str, ...]
    minutes: float
    tables: Mapping[str, Renderer]
    files: tuple[str, ...] = RUN_FILES + STUDY_FILES
    needs: tuple[str, ...] = ()
    kind: Kind = "supermasks"
    measured: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.tables:
            raise ValueError(f"result {self.name!r} renders no table: a result that no page shows is not documented")
        if self.kind not in KINDS:
            raise ValueError(f"result {self.name!r}: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.kind == "benchmark":
            script = self.command[0] if self.command else ""
            if not (script.startswith("benchmarks/") and script.endswith(".py")):
                raise ValueError(f"benchmark result {self.name!r} runs {script!r}, not a benchmarks/*.py script")
            if self.files != (OUTPUT_FILE,):
                raise ValueError(f"benchmark result {self.name!r} keeps {OUTPUT_FILE} only, not {self.files}")
        elif self.measured:
            raise ValueError(f"result {self.name!r}: only a benchmark's tables have measured columns")


def benchmark(name: str, script: str, *options: str, minutes: float, tables: Mapping[str, Renderer],
              measured: tuple[str, ...], needs: tuple[str, ...] = ()) -> Result:
    """A benchmark result: `benchmarks/<script>` run with `options`, its printed section kept as `output.md`."""
    return Result(name=name, command=(f"benchmarks/{script}", *options), minutes=minutes, tables=tables,
                  files=(OUTPUT_FILE,), needs=needs, kind="benchmark", measured=measured)


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
        minutes=35,  # its committed run: 33 min on one thread (31 min CPU), the other core mostly busy
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
    Result(
        # bfloat16 against float32 products on the seed setting: three seeds each, accuracy parity.
        name="precision",
        command=("run", "configs/precision.yaml"),
        minutes=4,
        tables={"precision-parity": tables.precision_table},
        needs=("fashion-mnist",),
    ),
    # Benchmarks: their printed sections and the machine that measured them. `measured` lists the columns that the
    # machine and its load decide. On the loaded machine that made the committed ones they took longer than `minutes`
    # (version.json's `seconds`; load averages of 7 to 14 on two cores).
    benchmark("bench-inference", "inference.py", "--binary", minutes=3,
              tables={"bench-inference": tables.inference_table},
              measured=("build s", "one-shot 1 image ms", "one-shot 128 ms", "infer peak MiB", "RSS MiB",
                        "binary 1 image ms", "binary 128 ms", "binary / one-shot")),
    benchmark("bench-state-bits", "state_bits.py", minutes=2,
              tables={"bench-state-bits": tables.state_bits_table},
              measured=("peak RSS growth/task", "RSS growth/task after trim")),
    # Three rounds take under a minute on an idle machine; on a loaded one torch's default (active waiting) alone
    # takes minutes per measurement, so generate it where nothing else runs.
    benchmark("bench-threads", "threads.py", "--steps", "100", "--rounds", "3", minutes=2,
              tables={"bench-threads": tables.threads_table},
              # torch's default thread count is the machine's core count
              measured=("torch threads", "idle s", "busy s", "idle / one-idle", "busy / one-idle", "busy range s")),
    # One round instead of the script's default two: each round runs three ten-task trainings of full Fashion-MNIST.
    benchmark("bench-reference", "reference.py", "--repeats", "1", minutes=7,
              tables={"bench-reference": tables.reference_table},
              measured=("wall s", "CPU s", "peak RSS MB"), needs=("fashion-mnist",)),
    benchmark("bench-precision-step", "precision_step.py", minutes=3,
              tables={"bench-precision-step": tables.precision_step_table},
              measured=("ms per step", "masked / dense", "against float32", "s per SplitCIFAR100 epoch (19 steps)")),
    # The notebook's formulation takes most of it: one round of every thread count and precision.
    benchmark("bench-seed-setting", "seed_setting.py", "--precision", "float32", "bfloat16", minutes=8,
              tables={"bench-seed-setting": tables.seed_setting_table},
              measured=("CPU s", "wall s", "ACC %"), needs=("fashion-mnist",)),
    benchmark("bench-parallel-tasks", "parallel_tasks.py", "--rounds", "1", minutes=3,
              tables={"bench-parallel-tasks": tables.parallel_tasks_table},
              measured=("wall s", "CPU s", "one thread's wall / this"), needs=("fashion-mnist",)),
    benchmark("bench-fixed-costs", "fixed_costs.py", "--quick", minutes=2,
              tables={"bench-fixed-costs": tables.fixed_costs_table},
              measured=("CPU s", "imports CPU s", "run CPU s", "figures CPU s (run - off)")),
    benchmark("bench-conv-step", "conv_step.py", minutes=5,
              # the SplitImageNet cost also reads the decoding time of bench-colour-data
              tables={"bench-conv-resnet18": tables.conv_resnet18_table,
                      "bench-conv-resnet50": tables.conv_resnet50_table,
                      "bench-splitimagenet-cost": tables.splitimagenet_cost_table},
              measured=("ms per step", "images / s", "ratio to dense")),
    benchmark("bench-colour-data", "colour_data.py", minutes=1,
              tables={"bench-colour-data": tables.colour_data_table},
              measured=("CPU time per batch", "ratio to plain", "wall time per batch", "images/s",
                        "ratio to 1 thread")),
    benchmark("bench-data-pipeline", "data_pipeline.py", minutes=2,
              tables={"bench-data-pipeline": tables.data_pipeline_table},
              measured=("per batch", "materialised slice", "ratio", "materialised"), needs=("fashion-mnist",)),
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


__all__ = ["KINDS", "RESULTS", "RUN_FILES", "STUDY_FILES", "TABLES", "Kind", "Renderer", "Result", "benchmark",
           "get_result", "list_results"]
