"""The `seeds:` setting: one config run once per seed, each seed an ordinary run directory.

`seeds: [0, 1, 2]` (in a config or study file, a study part, or on the command line as
`seeds=[0,1,2]`) stands for the same config with `seed: 0`, `seed: 1` and `seed: 2`. It and
`seed` name the same choice, so a later layer's one replaces an earlier layer's other (a file's
`seeds` and a command-line `seed=3` run seed 3 alone); both in one layer is an error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from supermasks.config.typed import shown
from supermasks.config.experiment import MAX_SEED, ExperimentConfig
from supermasks.config.layers import compose
from supermasks.config.loading import parse_overrides
from supermasks.config.yaml_files import read_yaml
from supermasks.errors import ConfigError
from supermasks.config.workload import check_run_count

SEEDS_KEY = "seeds"


def check_seeds(value: Any) -> list[int]:
    """`value` as a list of distinct seeds in [0, 2**32 - 1]; ConfigError naming the problem otherwise."""
    if not isinstance(value, list) or not value:
        raise ConfigError(f"seeds: a non-empty list of seeds, e.g. [0, 1, 2]; got {shown(value)}")
    for seed in value:
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise ConfigError(f"seeds: every seed is an integer in [0, 2**32 - 1]; got {shown(seed)}")
    if len(set(value)) != len(value):
        raise ConfigError(f"seeds: {value} names a seed twice")
    return list(value)


def take_seeds(layers: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[int] | None]:
    """(`layers` without `seeds`, the seeds the last layer that names `seed` or `seeds` asks for, or None when
    that is a single `seed` or neither is named)."""
    seeds: list[int] | None = None
    out = []
    for layer in layers:
        layer = dict(layer)
        if SEEDS_KEY in layer:
            if "seed" in layer:
                raise ConfigError("seed and seeds are both set: give one seed or a list of seeds, not both")
            seeds = check_seeds(layer.pop(SEEDS_KEY))
        elif "seed" in layer:
            seeds = None
        out.append(layer)
    return out, seeds


def seeded(layers: Sequence[Mapping[str, Any]], seeds: list[int] | None) -> list[ExperimentConfig]:
    """The config of `layers` once per seed (once as it is when `seeds` is None)."""
    if seeds is None:
        return [compose(*layers)]
    return [compose(*layers, {"seed": seed}) for seed in seeds]


def load_configs(path: Path | str | None = None, overrides: list[str] | tuple[str, ...] = (), *,
                 max_runs: int | None = None) -> tuple[list[ExperimentConfig], list[int] | None]:
    """`load_config` with `seeds`: (one config per seed, the seeds or None when the config names no list); more seeds
    than `max_runs` (None: `workload.DEFAULT_MAX_RUNS`) are refused before any config is built."""
    values: dict[str, Any] = {}
    if path is not None:
        values = read_yaml(path)
        values.setdefault("name", Path(path).stem)
    layers, seeds = take_seeds([values, parse_overrides(overrides)])
    if seeds is not None:
        check_run_count(len(seeds), what="config", made_of=f"{len(seeds):,} seeds", fewer="give fewer seeds",
                        max_runs=max_runs)
    return seeded(layers, seeds), seeds


def seeds_directory(configs: Sequence[ExperimentConfig]) -> Path:
    """`<out_dir>/<name>-seeds-<hash>`: where the tables over the seeds of `configs` go (named by their runs)."""
    from supermasks.config.records import config_hash

    blob = ",".join(sorted(config_hash(c) for c in configs)).encode()
    first = configs[0]
    return Path(first.run.out_dir) / f"{first.name}-seeds-{hashlib.sha256(blob).hexdigest()[:8]}"
