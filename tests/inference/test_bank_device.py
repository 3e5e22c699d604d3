"""The mask bank on a device: its storage and products follow the device it is given, and task
inference through it (one-shot, per image, binary search) agrees with a dense reference written here,
for an MLP and for the LeNet-5 conv net (whose conv layers the bank serves too).

Only the CPU computes values here. The "meta" device (shapes without values) stands in for a second
device where placement is what is checked: an operation mixing a CPU tensor into a meta one raises,
as it would with a CUDA tensor, so a product that silently kept a piece on the CPU fails.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from supermasks.config import load_config
from supermasks.inference import MaskBank, infer_task, infer_task_binary, superposed_forward
from supermasks.inference.binary import _search_rounds
from supermasks.inference.oneshot import alpha_gradient, per_image_alpha_gradient
from supermasks.inference.subset import packed_subset
from supermasks.methods.supsup import from_config
from supermasks.models import add_task, build_model, masked_layers
from tests.conftest import make_tasks

DEVICES = [torch.device("cpu"), torch.device("meta")]


def model_with_tasks(arch: str, k: int, seed: int = 0) -> torch.nn.Module:
    model = build_model(arch, output_size=10, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(k):
        add_task(model, gen)
    return model


def stored_tensors(bank: MaskBank) -> list[torch.Tensor]:
    return [*(b for blocks in bank.blocks_.values() for b in blocks), *bank.tail_.values(), *bank.counts_.values()]


# -- placement ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES, ids=str)
def test_bank_storage_and_products_follow_the_device_argument(device: torch.device) -> None:
    shapes = {"a": (12, 7), "b": (3, 2, 3, 3)}  # a linear and a conv shape, neither a multiple of 8
    bank = MaskBank(shapes, device=str(device))  # a name, as a config gives it
    assert bank.device == device
    gen = torch.Generator().manual_seed(0)
    for t in range(19):  # one full word of 16 tasks and a tail of 3
        masks = {name: torch.rand(s, generator=gen) < 0.5 for name, s in shapes.items()}  # on the CPU
        if t == 5:
            masks["a"] = masks["a"].numpy()  # numpy masks are taken too
        bank.add(masks)
    assert len(stored_tensors(bank)) == 6 and all(t.device == device for t in stored_tensors(bank))
    tasks = torch.tensor([17, 2, 16, 0])  # tail, word, tail, word
    for name in shapes:
        g = torch.randn(bank.numel(name), generator=gen)  # on the CPU: the bank moves it
        assert bank.mixture(name, torch.rand(4), tasks).device == device
        assert bank.inner_products(name, g).device == device
        assert bank.inner_products(name, g, tasks).device == device
        assert bank.unpack(name, [3, 18]).device == device and bank.mask(name, 18).device == device
        subset = packed_subset(bank, torch.tensor([5, 1, 17, 18, 2, 9]))
        assert all(w.device == device for w in subset.words_.values())
        assert all(c.device == device for c in subset.counts_.values())
        assert subset.inner_products(name, g).device == device
        smaller = subset.subset(torch.tensor([4, 0, 2]), reuse_storage=True)
        assert smaller.mixture(name, torch.rand(3), [0, 1, 2]).device == device
        assert smaller.inner_products(name, g, [2, 0]).device == device
    reloaded = MaskBank(shapes, device=device)
    cpu = MaskBank(shapes)
    for _ in range(3):
        cpu.add({name: torch.rand(s, generator=gen) < 0.5 for name, s in shapes.items()})
    reloaded.load_state_dict(cpu.state_dict())  # a state saved from a CPU bank
    assert reloaded.num_tasks == 3 and all(t.device == device for t in stored_tensors(reloaded))


def test_from_model_keeps_the_bank_on_the_models_device_unless_told() -> None:
    model = model_with_tasks("lenet-300-100", 3)
    assert MaskBank.from_model(model).device == torch.device("cpu")
    assert MaskBank.from_model(model, device="meta").device == torch.device("meta")
    model.to("meta")
    bank = MaskBank.from_model(model)
    assert bank.device == torch.device("meta") and all(t.device.type == "meta" for t in stored_tensors(bank))


@pytest.mark.parametrize("arch", ["lenet-300-100", "lenet5"])
def test_superposed_forward_and_alpha_gradient_stay_on_the_banks_device(arch: str) -> None:
    # Model, bank, alphas and data all on "meta": the forward and the backward through the packed
    # bits run without touching a CPU tensor (explicit tasks: the uniform shortcut needs a value).
    model = model_with_tasks(arch, 18)
    bank = MaskBank.from_model(model, device="meta")
    model.to("meta")
    alphas = torch.full((18,), 1 / 18, device="meta", requires_grad=True)
    logits = superposed_forward(model, bank, torch.zeros(3, 1, 28, 28, device="meta"), alphas, torch.arange(18))
    (grad,) = torch.autograd.grad(logits.logsumexp(1).sum(), alphas)
    assert logits.device.type == "meta" and logits.shape == (3, 10)
    assert grad.device.type == "meta" and grad.shape == (18,)


# -- values against a dense reference -------------------------------------------------------------------
def dense_stacks(model: torch.nn.Module, k: int) -> dict[str, torch.Tensor]:
    """Every task's mask per layer as a (k, *shape) float32 stack: what the bank stores, unpacked."""
    return {name: torch.stack([layer.mask(t) for t in range(k)]).float() for name, layer in masked_layers(model).items()}


