"""What a report is made from: finished run directories read back, and a study directory's runs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from supermasks.store.json_files import read_json

if TYPE_CHECKING:
    from supermasks.runner.tables import MethodResult


@dataclass
class RunData:
    """One finished run: its directory, config (as stored), meta.json, and each (benchmark, method)'s results."""

    directory: Path
    config: Any  # ExperimentConfig
    config_text: str
    meta: dict[str, Any]
    results: list[MethodResult]


def read_run(directory: Path) -> RunData:
    """The finished run in `directory`, its results checked against the checksums recorded when it finished."""
    from supermasks.config import from_stored, read_yaml
    from supermasks.runner.experiment import stored_results

    directory = Path(directory)
    config = from_stored(read_yaml(directory / "config.yaml"))
    meta_path = directory / "meta.json"
    meta = read_json(meta_path) if meta_path.is_file() else {}
    return RunData(directory, config, (directory / "config.yaml").read_text(encoding="utf-8"), meta,
                   stored_results(config, directory))


STUDY_FILE = "study.csv"


def is_study_directory(path: Path) -> bool:
    """True when `path` holds a study's table (`study.csv`, written by `supermasks run STUDY.yaml`)."""
    return (Path(path) / STUDY_FILE).is_file()


def study_name(directory: Path) -> str:
    """A study directory's name without the hash that ends it (`experiment1-quick-33a999ca` -> `experiment1-quick`):
    the name its config gave it."""
    return re.sub(r"-[0-9a-f]{8}$", "", Path(directory).name) or Path(directory).name


def study_runs(directory: Path) -> list[Path]:
    """The run directories a study's table lists, each once, in order.

    A listed path that does not exist as written (it was relative to where the study ran) is looked
    up beside the study directory, where studies and their runs share one `run.out_dir`.
    """
    frame = pd.read_csv(Path(directory) / STUDY_FILE)
    found = []
    for name in dict.fromkeys(frame["run_directory"].astype(str)):
        path = Path(name)
        if not path.is_dir():
            path = Path(directory).parent / path.name
        found.append(path)
    return found
