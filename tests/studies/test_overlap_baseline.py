"""Experiment 1's empirical baseline: a run on unrelated tasks per variant and seed, and the ratio to its pairs."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from supermasks.cli import main
from supermasks.config import ConfigError, to_dict
from supermasks.data import Relatedness
from supermasks.data.relatedness import angle_difference
from supermasks.runner.overlap import relatedness_table
from supermasks.studies._baseline import BASELINE_COLUMNS
from supermasks.studies.grid import load_study
from supermasks.studies.overlap import findings, overlap_study, study_findings

NUM_TASKS = 4
SEEDS = (0, 1, 2)
LAYERS = ("fc1", "fc2")


def _pairs(matrix: np.ndarray, layer: str, column: str) -> pd.DataFrame:
    ii, jj = np.nonzero(~np.eye(len(matrix), dtype=bool))
    return pd.DataFrame({"layer": layer, "task_i": ii, "task_j": jj, column: matrix[ii, jj]})


def _write(method: Path, jaccard: dict[str, np.ndarray], changes: dict[str, np.ndarray], relatedness: bool) -> None:
    """A method directory with overlap.csv and changes.csv per layer (Jaccard and ratio to chance columns)."""
    method.mkdir(parents=True)
    pd.concat([_pairs(jaccard[layer], layer, "jaccard_pct").assign(relative_to_chance=1.0) for layer in LAYERS]
              ).to_csv(method / "overlap.csv", index=False)
    pd.concat([_pairs(changes[layer], layer, "any_jaccard_pct").assign(any_relative_to_chance=1.0)
               for layer in LAYERS]).to_csv(method / "changes.csv", index=False)
    if relatedness:
        angles = angle_difference([20 * t for t in range(NUM_TASKS)])
        relatedness_table(Relatedness("angle difference (degrees)", angles, "lower")).to_csv(
            method / "relatedness.csv", index=False)


def test_the_ratio_to_baseline_divides_by_the_mean_over_the_baseline_runs_pairs(tmp_path):
    rng = np.random.default_rng(0)
    rows, expected = [], {}
    for seed in SEEDS:
        run, base = tmp_path / f"run{seed}", tmp_path / f"base{seed}"
        own = {m: {layer: rng.uniform(1, 10, (NUM_TASKS, NUM_TASKS)) for layer in LAYERS} for m in ("o", "c")}
        theirs = {m: {layer: rng.uniform(1, 10, (NUM_TASKS, NUM_TASKS)) for layer in LAYERS} for m in ("o", "c")}
        _write(run / "rotated" / "supsup", own["o"], own["c"], relatedness=True)
        _write(base / "permuted" / "supsup", theirs["o"], theirs["c"], relatedness=False)
        for directory in (run, base):
            (directory / "config.yaml").write_text(f"name: hand\nseed: {seed}\n")
        off = ~np.eye(NUM_TASKS, dtype=bool)
        for measure, m in (("overlap", "o"), ("learned changes", "c")):
            for layer in LAYERS:
                expected.setdefault((measure, layer), []).append(
                    (own[m][layer][off].mean() / theirs[m][layer][off].mean(), theirs[m][layer][off].mean()))
        rows.append({"part": "shared", "seed": seed, "benchmark": "rotated", "method": "supsup", "ACC": 0.5,
                     "run_directory": str(run), "baseline_directory": str(base), "baseline_benchmark": "permuted"})
    out = tmp_path / "study"
    table = overlap_study(pd.DataFrame(rows), out, permutations=99, figures=False)
    assert len(table) == 4 and set(BASELINE_COLUMNS) <= set(table.columns)
    for row in table.to_dict("records"):
        ratios, bases = zip(*expected[row["measure"], row["layer"]])
        half = stats.t.ppf(0.975, len(ratios) - 1) * stats.sem(ratios)
        assert row["mean_ratio_to_baseline"] == pytest.approx(np.mean(ratios))
        assert (row["mean_ratio_to_baseline_low"], row["mean_ratio_to_baseline_high"]) == pytest.approx(
            (np.mean(ratios) - half, np.mean(ratios) + half))
        assert row["baseline_jaccard_pct"] == pytest.approx(np.mean(bases))
    per_seed = pd.read_csv(out / "overlap_baseline.csv")
    assert len(per_seed) == 4 * len(SEEDS) and list(per_seed["seed"][:3]) == list(SEEDS)
    assert (per_seed["baseline_pairs"] == NUM_TASKS * (NUM_TASKS - 1)).all()
    first = per_seed.iloc[0]
    assert first["ratio_to_baseline"] == pytest.approx(first["mean_jaccard_pct"] / first["baseline_jaccard_pct"])
    # the sentence gives the ratio to baseline beside the ratio to chance; without a baseline nothing changes
    lines = findings(table).splitlines()
    assert len(lines) == 2 and all(line.count("x baseline [") == 2 for line in lines)
    plain = overlap_study(pd.DataFrame(rows).drop(columns=["baseline_directory", "baseline_benchmark"]),
                          tmp_path / "plain", permutations=99, figures=False)
    assert not set(BASELINE_COLUMNS) & set(plain.columns) and "baseline" not in findings(plain)
    assert not (tmp_path / "plain" / "overlap_baseline.csv").exists()


STUDY = """
name: e1base
method: supsup
seeds: [0, 1]
data:
  benchmark: [rotated]
  source: synthetic
  num_tasks: 3
