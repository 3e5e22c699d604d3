"""Any config file by path or shipped name: a run, a run per seed (`seeds:`), a study of parts, a transfer study."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from supermasks.config import ExperimentConfig
from supermasks.config.seeds import load_configs
from supermasks.config.shipped import ConfigNotFoundError, find_config
from supermasks.errors import ConfigError
from supermasks.studies.grid import Study, is_study_file, load_study
from supermasks.studies.transfer_file import TransferStudy, is_transfer_study_file, load_transfer_study


@dataclass(frozen=True)
class Seeds:
    """A config run once per seed (`seeds: [0, 1, 2]`), aggregated over the seeds: `configs[i]` has `seeds[i]`."""

    configs: list[ExperimentConfig]
    seeds: list[int]


Loaded = ExperimentConfig | Seeds | Study | TransferStudy


def load_config(path: Path | str | None = None, overrides: list[str] | tuple[str, ...] | None = (), *,
                part: str | None = None, max_runs: int | None = None) -> Loaded:
    """The config file `path` (a path, or the name of a shipped config such as `"supsup"` or `"experiment1"`;
    None: the defaults) with `key=value` overrides applied, as the kind of config it is:
    - an `ExperimentConfig` for a plain config;
    - `Seeds` for one with `seeds: [...]` (one run per seed);
    - a `Study` for a study file (`parts:`; `part` runs only that part);
    - a `TransferStudy` for a transfer study (`transfer_study:`).
    `max_runs` caps how many runs a file may expand to (the command line's `--max-runs`; None: 2,000).
    Each is what `run` takes. ConfigError for an unknown name or key, a bad value, or `part` on a file without parts.
    """
    if path is None:
        if part is not None:
            raise ConfigError("part: the defaults have no parts; part applies to study files only")
        (config,), _ = load_configs(None, overrides or (), max_runs=max_runs)
        return config
    try:
        found = find_config(path)
    except ConfigNotFoundError as error:
        raise ConfigError(str(error)) from None
    if is_transfer_study_file(found):
        if part is not None:
            raise ConfigError(f"{found} is a transfer study; part applies to study files with parts")
        return load_transfer_study(found, overrides or (), max_runs=max_runs)
    if is_study_file(found):
        return load_study(found, overrides or (), only=part, max_runs=max_runs)
    if part is not None:
        raise ConfigError(f"{found} has no parts; part applies to study files only")
    configs, seeds = load_configs(found, overrides or (), max_runs=max_runs)
    if seeds is None:
        (config,) = configs
        return config
    return Seeds(configs, seeds)


__all__ = ["Loaded", "Seeds", "load_config"]
