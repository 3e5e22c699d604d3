"""`run.device`: resolution and its errors, its place outside the run hash, meta.json, and CPU results unchanged."""

import json

import pytest
import torch

from supermasks.config import ConfigError, identity, load_config
from supermasks.compute.devices import check_amp, device_info, module_device, resolve_device, to_device
from supermasks.methods.supsup import from_config
from supermasks.config.records import config_hash
from tests.conftest import make_tasks


def test_cpu_and_auto_without_cuda_resolve_to_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")


def test_auto_with_cuda_picks_the_current_cuda_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert resolve_device("auto") == torch.device("cuda", 0)


@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_cuda_without_cuda_is_a_clear_config_error(monkeypatch, name):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match=rf"run.device={name}: CUDA is not available here.*run.device=cpu or auto"):
        resolve_device(name)


def test_a_cuda_index_out_of_range_names_the_devices_there_are(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ConfigError, match=r"cuda:3: this machine has 2 CUDA device\(s\), cuda:0 to cuda:1"):
        resolve_device("cuda:3")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)


@pytest.mark.parametrize("name", ["gpu", "CUDA", "cuda:", "cuda:x", "cpu:0", ""])
def test_a_typo_names_the_choices(name):
    with pytest.raises(ConfigError, match=r"run.device must be one of auto, cpu, cuda, cuda:N"):
        resolve_device(name)
    with pytest.raises(ConfigError, match=r"run.device must be one of auto, cpu, cuda, cuda:N"):
        load_config(None, [f"run.device={name!r}" if name else "run.device=''"])


def test_amp_is_refused_off_cuda():
    with pytest.raises(ConfigError, match="training.amp=true .* on CUDA, but this run computes on cpu"):
        check_amp(True, torch.device("cpu"))
    check_amp(False, torch.device("cpu"))
    check_amp(True, torch.device("cuda", 0))


def test_amp_on_the_cpu_is_refused_before_any_work(tmp_path):
    from supermasks.runner.checks import validate

    with pytest.raises(ConfigError, match="training.amp=true"):
        validate(load_config(None, ["training.amp=true", "run.device=cpu", f"run.out_dir={tmp_path}"]))


def test_the_device_is_not_part_of_the_run_hash():
    default = load_config(None, [])
    assert config_hash(load_config(None, ["run.device=cpu"])) == config_hash(default)
    assert config_hash(load_config(None, ["run.device=cuda:1"])) == config_hash(default)
    assert "device" not in identity(default)["run"]


def test_new_training_settings_at_their_defaults_keep_the_hash_of_earlier_runs():
    default = load_config(None, [])
    assert set(identity(default)["training"]) == {"optimizer", "lr", "batch_size", "steps_per_task"}
    explicit = load_config(None, ["training.weight_decay=0.0", "training.schedule=constant", "training.amp=false"])
    assert config_hash(explicit) == config_hash(default)
    for override in ("training.weight_decay=1e-4", "training.schedule=cosine", "training.epochs=2"):
        assert config_hash(load_config(None, [override])) != config_hash(default), override


def test_device_info_of_the_cpu_has_no_gpu_name():
    assert device_info(torch.device("cpu")) == {"device": "cpu"}


def test_to_device_leaves_a_tensor_on_its_device_alone():
    t = torch.arange(4)
    assert to_device(t, None) is t
    assert to_device(t, torch.device("cpu")) is t


def test_module_device_of_a_module_without_tensors_is_the_cpu():
    assert module_device(torch.nn.ReLU()) == torch.device("cpu")
    assert module_device(torch.nn.Linear(2, 2)) == torch.device("cpu")


def _trained(overrides):
    config = load_config(None, ["model.arch=fc-300-300", "model.output_size=4", "training.steps_per_task=15",
                                "training.batch_size=32", "training.lr=1e-3", *overrides])
    method = from_config(config)
    tasks = make_tasks(num_tasks=2)
    for task in tasks:
        method.learn(task, progress=False)
    return method, tasks


def test_explicit_cpu_gives_the_default_run_bit_for_bit():
    default, tasks = _trained([])
    cpu, _ = _trained(["run.device=cpu"])
    assert module_device(cpu.model) == torch.device("cpu")
    for task in tasks:
        assert torch.equal(cpu.predict(task.x_test, task.task_id), default.predict(task.x_test, task.task_id))
        for layer, mask in cpu.masks(task.task_id).items():
            assert (mask == default.masks(task.task_id)[layer]).all()


def test_meta_records_the_resolved_device(tmp_path):
    from supermasks.runner import run

    config = load_config(None, ["data.source=synthetic", "data.benchmark=permuted", "data.num_tasks=2",
                                "training.steps_per_task=3", "training.batch_size=16", "run.overlap=false",
                                "run.figures=false", "run.report=false", "run.device=cpu", f"run.out_dir={tmp_path}"])
    result = run(config, progress=False)
    meta = json.loads((result.directory / "meta.json").read_text())
    assert meta["device"] == "cpu" and "gpu_name" not in meta
