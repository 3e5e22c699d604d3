"""supermasks: continual learning with supermasks over a fixed random network.

The public API, imported on first use (so that `import supermasks` and `supermasks list` stay
light and do not load torch):

    import supermasks
    config = supermasks.load_config("supsup", ["data.num_tasks=3"])  # a shipped name or a path
    result = supermasks.run(config)            # a finished config returns its stored results
    print(result.comparison())
    result.accuracy()                          # R as a DataFrame; result.numbers(), result.masks(3)
    model = supermasks.load(result.directory)  # the trained method, ready to predict
    model.predict(x, task_id=3)                # or task_id=None: the task inferred from x

`load_config` takes every kind of config file (a run, `seeds:`, a study, a transfer study) and `run`
runs each and writes report.html (`supermasks.api`). Also `make_benchmark`, `load_source` (data),
`list_methods`/`method_spec` (methods), `metrics` (ACC, BWT, FWT, forgetting over an accuracy
matrix), `validate` and `RunResult`.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# name -> (module, attribute); None as attribute means the module itself.
_EXPORTS: dict[str, tuple[str, str | None]] = {
    "run": ("supermasks.api.running", "run"),
    "load": ("supermasks.api.trained", "load"),
    "Trained": ("supermasks.api.trained", "Trained"),
    "Seeds": ("supermasks.api.kinds", "Seeds"),
    "StudyResult": ("supermasks.api.running", "StudyResult"),
    "TransferResult": ("supermasks.api.running", "TransferResult"),
    "validate": ("supermasks.runner", "validate"),
    "RunResult": ("supermasks.runner", "RunResult"),
    "MethodResult": ("supermasks.runner", "MethodResult"),
    "ExperimentConfig": ("supermasks.config", "ExperimentConfig"),
    "ConfigError": ("supermasks.config", "ConfigError"),
    "load_config": ("supermasks.api.kinds", "load_config"),
    "make_benchmark": ("supermasks.data", "make_benchmark"),
    "list_benchmarks": ("supermasks.data", "list_benchmarks"),
    "load_source": ("supermasks.data", "load_source"),
    "Task": ("supermasks.data", "Task"),
    "list_methods": ("supermasks.methods", "list_methods"),
    "method_spec": ("supermasks.methods", "method_spec"),
    "Method": ("supermasks.methods", "Method"),
    "metrics": ("supermasks.analysis.metrics", None),
    "masked": ("supermasks.models.user", "masked"),
    "tasks_from": ("supermasks.data.user", "tasks_from"),
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'supermasks' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = importlib.import_module(module)
    value = value if attribute is None else getattr(value, attribute)
    globals()[name] = value  # the next access is a plain lookup
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
