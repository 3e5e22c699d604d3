"""configs/lenet5.yaml at a smoke size: SupSup and a dense baseline on the conv net, through the CLI."""

from pathlib import Path

import pandas as pd

from supermasks.cli import main
from supermasks.config import load_config

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "lenet5.yaml"
SMOKE = ["data.source=synthetic", "data.num_tasks=2", "training.steps_per_task=8", "training.batch_size=32",
         "method=[supsup,naive]", "run.figures=false", "--no-progress"]  # figures: 20 s per conv layer


def test_the_config_asks_for_the_conv_net_on_full_fashion_mnist():
    config = load_config(CONFIG)
    assert (config.model.arch, config.data.source, config.data.benchmark) == ("lenet5", "fashion-mnist", ["rotated"])
    assert config.training.steps_per_task == 1000 and 5 <= config.data.num_tasks <= 10


def test_smoke_variant_runs_supsup_and_the_dense_baselines_with_lenet5(tmp_path, capsys):
    code = main(["run", str(CONFIG), f"run.out_dir={tmp_path}", *SMOKE])
    out = capsys.readouterr().out
    assert code == 0, out
    run_dir = Path(out.strip().splitlines()[-1].removeprefix("run directory: "))
    for method in ("supsup", "naive"):  # EWC and the other baselines on lenet5: tests/methods/test_conv_methods.py
        accuracy = pd.read_csv(run_dir / "rotated" / method / "accuracy.csv", index_col=0).to_numpy()
        assert accuracy.shape == (2, 2) and (accuracy[[0, 1, 1], [0, 0, 1]] > 0).all()
    overlap = pd.read_csv(run_dir / "rotated" / "supsup" / "overlap.csv")
    assert set(overlap["layer"]) == {"conv1", "conv2", "fc1", "fc2", "fc3"}  # 4-D conv masks, per layer
    # A finished run is not trained again.
    assert main(["run", str(CONFIG), f"run.out_dir={tmp_path}", *SMOKE]) == 0
    assert "task 0" not in capsys.readouterr().out
