"""A config over its seeds: each seed an ordinary run, then the runs aggregated into one set of tables."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from supermasks.aggregate.build import Aggregate, aggregate_runs, write_aggregate
from supermasks.config import ExperimentConfig

log = logging.getLogger(__name__)


@dataclass
class SeedRuns:
    """The run directories of every seed, their aggregate, and the directory it was written to."""

    directories: list[Path]
    aggregate: Aggregate
    directory: Path


def run_seeds(configs: Sequence[ExperimentConfig], *, force: bool = False, progress: bool = True) -> SeedRuns:
    """Run every config (one per seed; a finished one is reused) and aggregate them (`seeds_directory`)."""
    from supermasks.config.seeds import seeds_directory
    from supermasks.runner import run

    directories = []
    for config in configs:
        log.info("== seed %d", config.seed)
        directories.append(run(config, force=force, progress=progress).directory)
    directory = seeds_directory(configs)
    result = aggregate_runs(directories)
    write_aggregate(result, directory, figures=configs[0].run.figures, figure_formats=configs[0].run.figure_formats)
    return SeedRuns(directories, result, directory)