def dense_alpha_gradient(model: torch.nn.Module, stacks: dict[str, torch.Tensor], x: torch.Tensor,
                         tasks: torch.Tensor) -> torch.Tensor:
    """dH/dalpha at uniform alpha over `tasks`, with each layer's weight `W * sum_i alpha_i M_i` formed
    from the dense stack (H: the batch-mean entropy of the softmax)."""
    alphas = torch.full((len(tasks),), 1 / len(tasks), requires_grad=True)
    layers = masked_layers(model)
    for name, layer in layers.items():
        stack = stacks[name][tasks]
        layer.injected_weight = lambda layer=layer, stack=stack: layer.weight * torch.tensordot(alphas, stack, 1)
    try:
        logp = torch.log_softmax(model(x), dim=1)
    finally:
        for layer in layers.values():
            layer.injected_weight = None
    entropy = -(logp.exp() * logp).sum(dim=1).mean()
    (grad,) = torch.autograd.grad(entropy, alphas)
    return grad


def assert_close_gradients(got: torch.Tensor, want: torch.Tensor) -> None:
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5 * float(want.abs().max()))


def assert_a_smallest(pick: int, grad: torch.Tensor) -> None:
    """`pick` has the smallest gradient, up to float rounding of the reference."""
    assert float(grad[pick]) <= float(grad.min()) + 1e-5 * float(grad.abs().max())


@pytest.mark.parametrize("arch,k", [("lenet-300-100", 21), ("lenet5", 19)])
def test_one_shot_inference_matches_the_dense_reference(arch: str, k: int) -> None:
    model = model_with_tasks(arch, k, seed=1)
    bank = MaskBank.from_model(model, device=torch.device("cpu"))
    stacks = dense_stacks(model, k)
    x = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    every = torch.arange(k)
    want = dense_alpha_gradient(model, stacks, x, every)
    assert_close_gradients(alpha_gradient(model, bank, x), want)
    assert_a_smallest(infer_task(model, bank, x), want)
    some = torch.tensor([k - 1, 3, 16, 0])  # tail and word tasks, out of order
    assert_close_gradients(alpha_gradient(model, bank, x, tasks=some), dense_alpha_gradient(model, stacks, x, some))
    # Per image: each image's own gradient (batched products for the MLP, a loop for the conv net).
    per_image = per_image_alpha_gradient(model, bank, x[:3])
    for b in range(3):
        assert_close_gradients(per_image[b], dense_alpha_gradient(model, stacks, x[b:b + 1], every))


@pytest.mark.parametrize("arch,k", [("lenet-300-100", 37), ("lenet5", 19)])
def test_binary_search_rounds_match_the_dense_reference(arch: str, k: int) -> None:
    model = model_with_tasks(arch, k, seed=3)
    bank = MaskBank.from_model(model)
    stacks = dense_stacks(model, k)
    x = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(4))
    remaining = torch.arange(k)
    rounds = list(_search_rounds(model, bank, x))
    assert len(rounds) == int(np.ceil(np.log2(k)))
    for ids, grad in rounds:
        assert torch.equal(ids, remaining)
        want = dense_alpha_gradient(model, stacks, x, remaining)
        assert_close_gradients(grad, want)
        remaining = remaining[torch.sort(want, stable=True).indices[:(remaining.numel() + 1) // 2]]
    assert remaining.numel() == 1 and infer_task_binary(model, bank, x) == int(remaining[0])


def test_supsup_builds_its_bank_on_its_models_device_and_follows_a_move() -> None:
    method = from_config(load_config(None, ["data.source=synthetic", "scenario.name=gnu", "supsup.task_inference=oneshot",
                                            "training.steps_per_task=3", "training.batch_size=16", "run.device=cpu"]))
    for task in make_tasks(num_tasks=2, n_train=64):
        method.learn(task, progress=False)
    bank = method._bank()
    assert bank.device == torch.device("cpu") and bank.num_tasks == 2
    assert method._bank() is bank  # brought up to date, not rebuilt
    masks = {name: [bank.mask(name, t) for t in range(2)] for name in bank.shapes}
    method.model.to("meta")
    moved = method._bank()
    assert moved.device == torch.device("meta") and moved.num_tasks == 2
    assert all(t.device.type == "meta" for t in stored_tensors(moved))
    assert all(moved.mask(name, t).shape == masks[name][t].shape for name in masks for t in range(2))
