"""Experiment 1 over a study's seeds: overlap against relatedness on hand-written runs, and through the CLI."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from supermasks.analysis.changes import CHANCE_STRATA
from supermasks.analysis.mantel import correlation_interval, mantel, mantel_over_seeds
from supermasks.analysis.stats import holm
from supermasks.cli import main
from supermasks.data import Relatedness
from supermasks.data.relatedness import angle_difference
from supermasks.runner.overlap import relatedness_table
from supermasks.studies.overlap import family_text, finding, findings, overlap_study, study_findings

PERMUTATIONS = 999
NUM_TASKS = 5
SEEDS = (0, 1, 2)
ANGLES = angle_difference([15 * t for t in range(NUM_TASKS)])  # 0..60 degrees apart
NAME = "angle difference (degrees)"


def _pairs(matrix: np.ndarray, layer: str, column: str) -> pd.DataFrame:
    ii, jj = np.nonzero(~np.eye(len(matrix), dtype=bool))
    return pd.DataFrame({"layer": layer, "task_i": ii, "task_j": jj, column: matrix[ii, jj]})


def _write_run(directory: Path, seed: int, overlap: np.ndarray, changes: np.ndarray) -> None:
    """A run directory as a run of a masked method leaves it: config.yaml, and rotated/supsup's three tables."""
    method = directory / "rotated" / "supsup"
    method.mkdir(parents=True)
    (directory / "config.yaml").write_text(f"name: hand\nseed: {seed}\n")
    _pairs(overlap, "fc1", "relative_to_chance").to_csv(method / "overlap.csv", index=False)
    _pairs(changes, "fc1", "any_relative_to_chance").to_csv(method / "changes.csv", index=False)
    relatedness_table(Relatedness(NAME, ANGLES, "lower")).to_csv(method / "relatedness.csv", index=False)


def _study(tmp_path: Path) -> tuple[pd.DataFrame, dict]:
    """Group "a": overlap falls with the angle (plus noise), changes are noise; group "b": both noise."""
    rng = np.random.default_rng(7)
    rows, matrices = [], {}
    for rule in ("a", "b"):
        for seed in SEEDS:
            noise = rng.normal(0.0, 0.02, (NUM_TASKS, NUM_TASKS))
            trend = 2.0 - ANGLES / 60.0 + noise
            overlap = trend if rule == "a" else 1.0 + rng.random((NUM_TASKS, NUM_TASKS))
            changes = 1.0 + rng.random((NUM_TASKS, NUM_TASKS))
            run = tmp_path / "runs" / f"{rule}-seed{seed}"
            _write_run(run, seed, overlap, changes)
            matrices[rule, seed] = {"overlap": overlap, "learned changes": changes}
            rows.append({"part": "rules", "grid.rule": rule, "seed": seed, "benchmark": "rotated", "method": "supsup",
                         "ACC": 50.0, "run_directory": str(run)})
    return pd.DataFrame(rows), matrices


