"""Find an experiment config by path or by name: `experiment1` means the shipped `experiment1.yaml`.

The YAML files live in `configs/` at the repository root; a wheel carries a copy as the package
data `supermasks/configs/`. A source or editable checkout reads the repository's files, so edits
there take effect without reinstalling.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_SUFFIXES = (".yaml", ".yml")


class ConfigNotFoundError(FileNotFoundError):
    """Neither a file nor the name of a shipped config; the message lists the shipped ones."""


def _repository_configs() -> Path | None:
    """configs/ of the source checkout this module runs from (None when installed from a wheel)."""
    root = Path(__file__).resolve().parents[3]  # src/supermasks/config/shipped.py -> the repository
    if (root / "pyproject.toml").is_file() and (root / "configs").is_dir():
        return root / "configs"
    return None


def _packaged_configs() -> Path | None:
    """The copy a wheel installs as package data (None in a source or editable checkout)."""
    packaged = resources.files("supermasks") / "configs"
    return Path(str(packaged)) if packaged.is_dir() else None


def _config_dirs() -> list[Path]:
    """Where shipped configs live, in the order they are searched."""
    return [d for d in (_repository_configs(), _packaged_configs()) if d is not None]


def shipped_configs() -> list[str]:
    """Names (file stems) of the configs that come with the package, sorted."""
    return sorted({p.stem for d in _config_dirs() for p in d.iterdir() if p.suffix in _SUFFIXES})


def find_config(name: str | Path) -> Path:
    """The config file `name` names: an existing path, else a shipped config of that name.

    A shipped config may be named bare (`experiment1`, `experiment1.yaml`) or as the repository
    writes it (`configs/experiment1.yaml`), so documented commands work from an installed wheel.
    """
    path = Path(name)
    if path.exists():
        return path
    if path.parent in (Path("."), Path("configs")):
        stem = path.stem if path.suffix in _SUFFIXES else path.name
        for directory in _config_dirs():
            for suffix in _SUFFIXES:
                candidate = directory / f"{stem}{suffix}"
                if candidate.is_file():
                    return candidate
    shipped = ", ".join(shipped_configs()) or "none found"
    raise ConfigNotFoundError(f"no config file {str(name)!r} and no shipped config of that name; "
                              f"shipped configs: {shipped}")
