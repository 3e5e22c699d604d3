"""Forward of a masked network whose every layer uses the superposed weight `W * sum_i alpha_i M_i`.

Eq. 2 of Wortsman, Ramanujan et al., "Supermasks in Superposition" (NeurIPS 2020). The gradient
with respect to the mixing weights is, per layer, `dL/dalpha_i = <dL/dW_eff * W, M_i>`; it is
computed from the bit-packed masks by `MaskBank.inner_products`, so no (k, n) float stack of masks
is ever materialised, in the forward or the backward. Mixture and products run on the bank's
device; with the bank on the model's device (as every caller builds it), nothing crosses between
host and device.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import torch
from torch import nn

from supermasks.inference.bank import MaskBank
from supermasks.models.tasks import masked_layers, norm_layers


class _SuperposedWeight(torch.autograd.Function):
    """`W * mixture(alphas)` for one layer, with the alpha gradient taken from the packed bits."""

    @staticmethod
    def forward(ctx, alphas: torch.Tensor, weight: torch.Tensor, bank: MaskBank, name: str,  # type: ignore[override]
                tasks: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(weight)
        ctx.bank, ctx.name, ctx.tasks, ctx.alphas_device = bank, name, tasks, alphas.device
        # Formed on the bank's device; `.to` copies only for a bank kept away from the weight.
        return weight * bank.mixture(name, alphas, tasks).to(weight.device)  # (out, in) or conv shape

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        (weight,) = ctx.saved_tensors
        grad_alphas = None
        if ctx.needs_input_grad[0]:
            grad_alphas = ctx.bank.inner_products(ctx.name, grad_out * weight, ctx.tasks)  # (k,), bank's device
            grad_alphas = grad_alphas.to(ctx.alphas_device)
        return grad_alphas, None, None, None, None


def check_superposable(model: nn.Module, bank: MaskBank) -> None:
    """Raise ValueError unless `bank` holds masks for exactly `model`'s masked layers, and no BN."""
    if norm_layers(model):
        # Per-task BN statistics have no agreed superposition; mixing them would silently be wrong.
        raise ValueError("superposition of models with per-task BatchNorm is not supported; "
                         "build the model with batch_norm=False")
    layers = {name: tuple(m.weight.shape) for name, m in masked_layers(model).items()}
    if layers != bank.shapes:
        raise ValueError(f"the bank's layers {bank.shapes} do not match the model's {layers}")
    if bank.num_tasks == 0:
        raise ValueError("the bank holds no tasks")


@contextlib.contextmanager
def superposed(model: nn.Module, bank: MaskBank, alphas: torch.Tensor,
               tasks: torch.Tensor | None = None) -> Iterator[nn.Module]:
    """Within the block, `model(x)` uses `W * sum_i alphas[i] M_{tasks[i]}` in every masked layer.

    `tasks` defaults to every task in the bank; `alphas` has one entry per task and may require grad.
    """
    check_superposable(model, bank)
    count = bank.num_tasks if tasks is None else len(tasks)
    if alphas.shape != (count,):
        raise ValueError(f"alphas of shape {tuple(alphas.shape)}, expected ({count},)")
    layers = masked_layers(model)
    try:
        for name, layer in layers.items():
            layer.injected_weight = functools.partial(_SuperposedWeight.apply, alphas, layer.weight, bank, name, tasks)
        yield model
    finally:
        for layer in layers.values():
            layer.injected_weight = None


def superposed_forward(model: nn.Module, bank: MaskBank, x: torch.Tensor, alphas: torch.Tensor,
                       tasks: torch.Tensor | None = None) -> torch.Tensor:
    """Logits of the superposed network on `x`: (batch, output_size)."""
    with superposed(model, bank, alphas, tasks):
        return model(x)
