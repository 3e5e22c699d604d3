import pytest
import torch

from supermasks.models import (add_task, build_model, export_masks, freeze_weights, masked_layers, num_tasks,
                               set_task, task_scores, task_signature)


def test_add_and_set_task():
    model = build_model("lenet-300-100", output_size=100, seed=0)
    assert num_tasks(model) == 0
    g = torch.Generator().manual_seed(0)
    assert add_task(model, g) == 0
    assert add_task(model, g) == 1
    set_task(model, 1)
    assert all(m.task_id == 1 for m in masked_layers(model).values())
    with pytest.raises(IndexError, match="task 2 does not exist"):
        set_task(model, 2)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 100)  # output size may exceed the classes


def test_task_scores_and_masks():
    model = build_model("fc-300-300", seed=0)
    add_task(model, torch.Generator().manual_seed(0))
    scores = task_scores(model, 0)
    assert [tuple(s.shape) for s in scores] == [(300, 784), (300, 300), (10, 300)]
    masks = export_masks(model, 0)
    assert list(masks) == ["fc1", "fc2", "fc3"]
    assert masks["fc1"].dtype == bool and masks["fc1"].shape == (300, 784)
    assert (masks["fc2"] == (scores[1] >= 0).numpy()).all()


def test_transfer_init_is_copied():
    model = build_model("fc-300-300", seed=0)
    init = {"fc1": torch.ones(300, 784)}
    add_task(model, torch.Generator().manual_seed(0), init=init)
    assert torch.equal(task_scores(model, 0)[0].detach(), torch.ones(300, 784))
    init["fc1"].zero_()  # the model keeps its own copy
    assert task_scores(model, 0)[0].detach().sum() == 300 * 784


def test_freeze_weights_leaves_only_scores_trainable():
    model = build_model("fc-300-300", batch_norm=True, seed=0)
    add_task(model, torch.Generator().manual_seed(0))
    for m in masked_layers(model).values():
        m.weight.requires_grad_(True)
    freeze_weights(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"fc1.scores.0", "fc2.scores.0", "fc3.scores.0"}


def test_signature_is_the_bn_running_mean():
    model = build_model("fc-300-300", batch_norm=True, seed=0)
    add_task(model, torch.Generator().manual_seed(0))
    set_task(model, 0)
    model.train()
    model(torch.randn(32, 1, 28, 28))
    sig = task_signature(model, 0)
    assert list(sig) == ["bn1", "bn2"]
    assert sig["bn1"].shape == (300,) and sig["bn1"].abs().sum() > 0


def test_unknown_model():
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        build_model("resnet")
