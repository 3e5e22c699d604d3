"""Reading an Experiment 2 study file (`studies.transfer`): its `transfer_study` section checked, a config per unit.

Every (benchmark, transfer mode) gets its config, checked before any work, and the study its
directory, named by a hash of everything that decides its results.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supermasks.config.typed import shown
from supermasks.config import (ConfigError, ExperimentConfig, check_name, check_names, compose, idle_settings,
                               parse_overrides, read_yaml, stable_dict, updated, without_settings)
from supermasks.config.seeds import SEEDS_KEY, check_seeds
from supermasks.runner import validate
from supermasks.scenarios import INFERENCE_BATCH_SIZE
from supermasks.methods._warm_start import TRANSFERS
from supermasks.config.workload import check_run_count
from supermasks.config.yaml_files import top_level_keys

STUDY_KEY = "transfer_study"


@dataclass(frozen=True)
class TransferStudy:
    """One Experiment 2: a config per benchmark, and the modes, budgets and seeds to cross."""

    name: str
    out_dir: str
    benchmarks: dict[str, dict[str, ExperimentConfig]]  # benchmark -> transfer mode -> the config of its runs
    transfers: list[str]
    budgets: list[int]
    seeds: list[int]
    source: dict[str, Any] = field(default_factory=dict)  # the resolved file, for the directory hash
    # Test images per signature inference (the prediction table): the file's scenario.inference_batch_size, which
    # the study's own runs (scenario task) do not read.
    inference_batch_size: int = INFERENCE_BATCH_SIZE

    def directory(self) -> Path:
        blob = json.dumps(self.source, sort_keys=True, default=str)
        return Path(self.out_dir) / f"{self.name}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


def is_transfer_study_file(path: Path) -> bool:
    """True when the YAML file at `path` has a `transfer_study` section."""
    return STUDY_KEY in top_level_keys(path)


def _int_list(value: Any, key: str, minimum: int) -> list[int]:
    if not isinstance(value, list) or not value or not all(isinstance(v, int) and not isinstance(v, bool)
                                                            and v >= minimum for v in value):
        raise ConfigError(f"{STUDY_KEY}.{key} must be a non-empty list of integers >= {minimum}, got {shown(value)}")
    if len(set(value)) != len(value):
        raise ConfigError(f"{STUDY_KEY}.{key} names a value twice: {shown(value)}")
    return list(value)


def _signature_batch(loaded: dict[str, Any], cli: dict[str, Any]) -> int:
    """The study's `scenario.inference_batch_size` (file, then command line; taken out of both, since its runs are of
    scenario task, where it does nothing): the batch of its signature inference, INFERENCE_BATCH_SIZE when not given."""
    value: Any = INFERENCE_BATCH_SIZE
    for layer in (loaded, cli):
        if "scenario.inference_batch_size" in layer:
            value = layer.pop("scenario.inference_batch_size")
        scenario = layer.get("scenario")
        if isinstance(scenario, dict) and "inference_batch_size" in scenario:
            value = scenario.pop("inference_batch_size")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"scenario.inference_batch_size (the test images per signature inference) must be a "
                          f"positive number, got {value!r}")
    return value


def load_transfer_study(path: Path, overrides: list[str] | tuple[str, ...] = (), *,
                        max_runs: int | None = None) -> TransferStudy:
    """The study in `path` with `key=value` overrides applied to every benchmark's config; checked before any work.
    More than `max_runs` runs (benchmarks x transfer modes x seeds; None: `workload.DEFAULT_MAX_RUNS`) are refused
    before any config is built."""
    path = Path(path)
    loaded = read_yaml(path)
    spec = loaded.pop(STUDY_KEY)
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: `{STUDY_KEY}` must be a mapping")
    unknown = set(spec) - {"transfers", "budgets", "seeds", "benchmarks"}
    if unknown:
        raise ConfigError(f"{path}: unknown {STUDY_KEY} key(s) {sorted(unknown)}; valid: transfers, budgets, seeds, "
                          f"benchmarks")
    transfers = spec.get("transfers", list(TRANSFERS))
    if not isinstance(transfers, list) or not transfers or any(t not in TRANSFERS for t in transfers):
        raise ConfigError(f"{STUDY_KEY}.transfers must list modes from {', '.join(TRANSFERS)}, got {shown(transfers)}")
    if "random" not in transfers:
        raise ConfigError(f"{STUDY_KEY}.transfers must include random: every mode is compared with it")
    transfers = ["random", *[t for t in transfers if t != "random"]]  # random first: two_pass reads its signatures
    budgets = sorted(_int_list(spec.get("budgets"), "budgets", 1))
    seeds = _int_list(spec.get("seeds"), "seeds", 0)
    benches = spec.get("benchmarks")
    if not isinstance(benches, dict) or not benches:
        raise ConfigError(f"{STUDY_KEY}.benchmarks must map names to config overrides")
    loaded.setdefault("name", path.stem)
    study_name = str(loaded["name"])
    check_name(study_name, f"{path}: name")
    check_names(benches, f"{path}: benchmark name")  # each benchmark's runs are named <name>-<benchmark>
    cli = parse_overrides(overrides)
    batch = _signature_batch(loaded, cli)
    if SEEDS_KEY in cli:  # `seeds=[0,1]` on the command line: this study's own seeds
        seeds = check_seeds(cli.pop(SEEDS_KEY))
    try:
        check_run_count(len(benches) * len(transfers) * len(seeds), what="transfer study",
                        made_of=f"{len(benches):,} benchmarks x {len(transfers)} transfer modes x {len(seeds):,} seeds",
                        fewer="give fewer benchmarks, modes or seeds", max_runs=max_runs)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    budget = {"training": {"steps_per_task": budgets[-1]}}
    configs: dict[str, dict[str, ExperimentConfig]] = {}
    idle_everywhere: dict[str, str] | None = None  # command-line settings that did nothing in every run so far
    for name, settings in benches.items():
        configs[name] = {}
        for transfer in transfers:
            unit = {"supsup": {"transfer": transfer}, "scenario": {"name": "task"}}
            try:
                # A command-line setting for some runs only (`data.rotation_step=5`, `supsup.transfer_temperature=1`)
                # skips the others.
                idle = idle_settings([loaded, budget, settings or {}, unit], cli)
                config = compose(loaded, budget, settings or {}, unit, {"name": f"{study_name}-{name}"},
                                 without_settings(cli, idle))
                validate(config)
            except ConfigError as exc:
                raise ConfigError(f"{path}: benchmark {name}, transfer {transfer}: {exc}") from None
            idle_everywhere = idle if idle_everywhere is None else {k: idle[k] for k in idle_everywhere if k in idle}
            configs[name][transfer] = config
        config = configs[name]["random"]
        if len(config.data.benchmark) != 1:
            raise ConfigError(f"benchmark {name}: give exactly one data.benchmark, got {config.data.benchmark}")
        if config.method != ["supsup"]:
            raise ConfigError(f"benchmark {name}: Experiment 2 studies SupSup's transfer; method must be [supsup]")
        if not config.model.batch_norm:
            raise ConfigError(f"benchmark {name}: similarity needs per-task BatchNorm signatures: set model.batch_norm=true")
        if config.training.steps_per_task != budgets[-1]:
            raise ConfigError(f"benchmark {name}: training.steps_per_task is the largest budget ({budgets[-1]}); do not set it")
    if idle_everywhere:
        key, why = next(iter(idle_everywhere.items()))
        raise ConfigError(f"{path}: {key} on the command line does nothing in any run of this study ({why}): remove it")
    out_dir = next(iter(configs.values()))["random"].run.out_dir
    source = {"transfers": transfers, "budgets": budgets, "seeds": seeds,
              "benchmarks": {n: {t: _unit_source(c, batch) for t, c in units.items()} for n, units in configs.items()}}
    return TransferStudy(study_name, out_dir, configs, transfers, budgets, seeds, source, batch)


def _unit_source(config: ExperimentConfig, batch: int) -> dict[str, Any]:
    """A unit's config as the directory hash reads it: the signature batch where each unit's config held it once."""
    values = stable_dict(updated(config, {"run.out_dir": ""}))
    values["scenario"]["inference_batch_size"] = batch
    return values


__all__ = ["STUDY_KEY", "TransferStudy", "is_transfer_study_file", "load_transfer_study"]
