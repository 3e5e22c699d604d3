"""What every shipped config computes stays what it was: run hashes, the dict a run stores, tiny runs' numbers.

`shipped_outputs.json` beside this file was written by this module from the code as it stood before the
package layout changed (`python tests/reliability/test_shipped_outputs.py`, run from the repository root,
rewrites it). It holds, for every config in configs/:
- the run-directory hash of each run the config expands to (a plain config: one; `seeds:`: one per seed; a
  study: one per run of every part; a transfer study: its own directory), so that no stored run is orphaned;
- the full settings dict of the first of those runs (`to_dict`), so that no setting changes its default;
- for the configs whose methods run on the synthetic source, a tiny run's accuracy matrix R (2 tasks, 5 steps,
  every float written with all its digits) and its ACC, so that the arithmetic is unchanged.
Rewrite the file only for a change that is meant to change what a config computes, and say so in the commit.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).with_name("shipped_outputs.json")
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
# A run small enough for the default suite: the synthetic source, two tasks, five steps, nothing else written.
TINY = ["data.source=synthetic", "data.num_tasks=2", "training.steps_per_task=5", "training.epochs=null",
        "run.figures=false", "run.overlap=false", "run.report=false", "run.checkpoint_state=false"]


def _hashes(path: Path, out_dir: Path) -> tuple[list[str], dict[str, Any]]:
    """The run-directory names `path` expands to (out_dir left out) and the settings dict of the first run."""
    from supermasks.config import to_dict
    from supermasks.config.seeds import load_configs
    from supermasks.config.records import run_directory
    from supermasks.studies.grid import is_study_file, load_study
    from supermasks.studies.transfer_file import is_transfer_study_file, load_transfer_study

    where = [f"run.out_dir={out_dir}"]
    if is_transfer_study_file(path):
        study = load_transfer_study(path, where)
        first = next(iter(study.benchmarks.values()))["random"]
        return [study.directory().name], to_dict(first)
    if is_study_file(path):
        study = load_study(path, where)
        configs = [run.config for run in study.runs]
    else:
        configs, _ = load_configs(path, where)
    return [run_directory(c).name for c in configs], to_dict(configs[0])


def _without_out_dir(values: dict[str, Any]) -> dict[str, Any]:
    return {**values, "run": {k: v for k, v in values["run"].items() if k != "out_dir"}}


def _tiny_run(path: Path, out_dir: Path) -> dict[str, Any] | None:
    """R and ACC of each method of a tiny run of the plain config `path`; None where it cannot run tiny here."""
    from supermasks.config import load_config
    from supermasks.errors import ConfigError, DataError
    from supermasks.runner import run

    try:
        config = load_config(path, [*TINY, f"run.out_dir={out_dir}"])
        result = run(config, progress=False)
    except (ConfigError, DataError, ValueError):
        return None
    out = {}
    for bench_dir in sorted(p for p in result.directory.iterdir() if p.is_dir()):
        for method_dir in sorted(p for p in bench_dir.iterdir() if (p / "metrics.json").exists()):
            metrics = json.loads((method_dir / "metrics.json").read_text())
            rows = (method_dir / "accuracy.csv").read_text()
            out[f"{bench_dir.name}/{method_dir.name}"] = {"ACC": metrics["ACC"], "accuracy.csv": rows}
    return out


def _plain(path: Path) -> bool:
    from supermasks.studies.grid import is_study_file
    from supermasks.studies.transfer_file import is_transfer_study_file
    from supermasks.config.yaml_files import top_level_keys

    return not (is_study_file(path) or is_transfer_study_file(path) or "seeds" in top_level_keys(path))


def record(out_dir: Path) -> dict[str, Any]:
    """What the golden file holds, computed by the code as it is now."""
    golden: dict[str, Any] = {}
    for path in CONFIGS:
        names, values = _hashes(path, out_dir / "hashes")
        entry: dict[str, Any] = {"runs": names, "settings": _without_out_dir(values)}
        if _plain(path):
            tiny = _tiny_run(path, out_dir / path.stem)
            if tiny is not None:
                entry["tiny"] = tiny
        golden[path.name] = entry
    return golden


def _golden() -> dict[str, Any]:
    return json.loads(GOLDEN.read_text())


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_a_shipped_config_expands_to_the_runs_it_always_did(path, tmp_path):
    entry = _golden()[path.name]
    names, values = _hashes(path, tmp_path)
    assert names == entry["runs"]
    assert json.loads(json.dumps(_without_out_dir(values))) == entry["settings"]


TINY_CONFIGS = [p for p in CONFIGS if GOLDEN.exists() and "tiny" in json.loads(GOLDEN.read_text()).get(p.name, {})]


@pytest.mark.parametrize("path", TINY_CONFIGS, ids=lambda p: p.name)
def test_a_shipped_config_computes_what_it_always_did(path, tmp_path):
    expected = _golden()[path.name]["tiny"]
    got = _tiny_run(path, tmp_path)
    assert got is not None
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key]["accuracy.csv"] == value["accuracy.csv"], key
        assert math.isclose(got[key]["ACC"], value["ACC"], rel_tol=0, abs_tol=0) or got[key]["ACC"] == value["ACC"]


def test_the_golden_file_covers_every_shipped_config_and_some_tiny_runs():
    assert sorted(_golden()) == [p.name for p in CONFIGS]
    assert len(TINY_CONFIGS) >= 5


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as work:
        GOLDEN.write_text(json.dumps(record(Path(work)), indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN}", file=sys.stderr)
