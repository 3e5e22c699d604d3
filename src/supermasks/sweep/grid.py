"""A sweep's runs: a config, its `sweep:` block and comma-list overrides expanded into grid x seeds.

A `sweep:` block in the config maps dotted keys to lists of values (`method: [supsup, ewc]`,
`data.benchmark: [permuted, rotated]`); on the command line a comma list in an override does the
same (`method=supsup,ewc`). A value in brackets stays one value (`data.benchmark=[permuted,rotated]`
is one run on both benchmarks). Layers apply in order: the file, the grid point, the fixed
command-line overrides, then the seed. A command-line override that applies to some runs only
(`ewc.lambda=100` where one grid point runs EWC) is left out of the others, as in studies, and is an
error where no run uses it. Seeds: `--seeds N` gives the config's seed and the N - 1 after it; a
`seed=0,3,7` list names them instead.

The number of runs (grid points x seeds) is counted from the lists before any run is built, and a
sweep of more than `max_runs` runs (DEFAULT_MAX_RUNS unless the caller raises it) is refused then,
so that a slip such as `--seeds 100000000` costs nothing.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from supermasks.config.typed import shown
from supermasks.config import (ConfigError, ExperimentConfig, compose, idle_settings, parse_override,
                               read_yaml, without_settings)
from supermasks.config.seeds import SEEDS_KEY, check_seeds
from supermasks.runner import validate
from supermasks.config.records import config_hash, run_directory
from supermasks.config.workload import DEFAULT_MAX_RUNS, check_run_count, max_runs_or_default

log = logging.getLogger(__name__)
SEED = "seed"


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: its grid values (dotted key -> value), its seed and its resolved config."""

    grid: dict[str, Any]
    seed: int
    config: ExperimentConfig

    @cached_property
    def key(self) -> str:
        """The config hash, which also names the run directory (hashed once: a sweep asks for it often)."""
        return config_hash(self.config)

    @cached_property
    def directory(self) -> Path:
        return run_directory(self.config)


@dataclass(frozen=True)
class Sweep:
    """Every run of a sweep; `grid` the values of each swept key, `seeds` the seeds run at each grid point."""

    name: str
    grid: dict[str, list[Any]]
    seeds: list[int]
    runs: list[SweepRun]
    out_dir: Path

    def directory(self) -> Path:
        """`<out_dir>/<name>-sweep-<hash>`, the hash over the runs' config hashes: the same grid, the same directory."""
        return self.out_dir / f"{self.name}-sweep-{self._hash}"

    @cached_property
    def _hash(self) -> str:
        return hashlib.sha256(",".join(sorted(run.key for run in self.runs)).encode()).hexdigest()[:8]


def split_overrides(overrides: list[str] | tuple[str, ...]) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """(fixed overrides as dotted key -> value, swept ones as dotted key -> list of values).

    An override whose value has a comma outside brackets and quotes is swept: each piece is read as
    YAML (`training.lr=1e-3,1e-2` gives two floats); later overrides of a key win.
    """
    fixed: dict[str, Any] = {}
    swept: dict[str, list[Any]] = {}
    for text in overrides:
        key, value = parse_override(text)
        raw = text.partition("=")[2].strip()
        pieces = _top_level_pieces(raw)
        fixed.pop(key, None)
        swept.pop(key, None)
        if len(pieces) > 1:
            if any(not piece.strip() for piece in pieces):
                raise ConfigError(f"override {shown(text)}: an empty value in its comma list")
            swept[key] = [_number(parse_override(f"{key}={piece}")[1]) for piece in pieces]
        else:
            fixed[key] = value
    return fixed, swept


def _number(value: Any) -> Any:
    """YAML 1.1 reads `1e-3` as text; a swept value is recorded as the number the config reads it as."""
    if isinstance(value, str) and any(ch.isdigit() for ch in value):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _top_level_pieces(raw: str) -> list[str]:
    """`raw` split at the commas outside brackets, braces and quotes (YAML flow values stay whole)."""
    if raw[:1] in "[{\"'" and raw:
        return [raw]
    pieces, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(raw):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            pieces.append(raw[start:i])
            start = i + 1
    return [*pieces, raw[start:]]


def count_runs(grid: dict[str, list[Any]], num_seeds: int) -> int:
    """How many runs `grid` (dotted key -> values) gives with `num_seeds` seeds at each point."""
    return math.prod(len(values) for values in grid.values()) * num_seeds


def describe_size(grid: dict[str, list[Any]], num_seeds: int) -> str:
    """`2 values of method x 3 values of training.lr x 5 seeds`: what the number of runs is the product of."""
    return " x ".join([*(f"{len(v):,} value{'s' * (len(v) != 1)} of {k}" for k, v in grid.items()),
                       f"{num_seeds:,} seed{'s' * (num_seeds != 1)}"])


