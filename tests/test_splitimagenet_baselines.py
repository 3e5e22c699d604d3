"""configs/splitimagenet-baselines.yaml is Figure 2 (left) of the SupSup paper: the SplitCIFAR100 comparison's parts on
the SplitImageNet setting; its smoke variant runs every part on a generated ImageNet-style folder."""

from pathlib import Path

import pandas as pd
import pytest

from supermasks.cli import main
from supermasks.config import load_config, to_dict
from supermasks.studies.grid import load_study
from tests.data.imagenet_tree import make_tree
from tests.test_splitcifar100_baselines import PARTS, assert_every_part_ran_without_forgetting

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_the_full_study_runs_the_splitcifar100_comparison_on_the_splitimagenet_setting():
    study = load_study(CONFIGS / "splitimagenet-baselines.yaml")
    single = to_dict(load_config(CONFIGS / "splitimagenet.yaml"))
    cifar = {(r.part, r.grid.get("model.density")): to_dict(r.config)
             for r in load_study(CONFIGS / "splitcifar100-baselines.yaml").runs}
    runs = {(r.part, r.grid.get("model.density")): to_dict(r.config) for r in study.runs}
    assert set(runs) == set(cifar)  # the same parts and budgets
    for key, config in runs.items():
        assert config["data"] == single["data"] and config["training"] == single["training"]
        assert config["method"] == cifar[key]["method"]
        for section in ("supsup", "separate_heads", "batche"):
            assert config.get(section) == cifar[key].get(section)
        model, theirs = config["model"], cifar[key]["model"]
        assert (model["arch"], model["output_size"], model["batch_norm"]) == ("resnet50", 10, True)
        assert [model[k] for k in ("mask_rule", "density_budget", "density")] == \
               [theirs[k] for k in ("mask_rule", "density_budget", "density")]


def test_smoke_runs_every_part_on_image_files_and_the_methods_that_cannot_forget_do_not(tmp_path):
    tree = make_tree(tmp_path / "imagenet", num_classes=20, per_class=2, val_per_class=1)
    code = main(["run", str(CONFIGS / "splitimagenet-baselines-smoke.yaml"), f"data.data_dir={tree}",
                 f"run.out_dir={tmp_path / 'runs'}", "--no-progress"])
    assert code == 0
    (directory,) = [p for p in (tmp_path / "runs").iterdir() if (p / "study.csv").is_file()]
    assert_every_part_ran_without_forgetting(directory, "splitimagenet")
    table = pd.read_csv(directory / "accuracy_vs_bytes.csv")
    assert list(table["part"]) == list(PARTS)
    assert (directory / "figures" / "accuracy_vs_bytes.png").is_file()
