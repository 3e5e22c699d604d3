"""A permuted task's pixel permutation folded into the first layer (`models.folding`, `methods._folding`)."""

from __future__ import annotations

import pytest
import torch

import supermasks.methods._folding as folding_module
from supermasks.data import load_source, make_benchmark
from supermasks.data.images import TaskImages
from supermasks.data.table_images import TableImages
from supermasks.methods.supsup import SupSup
from supermasks.models import build_model, masked_layers, set_precision
from supermasks.models.folding import folded, is_permutation
from supermasks.models.layers import MaskedLinear
from supermasks.training import TrainingSettings


def _layer() -> MaskedLinear:
    g = torch.Generator().manual_seed(0)
    layer = MaskedLinear(12, 5, generator=g)
    layer.add_scores(g)
    layer.add_scores(g)
    return layer


def test_a_folded_layer_on_plain_inputs_computes_the_permuted_inputs_product() -> None:
    layer = _layer()
    weight, scores, other = layer.weight.clone(), layer.scores[1].detach().clone(), layer.scores[0].detach().clone()
    source = torch.randperm(12, generator=torch.Generator().manual_seed(1))
    x = torch.randn(7, 12, generator=torch.Generator().manual_seed(2))
    layer.task_id = 1
    expected = layer(x[:, source]).detach()
    with folded(layer, 1, source):
        assert torch.allclose(layer(x), expected, rtol=1e-6, atol=1e-6)
        assert torch.equal(layer.mask(1), (scores >= 0)[:, source.argsort()])  # the mask moved with its scores
        assert torch.equal(layer.weight, weight[:, source.argsort()])
        assert torch.equal(layer.scores[0], other)  # other tasks' scores are left alone
    assert torch.equal(layer.weight, weight) and torch.equal(layer.scores[1], scores)  # put back bit for bit


def test_leaving_by_an_exception_puts_everything_back() -> None:
    layer = _layer()
    weight, scores = layer.weight.clone(), layer.scores[0].detach().clone()
    with pytest.raises(KeyboardInterrupt):
        with folded(layer, 0, torch.arange(12).flip(0)):
            raise KeyboardInterrupt
    assert torch.equal(layer.weight, weight) and torch.equal(layer.scores[0], scores)


def test_only_a_permutation_folds() -> None:
    assert is_permutation(torch.tensor([2, 0, 1]), 3)
    assert not is_permutation(torch.tensor([0, 0, 1]), 3)  # a gather that repeats a pixel
    assert not is_permutation(torch.tensor([0, 1]), 3)
    with pytest.raises(ValueError, match="only a permutation of the layer's 12 inputs folds into it"):
        with folded(_layer(), 0, torch.zeros(12, dtype=torch.long)):
            pass


def _supsup(precision: str) -> SupSup:
    model = build_model("fc-300-300", output_size=10, rule="threshold", density=0.5, batch_norm=False, seed=0)
    set_precision(model, precision)
    return SupSup(model, training=TrainingSettings(lr=1e-3, batch_size=64, steps_per_task=40), seed=0)


@pytest.fixture(scope="module")
def permuted_tasks():
    return make_benchmark("permuted", load_source("mnist-5k"), num_tasks=2, seed=0)


def test_bfloat16_training_folds_and_agrees_with_the_unfolded_path(permuted_tasks, monkeypatch) -> None:
    calls = []
    real = folding_module.folded
    monkeypatch.setattr(folding_module, "folded", lambda *a: calls.append(a[1]) or real(*a))
    fold = _supsup("bfloat16")
    for task in permuted_tasks:
        fold.learn(task, progress=False)
    assert calls == [0, 1]  # each task trained folded
    monkeypatch.setattr(folding_module, "folding", lambda model, task, probed: (task.x_train, __import__(
        "contextlib").nullcontext()))
    plain = _supsup("bfloat16")
    for task in permuted_tasks:
        plain.learn(task, progress=False)
    # The same weights, batches and updates; only each product's order of summation differs.
    for t in range(2):
        for name in masked_layers(fold.model):
            a, b = fold.masks(t)[name], plain.masks(t)[name]
            assert (a == b).mean() >= 0.999, (t, name)
        x = permuted_tasks[t].x_test[:500]
        agree = (fold.predict(x, t) == plain.predict(x, t)).float().mean().item()
        assert agree >= 0.99
    assert torch.equal(masked_layers(fold.model)["fc1"].weight, masked_layers(plain.model)["fc1"].weight)


def test_float32_training_never_folds(permuted_tasks, monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(folding_module, "folded", lambda *a: calls.append(a) or None)
    method = _supsup("float32")
    method.learn(permuted_tasks[0], progress=False)
    assert calls == []
    images, context = folding_module.folding(method.model, permuted_tasks[1], probed=False)
    assert images is permuted_tasks[1].x_train


def test_a_probed_or_rotated_task_does_not_fold(permuted_tasks) -> None:
    method = _supsup("bfloat16")
    images, _ = folding_module.folding(method.model, permuted_tasks[0], probed=True)
    assert images is permuted_tasks[0].x_train
    rotated = make_benchmark("rotated", load_source("mnist-5k"), num_tasks=2, seed=0)
    images, _ = folding_module.folding(method.model, rotated[1], probed=False)
    assert images is rotated[1].x_train
    images, _ = folding_module.folding(method.model, permuted_tasks[0], probed=False)
    assert isinstance(images, TableImages) and images.dtype == torch.bfloat16  # unpermuted, normalised once
    base = permuted_tasks[0].x_train
    assert torch.equal(images[:64], TaskImages(base.base, rows=base.rows, norm=base.norm)[:64].to(torch.bfloat16))


def test_training_from_the_bfloat16_table_gives_the_same_bits_as_from_float32_batches(permuted_tasks,
                                                                                       monkeypatch) -> None:
    table = _supsup("bfloat16")
    for task in permuted_tasks:
        table.learn(task, progress=False)
    monkeypatch.setattr(folding_module, "TableImages", lambda images, dtype: images)  # float32 batches, rounded
    plain = _supsup("bfloat16")                                                          # in the network
    for task in permuted_tasks:
        plain.learn(task, progress=False)
    for t in range(2):
        for name in masked_layers(table.model):
            assert (table.masks(t)[name] == plain.masks(t)[name]).all()