def test_overlap_study_finds_the_trend_and_only_it(tmp_path):
    frame, matrices = _study(tmp_path)
    out = tmp_path / "study"
    table = overlap_study(frame, out, permutations=PERMUTATIONS, figures=False)
    saved = pd.read_csv(out / "overlap_study.csv")
    assert len(table) == len(saved) == 4  # 2 groups (seeds pooled) x 1 layer x 2 measures
    assert list(zip(table["grid.rule"], table["measure"])) == [
        ("a", "overlap"), ("a", "learned changes"), ("b", "overlap"), ("b", "learned changes")]
    assert (table["seeds"] == 3).all() and (table["num_tasks"] == NUM_TASKS).all()
    assert (table["relatedness"] == NAME).all() and (table["related_when"] == "lower").all()
    np.testing.assert_allclose(table["mantel_p_holm"], holm(table["mantel_p"].to_numpy()))
    np.testing.assert_allclose(saved["mantel_p_holm"], holm(saved["mantel_p"].to_numpy()))

    seeds = pd.read_csv(out / "overlap_study_seeds.csv")
    assert len(seeds) == 4 * len(SEEDS)
    for row in table.to_dict("records"):
        pairs = [(matrices[row["grid.rule"], s][row["measure"]], ANGLES) for s in SEEDS]
        per_seed = [mantel(x, y, permutations=PERMUTATIONS, seed=s).r for (x, y), s in zip(pairs, SEEDS)]
        assert row["mantel_r"] == pytest.approx(np.mean(per_seed), abs=1e-12)
        _, low, high = correlation_interval(per_seed)
        assert (row["mantel_r_low"], row["mantel_r_high"]) == pytest.approx((low, high), abs=1e-12)
        assert row["mantel_p"] == pytest.approx(mantel_over_seeds(pairs, permutations=PERMUTATIONS, seed=0).p)
        off = ~np.eye(NUM_TASKS, dtype=bool)
        ratios = [x[off].mean() for x, _ in pairs]
        assert row["mean_ratio"] == pytest.approx(np.mean(ratios))
        half = stats.t.ppf(0.975, len(ratios) - 1) * stats.sem(ratios)  # Student t interval of the mean ratio
        assert (row["mean_ratio_low"], row["mean_ratio_high"]) == pytest.approx(
            (np.mean(ratios) - half, np.mean(ratios) + half), abs=1e-12)
        mine = seeds[(seeds["grid.rule"] == row["grid.rule"]) & (seeds["measure"] == row["measure"])]
        assert list(mine["seed"]) == list(SEEDS)
        np.testing.assert_allclose(mine["mantel_r"], per_seed, atol=1e-12)
        # Effect sizes: the pairs 15 degrees apart against the one pair 60 apart, and the slope per 10 degrees.
        iu = np.triu_indices(NUM_TASKS, k=1)
        angle = ANGLES[iu]
        values = [((x + x.T) / 2)[iu] for x, _ in pairs]
        closest = [v[angle == 15].mean() for v in values]
        furthest = [v[angle == 60].mean() for v in values]
        slopes = [10 * np.polyfit(angle, v, 1)[0] for v in values]
        assert row["ratio_most_related"] == pytest.approx(np.mean(closest))
        assert row["ratio_least_related"] == pytest.approx(np.mean(furthest))
        assert row["ratio_difference"] == pytest.approx(np.mean(closest) - np.mean(furthest))
        differences = np.subtract(closest, furthest)
        half = stats.t.ppf(0.975, 2) * stats.sem(differences)
        assert (row["ratio_difference_low"], row["ratio_difference_high"]) == pytest.approx(
            (differences.mean() - half, differences.mean() + half))
        assert row["slope"] == pytest.approx(np.mean(slopes)) and row["slope_unit"] == "10 degrees"
        assert (row["relatedness_most"], row["relatedness_least"]) == (15.0, 60.0)
        np.testing.assert_allclose(mine["slope"], slopes)
    # Group "a" falls by 1/60 per degree: 1/6 per 10 degrees, and 0.75 from 15 to 60 degrees (noise sd 0.02).
    assert table.iloc[0]["slope"] == pytest.approx(-1 / 6, abs=0.01)
    assert table.iloc[0]["ratio_difference"] == pytest.approx(0.75, abs=0.03)

    trend = table.iloc[0]
    assert trend["mantel_r"] < -0.9 and trend["mantel_p"] <= 0.01 and trend["mantel_p_holm"] < 0.05
    assert (table["mantel_p_holm"].iloc[1:] >= 0.05).all()
    # Without a declared family the family is the 4 tests made; a p at the floor 1 / 1000 is flagged as a bound.
    assert (table["holm_family"] == 4).all() and (table["holm_family_tested"] == 4).all()
    np.testing.assert_array_equal(table["mantel_p_at_floor"], table["mantel_p"] == 1 / (1 + PERMUTATIONS))

    lines = findings(table).splitlines()
    assert len(lines) == 2  # one per group, benchmark and layer
    assert lines[0].startswith("rotated fc1 (rules, rule=a): ")
    assert f"overlap falls with {NAME}: related tasks share more: overlap/chance " in lines[0]
    first = table.iloc[0]
    assert (f"{first['ratio_most_related']:.3f} [{first['ratio_most_related_low']:.3f}, "
            f"{first['ratio_most_related_high']:.3f}] for the most related pairs ({NAME} 15) vs ") in lines[0]
    assert f"per 10 degrees (Mantel r = {first['mantel_r']:+.2f}" in lines[0]
    assert ("p <= 0.001" in lines[0]) == bool(first["mantel_p_at_floor"])  # a bound is written as one
    assert f"learned changes: no detectable trend with {NAME}" in lines[0]
    assert lines[1].startswith("rotated fc1 (rules, rule=b): ")
    assert lines[1].count("no detectable trend") == 2 and "share" not in lines[1]
    assert study_findings(out) == f"{family_text(table)}\n{findings(table)}"  # the family's size first


