"""The replay study's tables (docs/baselines.md): the seed's comparison and its three open questions."""

from __future__ import annotations

from pathlib import Path


def replay_seed_table(result_dir: Path) -> str:
    raise NotImplementedError


def replay_fraction_table(result_dir: Path) -> str:
    raise NotImplementedError


def replay_five_tasks_table(result_dir: Path) -> str:
    raise NotImplementedError


def replay_selection_table(result_dir: Path) -> str:
    raise NotImplementedError