model:
  arch: lenet-300-100
training:
  steps_per_task: 4
  batch_size: 32
run:
  overlap: true
  figures: false
overlap_baseline:
  data: {benchmark: [permuted], permute_fraction: 1.0}
parts:
  independent: {}
  shared:
    supsup: {score_init: shared}
  lrs:
    grid: {training.lr: [0.001, 0.01]}
"""


def test_a_declared_baseline_is_the_same_run_on_fully_permuted_tasks(tmp_path):
    path = tmp_path / "e1base.yaml"
    path.write_text(STUDY)
    study = load_study(path, [f"run.out_dir={tmp_path}", "data.benchmark=[split]"])
    assert len(study.runs) == 2 * 4
    for item in study.runs:
        config, base = to_dict(item.config), to_dict(item.baseline)
        assert config["data"]["benchmark"] == ["split"]  # the command line sets the variants' benchmark,
        assert base["data"]["benchmark"] == ["permuted"] and base["data"]["permute_fraction"] == 1.0  # not this
        assert base["name"] == "e1base-baseline" and base["seed"] == config["seed"]
        same = {k: v for k, v in base.items() if k not in ("name", "data")}
        assert same == {k: v for k, v in config.items() if k not in ("name", "data")}
    shared = [r for r in study.runs if r.part == "shared"]
    assert all(to_dict(r.baseline)["supsup"]["score_init"] == "shared" for r in shared)


def test_a_baseline_of_several_benchmarks_is_refused(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(STUDY.replace("benchmark: [permuted], permute_fraction", "benchmark: [permuted, rotated], "
                                  "permute_fraction"))
    with pytest.raises(ConfigError, match="the baseline run must run one benchmark"):
        load_study(path, [f"run.out_dir={tmp_path}"])
    path.write_text(STUDY.replace("overlap_baseline:\n  data: {benchmark: [permuted], permute_fraction: 1.0}",
                                  "overlap_baseline: permuted"))
    with pytest.raises(ConfigError, match="overlap_baseline: the settings"):
        load_study(path, [f"run.out_dir={tmp_path}"])


def test_cli_study_runs_each_baseline_once_and_reports_the_ratio(tmp_path, capsys):
    path = tmp_path / "e1base.yaml"
    # a part that differs from "independent" only in its benchmark has the same baseline, run once
    path.write_text(STUDY.replace("  lrs:\n    grid: {training.lr: [0.001, 0.01]}\n", "  split:\n    data: {benchmark: [split]}\n"))
    assert main(["run", str(path), f"run.out_dir={tmp_path}", "--no-progress"]) == 0
    (study_dir,) = [p for p in tmp_path.iterdir() if p.is_dir() and (p / "study.csv").is_file()]
    # the terminal prints the short answer; the sentence per test (with its ratio to the baseline) is study_findings'
    found = [line for line in study_findings(study_dir).splitlines() if line.startswith("rotated fc")]
    assert len(found) == 2 * 3 and all("x baseline" in line.split("; learned changes")[0] for line in found)
    # learned changes of 4 steps may leave a baseline without a shared change (fc3): no ratio, rather than inf
    assert all(line.count("x baseline") == 2 for line in found if line.startswith("rotated fc1"))
    runs = pd.read_csv(study_dir / "study.csv")
    assert len(runs) == 6 and (runs["baseline_benchmark"] == "permuted").all()
    assert runs["baseline_directory"].nunique() == 4  # 2 variants x 2 seeds, each its own run
    for seed in (0, 1):
        mine = runs[runs["seed"] == seed].set_index("part")["baseline_directory"]
        assert mine["split"] == mine["independent"] != mine["shared"]
    runs = runs[runs["part"] != "split"]
    assert all(Path(d).name.startswith("e1base-baseline-") for d in runs["baseline_directory"])
    table = pd.read_csv(study_dir / "overlap_study.csv")
    for row in runs.itertuples():
        base = pd.read_csv(Path(row.baseline_directory) / "permuted" / "supsup" / "changes.csv")
        own = pd.read_csv(Path(row.run_directory) / "rotated" / "supsup" / "changes.csv")
        if row.part == "shared":
            assert base["shared_init"].all()
        per_seed = pd.read_csv(study_dir / "overlap_baseline.csv")
        mine = per_seed[(per_seed["part"] == row.part) & (per_seed["seed"] == row.seed)
                        & (per_seed["measure"] == "learned changes") & (per_seed["layer"] == "fc1")]
        assert len(mine) == 1
        expected = (own[own.layer == "fc1"].any_jaccard_pct.mean() / base[base.layer == "fc1"].any_jaccard_pct.mean())
        assert mine["ratio_to_baseline"].iloc[0] == pytest.approx(expected)
    changes = table[(table["measure"] == "learned changes") & (table["layer"] == "fc1")]
    assert len(changes) == 3 and np.isfinite(changes["mean_ratio_to_baseline"]).all()
