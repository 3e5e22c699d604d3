import json
import logging

import numpy as np
import pandas as pd
import pytest

from supermasks.models.mask_files import load_task_masks
from supermasks.config import ConfigError, load_config
from supermasks.runner import run, validate

TINY = ["data.source=synthetic", "data.num_tasks=3", "training.steps_per_task=15", "training.batch_size=32", "training.lr=1e-3", "run.figures=false"]


def tiny_config(tmp_path, *extra):
    return load_config(None, [*TINY, f"run.out_dir={tmp_path}", *extra])


def test_run_writes_the_run_directory(tmp_path):
    result = run(tiny_config(tmp_path, "data.benchmark=[permuted,split]", "run.figures=true"), progress=False)
    d = result.directory
    assert d.parent == tmp_path
    meta = json.loads((d / "meta.json").read_text())
    assert meta["status"] == "finished" and meta["seed"] == 0 and meta["torch_version"].startswith("2.13.0")
    for bench in ("permuted/supsup", "split/supsup"):
        r = pd.read_csv(d / bench / "accuracy.csv").drop(columns="after").to_numpy()
        assert r.shape == (3, 3)
        assert np.isfinite(r[np.tril_indices(3)]).all() and np.isnan(r[np.triu_indices(3, 1)]).all()
        table = pd.read_csv(d / bench / "overlap.csv")
        assert len(table) == 3 * 2 * 3  # ordered pairs x layers
        assert (d / bench / "figures" / "overlap_heatmap_fc1.png").stat().st_size > 0
        assert (d / bench / "figures" / "masks_fc2.png").stat().st_size > 0
        assert not list((d / bench / "figures").glob("*.svg"))  # run.figure_format: png by default
        masks = load_task_masks(d / bench / "checkpoints" / "task_002.safetensors")
        assert masks["fc1"].shape == (300, 784)
    summary = pd.read_csv(d / "overlap_summary.csv")
    assert set(summary["benchmark"]) == {"permuted", "split"}


def test_same_config_and_seed_same_numbers_and_masks(tmp_path):
    a = run(tiny_config(tmp_path / "a"), progress=False)
    b = run(tiny_config(tmp_path / "b"), progress=False)
    assert a.directory.name == b.directory.name
    np.testing.assert_array_equal(a.results[0].accuracy, b.results[0].accuracy)
    for t in range(3):
        name = f"permuted/supsup/checkpoints/task_{t:03d}.safetensors"
        assert (a.directory / name).read_bytes() == (b.directory / name).read_bytes()
    c = run(tiny_config(tmp_path / "c", "seed=1"), progress=False)
    assert c.directory.name != a.directory.name


def test_finished_run_is_not_repeated_without_force_and_returns_its_stored_results(tmp_path, caplog):
    config = tiny_config(tmp_path, "data.num_tasks=2", "run.overlap=false")
    first = run(config, progress=False)
    with caplog.at_level(logging.INFO, logger="supermasks"):
        again = run(config, progress=False)
    assert again.skipped and "--force" in caplog.text
    (stored,), (fresh,) = again.results, first.results
    np.testing.assert_array_equal(stored.accuracy, fresh.accuracy)
    np.testing.assert_array_equal(stored.untrained, fresh.untrained)
    assert stored.metrics["ACC"] == fresh.metrics["ACC"] and (stored.benchmark, stored.method) == ("permuted", "supsup")
    assert "task 1" in (again.directory / "run.log").read_text()
    assert not run(config, force=True, progress=False).skipped


@pytest.mark.parametrize("override, message", [
    ("data.benchmark=rotate", "benchmark: unknown value 'rotate'"),
    ("method=ewc2", "method: unknown value 'ewc2'"),
    ("training.lr=-0.1", "training.lr must be a positive finite number, got -0.1"),
    ("training.lr=.inf", "training.lr must be a positive finite number, got inf"),
    (["model.mask_rule=topk", "model.density=1.5"], r"model.density must be in \(0, 1\], got 1.5"),
    ("data.source=places365", "source: unknown value 'places365'"),
])
def test_bad_values_fail_before_any_work(tmp_path, override, message):
    with pytest.raises(ConfigError, match=message):
        validate(tiny_config(tmp_path, *([override] if isinstance(override, str) else override)))


def test_output_size_must_cover_the_classes(tmp_path):
    with pytest.raises(ConfigError, match="output_size 5 is smaller than the 10 classes"):
        run(tiny_config(tmp_path, "model.output_size=5"), progress=False)
    assert not any(tmp_path.iterdir())  # nothing written


def test_two_pass_transfer_trains_the_reference_first_and_saves_the_alphas(tmp_path, caplog):
    config = load_config(None, ["data.source=synthetic", "data.benchmark=permuted", "data.num_tasks=3", "training.steps_per_task=20",
                                "training.batch_size=32", "training.optimizer=adam", "training.lr=1e-3", "model.batch_norm=true", "supsup.transfer=similar",
                                "supsup.transfer_protocol=two_pass", "run.overlap=false", "run.figures=false", f"run.out_dir={tmp_path}"])
    with caplog.at_level(logging.INFO, logger="supermasks"):
        result = run(config, progress=False).results[0]
    assert "training the reference run" in caplog.text
    alphas = pd.read_csv(result.directory / "alphas.csv")
    # Task 0 starts random; tasks 1 and 2 take one-hot alphas over their earlier tasks, per layer.
    assert sorted(alphas.task.unique()) == [1, 2]
    per = alphas.groupby(["task", "layer"])["alpha"]
    assert (per.sum() == 1).all() and (per.max() == 1).all()
    assert (alphas.source_task < alphas.task).all()
    assert (result.directory / "transfer_similarity.csv").is_file()
