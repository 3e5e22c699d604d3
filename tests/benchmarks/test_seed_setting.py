"""benchmarks/seed_setting.py: the notebook re-creation's building blocks on tiny synthetic data, and the CLI config."""

from __future__ import annotations

import gzip
import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from supermasks.config import load_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("seed_setting", ROOT / "benchmarks" / "seed_setting.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["seed_setting"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    # The notebook seeds numpy's and torch's global generators; leave them as the other tests found them.
    numpy_state, torch_state = np.random.get_state(), torch.random.get_rng_state()
    yield module
    np.random.set_state(numpy_state)
    torch.random.set_rng_state(torch_state)
    del sys.modules["seed_setting"]


def _images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def test_the_per_image_pipeline_equals_batched_normalisation_and_permutation(bench):
    images, labels = _images(64)
    perm = bench.task_permutation(5)
    loader = torch.utils.data.DataLoader(bench.PermutedImages(images, labels, perm), batch_size=24, shuffle=False)
    xs, ys = zip(*loader)
    x, y = torch.cat(xs), torch.cat(ys)
    expected = ((torch.from_numpy(images).float() / 255 - 0.2860) / 0.3530).view(64, 784)[:, perm]
    assert x.shape == (64, 784) and x.dtype == torch.float32
    assert (x - expected).abs().max() <= 1e-6
    assert torch.equal(y, torch.from_numpy(labels).long())
    assert [len(b) for b in ys] == [24, 24, 16]  # the partial last batch is kept


def test_each_task_permutation_is_numpys_seeded_with_the_task(bench):
    for task in (0, 1, 9):
        assert torch.equal(bench.task_permutation(task), torch.from_numpy(np.random.RandomState(task).permutation(784)))
    assert not torch.equal(bench.task_permutation(0), bench.task_permutation(1))


def test_the_mask_is_scores_at_least_zero_and_its_gradient_is_the_effective_weights_times_the_weight(bench):
    torch.manual_seed(0)
    layer = bench.MultitaskMaskLinear(20, 7, num_tasks=3)
    assert not layer.weight.requires_grad
    assert torch.equal(layer.weight.abs(), torch.full((7, 20), math.sqrt(2 / 20)))
    layer.task = 1
    x, g = torch.randn(5, 20), torch.randn(5, 7)
    out = layer(x)
    out.backward(g)
    mask = (layer.scores[1] >= 0).float()
    w_eff = (layer.weight * mask).detach().requires_grad_()
    reference = F.linear(x, w_eff)
    reference.backward(g)
    assert torch.equal(out.detach(), reference.detach())
    assert torch.allclose(layer.scores[1].grad, w_eff.grad * layer.weight, atol=1e-6)
    assert torch.allclose(w_eff.grad, g.T @ x, atol=1e-5)
    assert layer.scores[0].grad is None and layer.scores[2].grad is None


def test_rmsprop_gets_all_thirty_score_tensors_and_a_step_changes_only_the_current_tasks(bench):
    torch.manual_seed(0)
    model = bench.build_network(10)
    optimizer = bench.make_optimizer(model)
    (group,) = optimizer.param_groups
    layers = [m for m in model if isinstance(m, bench.MultitaskMaskLinear)]
    assert [tuple(m.weight.shape) for m in layers] == [(300, 784), (300, 300), (100, 300)]
    assert len(group["params"]) == 30 and group["lr"] == 1e-4
    assert {id(p) for p in group["params"]} == {id(s) for m in layers for s in m.scores}
    before = [[s.detach().clone() for s in m.scores] for m in layers]
    bench.set_task(model, 3)
    optimizer.zero_grad()
    F.cross_entropy(model(torch.randn(8, 784)), torch.randint(0, 10, (8,))).backward()
    optimizer.step()
    for layer, saved in zip(layers, before):
        for task, (now, then) in enumerate(zip(layer.scores, saved)):
            assert torch.equal(now.detach(), then) == (task != 3)


def test_the_notebook_runs_end_to_end_on_a_tiny_data_set(bench, tmp_path):
    train_x, train_y = _images(64, seed=1)
    test_x, test_y = _images(32, seed=2)
    for name, array in zip(bench.FASHION_FILES, (train_x, train_y, test_x, test_y)):
        _write_idx(tmp_path / name, array)
    assert np.array_equal(bench.read_idx(tmp_path / bench.FASHION_FILES[0]), train_x)
    result = bench.run_notebook(num_tasks=2, steps=1, seed=0, data_dir=tmp_path)
    assert len(result["accuracies"]) == 2 and result["threads"] >= 1
    for acc in result["accuracies"]:  # every one of the 32 test images counted once
        assert acc * 32 / 100 == pytest.approx(round(acc * 32 / 100))
    assert result["acc"] == pytest.approx(sum(result["accuracies"]) / 2)


def test_read_idx_refuses_a_file_that_is_not_unsigned_byte_idx(bench, tmp_path):
    with gzip.open(tmp_path / "bad.gz", "wb") as f:
        f.write(bytes([0, 0, 0x0D, 1, 0, 0, 0, 1]) + b"\0\0\0\0")
    with pytest.raises(ValueError, match="not an IDX file of unsigned bytes"):
        bench.read_idx(tmp_path / "bad.gz")


def test_the_cli_overrides_make_the_seed_setting(bench, tmp_path):
    config = load_config(bench.CONFIG, bench.ours_overrides(10, 469, 0, tmp_path, None))
    assert config.data.benchmark == ["permuted"] and config.data.source == "fashion-mnist"
    assert config.data.num_tasks == 10 and config.scenario.name == "task"
    assert config.model.output_size == 100 and config.training.steps_per_task == 469
    assert config.training.lr == 1e-4 and config.training.batch_size == 128
    assert config.run.evaluate == "last" and config.run.eval_batch_size == 128
    assert not config.run.overlap and not config.run.figures and not config.run.checkpoint_state


def test_float32_always_runs(bench):
    run, value, _ = bench.precision_support("float32")
    assert run and value in (None, "float32")


def test_without_fashion_mnist_it_says_so_and_exits_2(bench, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "FASHION_DIR", tmp_path)
    monkeypatch.setattr(sys, "argv", ["seed_setting.py", "--quick"])
    with pytest.raises(SystemExit) as exit_info:
        bench.main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Fashion-MNIST not found: train-images-idx3-ubyte.gz" in err and "dataset-fashion-mnist" in err
