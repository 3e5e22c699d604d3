"""The Holm family of Experiment 1 that a study file declares: every Mantel test its parts would make, run or not.

A study tests, per part, grid point, benchmark, masked method, layer and measure, whether the
measure follows task relatedness (`studies.overlap`). Correcting only over the tests that one
invocation happened to run would make the family depend on `--part` or on a command-line
subset of benchmarks: the same test would be "significant" in one run and not in another. So
the family is fixed by the file: every part and grid point, composed from the file's own
settings (no command-line overrides), with a test for each benchmark that defines a relatedness
(`RELATEDNESS_BENCHMARKS`, those `data.relatedness.task_relatedness` compares) and has at least 3
tasks (fewer give no Mantel test), each method that learns masks (`methods.Masked`), each masked
layer of its model, and each measure: overlap, and the learned changes where the method records
initial masks (`methods.KnowsInitialMasks`). `studies.overlap` adds any test a run made that the
file does not declare (an override that adds a layer), so no test is left out of its own family.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from supermasks.config import ExperimentConfig

# part, grid point ((key, value text), sorted), benchmark, method, layer, measure
FamilyKey = tuple[str, tuple[tuple[str, str], ...], str, str, str, str]

RELATEDNESS_BENCHMARKS = frozenset({"rotated", "permuted", "split"})  # as `data.relatedness.task_relatedness`
# The measures the study tests: measure -> (file in the method's directory, column holding the pair's ratio to chance)
MEASURES = {"overlap": ("overlap.csv", "relative_to_chance"),
            "learned changes": ("changes.csv", "any_relative_to_chance")}
FROM_INITIAL_MASKS = frozenset({"learned changes"})  # measures that compare each task's mask with its initial one
MIN_TASKS = 3  # the Mantel test needs 3 pairs of tasks


def _value_text(value: Any) -> str:
    """A grid value as text, the same whether it comes from the file (5) or from a table column (5.0)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    number = float(value)
    return str(int(number)) if math.isfinite(number) and number.is_integer() else repr(number)


def family_key(part: str, grid: Mapping[str, Any], benchmark: str, method: str, layer: str, measure: str) -> FamilyKey:
    """The identity of one test of the study (the seed apart: a test pools the seeds)."""
    point = tuple(sorted((str(k), _value_text(v)) for k, v in grid.items() if k != "seed"))
    return str(part), point, str(benchmark), str(method), str(layer), str(measure)


class DeclaredRun(Protocol):
    """What the family needs of a study's run (`studies.grid.StudyRun` is one): its part, grid point and config."""

    part: str
    grid: dict[str, Any]
    config: ExperimentConfig


def declared_tests(runs: Iterable[DeclaredRun]) -> list[FamilyKey]:
    """Every test the runs would make (module docstring), each once, in the runs' order.

    `runs` are a study file's runs composed from the file alone (`Study.declared`). A masked
    method is built on the CPU, once per run, only to read its masked layers and capabilities.
    """
    keys: dict[FamilyKey, None] = {}
    for run in runs:
        config = run.config
        if not config.run.overlap or config.data.num_tasks < MIN_TASKS:
            continue
        benchmarks = [given for given, name in zip(config.data.benchmark, config.data.benchmarks())
                      if name in RELATEDNESS_BENCHMARKS]
        if not benchmarks:
            continue
        for method in config.method:
            written = _written(config, method)
            if written is None:
                continue
            layers, from_initial = written
            measures = [m for m in MEASURES if m not in FROM_INITIAL_MASKS or from_initial]
            for benchmark in benchmarks:
                for layer in layers:
                    for measure in measures:
                        keys[family_key(run.part, run.grid, benchmark, method, layer, measure)] = None
    return list(keys)


def _written(config: ExperimentConfig, name: str) -> tuple[list[str], bool] | None:
    """(masked layer names, records initial masks) of method `name` under `config`; None where it learns no masks."""
    from supermasks.methods import KnowsInitialMasks, Masked, method_spec
    from supermasks.models.tasks import masked_layers

    on_cpu = dataclasses.replace(config, run=dataclasses.replace(config.run, device="cpu"))
    method = method_spec(name).build(on_cpu)
    if not isinstance(method, Masked):
        return None
    return list(masked_layers(method.model)), isinstance(method, KnowsInitialMasks)


__all__ = ["FROM_INITIAL_MASKS", "MEASURES", "DeclaredRun", "MIN_TASKS", "RELATEDNESS_BENCHMARKS", "FamilyKey", "declared_tests", "family_key"]
