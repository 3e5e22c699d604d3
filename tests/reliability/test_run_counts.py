"""Studies, transfer studies and `seeds:` lists are counted before any run is built, and more than --max-runs
(2,000 by default) is one line naming the count, what it is the product of and the flag that raises the limit."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from supermasks.cli import main
from supermasks.config import ConfigError
from supermasks.studies.grid import count_study_runs, load_study
from supermasks.config.workload import DEFAULT_MAX_RUNS

ROOT = Path(__file__).resolve().parents[2]
TINY = "{method: supsup, data: {source: synthetic, num_tasks: 2}, training: {steps_per_task: 2}}"


def _seeds(n: int) -> str:
    return "[" + ",".join(map(str, range(n))) + "]"


def _one_line(capsys, *argv) -> str:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    (line,) = err.strip().splitlines()
    return line


def test_a_study_of_too_many_runs_is_refused_before_any_run_with_its_product(tmp_path, capsys):
    study = tmp_path / "big.yaml"
    study.write_text(f"name: big\nseeds: {_seeds(1500)}\nparts:\n  a: {TINY}\n  b: {TINY}\n")
    out = tmp_path / "runs"
    line = _one_line(capsys, "run", study, f"run.out_dir={out}")
    assert "this study has 3,000 runs (a: 1 point x 1,500 seeds; b: 1 point x 1,500 seeds)" in line
    assert f"more than the limit of {DEFAULT_MAX_RUNS:,}" in line and "--max-runs 3000" in line
    assert not out.exists()
    # --part counts only that part: 1,500 runs are within the limit (loading only: nothing runs here)
    assert len(load_study(study, [f"run.out_dir={out}"], only="a").runs) == 1500


def test_a_grid_in_a_part_multiplies_with_its_seeds_and_max_runs_lowers_and_raises_the_limit(tmp_path):
    study = tmp_path / "grid.yaml"
    study.write_text("name: grid\nseeds: [0, 1, 2]\nparts:\n"
                     "  lr: {method: supsup, grid: {training.lr: [0.1, 0.01], training.batch_size: [16, 32, 64]}}\n")
    with pytest.raises(ConfigError, match=r"this study has 18 runs \(lr: 6 points x 3 seeds\), more than the "
                                          r"limit of 10"):
        load_study(study, max_runs=10)
    assert len(load_study(study, max_runs=18).runs) == 18


def test_a_seeds_list_of_a_config_and_a_transfer_study_are_counted_too(tmp_path, capsys):
    out = tmp_path / "runs"
    line = _one_line(capsys, "run", ROOT / "configs" / "supsup.yaml", f"seeds={_seeds(2001)}", f"run.out_dir={out}")
    assert "this config has 2,001 runs (2,001 seeds)" in line and "--max-runs 2001" in line
    line = _one_line(capsys, "run", ROOT / "configs" / "experiment2.yaml", f"seeds={_seeds(300)}",
                     f"run.out_dir={out}", "--max-runs", "100")
    assert "this transfer study has 2,400 runs (2 benchmarks x 4 transfer modes x 300 seeds)" in line
    assert not out.exists()


def test_max_runs_below_one_is_refused(tmp_path, capsys):
    line = _one_line(capsys, "run", ROOT / "configs" / "supsup.yaml", "seeds=[0, 1]", f"run.out_dir={tmp_path}",
                     "--max-runs", "0")
    assert "--max-runs must be a whole number, 1 or more; got 0" in line


@settings(max_examples=25, deadline=None)
@given(parts=st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=3),
       file_seeds=st.integers(1, 3))
def test_the_count_is_the_number_of_runs_the_study_builds(tmp_path_factory, parts, file_seeds):
    # Counted from the lists alone, it equals the runs `load_study` then builds: per part, its grid's points times
    # its seeds (a part's own `seeds:` over the file's).
    spec = {f"p{i}": {**({"grid": {"training.lr": [0.1 / (k + 1) for k in range(points)]}} if points else {}),
                      **({"seeds": list(range(own))} if own else {})}
            for i, (points, own) in enumerate(parts)}
    loaded = {"name": "counted", "seeds": list(range(file_seeds))}
    total, _ = count_study_runs(loaded, spec, {}, None)
    path = tmp_path_factory.mktemp("study") / "counted.yaml"
    path.write_text(yaml.safe_dump({**loaded, "data": {"source": "synthetic"}, "parts": spec}))
    assert total == len(load_study(path).runs) == sum(max(points, 1) * (own or file_seeds) for points, own in parts)
