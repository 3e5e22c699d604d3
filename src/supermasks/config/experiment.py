"""`ExperimentConfig`: the components' settings composed into one frozen value, checked across sections."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from supermasks.conditional import is_local, resolved, rules
from supermasks.config import typed
from supermasks.config.names import check_name
from supermasks.config.run import RunSettings
from supermasks.data.settings import DataSettings
from supermasks.methods import list_methods, method_spec
from supermasks.models.settings import ModelSettings
from supermasks.scenarios import ScenarioSettings
from supermasks.training import TrainingSettings

SECTIONS: dict[str, type] = {"data": DataSettings, "model": ModelSettings, "training": TrainingSettings,
                             "scenario": ScenarioSettings, "run": RunSettings}


MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything a run depends on. Defaults follow SupSup on MNIST (docs/algorithms.md section 1).

    `method_settings` holds the settings of each method in `method` (its defaults when not given);
    read them with `config.settings("ewc")`.
    """

    name: str = "experiment"
    seed: int = 0  # every random stream derives from it (supermasks.seeds)
    method: list[str] = field(default_factory=lambda: ["supsup"])  # several: compared on the same tasks
    data: DataSettings = field(default_factory=DataSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    training: TrainingSettings = field(default_factory=TrainingSettings)
    scenario: ScenarioSettings = field(default_factory=ScenarioSettings)
    run: RunSettings = field(default_factory=RunSettings)
    method_settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 <= self.seed <= MAX_SEED:  # numpy's RandomState (permutations, split classes) takes no other
            raise ValueError(f"seed must be in [0, 2**32 - 1] (0 to {MAX_SEED}), got {typed.shown(self.seed)}")
        check_name(self.name)
        known = list_methods()
        if not self.method:
            raise ValueError("method: name at least one method")
        for name in self.method:
            if name not in known:
                raise ValueError(f"method: unknown value {typed.shown(name)}; choose one of {', '.join(known)}")
        if len(set(self.method)) != len(self.method):
            raise ValueError(f"method: {typed.shown(self.method)} names one twice")
        for name in self.method_settings:
            if name not in self.method:
                raise ValueError(f"{name}: settings for method {name!r}, which is not in method {self.method}: "
                                 f"remove the section or add the method")
        settings = {}
        for name in self.method:
            cls = method_spec(name).settings
            given = self.method_settings.get(name)
            if given is None:
                given = cls()
            elif not isinstance(given, cls):
                raise ValueError(f"{name}: expected {cls.__name__}, got {type(given).__name__}")
            settings[name] = given
        object.__setattr__(self, "method_settings", settings)
        self._resolve_across_sections()

    def _resolve_across_sections(self) -> None:
        """Fill in or refuse the settings whose condition is in another section or at the top (`supsup.task_inference`
        applies only to the scenarios that infer tasks, `run.overlap` only to methods that learn masks)."""
        for section, settings in [(s, getattr(self, s)) for s in SECTIONS] + list(self.method_settings.items()):
            changes = {}
            for name, rule in rules(type(settings)):
                if not is_local(type(settings), rule):
                    value = resolved(f"{section}.{name}", getattr(settings, name), rule, self.value(rule.key))
                    if value != getattr(settings, name):
                        changes[name] = value
            if changes:
                settings = dataclasses.replace(settings, **changes)
                if section in SECTIONS:
                    object.__setattr__(self, section, settings)
                else:
                    self.method_settings[section] = settings

    def value(self, key: str) -> Any:
        """The value of the dotted setting `key` (`"scenario.name"`, `"ewc.mode"`)."""
        section, *path = key.split(".")
        node = getattr(self, section) if section in SECTIONS or not path else self.settings(section)
        for part in path:
            node = getattr(node, part)
        return node

    def with_settings(self, method: str, settings: Any) -> ExperimentConfig:
        """This config with `settings` as the section of `method` (one of `self.method`), checked as any config is."""
        if method not in self.method_settings:
            raise KeyError(f"method {method!r} is not in this config's methods {self.method}")
        return dataclasses.replace(self, method_settings={**self.method_settings, method: settings})

    def settings(self, method: str) -> Any:
        """The settings of `method` (one of `self.method`)."""
        if method not in self.method_settings:
            raise KeyError(f"method {method!r} is not in this config's methods {self.method}")
        return self.method_settings[method]