def check_size(grid: dict[str, list[Any]], num_seeds: int, max_runs: int) -> int:
    """The number of runs, or a ConfigError saying how big the sweep is when that is more than `max_runs`."""
    return check_run_count(count_runs(grid, num_seeds), what="sweep", made_of=describe_size(grid, num_seeds),
                           fewer="sweep fewer values or seeds", max_runs=max_runs)


def load_sweep(path: Path | str | None, overrides: list[str] | tuple[str, ...] = (), *,
               seeds: int | None = None, max_runs: int | None = None) -> Sweep:
    """The sweep of the config at `path` (its `sweep:` block) with command-line `overrides`, `seeds` seeds each.

    A sweep of more than `max_runs` runs (None: DEFAULT_MAX_RUNS) is refused (ConfigError) before any run is built.
    """
    max_runs = max_runs_or_default(max_runs)
    loaded: dict[str, Any] = {}
    if path is not None:
        loaded = read_yaml(path)
        loaded.setdefault("name", Path(path).stem)
        for key in ("parts", "transfer_study"):
            if key in loaded:
                raise ConfigError(f"{path} is a study file (it has `{key}`): run it with `supermasks run`; a sweep "
                                  f"takes an experiment config")
    block = loaded.pop("sweep", None) or {}
    where = f"{path}: sweep" if path is not None else "sweep"
    if not isinstance(block, dict) or not all(isinstance(v, list) and v for v in block.values()):
        raise ConfigError(f"{where}: must map dotted keys to non-empty lists of values, e.g. `method: [supsup, ewc]`")
    fixed, swept = split_overrides(overrides)
    grid = {str(k): list(v) for k, v in block.items() if k not in fixed}  # a fixed override ends a key's sweep
    grid.update(swept)
    # A `seeds:` list (in the file or as seeds=[...]) is the sweep's seed list, as for `run` and `compare`.
    listed = fixed.pop(SEEDS_KEY, loaded.pop(SEEDS_KEY, None))
    if listed is not None:
        if SEED in grid or SEED in fixed or seeds is not None:
            raise ConfigError("give the seeds one way: a `seeds:` list, seed=a,b,c, or --seeds N")
        grid[SEED] = check_seeds(listed)
    listed_seeds = grid.pop(SEED, None)
    num_seeds = _seed_count(listed_seeds, seeds)
    total = check_size(grid, num_seeds, max_runs)  # before the seeds or the runs are built
    log.info("sweep: %d run%s (%s)", total, "s" * (total != 1), describe_size(grid, num_seeds))
    seed_list = _seeds(listed_seeds, fixed, loaded, seeds)
    fixed.pop(SEED, None)
    runs = []
    idle_everywhere: dict[str, str] | None = None
    for combo in itertools.product(*grid.values()):
        point = dict(zip(grid, combo))
        try:
            idle = idle_settings([loaded, point], fixed)
            layers = (loaded, point, without_settings(fixed, idle))
            out_dir = Path(compose(*layers).run.out_dir).resolve()  # workers may start elsewhere: an absolute path
            for seed in seed_list:
                config = compose(*layers, {SEED: seed, "run": {"out_dir": str(out_dir)}})
                validate(config)
                runs.append(SweepRun(point, seed, config))
        except ConfigError as exc:
            raise ConfigError(f"grid point {point}: {exc}") from None
        idle_everywhere = idle if idle_everywhere is None else {k: idle[k] for k in idle_everywhere if k in idle}
    if idle_everywhere:
        key, why = next(iter(idle_everywhere.items()))
        raise ConfigError(f"{key} does nothing in any run of this sweep ({why}): remove it")
    keys = [run.key for run in runs]
    if len(set(keys)) != len(keys):
        raise ConfigError("two grid points give the same settings (a value listed twice?); list each value once")
    first = runs[0].config
    return Sweep(first.name, grid, seed_list, runs, Path(first.run.out_dir))


def _seed_count(listed: list[Any] | None, count: int | None) -> int:
    """How many seeds each grid point runs (the checks of `_seeds` come after the size check)."""
    if listed is not None:
        return len(listed)
    return max(1, count if count is not None else 1)


def _seeds(listed: list[Any] | None, fixed: dict[str, Any], loaded: dict[str, Any], count: int | None) -> list[int]:
    """The seeds of every grid point: a listed `seed=a,b,c`, else `count` seeds from the config's own."""
    if listed is not None:
        if count is not None:
            raise ConfigError("give the seeds either as --seeds N or as a list seed=a,b,c, not both")
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in listed):
            raise ConfigError(f"seed: every seed must be a whole number, got {shown(listed)}")
        return [int(s) for s in listed]
    count = 1 if count is None else count
    if count < 1:
        raise ConfigError(f"--seeds must be 1 or more, got {count}")
    first = fixed.get(SEED, loaded.get(SEED, 0))
    if not isinstance(first, int) or isinstance(first, bool):
        raise ConfigError(f"seed must be a whole number, got {shown(first)}")
    return list(range(first, first + count))


__all__ = ["DEFAULT_MAX_RUNS", "Sweep", "SweepRun", "check_size", "count_runs", "describe_size", "load_sweep",
           "split_overrides"]
