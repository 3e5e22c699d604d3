"""Run any kind of config (`kinds.load_config`) and write its report.html, as `supermasks run` does."""

from __future__ import annotations

import logging
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from supermasks.aggregate.seeded import SeedRuns, run_seeds
from supermasks.api.kinds import Loaded, Seeds
from supermasks.config import ExperimentConfig
from supermasks.errors import ConfigError
from supermasks.runner import RunResult
from supermasks.runner import run as run_one
from supermasks.studies.grid import Study, run_study
from supermasks.studies.overlap_answer import study_answer
from supermasks.studies.transfer import run_transfer_study
from supermasks.studies.transfer_file import TransferStudy

log = logging.getLogger("supermasks")


@dataclass(frozen=True)
class StudyResult:
    """A study's directory, its table (one row per run: part, grid values, seed, method, metrics) and its question
    with the short answer in words: where the study analyses mask overlap over seeds, with a compact table of the
    tests (`studies.overlap_answer.study_answer`; every test's sentence: `studies.overlap.study_findings`); for
    Experiment 3, the forgetting and the replay study, as their report pages open (`report.study_answer`)."""

    directory: Path
    table: pd.DataFrame
    findings: str | None = None
    note: str = ""  # what the study file says of itself


@dataclass(frozen=True)
class TransferResult:
    """A transfer study's directory and tables (`summary`, `evaluation`, ...: `studies.transfer_results`)."""

    directory: Path
    tables: dict[str, pd.DataFrame]


Result = RunResult | SeedRuns | StudyResult | TransferResult


def run(config: Loaded, *, force: bool = False, progress: bool = True, report: bool | None = None,
        **inputs: Any) -> Result:
    """Run `config` (any kind `load_config` returns) and write report.html into its directory where `report`
    (None: the config's `run.report`); returns
    - a `RunResult` for an `ExperimentConfig` (a finished run is not run again unless `force`: its stored results);
    - `aggregate.seeded.SeedRuns` for `Seeds` (a run per seed, then their aggregate);
    - a `StudyResult` for a `Study`, a `TransferResult` for a `TransferStudy`.
    `inputs` (`model=`, `tasks=`: your own network or data) go to the run of an `ExperimentConfig`.
    A report that cannot be written is a warning: the results are saved already.
    """
    if inputs and not isinstance(config, ExperimentConfig):
        raise ConfigError(f"{', '.join(sorted(inputs))}: given with a {type(config).__name__}; your own network or "
                          "data runs with one config (an ExperimentConfig)")
    if isinstance(config, ExperimentConfig):
        result = run_one(config, force=force, progress=progress, **inputs)
        _report([result.directory], result.directory, config, report)
        return result
    if isinstance(config, Seeds):
        seeds = run_seeds(config.configs, force=force, progress=progress)
        _report(seeds.directories, seeds.directory, config.configs[0], report)
        return seeds
    if isinstance(config, Study):
        table = run_study(config, force=force, progress=progress)
        directory = config.directory()
        if config.runs:
            _report([directory], directory, config.runs[0].config, report)
        return StudyResult(directory, table, study_answer(directory) or _answer_in_words(directory), config.note or "")
    if isinstance(config, TransferStudy):
        tables = run_transfer_study(config, progress=progress)
        directory = config.directory()
        _report([directory], directory, next(iter(config.benchmarks.values()))["random"], report)
        return TransferResult(directory, tables)
    raise TypeError(f"run takes what load_config returns (an ExperimentConfig, Seeds, Study or TransferStudy), "
                    f"not {type(config).__name__}")


def _answer_in_words(directory: Path) -> str | None:
    """The question and short answer of a study other than Experiment 1 (Experiment 3, forgetting, replay), each
    sentence wrapped to 100 characters; None where its page opens with no question."""
    from supermasks.report.study_answer import study_answer as page_answer

    question, sentences, _ = page_answer(directory, figure=False)
    return "\n".join([question, *(textwrap.fill(s, 100) for s in sentences)]) if question else None


def _report(paths: list[Path], directory: Path, config: ExperimentConfig, wanted: bool | None) -> None:
    """report.html in `directory` where `wanted` (None: the config's `run.report`), its path logged."""
    if not (config.run.report if wanted is None else wanted):
        return
    path = write_run_report(paths, directory, figures=config.run.figures)
    if path is not None:
        log.info("report: %s", path)


def write_run_report(paths: list[Path], directory: Path, *, figures: bool) -> Path | None:
    """report.html in `directory` on `paths` (the runs' figures only with `figures`); None, with a warning, where it
    cannot be written (the run's results are saved already; `supermasks report` tries again)."""
    from supermasks.report import REPORT_FILE, write_report

    try:
        return write_report(paths, directory / REPORT_FILE, figures=figures)
    except (OSError, ValueError, KeyError, TypeError, ConfigError) as error:
        log.warning("warning: no report written (%s: %s); `supermasks report %s` tries again", type(error).__name__,
                    error, " ".join(str(p) for p in paths))
        return None


__all__ = ["Result", "StudyResult", "TransferResult", "run", "write_run_report"]
