"""Continual-learning scenarios: what a learner is told about tasks, and which benchmarks fit.

Two vocabularies name the same settings (docs/algorithms.md section 1.1):
- `task` incremental = GG: the task id is given at training and at test time.
- `domain` incremental: one shared output space; the task id is not given at test time.
- `class` incremental: one head over all classes seen so far; no task id at test time.
- `gns` / `gnu` (SupSup's GNs and GNu): task id given at training, inferred by the learner for
  each test batch; with unshared labels (GNu) a wrongly inferred batch counts as all wrong, as
  in the SupSup paper.
- `nns` (SupSup's NNs): no task ids and no task boundaries at training or test time; the learner
  trains on one unsegmented stream and decides itself when a new task begins (labels shared).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from supermasks.conditional import complete, only_when
from supermasks.errors import ConfigError, require_number

Scenario = Literal["task", "domain", "class", "gns", "gnu", "nns"]
SCENARIOS: dict[str, str] = {
    "task": "task-incremental (GG): task id given at train and test; per-task heads or masks",
    "domain": "domain-incremental: one shared head, no task id at test (permuted, rotated, remapped split)",
    "class": "class-incremental: one head over all classes seen, no task id at test (split, data.label_mode=keep)",
    "gns": "GNs: task id given at training, inferred for each test batch; labels shared between tasks",
    "gnu": "GNu: as GNs with unshared labels: a test batch whose task is inferred wrongly counts as all wrong",
    "nns": "NNs: no task ids or boundaries at all; one unsegmented training stream, new tasks detected by the learner",
}
# Scenarios where the learner infers the task of each test batch itself.
INFERRED = frozenset({"gns", "gnu"})
# Scenarios that read test images in batches of `scenario.inference_batch_size`: one task inferred per
# batch (gns, gnu), or the NNs stream's evaluation batches.
BATCHED = frozenset({*INFERRED, "nns"})
INFERENCE_BATCH_SIZE = 128


def scenario_problem(scenario: str, benchmark: str, label_mode: str | None) -> str | None:
    """Why `benchmark` cannot run in `scenario`, or None when the combination is valid."""
    if scenario not in SCENARIOS:
        return f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}"
    split = benchmark in ("split", "partitioned")
    if scenario == "class" and not split:
        return f"class-incremental learning needs a split benchmark (new classes per task), not {benchmark!r}"
    if scenario == "class" and label_mode != "keep":
        return "class-incremental learning needs data.label_mode=keep (one head over the original classes)"
    if scenario == "domain" and split and label_mode != "remap":
        return "domain-incremental split needs data.label_mode=remap (every task shares the labels 0..c-1)"
    return None


def scenario_of_stream(scenario: str) -> bool:
    """Whether training is one unsegmented stream (the learner is not told where tasks begin)."""
    return scenario == "nns"
def check_scenario(scenario: str, *, benchmarks: list[str], label_mode: str | None, batch_norm: bool,
                   eval_sample: int | None) -> None:
    """ConfigError for a scenario that cannot run with the other sections: NNs superposes masks (no per-task
    BatchNorm) and evaluates its whole stream (no `run.eval_sample`); each benchmark must fit the scenario."""
    if scenario_of_stream(scenario) and batch_norm:
        raise ConfigError("the nns scenario superposes masks to detect new tasks, which per-task BatchNorm "
                          "statistics do not allow: set model.batch_norm=false")
    if scenario_of_stream(scenario) and eval_sample is not None:
        raise ConfigError(f"run.eval_sample={eval_sample}: scenario {scenario} evaluates every "
                          f"test image of the stream (runner.stream); leave run.eval_sample unset (null) there")
    for bench in benchmarks:
        problem = scenario_problem(scenario, bench, label_mode)
        if problem:
            raise ConfigError(f"scenario {scenario!r} with benchmark {bench!r}: {problem}")


def task_id_at_test(scenario: str) -> bool:
    """Whether the learner is told the task id when it is evaluated."""
    return scenario == "task"


@dataclass(frozen=True)
class NNsSettings:
    """New-task detection on an unsegmented stream (scenario nns; docs/algorithms.md section 1.3)."""

    check_every: int = 100  # batches between detection tests (the paper: 100)
    margin: float = 0.125  # data is new when max v < (1 + margin) / n (the paper: 2^-3)
    candidates: int = 5  # n = max(masks so far, this); missing candidates are random masks
    warmup: int = 200  # ours: skip tests within this many batches of a new mask (0: the paper's rule)

    def __post_init__(self) -> None:
        for key in ("check_every", "candidates"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be a positive number, got {getattr(self, key)}")
        require_number("margin", self.margin, inclusive=True)
        if self.warmup < 0:
            raise ValueError(f"warmup must be 0 or a number of batches, got {self.warmup}")


@dataclass(frozen=True)
class ScenarioSettings:
    """The `scenario` section of an experiment config: what the learner is told about tasks."""

    name: Scenario = "task"  # see SCENARIOS
    # Test images per task inference (1: single-image inference); NNs evaluates its stream in batches of it.
    inference_batch_size: int | None = field(default=None, metadata=only_when(
        "name", BATCHED, "the scenarios that infer or detect tasks (gns, gnu, nns)", default=INFERENCE_BATCH_SIZE,
        fix="set scenario.name to gns, gnu or nns"))
    nns: NNsSettings | None = field(default=None, metadata=only_when(  # its defaults when not given
        "name", "nns", "scenario nns", default_factory=NNsSettings, fix="set scenario.name=nns"))

    def __post_init__(self) -> None:
        complete(self, "scenario")
        if self.inference_batch_size is not None and self.inference_batch_size < 1:
            raise ValueError(f"inference_batch_size must be a positive number, got {self.inference_batch_size}")
