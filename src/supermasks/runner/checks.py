"""Checks of a config before any work starts: names, ranges, combinations, and free disk space."""

from __future__ import annotations

import shutil
from pathlib import Path

from supermasks.config import ConfigError, ExperimentConfig
from supermasks.data import list_benchmarks, list_sources
from supermasks.methods import list_methods, method_spec
from supermasks.models import ARCHITECTURES, MASK_RULES
from supermasks.models.networks import _sizes
from supermasks.scenarios import scenario_of_stream, scenario_problem
from supermasks.training import OPTIMIZERS


def validate(config: ExperimentConfig) -> None:
    """Check names, ranges and combinations before any work starts (one clear error)."""
    def one_of(key: str, value: str, valid) -> None:
        if value not in valid:
            raise ConfigError(f"{key}: unknown value {value!r}; choose one of {', '.join(valid)}")

    for key, names in (("benchmark", config.benchmark), ("method", config.method)):
        if len(set(names)) != len(names):
            raise ConfigError(f"{key}: {names} names one twice")
    for name in config.benchmark:
        one_of("benchmark", name, list_benchmarks())
    for name in config.method:
        one_of("method", name, list_methods())
    sources = [s.name for s in list_sources()]
    one_of("source", config.source, sources)
    one_of("pair_source", config.pair_source, sources)
    one_of("model", config.model, ARCHITECTURES)
    one_of("mask_rule", config.mask_rule, MASK_RULES)
    one_of("optimizer", config.optimizer, OPTIMIZERS)
    one_of("label_mode", config.label_mode, ("remap", "keep"))
    positive = {"num_tasks": config.num_tasks, "output_size": config.output_size, "lr": config.lr,
                "batch_size": config.batch_size, "steps_per_task": config.steps_per_task,
                "eval_batch_size": config.eval_batch_size}
    for key, value in positive.items():
        if not value > 0 or value == float("inf"):  # NaN fails `> 0`
            raise ConfigError(f"{key} must be a positive finite number, got {value}")
    if scenario_of_stream(config.scenario):
        if config.batch_norm:
            raise ConfigError("the nns scenario superposes masks to detect new tasks, which per-task BatchNorm "
                              "statistics do not allow: set batch_norm=false")
        if config.transfer != "random":
            raise ConfigError("the nns scenario allocates masks as it detects tasks and starts them random: "
                              f"transfer={config.transfer!r} is not supported there")
        if config.nns_check_every < 1 or config.nns_candidates < 1 or config.nns_margin < 0 or config.nns_warmup < 0:
            raise ConfigError(f"nns_check_every and nns_candidates must be positive, nns_margin and nns_warmup "
                              f"non-negative; got {config.nns_check_every}, {config.nns_candidates}, "
                              f"{config.nns_margin}, {config.nns_warmup}")
    if config.evaluate not in ("each", "last"):
        raise ConfigError(f"evaluate: unknown value {config.evaluate!r}; choose one of each, last")
    if config.eval_every < 0:
        raise ConfigError(f"eval_every must be 0 (off) or a number of steps, got {config.eval_every}")
    if config.classes_per_task < 2:
        raise ConfigError(f"classes_per_task must be at least 2, got {config.classes_per_task}")
    if not 0.0 < config.density <= 1.0:
        raise ConfigError(f"density must be in (0, 1], got {config.density}")
    if config.data_dir is not None and not Path(config.data_dir).is_dir():
        raise ConfigError(f"data_dir {config.data_dir} is not a directory")
    if config.rotation_step is not None and not 0 < config.rotation_step <= 360:
        raise ConfigError(f"rotation_step must be in (0, 360] degrees, got {config.rotation_step}")
    if "pair" in config.benchmark and config.num_tasks != 2:
        raise ConfigError(f"the pair benchmark has exactly 2 tasks: set num_tasks=2 (got {config.num_tasks})")
    for bench in config.benchmark:
        problem = scenario_problem(config.scenario, bench, config.label_mode)
        if problem:
            raise ConfigError(f"scenario {config.scenario!r} with benchmark {bench!r}: {problem}")
    for name in config.method:
        spec = method_spec(name)
        if config.scenario not in spec.scenarios:
            raise ConfigError(f"method {name!r} cannot run in the {config.scenario!r} scenario; it supports "
                              f"{', '.join(sorted(spec.scenarios))}")
        spec.check(config)


def check_free_space(config: ExperimentConfig, directory: Path) -> None:
    """Refuse to start when the disk holding `directory` has too little room for the run's files.

    The estimate: per (benchmark, method), one full state (the checkpoints share their unchanged
    tensors) of a float32 score (or weight) per weight of the network for every task, plus the
    compact masks and 64 MiB for tables and figures. Generous on
    purpose: running out of disk in the middle of a run costs more than a false refusal.
    """
    sizes = _sizes(config.model, config.output_size)
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    per_state = 4 * weights * (config.num_tasks + 1) if config.checkpoint_state else 0
    needed = len(config.benchmark) * len(config.method) * (per_state + weights // 8 * config.num_tasks) + 64 * 2**20
    probe = directory
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < needed:
        raise ConfigError(f"not enough free disk space for this run in {probe}: {free / 2**20:,.0f} MiB free, about "
                          f"{needed / 2**20:,.0f} MiB needed (set checkpoint_state=false to skip resumable checkpoints)")


__all__ = ["check_free_space", "validate"]
