"""Continual-learning methods: one module each, one registry, one small Protocol.

Adding a method: write `methods/<name>.py` with the class (following the `Method` Protocol; it
holds the run's `TrainingSettings` as its one `training` attribute, and its `state_dict` starts
with `_state.header`, which records them with the method's own settings, so a state loaded under
other settings is refused), its settings dataclass (the method's section of the config, validating
its own values in `__post_init__`; empty if it has none), a `from_config(config)` builder that
reads `config.settings("<name>")` and the shared sections, and a `SPEC = MethodSpec(from_config,
..., settings=<Settings>)`; then add one line to `_REGISTRY` below. `tests/methods/test_state_dict.py`
and `tests/methods/test_registry.py` then check it in every scenario it declares.
"""

from __future__ import annotations

from supermasks.conditional import declare_capability
from supermasks.errors import ConfigError
from supermasks.models.user import is_own_arch
from supermasks.methods import batche, ewc, hopsupsup, joint, naive, replay, separate_heads, supsup, upper_bound
from supermasks.methods.base import (InfersPerImage, InfersTasks, KnowsInitialMasks, LearnsTasksApart, Masked, Method,
                                     MethodConfig, MethodReport, MethodSpec, Reports, SharesInitialScores,
                                     StoresForLaterTasks)

_REGISTRY: dict[str, MethodSpec] = {
    "supsup": supsup.SPEC,
    "naive": naive.SPEC,
    "joint": joint.SPEC,
    "ewc": ewc.SPEC,
    "replay": replay.SPEC,
    "separate_heads": separate_heads.SPEC,
    "batche": batche.SPEC,
    "hopsupsup": hopsupsup.SPEC,
    "upper_bound": upper_bound.SPEC,
}


def list_methods() -> dict[str, str]:
    """Method names and one-line descriptions."""
    return {name: spec.description for name, spec in _REGISTRY.items()}


def masked_methods() -> frozenset[str]:
    """The methods that learn one mask per task (`MethodSpec.masks`)."""
    return frozenset(name for name, spec in _REGISTRY.items() if spec.masks)


declare_capability("masks", masked_methods)  # the settings that apply only to them: model.mask_rule, run.overlap


def check_methods(config: MethodConfig) -> None:
    """ConfigError for a method that cannot run in the config's scenario or at its precision (a dense network
    trains in float32), or whose own `check` refuses the combination of its settings with the other sections."""
    precision = config.training.precision
    dense = [name for name in config.method if not method_spec(name).masks]
    if precision != "float32" and dense:
        raise ConfigError(f"training.precision={precision} computes masked layers' products in {precision}; method "
                          f"{', '.join(dense)} trains a dense network in float32: set training.precision=float32 "
                          "(or training.amp=true on CUDA), or method=supsup")
    unable = [name for name in config.method if not method_spec(name).own_network]
    if is_own_arch(config.model.arch) and unable:
        able = [name for name in list_methods() if method_spec(name).own_network]
        why = "; ".join(f"method {name} cannot train it ({method_spec(name).own_network_refusal})" for name in unable)
        raise ConfigError(f"model.arch {config.model.arch} is your own network: {why}. Use method={', '.join(able)}, "
                          "or a registered model.arch")
    for name in config.method:
        spec = method_spec(name)
        if config.scenario.name not in spec.scenarios:
            raise ConfigError(f"method {name!r} cannot run in the {config.scenario.name!r} scenario; it supports "
                              f"{', '.join(sorted(spec.scenarios))}")
        spec.check(config)


def method_spec(name: str) -> MethodSpec:
    """The registry entry of `name` (ValueError listing the valid names otherwise)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


__all__ = ["InfersPerImage", "InfersTasks", "KnowsInitialMasks", "LearnsTasksApart", "Masked", "Method", "MethodConfig", "MethodReport", "MethodSpec",
           "Reports", "SharesInitialScores", "StoresForLaterTasks", "check_methods", "list_methods", "masked_methods", "method_spec"]
