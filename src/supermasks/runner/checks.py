"""Checks of a config before any work starts: names, ranges, combinations, and free disk space."""

from __future__ import annotations

import shutil
from pathlib import Path

from supermasks.config import ConfigError, ExperimentConfig
from supermasks.methods import method_spec
from supermasks.models.networks import _sizes
from supermasks.scenarios import scenario_of_stream, scenario_problem


def validate(config: ExperimentConfig) -> None:
    """Check combinations across sections before any work starts (one clear error).

    Each section's own names, choices and ranges were checked when the config was built.
    """
    if scenario_of_stream(config.scenario.name) and config.model.batch_norm:
        raise ConfigError("the nns scenario superposes masks to detect new tasks, which per-task BatchNorm "
                          "statistics do not allow: set model.batch_norm=false")
    if config.data.data_dir is not None and not Path(config.data.data_dir).is_dir():
        raise ConfigError(f"data.data_dir {config.data.data_dir} is not a directory")
    for bench in config.data.benchmark:
        problem = scenario_problem(config.scenario.name, bench, config.data.label_mode)
        if problem:
            raise ConfigError(f"scenario {config.scenario.name!r} with benchmark {bench!r}: {problem}")
    for name in config.method:
        spec = method_spec(name)
        if config.scenario.name not in spec.scenarios:
            raise ConfigError(f"method {name!r} cannot run in the {config.scenario.name!r} scenario; it supports "
                              f"{', '.join(sorted(spec.scenarios))}")
        spec.check(config)


def check_free_space(config: ExperimentConfig, directory: Path) -> None:
    """Refuse to start when the disk holding `directory` has too little room for the run's files.

    The estimate: per (benchmark, method), two full states (the two kept checkpoints share no file,
    so that either survives damage to the other; see `store.checkpoints`) of a float32 score (or weight) per weight of the network for every task, plus the
    compact masks and 64 MiB for tables and figures. Generous on
    purpose: running out of disk in the middle of a run costs more than a false refusal.
    """
    sizes = _sizes(config.model.arch, config.model.output_size)
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    num_tasks = config.data.num_tasks
    per_state = 2 * 4 * weights * (num_tasks + 1) if config.run.checkpoint_state else 0
    needed = len(config.data.benchmark) * len(config.method) * (per_state + weights // 8 * num_tasks) + 64 * 2**20
    probe = directory
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed:
        raise ConfigError(f"not enough free disk space for this run in {probe}: {free / 2**20:,.0f} MiB free, about "
                          f"{needed / 2**20:,.0f} MiB needed (set run.checkpoint_state=false to skip resumable checkpoints)")


__all__ = ["check_free_space", "validate"]
