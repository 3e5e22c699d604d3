"""How much work one command may start: a cap on its number of runs, checked before any run is built.

A sweep's grid, a study's parts x grid x seeds and a config's `seeds:` list all multiply, and a
few lines of YAML can ask for millions of runs. Each command counts its runs from the lists first,
says how many, and refuses more than `max_runs` (DEFAULT_MAX_RUNS unless `--max-runs N` raises
it), naming what the number is the product of.
"""

from __future__ import annotations

from supermasks.errors import ConfigError

# A few thousand runs is already days of CPU for the smallest shipped configs, and building each run's config
# takes about a millisecond.
DEFAULT_MAX_RUNS = 2000


def max_runs_or_default(max_runs: int | None) -> int:
    """`max_runs`, DEFAULT_MAX_RUNS for None; ConfigError for anything but a whole number of 1 or more."""
    if max_runs is None:
        return DEFAULT_MAX_RUNS
    if isinstance(max_runs, bool) or not isinstance(max_runs, int) or max_runs < 1:
        raise ConfigError(f"--max-runs must be a whole number, 1 or more; got {max_runs!r}")
    return max_runs


def check_run_count(total: int, *, what: str, made_of: str, fewer: str, max_runs: int | None) -> int:
    """`total`, or a ConfigError when it is more than `max_runs`: `this <what> has N runs (<made_of>) ...`,
    with `fewer` saying what to cut (`sweep fewer values or seeds`)."""
    limit = max_runs_or_default(max_runs)
    if total > limit:
        raise ConfigError(f"this {what} has {total:,} runs ({made_of}), more than the limit of {limit:,}: {fewer}, "
                          f"or raise the limit with --max-runs {total} if you mean it")
    return total


__all__ = ["DEFAULT_MAX_RUNS", "check_run_count", "max_runs_or_default"]
