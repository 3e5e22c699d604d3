"""Experiment configuration: the components' settings composed into one config, YAML loading, dotted
`key=value` overrides, the shipped configs and `seeds:` lists.

Each component defines its settings beside the code that uses them and checks its own values
(`data.DataSettings`, `models.ModelSettings`, `training.TrainingSettings`,
`scenarios.ScenarioSettings`, one per method registered in `supermasks.methods`); the runner's own
settings are `RunSettings` (`config.run`). A YAML file nests one section per component:

    name: compare
    method: [naive, ewc]
    data: {benchmark: [permuted], num_tasks: 5}
    training: {optimizer: adam, lr: 0.001}
    ewc: {lambda: 100.0}

and an override names a setting by its dotted key (`training.lr=1e-3`, `ewc.lambda=5000`). The
loader checks types and the choices of every `Literal` once; a settings class's ValueError
becomes a ConfigError prefixed with its section. Values are merged layer by layer (file, then
overrides; a study's base, part, grid point, then overrides): a layer that sets `method` drops the
earlier layers' sections of methods it no longer lists, and likewise every setting that applies only
to a choice the layer changes (declared with `supermasks.conditional.only_when`: the NNs settings
outside scenario nns, `density` outside the top-k rule, `classes_per_task` without the split
benchmark, ...). Within one layer a setting that does nothing is an error. Such a setting is None
where it does not apply and its default where it does, so a config's dict says what a run uses.

The modules, each with one job:
- `experiment`: `ExperimentConfig`, the frozen value every run depends on;
- `run`: `RunSettings`, the runner's own section;
- `layers`: composing layers of nested or dotted mappings into a config (`compose`, `idle_settings`);
- `loading`: from a YAML file, a dict or overrides (`load_config`, `from_dict`, `from_stored`, `updated`);
- `records`: what a run records of its config: the stored dict (`to_dict`) and what its hash covers (`identity`);
- `keys`: the valid dotted keys and the errors for unknown ones; `names`: names that become directories;
- `typed`: type checks and coercion of YAML values; `yaml_files`: reading YAML within limits;
- `seeds`: `seeds: [...]` lists, one run per seed; `shipped`: the configs that come with the package;
- `catalog`: what `supermasks list` shows; `workload`: the cap on how many runs one command starts.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The public names and the module of each. They load on first use (PEP 562), so that the modules that need no
# torch (`shipped`, `catalog`, `yaml_files`, `typed`, `workload`) stay cheap to import: `supermasks list` and
# `supermasks --help` answer without loading torch.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(["MAX_SEED", "SECTIONS", "ExperimentConfig"], "experiment"),
    **dict.fromkeys(["IDENTITY_DEFAULTS", "IDLE_VALUES", "NOT_IDENTITY", "identity", "stable_dict", "to_dict"],
                    "records"),
    **dict.fromkeys(["OLD_KEYS", "unknown_key_message", "valid_keys"], "keys"),
    **dict.fromkeys(["compose", "conditions", "idle_settings", "without_settings"], "layers"),
    **dict.fromkeys(["from_dict", "from_stored", "load_config", "parse_override", "parse_overrides", "updated"],
                    "loading"),
    **dict.fromkeys(["NAME_RULE", "check_name", "check_names"], "names"),
    "RunSettings": "run",
    **dict.fromkeys(["load_yaml_text", "read_yaml", "read_yaml_file"], "yaml_files"),
}

if TYPE_CHECKING:
    from supermasks.config.experiment import MAX_SEED, SECTIONS, ExperimentConfig
    from supermasks.config.records import (IDENTITY_DEFAULTS, IDLE_VALUES, NOT_IDENTITY, identity, stable_dict,
                                            to_dict)
    from supermasks.config.keys import OLD_KEYS, unknown_key_message, valid_keys
    from supermasks.config.layers import compose, conditions, idle_settings, without_settings
    from supermasks.config.loading import from_dict, from_stored, load_config, parse_override, parse_overrides, updated
    from supermasks.config.names import NAME_RULE, check_name, check_names
    from supermasks.config.run import RunSettings
    from supermasks.config.yaml_files import load_yaml_text, read_yaml, read_yaml_file

from supermasks.errors import ConfigError
from supermasks.config.marks import protocol_marks


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'supermasks.config' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"supermasks.config.{_EXPORTS[name]}"), name)
    globals()[name] = value  # once loaded, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = sorted([*_EXPORTS, "ConfigError", "protocol_marks"])
