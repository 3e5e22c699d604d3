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
- `identity`: what a run's hash covers (`identity`) and the stored dict (`to_dict`);
- `keys`: the valid dotted keys and the errors for unknown ones; `names`: names that become directories;
- `typed`: type checks and coercion of YAML values; `yaml_files`: reading YAML within limits;
- `seeds`: `seeds: [...]` lists, one run per seed; `shipped`: the configs that come with the package;
- `catalog`: what `supermasks list` shows; `workload`: the cap on how many runs one command starts.
"""

from __future__ import annotations

from supermasks.config.experiment import MAX_SEED, SECTIONS, ExperimentConfig
from supermasks.config.identity import IDENTITY_DEFAULTS, IDLE_VALUES, NOT_IDENTITY, identity, stable_dict, to_dict
from supermasks.config.keys import OLD_KEYS, unknown_key_message, valid_keys
from supermasks.config.layers import compose, conditions, idle_settings, without_settings
from supermasks.config.loading import from_dict, from_stored, load_config, parse_override, parse_overrides, updated
from supermasks.config.names import NAME_RULE, check_name, check_names
from supermasks.config.run import RunSettings
from supermasks.config.yaml_files import load_yaml_text, read_yaml, read_yaml_file
from supermasks.errors import ConfigError
from supermasks.protocols import protocol_marks

__all__ = ["IDENTITY_DEFAULTS", "IDLE_VALUES", "MAX_SEED", "NAME_RULE", "NOT_IDENTITY", "OLD_KEYS", "SECTIONS",
           "ConfigError", "ExperimentConfig", "RunSettings", "check_name", "check_names", "compose", "conditions",
           "from_dict", "from_stored", "identity", "idle_settings", "load_config", "load_yaml_text", "parse_override",
           "protocol_marks", "parse_overrides", "read_yaml", "read_yaml_file", "stable_dict", "to_dict",
           "unknown_key_message", "updated", "valid_keys", "without_settings"]