def test_a_declared_family_corrects_over_tests_not_run_as_p_one(tmp_path):
    from supermasks.studies.family import family_key

    frame, _ = _study(tmp_path)
    made = [family_key("rules", {"rule": rule}, "rotated", "supsup", "fc1", measure)
            for rule in ("a", "b") for measure in ("overlap", "learned changes")]
    declared = [*made, *(family_key("other", {}, "rotated", "supsup", layer, "overlap") for layer in ("fc1", "fc2", "fc3"))]
    table = overlap_study(frame, tmp_path / "study", permutations=PERMUTATIONS, figures=False, family=declared)
    assert (table["holm_family"] == 7).all() and (table["holm_family_tested"] == 4).all()
    p = table["mantel_p"].to_numpy()
    np.testing.assert_allclose(table["mantel_p_holm"], holm(np.concatenate([p, np.ones(3)]))[:4])
    assert family_text(table).startswith("Holm family: the 7 tests the study file declares")
    assert "of which 4 ran here" in family_text(table)
    assert "over 7 tests" in findings(table)
    # A test made that the file does not declare joins the family rather than escaping it.
    fewer = overlap_study(frame, tmp_path / "study2", permutations=PERMUTATIONS, figures=False, family=declared[1:])
    assert (fewer["holm_family"] == 7).all()


def test_a_p_at_the_floor_is_written_as_a_bound_before_and_after_holm():
    row = {"part": "threshold-shared", "benchmark": "rotated", "method": "supsup", "layer": "fc1",
           "measure": "overlap", "relatedness": NAME, "related_when": "lower", "seeds": 1, "num_tasks": 10,
           "mantel_r": -0.94, "mantel_r_low": np.nan, "mantel_r_high": np.nan, "mantel_p": 1 / 10000,
           "mantel_p_at_floor": True, "mantel_p_holm": 132 / 10000, "mantel_p_holm_at_floor": True,
           "holm_family": 132, "holm_family_tested": 66, "permutations": 9999, "mean_ratio": 2.5,
           "ratio_most_related": 2.62, "ratio_most_related_low": np.nan, "ratio_most_related_high": np.nan,
           "ratio_least_related": 2.46, "ratio_least_related_low": np.nan, "ratio_least_related_high": np.nan,
           "ratio_difference": 0.16, "ratio_difference_low": np.nan, "ratio_difference_high": np.nan,
           "slope": -0.03, "slope_low": np.nan, "slope_high": np.nan, "slope_unit": "10 degrees",
           "relatedness_most": 10.0, "relatedness_least": 90.0}
    assert finding([row]) == (
        f"rotated fc1 (threshold-shared): overlap falls with {NAME}: related tasks share more: overlap/chance 2.620 "
        f"for the most related pairs ({NAME} 10) vs 2.460 for the least related (90), difference +0.160, slope "
        "-0.03 per 10 degrees (Mantel r = -0.94, p <= 0.0001, Holm p <= 0.0132 over 132 tests, 1 seed (no "
        "interval over seeds); 2.500x chance)")
    exact = finding([{**row, "mantel_p_at_floor": False, "mantel_p_holm_at_floor": False}])
    assert "p = 0.0001, Holm p = 0.0132" in exact and "<=" not in exact


def test_related_when_higher_turns_the_meaning(tmp_path):
    frame, _ = _study(tmp_path)
    table = overlap_study(frame, tmp_path / "study", permutations=PERMUTATIONS, figures=False)
    flipped = table.assign(related_when="higher")
    assert f"overlap falls with {NAME}: related tasks share less" in findings(flipped).splitlines()[0]


def test_runs_without_relatedness_give_no_study(tmp_path):
    frame, _ = _study(tmp_path)
    for directory in frame["run_directory"]:
        (Path(directory) / "rotated" / "supsup" / "relatedness.csv").unlink()
    assert overlap_study(frame, tmp_path / "study", permutations=PERMUTATIONS, figures=False) is None
    assert not (tmp_path / "study" / "overlap_study.csv").exists()
    assert study_findings(tmp_path / "study") is None


STUDY = """
name: e1mini
method: supsup
seeds: [0, 1]
data:
  benchmark: [rotated]
  source: synthetic
  num_tasks: 4
model:
  arch: lenet-300-100
training:
  steps_per_task: 5
  batch_size: 32
run:
  overlap: true
  figures: false
parts:
  independent: {}
  shared:
    supsup: {score_init: shared}
"""


