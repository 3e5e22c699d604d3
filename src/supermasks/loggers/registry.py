"""The loggers by name (`run.loggers`): the package each needs, its pip extra, and opening them for a run.

Nothing here imports a backend's package: `check_loggers` only looks for it (importlib's find_spec), so
the check costs nothing and runs before any data is loaded; `open_loggers` imports the backends it opens.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supermasks.errors import ConfigError
from supermasks.loggers.base import Broadcast


@dataclass(frozen=True)
class Backend:
    module: str  # the module of this package that opens it: `open_logger(directory, name=...)`
    packages: tuple[str, ...]  # import names; any one of them will do
    extra: str  # `pip install 'supermasks[<extra>]'`


BACKENDS: dict[str, Backend] = {
    "tensorboard": Backend("supermasks.loggers.tensorboard", ("tensorboard", "tensorboardX"), "tensorboard"),
    "mlflow": Backend("supermasks.loggers.mlflow", ("mlflow",), "mlflow"),
    "wandb": Backend("supermasks.loggers.wandb", ("wandb",), "wandb"),
}
LOGGER_NAMES: tuple[str, ...] = tuple(BACKENDS)


def _installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):  # ValueError: a module in sys.modules without a spec
        return False


def logger_problem(name: str) -> str | None:
    """Why the logger `name` cannot be used here (unknown, or its package missing), or None."""
    if name not in BACKENDS:
        return f"unknown logger {name!r}; choose from {', '.join(LOGGER_NAMES)}"
    backend = BACKENDS[name]
    if not any(_installed(package) for package in backend.packages):
        needs = " or ".join(backend.packages)
        return (f"the {name} logger needs the {needs} package, which is not installed here: "
                f"pip install 'supermasks[{backend.extra}]'")
    return None


def check_loggers(names: Sequence[str]) -> None:
    """ConfigError (one line) when one of `names` is unknown or its package is not installed."""
    for name in names:
        problem = logger_problem(name)
        if problem:
            raise ConfigError(f"run.loggers: {problem}")


@contextmanager
def open_loggers(names: Sequence[str], directory: Path, *, name: str,
                 settings: Mapping[str, Any]) -> Iterator[Broadcast | None]:
    """The loggers `names` open for the run directory `directory` (the run's `name`), started with `settings`;
    None when `names` is empty, so a run without loggers does nothing more. Closed on the way out, also on an error."""
    if not names:
        yield None
        return
    check_loggers(names)
    opened = Broadcast([])
    try:
        for logger_name in names:
            opened.loggers.append(importlib.import_module(BACKENDS[logger_name].module).open_logger(directory, name=name))
        opened.start(settings)
        yield opened
    finally:
        opened.close()
