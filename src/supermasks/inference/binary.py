"""Binary-search task inference: halve the candidate tasks by their alpha gradient until one is left.

Wortsman, Ramanujan et al., "Supermasks in Superposition" (NeurIPS 2020), section 3: each round
superposes the remaining tasks with uniform alpha and keeps the half with the smallest gradient,
so at most ceil(log2 k) forward and backward passes are needed.

The first round is one-shot inference over the whole bank (its uniform mixture comes from the
bank's counts). Every later round works on a `PackedSubset`: the survivors re-packed 16 to a word
with their own counts, so a round reads about (survivors / 16) words per weight and all later
rounds together cost about one more pass over the bank, plus one forward and backward each.
Memory: the first subset (about half the bank's bits); later ones are re-packed in place.
Gradients and subsets stay on the bank's device; only each round's choice of survivors (a few
integers) comes to the CPU, where the next re-packing is planned.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from supermasks.inference.bank import MaskBank
from supermasks.inference.subset import PackedSubset, packed_subset
from supermasks.inference.oneshot import alpha_gradient, check_precision


def _smaller_half(grad: torch.Tensor) -> torch.Tensor:
    """Positions of the ceil(len / 2) smallest gradients, smallest first.

    ceil: an odd set still shrinks every round. A stable sort keeps ties in the order of the
    candidates, so the result does not depend on the sort's internals.
    """
    return torch.sort(grad, stable=True).indices[:(grad.numel() + 1) // 2]


def _search_rounds(model: nn.Module, bank: MaskBank, x: torch.Tensor, objective: str = "H",
                   num_classes: int | None = None, precision: str = "float32",
                   ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Each round's candidates (bank task ids) and their `dObjective/dalpha` at uniform alpha.

    The candidates of a round are the smaller half (by gradient) of the previous round's, in
    gradient order; the search ends with the first candidates of fewer than two tasks.
    """
    remaining = torch.arange(bank.num_tasks)
    candidates: MaskBank | PackedSubset = bank
    while remaining.numel() > 1:
        # Gradients come in the candidates' order, which is `remaining`'s.
        grad = alpha_gradient(model, candidates, x, objective, num_classes, precision=precision)  # (len(remaining),)
        yield remaining, grad
        keep = _smaller_half(grad).cpu()
        remaining = remaining[keep]
        if remaining.numel() > 1:
            # Each subset serves one round only: re-pack it in place to keep memory flat.
            candidates = packed_subset(bank, remaining) if candidates is bank else \
                candidates.subset(keep, reuse_storage=True)


def infer_task_binary(model: nn.Module, bank: MaskBank, x: torch.Tensor, objective: str = "H",
                      num_classes: int | None = None, precision: str = "float32") -> int:
    """The learned task (index into the bank) that binary search picks for the batch `x`.

    `precision`: of the network's products in each round (`oneshot.alpha_gradient`).
    """
    check_precision(precision)
    if bank.num_tasks == 0:
        raise ValueError("the bank holds no tasks")
    winner = 0  # a single task needs no search
    for remaining, grad in _search_rounds(model, bank, x, objective, num_classes, precision):
        winner = int(remaining[int(_smaller_half(grad)[0])])  # the last round keeps one of two
    return winner


def infer_per_image_binary(model: nn.Module, bank: MaskBank, x: torch.Tensor, objective: str = "H",
                           num_classes: int | None = None, precision: str = "float32") -> torch.Tensor:
    """Binary search for each image of `x` on its own: LongTensor of shape (batch,)."""
    check_precision(precision)
    return torch.tensor([infer_task_binary(model, bank, x[i:i + 1], objective, num_classes, precision)
                         for i in range(len(x))], dtype=torch.long, device=x.device)
