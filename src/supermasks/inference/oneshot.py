"""One-shot task inference: one superposed forward and one gradient with respect to the mixing weights.

Wortsman, Ramanujan et al., "Supermasks in Superposition" (NeurIPS 2020), section 3: with
`alpha_i = 1/k` over the k learned tasks, the task whose mask most decreases the objective
(entropy H, or G on the extra "s-neurons") is `argmin_i dObjective/dalpha_i`.
"""

from __future__ import annotations

import torch
from torch import nn

from supermasks.inference.bank import MaskBank
from supermasks.inference.superpose import superposed_forward

OBJECTIVES = ("H", "G")


def inference_objective(logits: torch.Tensor, name: str = "H", num_classes: int | None = None) -> torch.Tensor:
    """The scalar inference objective on (batch, outputs) logits.

    `H`: mean entropy of softmax(logits). `G`: mean logsumexp(logits) with the first
    `num_classes` logits detached, so the gradient flows only through the extra output neurons.
    """
    if name == "H":
        logp = torch.log_softmax(logits, dim=1)
        return -(logp.exp() * logp).sum(dim=1).mean()
    if name == "G":
        if num_classes is None or not 0 <= num_classes < logits.shape[1]:
            raise ValueError(f"G needs 0 <= num_classes < output size ({logits.shape[1]}) so that "
                             f"extra s-neurons exist; got num_classes={num_classes}")
        z = torch.cat([logits[:, :num_classes].detach(), logits[:, num_classes:]], dim=1)
        return torch.logsumexp(z, dim=1).mean()
    raise ValueError(f"unknown objective {name!r}; choose one of {', '.join(OBJECTIVES)}")


def alpha_gradient(model: nn.Module, bank: MaskBank, x: torch.Tensor, objective_name: str = "H",
                   num_classes: int | None = None, tasks: torch.Tensor | None = None) -> torch.Tensor:
    """`dObjective/dalpha` at uniform alpha over `tasks` (default: all tasks in the bank): shape (len(tasks),)."""
    count = bank.num_tasks if tasks is None else len(tasks)
    alphas = torch.full((count,), 1.0 / max(count, 1), requires_grad=True)
    logits = superposed_forward(model, bank, x, alphas, tasks)  # (batch, outputs)
    (grad,) = torch.autograd.grad(inference_objective(logits, objective_name, num_classes), alphas)
    return grad


def infer_task(model: nn.Module, bank: MaskBank, x: torch.Tensor, objective: str = "H",
               num_classes: int | None = None) -> int:
    """The learned task (index into the bank) that one-shot inference picks for the batch `x`."""
    return int(alpha_gradient(model, bank, x, objective, num_classes).argmin())


def infer_per_image(model: nn.Module, bank: MaskBank, x: torch.Tensor, objective: str = "H",
                    num_classes: int | None = None) -> torch.Tensor:
    """One inferred task per image of `x` (single-image inference): LongTensor of shape (batch,)."""
    # Each image needs its own alpha gradient: one superposed forward and backward per image.
    return torch.tensor([infer_task(model, bank, x[i:i + 1], objective, num_classes) for i in range(len(x))],
                        dtype=torch.long)
