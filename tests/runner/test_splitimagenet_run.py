"""SplitImageNet through the runner: its errors before training, its memory estimate, and resume after a kill."""

import json
import signal
from pathlib import Path

import pandas as pd
import pytest
import yaml

from supermasks.config import ConfigError, load_config
from supermasks.data import DataError, SourceUnavailableError
from supermasks.runner import run
from supermasks.runner.build import build_tasks, load_data
from supermasks.runner.checks import PATH_BYTES, estimate_memory, image_count

from tests.data.imagenet_tree import make_tree
from tests.reliability.test_resume_runs import kill_run

SMOKE = Path(__file__).resolve().parents[2] / "configs" / "splitimagenet-smoke.yaml"


def flat(node: dict, prefix: str = "") -> list[str]:
    """The settings of a config file as `key=value` overrides."""
    out = []
    for key, value in node.items():
        if isinstance(value, dict):
            out += flat(value, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}={yaml.safe_dump(value).strip().removesuffix('...').strip()}")
    return out


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tree(tmp_path_factory.mktemp("imagenet"), num_classes=20, per_class=3, val_per_class=2)


def smoke(tree: Path, *overrides: str):
    return load_config(SMOKE, [f"data.data_dir={tree}", *overrides])


def test_more_tasks_than_the_folder_s_classes_allow_names_its_class_count(tree):
    config = smoke(tree, "data.num_tasks=3")
    with pytest.raises(ConfigError, match=r"num_tasks=3: the 20 class folders of .*train make at most 2 tasks of 10"):
        build_tasks(config, "splitimagenet", load_data(config))


def test_a_missing_or_empty_folder_is_the_folder_s_own_error(tmp_path):
    with pytest.raises(SourceUnavailableError, match="is not a directory.*image-net.org"):
        load_data(smoke(tmp_path / "nowhere"))
    with pytest.raises(SourceUnavailableError, match=f"{tmp_path / 'train'} is missing"):
        load_data(smoke(tmp_path))
    (tmp_path / "train" / "n1").mkdir(parents=True)
    with pytest.raises(DataError, match="holds no image"):
        load_data(smoke(tmp_path))


def test_the_crops_must_fit_the_arch(tree):
    config = smoke(tree, "model.arch=lenet5", "model.batch_norm=false", "model.density_budget=global",
                   "model.density=0.5")
    with pytest.raises(DataError, match="takes 1x28x28 images, got 3x32x32"):
        build_tasks(config, "splitimagenet", load_data(config))


def test_the_memory_estimate_counts_paths_not_images(tree):
    config = smoke(tree, "data.image_size=224", "data.num_tasks=100", "training.batch_size=256")
    folder = load_data(config)
    assert image_count(config, folder) == (100, 3 * 224 * 224)
    pixels = 3 * 224 * 224
    small, full = estimate_memory(config, 10_000, pixels), estimate_memory(config, 1_331_167, pixels)
    assert full - small == (1_331_167 - 10_000) * PATH_BYTES  # only the paths grow: no image is held
    assert full < 4 * 2**30  # all of ImageNet listed, ResNet-50's state for 100 tasks, a batch being decoded
    # The same count of in-memory images of that size would be held: about 1.3 million x 150,528 bytes and more.
    held = load_config(None, ["data.source=synthetic-cifar", "data.benchmark=splitcifar100", "data.num_tasks=2"])
    assert estimate_memory(held, 1_331_167, pixels) - estimate_memory(held, 10_000, pixels) > 1_321_167 * pixels


def results(directory: Path):
    where = directory / "splitimagenet" / "supsup"
    tasks = pd.read_csv(where / "tasks.csv").drop(columns=["seconds", "train_seconds", "samples_per_second"])
    metrics = json.loads((where / "metrics.json").read_text())
    return pd.read_csv(where / "accuracy.csv"), tasks, {k: metrics[k] for k in ("ACC", "BWT", "FWT", "forgetting")}


def test_killed_mid_task_then_resumed_equals_uninterrupted(tree, tmp_path, log_lines):
    # Batch 8 of 30 training images: 3 steps per task, so step 5 is in the middle of task 1. The reduced ResNet-18
    # in place of ResNet-50 keeps it short: what is resumed here is the folder's tasks and their seeded crops.
    overrides = [*flat(yaml.safe_load(SMOKE.read_text())), f"data.data_dir={tree}", "training.batch_size=8",
                 "model.arch=resnet18"]
    killed = tmp_path / "killed"
    proc = kill_run(5, "step", [*overrides, f"run.out_dir={killed}"])
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    (run_dir,) = killed.iterdir()
    manifest = json.loads((run_dir / "splitimagenet" / "supsup" / "state" / "manifest.json").read_text())
    assert [e["task_id"] for e in manifest["checkpoints"]] == [0]  # task 0 finished, task 1 was in progress

    resumed = run(load_config(None, [*overrides, f"run.out_dir={killed}"]), progress=False)
    assert any("resuming after task 0" in line for line in log_lines)
    reference = run(load_config(None, [*overrides, f"run.out_dir={tmp_path / 'straight'}"]), progress=False)
    got, want = results(resumed.directory), results(reference.directory)
    pd.testing.assert_frame_equal(got[0], want[0])
    pd.testing.assert_frame_equal(got[1], want[1])  # final losses included
    assert got[2] == want[2]  # NaN is stored as null
    for name in ("task_000.safetensors", "task_001.safetensors"):  # the packed masks, bit for bit
        where = Path("splitimagenet", "supsup", "checkpoints", name)
        assert (resumed.directory / where).read_bytes() == (reference.directory / where).read_bytes()


def test_a_folder_run_that_cannot_fit_names_what_to_change_for_a_folder(tree, monkeypatch):
    import supermasks.runner.checks as checks
    monkeypatch.setattr(checks, "available_memory", lambda: 2**20)
    with pytest.raises(ConfigError, match=r"GiB is available: set fewer data.num_tasks, a smaller "
                                          r"training.batch_size or data.image_size") as caught:
        checks.check_source_memory(smoke(tree), load_data(smoke(tree)))
    assert "mnist-5k" not in str(caught.value)  # a smaller in-memory source is no answer for an image folder
