"""configs/splitimagenet.yaml asks for the paper's setting; its smoke variant runs the whole path through the CLI
on a generated ImageNet-style folder."""

import json
from pathlib import Path

import pandas as pd
import pytest

from supermasks.cli import main
from supermasks.config import ConfigError, load_config

from tests.data.imagenet_tree import make_tree

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tree(tmp_path_factory.mktemp("imagenet"), num_classes=20, per_class=3, val_per_class=2)


def test_the_full_config_asks_for_the_papers_splitimagenet_setting():
    config = load_config(CONFIGS / "splitimagenet.yaml")
    data = config.data
    assert (data.benchmark, data.source, data.num_tasks, data.image_size) == (["splitimagenet"], "imagenet", 100, 224)
    assert data.data_dir is None  # the user's folder: given on the command line
    assert (config.model.arch, config.model.batch_norm, config.model.mask_rule) == ("resnet50", True, "topk")
    assert (config.model.density_budget, config.model.density, config.model.output_size) == ("er", 8, 10)
    training = config.training
    assert (training.optimizer, training.lr, training.weight_decay) == ("adam", 0.001, 0.0)
    assert (training.schedule, training.epochs, training.batch_size) == ("cosine", 100, 256)


def test_smoke_variant_trains_the_masked_resnet50_on_image_files_without_forgetting(tree, tmp_path, capsys):
    code = main(["run", str(CONFIGS / "splitimagenet-smoke.yaml"), f"data.data_dir={tree}", f"run.out_dir={tmp_path}",
                 "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    (run,) = tmp_path.iterdir()
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "finished" and meta["source"] == "imagenet" and meta["source_is_subset"]
    assert meta["source_description"].startswith(f"ImageNet-style image folder {tree}: 20 classes, 60 train / 40 val")
    r = pd.read_csv(run / "splitimagenet" / "supsup" / "accuracy.csv", index_col=0).to_numpy()
    assert r.shape == (2, 2)
    assert r[1, 0] == r[0, 0]  # task 0 keeps its own mask: training task 1 leaves its accuracy unchanged
    tasks = pd.read_csv(run / "splitimagenet" / "supsup" / "tasks.csv")
    assert len(tasks) == 2


def test_without_a_data_dir_the_run_says_how_to_get_imagenet(tmp_path, capsys):
    code = main(["run", str(CONFIGS / "splitimagenet-smoke.yaml"), f"run.out_dir={tmp_path}", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no data.data_dir" in err and "https://image-net.org" in err and "DIR/train/<wnid>/*.JPEG" in err
    assert not list(tmp_path.glob("*/splitimagenet"))  # nothing trained


@pytest.mark.parametrize("overrides, message", [
    (["data.benchmark=permuted"], "source imagenet is an image folder read per batch, which only the splitimagenet"),
    (["data.source=synthetic-cifar"], "benchmark splitimagenet reads ImageNet's image folders: set data.source=imagenet"),
    (["data.benchmark=[splitimagenet,rotated]"], "only the splitimagenet benchmark reads"),
    (["data.image_size=0"], "image_size must be a positive number"),
    (["data.workers=0"], "workers must be a positive number"),
])
def test_source_and_benchmark_go_together_at_config_load(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(CONFIGS / "splitimagenet-smoke.yaml", overrides)
    with pytest.raises(ConfigError, match="image_size does nothing here"):
        load_config(CONFIGS / "splitcifar100.yaml", ["data.image_size=64"])


def test_the_new_settings_leave_the_hash_of_other_runs_alone():
    from supermasks.config import identity, updated
    from supermasks.config.records import config_hash

    for name in ("splitcifar100.yaml", "supsup.yaml", "lenet5.yaml"):
        data = identity(load_config(CONFIGS / name))["data"]
        assert "image_size" not in data and "workers" not in data, name  # unset there: out of the hash
    smoke = load_config(CONFIGS / "splitimagenet-smoke.yaml")
    assert config_hash(updated(smoke, {"data.workers": 5})) == config_hash(smoke)  # decodes the same images
    assert config_hash(updated(smoke, {"data.image_size": 64})) != config_hash(smoke)
