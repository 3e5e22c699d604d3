"""A run directory's metadata (meta.json): provenance and status. The directory's name is `config.records.run_directory`."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from supermasks import __version__
from supermasks.store.json_files import read_json


def _git_sha() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def collect_meta(*, seed: int, config_hash: str) -> dict[str, Any]:
    """Provenance of a run of the config whose hash is `config_hash`: code version, library versions, seed, machine,
    start time."""
    import numpy
    import torch

    return {
        "status": "running",
        "git_sha": _git_sha(),
        "supermasks_version": __version__,
        "torch_version": torch.__version__,
        "numpy_version": numpy.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "seed": seed,
        "config_hash": config_hash,
        "started": now(),
    }


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def read_meta(run_dir: Path) -> dict[str, Any] | None:
    """The run's meta.json, or None when there is none (or it cannot be read)."""
    return read_meta_checked(run_dir)[0]


# What meta.json's status may say; anything else (a damaged file) is an unknown status.
STATUSES = ("running", "interrupted", "finished", "diverged", "failed")


def read_meta_checked(run_dir: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(meta.json's contents or None, why its status is unknown or None).

    No file: (None, None). A file that cannot be read, is not a JSON object or holds no known
    status: (what could be read or None, a line naming the file and the problem).
    """
    path = Path(run_dir) / "meta.json"
    try:
        meta = read_json(path)
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as error:
        return None, f"{path} cannot be read ({type(error).__name__}: {error})"
    if not isinstance(meta, dict):
        return None, f"{path} holds no JSON object"
    if meta.get("status") not in STATUSES:
        return meta, f"{path} holds an unknown status {meta.get('status')!r}"
    return meta, None
