"""configs/splitcifar100-baselines.yaml asks for Figure 2 (right) of the SupSup paper; its smoke variant runs
every part through the CLI, and the study's accuracy-against-bytes table holds what the runs' own files say."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from supermasks.cli import main
from supermasks.config import load_config, to_dict
from supermasks.studies.grid import load_study

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PARTS = {"supsup": "supsup", "supsup-transfer": "supsup", "supsup-similar": "supsup",
         "separate-heads": "separate_heads", "separate-heads-rand-w": "separate_heads", "batche": "batche", "batche-rand-w": "batche",
         "upper-bound": "upper_bound",
         "lower-bound": "naive"}
CANNOT_FORGET = {"supsup", "separate_heads", "batche", "upper_bound"}  # each finished task's function is kept as it was


def test_the_full_study_runs_every_baseline_of_figure_2_on_the_splitcifar100_setting():
    study = load_study(CONFIGS / "splitcifar100-baselines.yaml")
    single = load_config(CONFIGS / "splitcifar100.yaml")
    runs = {(r.part, r.grid.get("model.density")): to_dict(r.config) for r in study.runs}
    assert {part for part, _ in runs} == set(PARTS)
    assert sorted(d for part, d in runs if part == "supsup") == [1, 2, 4, 8, 16, 32]
    for (part, density), config in runs.items():
        assert config["method"] == [PARTS[part]]
        assert config["scenario"]["name"] == "task"
        # The data and training of the single-SupSup config, for every part
        assert config["data"] == to_dict(single)["data"] and config["training"] == to_dict(single)["training"]
        model = config["model"]
        assert (model["arch"], model["output_size"], model["batch_norm"]) == ("resnet18", 5, True)
        if PARTS[part] == "supsup":
            assert (model["mask_rule"], model["density_budget"]) == ("topk", "er")
            assert model["density"] == (density if part == "supsup" else 8)
        else:  # the dense baselines have no masks: nothing about a mask budget in their configs
            assert model["density"] is None and model["density_budget"] is None
    transfers = {part: config["supsup"]["transfer"] for (part, _), config in runs.items() if "supsup" in config}
    assert transfers == {"supsup": "random", "supsup-transfer": "mean", "supsup-similar": "similar"}
    trunks = {part: config["separate_heads"]["trunk"] for (part, _), config in runs.items()
              if "separate_heads" in config}
    assert trunks == {"separate-heads": "task0", "separate-heads-rand-w": "random"}
    weights = {part: config["batche"]["weights"] for (part, _), config in runs.items() if "batche" in config}
    assert weights == {"batche": "task0", "batche-rand-w": "random"}


@pytest.fixture(scope="module")
def smoke_study(tmp_path_factory):
    """The smoke study run once through the CLI: its study directory."""
    out = tmp_path_factory.mktemp("baselines")
    code = main(["run", str(CONFIGS / "splitcifar100-baselines-smoke.yaml"), f"run.out_dir={out}", "--no-progress"])
    assert code == 0
    (directory,) = [p for p in out.iterdir() if (p / "study.csv").is_file()]
    return directory


def assert_every_part_ran_without_forgetting(directory: Path, benchmark: str) -> None:
    """Every part of a 2-task smoke study finished with a 2x2 accuracy matrix, and the methods that cannot
    forget kept task 0's accuracy after task 1."""
    study = pd.read_csv(directory / "study.csv")
    assert dict(zip(study["part"], study["method"])) == PARTS
    for row in study.to_dict("records"):
        run = Path(row["run_directory"])
        assert json.loads((run / "meta.json").read_text())["status"] == "finished"
        r = pd.read_csv(run / benchmark / row["method"] / "accuracy.csv", index_col=0).to_numpy()
        assert r.shape == (2, 2)
        if row["method"] in CANNOT_FORGET:
            assert r[1, 0] == r[0, 0], row["part"]  # training task 1 leaves task 0's accuracy as it was


def test_smoke_runs_every_part_and_the_methods_that_cannot_forget_do_not(smoke_study):
    assert_every_part_ran_without_forgetting(smoke_study, "splitcifar100")


def test_smoke_study_sets_accuracy_against_the_bytes_each_run_stores(smoke_study):
    table = pd.read_csv(smoke_study / "accuracy_vs_bytes.csv")
    study = pd.read_csv(smoke_study / "study.csv")
    assert list(table["part"]) == list(PARTS) and list(table["method"]) == list(PARTS.values())
    for row, run in zip(table.to_dict("records"), study["run_directory"]):
        where = Path(run) / "splitcifar100" / row["method"]
        r = pd.read_csv(where / "accuracy.csv", index_col=0).to_numpy()
        assert row["ACC"] == pytest.approx(np.mean(r[-1]), abs=1e-12)  # mean_j R[T-1, j]
        assert row["memory_total_bytes"] == json.loads((where / "metrics.json").read_text())["memory_total_bytes"]
    assert (smoke_study / "figures" / "accuracy_vs_bytes.png").stat().st_size > 0
