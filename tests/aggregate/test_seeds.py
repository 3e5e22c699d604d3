"""`seeds: [...]`: configs, compare and studies run each seed as its own run and print intervals."""

import math
from pathlib import Path

import pandas as pd
import pytest

from supermasks.cli import main
from supermasks.config import ConfigError
from supermasks.config.seeds import load_configs, take_seeds
from supermasks.studies.grid import load_study

ROOT = Path(__file__).resolve().parents[2]
TINY = ["data.source=synthetic", "data.num_tasks=2", "training.steps_per_task=3", "training.batch_size=16",
        "run.figures=false", "run.overlap=false", "--no-progress"]


def test_seeds_expand_into_one_config_per_seed(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seeds: [3, 1]\nmethod: [naive]\n")
    configs, seeds = load_configs(path, ["training.lr=0.01"])
    assert seeds == [3, 1] and [c.seed for c in configs] == [3, 1]
    assert all(c.training.lr == 0.01 and c.name == "c" for c in configs)
    configs, seeds = load_configs(path, ["seed=7"])  # a later layer's single seed replaces the list
    assert seeds is None and [c.seed for c in configs] == [7]
    path.write_text("seed: 5\n")
    assert [c.seed for c in load_configs(path, ["seeds=[0,2]"])[0]] == [0, 2]
    assert load_configs(path)[1] is None


@pytest.mark.parametrize("layers, message", [
    ([{"seed": 1, "seeds": [1, 2]}], "both set"),
    ([{"seeds": 3}], "non-empty list"),
    ([{"seeds": []}], "non-empty list"),
    ([{"seeds": [1, 1]}], "names a seed twice"),
    ([{"seeds": [1, -2]}], "integer in"),
    ([{"seeds": [True]}], "integer in"),
])
def test_bad_seed_lists_are_refused(layers, message):
    with pytest.raises(ConfigError, match=message):
        take_seeds(layers)


def test_compare_with_seeds_prints_means_with_intervals(tmp_path, capsys):
    code = main(["compare", str(ROOT / "configs" / "compare.yaml"), "method=[naive,supsup]", "seeds=[0,1]",
                 f"run.out_dir={tmp_path}", *TINY])
    out = capsys.readouterr().out
    assert code == 0
    assert "benchmark: permuted" in out and "±" in out and "95% Student t interval" in out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("method"))
    assert header.split()[-1] == "seeds"
    naive = next(line for line in lines if line.startswith("naive "))
    assert naive.split()[-1] == "2"
    assert "paired t-tests" in out and "naive - supsup" in out
    aggregate_dir = Path(lines[-1].removeprefix("aggregate directory: "))
    runs = [Path(line.strip()) for line in lines[lines.index("run directories:") + 1:-1]]
    assert len(runs) == 2 and all((r / "meta.json").is_file() for r in runs)
    # the summary is the mean over the runs' own comparison tables, with the t interval
    summary = pd.read_csv(aggregate_dir / "summary.csv")
    acc = summary[(summary["method"] == "naive") & (summary["metric"] == "ACC")].iloc[0]
    per_seed = [pd.read_csv(r / "comparison.csv").set_index("method").loc["naive", "ACC"] for r in runs]
    assert acc["n_seeds"] == 2 and acc["mean"] == pytest.approx(sum(per_seed) / 2)
    half = 12.706204736174707 * abs(per_seed[0] - per_seed[1]) / math.sqrt(2) / math.sqrt(2)
    assert acc["ci_high"] - acc["ci_low"] == pytest.approx(2 * half)
    assert (aggregate_dir / "runs.csv").is_file() and (aggregate_dir / "comparisons.csv").is_file()


def test_compare_without_seeds_prints_what_it_printed(tmp_path, capsys):
    code = main(["compare", str(ROOT / "configs" / "compare.yaml"), "method=[naive]", f"run.out_dir={tmp_path}",
                 *TINY])
    out = capsys.readouterr().out
    assert code == 0 and "±" not in out and "aggregate directory" not in out and "paired t-tests" not in out
    assert out.strip().splitlines()[-1].startswith("run directory: ")
    assert "method  ACC %" in out


STUDY = """
name: mini
seeds: [0, 1]
method: [naive]
data: {benchmark: [permuted], source: synthetic, num_tasks: 2}
training: {steps_per_task: 3, batch_size: 16}
run: {overlap: false, figures: false}
parts:
  one: {}
  lr:
    grid:
      training.lr: [0.001, 0.01]
"""


def test_a_study_with_seeds_runs_every_run_per_seed(tmp_path):
    path = tmp_path / "mini.yaml"
    path.write_text(STUDY)
    study = load_study(path, [f"run.out_dir={tmp_path}"])
    assert study.seeded
    assert [(r.part, r.grid, r.config.seed) for r in study.runs] == [
        ("one", {}, 0), ("one", {}, 1), ("lr", {"training.lr": 0.001}, 0), ("lr", {"training.lr": 0.001}, 1),
        ("lr", {"training.lr": 0.01}, 0), ("lr", {"training.lr": 0.01}, 1)]
    single = load_study(path, [f"run.out_dir={tmp_path}", "seed=4"])  # one seed: the study as before
    assert not single.seeded and [r.config.seed for r in single.runs] == [4, 4, 4]
    part_only = load_study(path, [f"run.out_dir={tmp_path}"], only="one")
    assert [r.config.seed for r in part_only.runs] == [0, 1]


def test_a_study_with_seeds_prints_intervals_and_writes_the_aggregate(tmp_path, capsys):
    path = tmp_path / "mini.yaml"
    path.write_text(STUDY)
    assert main(["run", str(path), f"run.out_dir={tmp_path}", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "part lr:" in out and "training.lr=0.01" in out and "(2 seeds)" in out and "±" in out
    directory = Path(out.strip().splitlines()[-1].removeprefix("study directory: "))
    study = pd.read_csv(directory / "study.csv")
    assert sorted(study["seed"]) == [0, 0, 0, 1, 1, 1]
    summary = pd.read_csv(directory / "aggregate" / "summary.csv")
    acc = summary[(summary["metric"] == "ACC") & (summary["training.lr"] == 0.01)]
    assert acc["n_seeds"].tolist() == [2]
    assert acc["mean"].iloc[0] == pytest.approx(study[study["grid.training.lr"] == 0.01]["ACC"].mean())


def test_seeds_on_the_command_line_set_a_transfer_study_s_own_seeds(tmp_path):
    from supermasks.studies.transfer_file import load_transfer_study

    from ..studies.test_transfer import TINY as TRANSFER, write

    study = load_transfer_study(write(tmp_path, TRANSFER), [f"run.out_dir={tmp_path}", "seeds=[3,4]"])
    assert study.seeds == [3, 4]
    with pytest.raises(ConfigError, match="names a seed twice"):
        load_transfer_study(write(tmp_path, TRANSFER), ["seeds=[3,3]"])
