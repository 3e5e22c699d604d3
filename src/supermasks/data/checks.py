"""The `data` section checked against what this installation knows of its sources: a data folder that exists,
a split that the source's classes allow. Its own values were checked when the section was built
(`data.settings`); whether a source's files are here is `runner.checks.check_sources`, asked before a study."""

from __future__ import annotations

from pathlib import Path

from supermasks.data.benchmarks import split_problem, splitcifar100_problem
from supermasks.data.settings import DataSettings
from supermasks.data.sources import source_num_classes
from supermasks.errors import ConfigError


def check_data(data: DataSettings) -> None:
    """ConfigError for a `data` section that cannot make its tasks: a missing data_dir, or more split tasks or
    classes per task than the source has classes."""
    if data.data_dir is not None and not Path(data.data_dir).is_dir():
        raise ConfigError(f"data.data_dir {data.data_dir} is not a directory")
    if "split" in data.benchmarks():
        problem = split_problem(source_num_classes(data.source), data.num_tasks, data.classes_per_task)
        if problem:
            raise ConfigError(f"benchmark split on {data.source}: {problem} (data.num_tasks={data.num_tasks}, "
                              f"data.classes_per_task={data.classes_per_task})")
    if "splitcifar100" in data.benchmarks():
        problem = splitcifar100_problem(source_num_classes(data.source), data.num_tasks)
        if problem:
            raise ConfigError(f"benchmark splitcifar100 on {data.source}: {problem}")


__all__ = ["check_data"]
