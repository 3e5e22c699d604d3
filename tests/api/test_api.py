"""The Python API: every config kind loads and runs as on the command line, results offer R, numbers and masks,
and a finished run loads back to predict exactly as it was evaluated."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import supermasks
from supermasks.config import ExperimentConfig
from supermasks.errors import ConfigError
from supermasks.models.mask_files import load_task_masks
from supermasks.runner.build import build_tasks, load_data
from supermasks.studies.grid import Study
from supermasks.studies.transfer_file import TransferStudy

# mnist-5k, 3 permuted tasks, a few steps: accuracies well below 100%, so a wrong mask or task shows.
SMALL = ["data.source=mnist-5k", "data.benchmark=[permuted]", "data.num_tasks=3", "training.steps_per_task=15",
         "training.batch_size=64", "run.figures=false", "run.overlap=false"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    out = tmp_path_factory.mktemp("api")
    config = supermasks.load_config("supsup", [*SMALL, f"run.out_dir={out}"])
    return config, supermasks.run(config, progress=False)


def test_load_config_takes_a_shipped_name_and_every_kind(tmp_path):
    assert isinstance(supermasks.load_config("supsup"), ExperimentConfig)
    assert supermasks.load_config("supsup").name == "supsup"
    assert isinstance(supermasks.load_config("experiment1-quick", [f"run.out_dir={tmp_path}"]), Study)
    assert isinstance(supermasks.load_config("experiment2", [f"run.out_dir={tmp_path}"]), TransferStudy)
    seeded = tmp_path / "seeded.yaml"
    seeded.write_text("name: seeded\nseeds: [3, 4]\ndata: {source: synthetic, num_tasks: 2}\n")
    loaded = supermasks.load_config(seeded)
    assert isinstance(loaded, supermasks.Seeds) and loaded.seeds == [3, 4]
    assert [c.seed for c in loaded.configs] == [3, 4]
    assert isinstance(supermasks.load_config(None), ExperimentConfig)


def test_load_config_errors_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="experiment1"):  # the message lists the shipped configs
        supermasks.load_config("no-such-config")
    with pytest.raises(ConfigError, match="has no parts"):
        supermasks.load_config("supsup", part="one")
    with pytest.raises(ConfigError, match="unknown config key"):
        supermasks.load_config("supsup", ["data.nope=1"])


def test_a_run_writes_its_report_and_offers_r_numbers_and_masks(finished):
    config, result = finished
    assert (result.directory / "report.html").stat().st_size > 0
    frame = result.accuracy()
    stored = pd.read_csv(result.directory / "permuted" / "supsup" / "accuracy.csv").drop(columns="after").to_numpy()
    np.testing.assert_array_equal(frame.to_numpy(), stored)
    assert list(frame.index) == ["after task 0", "after task 1", "after task 2"]
    assert list(frame.columns) == ["task 0", "task 1", "task 2"]
    numbers = result.numbers()
    assert all(isinstance(v, float) for v in numbers.values())
    assert numbers["ACC"] == pytest.approx(float(np.mean(stored[-1])))
    assert math.isnan(numbers["FWT"]) and "definitions" not in numbers and "scenario" not in numbers
    assert "ACC" in result.get().definitions
    masks = result.masks(2)
    on_disk = load_task_masks(result.directory / "permuted" / "supsup" / "checkpoints" / "task_002.safetensors")
    assert masks.keys() == on_disk.keys() == {"fc1", "fc2", "fc3"}
    assert masks["fc1"].dtype == bool and masks["fc1"].shape == (300, 784)
    with pytest.raises(KeyError, match="permuted/supsup"):
        result.get(method="ewc")


def test_a_loaded_run_predicts_what_the_run_evaluated(finished):
    config, result = finished
    model = supermasks.load(result.directory)
    assert model.tasks_learned == 3 and model.benchmark == "permuted" and model.name == "supsup"
    tasks = build_tasks(config, "permuted", load_data(config))
    last = result.accuracy().iloc[-1].to_numpy()
    for task in tasks:
        predicted = model.predict(task.x_test[:], task_id=task.task_id)
        accuracy = (predicted == task.y_test).float().mean().item()
        assert accuracy == pytest.approx(last[task.task_id], abs=1e-12)
        assert 0.2 < accuracy < 1.0  # a real, imperfect classifier: a wrong mask would show
    # task_id=None: the task is inferred from the batch (one-shot), then predicted with its mask
    batch = tasks[1].x_test[:128]
    assert model.infer_task(batch) == 1
    assert torch.equal(model.predict(batch), model.predict(batch, task_id=1))


def test_load_refuses_what_it_cannot_load(tmp_path, finished):
    _, result = finished
    with pytest.raises(ConfigError, match="not a run directory"):
        supermasks.load(tmp_path)
    with pytest.raises(ConfigError, match="method 'ewc' is not in"):
        supermasks.load(result.directory, method="ewc")
    with pytest.raises(ConfigError, match="task_id 3: this run learned tasks 0 to 2"):
        supermasks.load(result.directory).predict(torch.zeros(2, 1, 28, 28), task_id=3)
    config = supermasks.load_config("supsup", ["data.source=synthetic", "data.num_tasks=2", "training.steps_per_task=2",
                                               "run.checkpoint_state=false", "run.report=false", "run.figures=false",
                                               f"run.out_dir={tmp_path}"])
    stateless = supermasks.run(config, progress=False)
    with pytest.raises(ConfigError, match="no training state was kept"):
        supermasks.load(stateless.directory, benchmark="permuted")


def test_seeds_and_studies_run_through_the_same_api(tmp_path):
    seeded = tmp_path / "seeded.yaml"
    seeded.write_text(f"name: seeded\nseeds: [0, 1]\nmethod: [naive]\ndata: {{source: synthetic, num_tasks: 2, "
                      f"benchmark: [permuted]}}\ntraining: {{steps_per_task: 2}}\n"
                      f"run: {{figures: false, out_dir: {tmp_path / 'runs'}}}\n")
    seeds = supermasks.run(supermasks.load_config(seeded), progress=False)
    assert len(seeds.directories) == 2 and (seeds.directory / "report.html").is_file()
    study = tmp_path / "study.yaml"
    study.write_text(f"name: mini\ndata: {{source: synthetic, num_tasks: 2, benchmark: [permuted]}}\n"
                     f"training: {{steps_per_task: 2}}\nrun: {{figures: false, overlap: false, report: false, "
                     f"out_dir: {tmp_path / 'runs'}}}\nparts:\n  one: {{method: [naive]}}\n  two: {{method: [supsup]}}\n")
    result = supermasks.run(supermasks.load_config(study), progress=False)
    assert isinstance(result, supermasks.StudyResult)
    assert sorted(result.table["part"].unique()) == ["one", "two"]
    assert not (result.directory / "report.html").exists()  # run.report false
    only = supermasks.run(supermasks.load_config(study, part="two"), progress=False)
    assert list(only.table["part"].unique()) == ["two"]


def test_run_takes_only_what_load_config_gives(tmp_path):
    with pytest.raises(TypeError, match="run takes what load_config returns"):
        supermasks.run({"name": "x"})
    seeded = supermasks.Seeds([supermasks.load_config(None)], [0])
    with pytest.raises(ConfigError, match="runs with one config"):
        supermasks.run(seeded, model=torch.nn.Linear(2, 2))
