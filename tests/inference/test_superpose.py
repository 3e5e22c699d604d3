"""Superposed forward: one-hot alpha equals the plain forward, and the alpha gradient is exact."""

from __future__ import annotations

import pytest
import torch

from supermasks.inference import MaskBank, superposed, superposed_forward
from supermasks.models import add_task, build_model, masked_layers, set_task


def model_with_tasks(k: int, output_size: int = 6, batch_norm: bool = False):
    model = build_model("lenet-300-100", output_size=output_size, batch_norm=batch_norm, seed=0)
    gen = torch.Generator().manual_seed(0)
    for _ in range(k):
        add_task(model, gen)
    return model


@pytest.mark.parametrize("k", [3, 18])  # 18: one packed word of 16 tasks plus a tail of 2
def test_one_hot_equals_plain_forward(k: int) -> None:
    model = model_with_tasks(k)
    bank = MaskBank.from_model(model)
    x = torch.randn(5, 1, 28, 28)
    for t in (0, 1, k - 1):
        alphas = torch.zeros(k)
        alphas[t] = 1.0
        set_task(model, t)
        with torch.no_grad():
            assert torch.equal(superposed_forward(model, bank, x, alphas), model(x))
    # the hook is removed after the block: the plain forward is back
    assert all(m.injected_weight is None for m in masked_layers(model).values())


def naive_superposed(model, stacks: dict[str, torch.Tensor], x: torch.Tensor, alphas: torch.Tensor) -> torch.Tensor:
    """Reference: materialise sum_i alpha_i M_i (float64) and run the MLP by hand."""
    h = x.flatten(1).double()
    layers = list(masked_layers(model).items())
    for i, (name, layer) in enumerate(layers):
        mix = (alphas.view(-1, 1, 1) * stacks[name]).sum(0)  # (out, in)
        h = h @ (layer.weight.double() * mix).t()
        if i < len(layers) - 1:
            h = torch.relu(h)
    return h


@pytest.mark.parametrize("k", [4, 20])
def test_alpha_gradient_matches_naive_autograd(k: int) -> None:
    model = model_with_tasks(k)
    bank = MaskBank.from_model(model)
    stacks = {name: torch.stack([m.mask(t) for t in range(k)]).double() for name, m in masked_layers(model).items()}
    x = torch.randn(7, 1, 28, 28)
    alphas0 = torch.rand(k, generator=torch.Generator().manual_seed(3))

    alphas = alphas0.clone().requires_grad_(True)
    logits = superposed_forward(model, bank, x, alphas)
    (grad,) = torch.autograd.grad(torch.log_softmax(logits, 1)[:, 0].sum(), alphas)

    ref_alphas = alphas0.double().requires_grad_(True)
    ref_logits = naive_superposed(model, stacks, x, ref_alphas)
    (ref_grad,) = torch.autograd.grad(torch.log_softmax(ref_logits, 1)[:, 0].sum(), ref_alphas)

    torch.testing.assert_close(logits.double(), ref_logits.detach(), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(grad.double(), ref_grad, rtol=1e-3, atol=1e-3 * float(ref_grad.abs().max()))


def test_subset_gradient_matches_full_gradient_entries() -> None:
    model = model_with_tasks(20)
    bank = MaskBank.from_model(model)
    x = torch.randn(3, 1, 28, 28)
    tasks = torch.tensor([19, 2, 17])
    alphas = torch.full((3,), 1 / 3, requires_grad=True)
    full = torch.zeros(20)
    full[tasks] = 1 / 3
    full.requires_grad_(True)
    (g_sub,) = torch.autograd.grad(superposed_forward(model, bank, x, alphas, tasks).square().sum(), alphas)
    (g_full,) = torch.autograd.grad(superposed_forward(model, bank, x, full).square().sum(), full)
    torch.testing.assert_close(g_sub, g_full[tasks], rtol=1e-4, atol=1e-4 * float(g_full.abs().max()))


def test_batch_norm_and_mismatch_rejected() -> None:
    model = model_with_tasks(2, batch_norm=True)
    with pytest.raises(ValueError, match="BatchNorm"):
        with superposed(model, MaskBank.from_model(model), torch.full((2,), 0.5)):
            pass
    other = MaskBank({"fc1": (300, 784)})
    with pytest.raises(ValueError, match="do not match"):
        superposed_forward(model_with_tasks(2), other, torch.randn(1, 784), torch.ones(0))
    with pytest.raises(ValueError, match="alphas"):
        plain = model_with_tasks(2)
        superposed_forward(plain, MaskBank.from_model(plain), torch.randn(1, 784), torch.ones(3))