def test_cli_study_prints_its_answer_and_r_per_layer_in_short_lines(tmp_path, capsys):
    from supermasks.studies.overlap_answer import compact_table, terminal_answer

    path = tmp_path / "e1mini.yaml"
    path.write_text(STUDY)
    assert main(["run", str(path), f"run.out_dir={tmp_path}", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 200
    assert "Does mask overlap follow task relatedness?" in out
    assert not [line for line in out.splitlines() if line.startswith("rotated fc")]  # no sentence per test
    rows = [line.split() for line in out.splitlines() if line.startswith(("independent ", "shared "))]
    assert [row[:3] for row in rows] == [[part, "rotated", measure] for part in ("independent", "shared")
                                         for measure in ("overlap", "learned")]  # "learned changes"
    assert "Holm family: 12 tests (variant, benchmark, layer and measure), all of them run here." in out

    (study_dir,) = [p for p in tmp_path.iterdir() if p.is_dir() and (p / "study.csv").is_file()]
    table = pd.read_csv(study_dir / "overlap_study.csv")
    assert terminal_answer(table) in out and all(line in out for line in compact_table(table))
    points = pd.read_csv(study_dir / "overlap_study_points.csv")  # every seed's 6 pairs per test
    assert len(points) == len(table) * 2 * 6 and set(points["seed"]) == {0, 1}
    assert len(table) == 2 * 3 * 2 and (table["seeds"] == 2).all() and (table["num_tasks"] == 4).all()
    assert (table["relatedness"] == NAME).all()
    assert not list(study_dir.glob("figures/relatedness_*"))  # the runs write no figures, nor does the study per test
    runs = pd.read_csv(study_dir / "study.csv")
    assert len(runs) == 4 and sorted(runs["seed"]) == [0, 0, 1, 1]
    for row in runs.itertuples():
        changes = pd.read_csv(Path(row.run_directory) / "rotated" / "supsup" / "changes.csv")
        assert len(changes) == 3 * 4 * 3  # every layer and ordered pair of tasks
        if row.part == "shared":  # chance within strata of the shared scores, recomputed from the run's seed
            assert changes["shared_init"].all() and (changes["chance_strata"] == CHANCE_STRATA).all()
        else:
            assert not changes["shared_init"].any() and (changes["chance_strata"] == 1).all()

    # One part alone runs its 6 tests but corrects over the 12 the file declares: each of them is adjusted as
    # Holm over the whole family with the other part's p-values at 1, never below what the whole study gives.
    # (with run.figures on, a figure per test too: run.figures does not change the runs)
    assert main(["run", str(path), f"run.out_dir={tmp_path}", "--no-progress", "--part", "shared",
                 "run.figures=true"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the family's sentence is wrapped to short lines
    assert "Holm family: the 12 tests the study file declares (variant, benchmark, layer and measure), of which 6 " \
           "ran here" in out
    (part_dir,) = [p for p in tmp_path.iterdir() if p.is_dir() and (p / "study.csv").is_file() and p != study_dir]
    alone = pd.read_csv(part_dir / "overlap_study.csv")
    assert len(list(part_dir.glob("figures/relatedness_*.png"))) == len(alone) == 6
    assert len(alone) == 6 and (alone["holm_family"] == 12).all() and (alone["holm_family_tested"] == 6).all()
    np.testing.assert_allclose(alone["mantel_p_holm"], holm(alone["mantel_p"].to_numpy(), 12))
    whole = table[table["part"] == "shared"].reset_index(drop=True)
    np.testing.assert_allclose(alone["mantel_p"], whole["mantel_p"])  # the same runs, the same tests
    assert (alone["mantel_p_holm"].to_numpy() >= whole["mantel_p_holm"].to_numpy() - 1e-12).all()


def test_constant_relatedness_is_called_untested_not_a_missing_trend():
    # Full permutations leave about no pixel in place for every pair: the Mantel r is undefined.
    row = {"part": "fraction-shared", "grid.data.permute_fraction": 1.0, "benchmark": "permuted", "method": "supsup",
           "layer": "fc1", "measure": "overlap", "relatedness": "fraction of pixels both leave in place",
           "related_when": "higher", "seeds": 3, "num_tasks": 10, "mantel_r": np.nan, "mantel_r_low": np.nan,
           "mantel_r_high": np.nan, "mantel_p": 1.0, "mantel_p_holm": 1.0, "permutations": 9999,
           "mean_ratio": 2.376, "mean_ratio_low": 2.3, "mean_ratio_high": 2.4}
    sentence = finding([row])
    assert sentence == ("permuted fc1 (fraction-shared, data.permute_fraction=1.0): overlap: not tested, fraction of "
                        "pixels both leave in place is the same for every pair of tasks (Mantel r undefined, 3 seeds; "
                        "2.376x chance)")
    assert "nan" not in sentence and "no detectable trend" not in sentence
