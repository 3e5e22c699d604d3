"""configs/splitcifar100.yaml asks for the paper's setting; its smoke variant runs the whole path through the CLI."""

from pathlib import Path

import pandas as pd

from supermasks.cli import main
from supermasks.config import load_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_the_full_config_asks_for_the_papers_splitcifar100_setting():
    config = load_config(CONFIGS / "splitcifar100.yaml")
    assert (config.data.benchmark, config.data.source, config.data.num_tasks) == (["splitcifar100"], "cifar100", 20)
    assert (config.model.arch, config.model.batch_norm, config.model.mask_rule) == ("resnet18", True, "topk")
    assert config.model.density_budget == "er" and config.model.output_size == 5
    training = config.training
    assert (training.optimizer, training.lr, training.weight_decay) == ("adam", 0.001, 0.0001)
    assert (training.schedule, training.epochs, training.batch_size) == ("cosine", 250, 128)


def test_smoke_variant_trains_the_masked_resnet_on_colour_tasks_without_forgetting(tmp_path, capsys):
    config = CONFIGS / "splitcifar100-smoke.yaml"
    code = main(["run", str(config), f"run.out_dir={tmp_path}", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    runs = {path.name.rsplit("-", 1)[0].removeprefix("splitcifar100-smoke-"): path
            for path in tmp_path.iterdir() if (path / "splitcifar100").is_dir()}
    assert set(runs) == {"er2", "er8", "er8-transfer-mean"}
    for run in runs.values():
        r = pd.read_csv(run / "splitcifar100" / "supsup" / "accuracy.csv", index_col=0).to_numpy()
        assert r.shape == (2, 2)
        assert r[1, 0] == r[0, 0]  # task 0 keeps its own mask: training task 1 leaves its accuracy unchanged
        tasks = pd.read_csv(run / "splitcifar100" / "supsup" / "tasks.csv")
        assert len(tasks) == 2
