"""RMSprop for mask scores, in place, with no allocation per step; and the choice of score optimiser.

`torch.optim.RMSprop` (no momentum, no weight decay, not centred) does per parameter
`v <- alpha v + (1 - alpha) g^2`, `s <- s - lr g / (sqrt(v) + eps)` (Tieleman & Hinton 2012,
torch's formula), allocating `sqrt(v)` at every step. `InPlaceRMSprop` runs the very same
kernels in the same order (`mul_`, `addcmul_`, `sqrt`, `add_`, `addcdiv_`), so its results are
bitwise equal, with `sqrt(v) + eps` written into a buffer kept per parameter.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from supermasks.training import make_optimizer


class InPlaceRMSprop(torch.optim.Optimizer):
    """torch's RMSprop without momentum, weight decay or centring, computed in preallocated buffers.

    State per parameter: `square_avg` (as torch's) and `denom`, the buffer for `sqrt(v) + eps`.
    """

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8) -> None:
        if not lr >= 0.0:
            raise ValueError(f"invalid learning rate {lr}")
        if not 0.0 <= alpha:
            raise ValueError(f"invalid alpha {alpha}")
        if not eps >= 0.0:
            raise ValueError(f"invalid epsilon {eps}")
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps})

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    if set_to_none:
                        p.grad = None
                    else:
                        p.grad.zero_()

    @torch.no_grad()
    def step(self, closure: None = None) -> None:  # type: ignore[override]
        if closure is not None:
            raise ValueError("InPlaceRMSprop takes no closure")
        for group in self.param_groups:
            lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
            for p in group["params"]:
                grad = p.grad
                if grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["denom"] = torch.empty_like(p, memory_format=torch.preserve_format)
                square_avg, denom = state["square_avg"], state["denom"]
                square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
                torch.sqrt(square_avg, out=denom).add_(eps)
                p.addcdiv_(grad, denom, value=-lr)


def make_score_optimizer(name: str, params: Iterable[torch.Tensor], lr: float) -> torch.optim.Optimizer:
    """The optimiser of mask scores: `InPlaceRMSprop` for "rmsprop", else `make_optimizer`'s (Adam, SGD)."""
    if name == "rmsprop":
        return InPlaceRMSprop(params, lr=lr)
    return make_optimizer(name, params, lr)
