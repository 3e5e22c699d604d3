"""One pass per masked layer and step: score gradient, RMSprop update and the next step's mask together.

Unfused, a step of a masked linear layer makes the score gradient `g = (dL/dW_eff) * W` (one pass
over the layer), RMSprop's update (`v = alpha v + (1 - alpha) g^2`, `s -= lr g / (sqrt(v) + eps)`:
five passes as torch ops) and, at the next forward, the mask `1[s >= 0]` times the weight (two
passes). `FusedScoreRMSprop` does all of it in one pass over `(dL/dW_eff, W, v, s)`, writing the
next forward's `W * M` (or, in bfloat16 precision, `S * M`) into the layer's workspace, so that
forward fills nothing.

The loop is a small C function of `supermasks.compute.kernels` (built once per machine, cached); without a
compiler, or with `SUPERMASKS_KERNELS=off`, the same update runs as torch ops. Both give
the same bits: both perform the same float32 operations in the same order, each correctly
rounded: `v = alpha v + ((1 - alpha) g) g` (no fused multiply-add), `d = sqrt(v) + eps` (a
correctly rounded square root), `s = s + (-lr g) / d`; the C loop is compiled without
floating-point contraction or reassociation, and tests compare the two bit for bit. These are
RMSprop's operations, but not bit for bit `torch.optim.RMSprop`'s (whose addcmul fuses a
multiply-add where the CPU has FMA, and whose float sqrt may be an ulp off): so the fused step is
used with bfloat16 products only, and float32 training keeps `optimizers.rmsprop`'s exact numbers.

The layer's autograd function hands `dL/dW_eff` to its `DeferredScores` instead of returning a
score gradient (the scores' `.grad` stays None), and `step()` consumes it. Applies to masked linear
layers under the threshold rule, RMSprop without momentum or weight decay, on the CPU; other
parameters of the same optimiser take the ordinary update.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from supermasks.compute.kernels import KERNELS
from supermasks.training.optimizers import EagerOptimizer, _rmsprop


class DeferredScores:
    """Where a masked linear layer's backward leaves `dL/dW_eff` for the fused step, and what the step
    left for the next forward: the mask buffer it filled, valid for the scores' (storage, version)."""

    def __init__(self) -> None:
        self.grad_weight: torch.Tensor | None = None  # G of the last backward, float32 or bfloat16
        # The score gradient is (G * grad_scale) * S: c where G is dL/dW_eff (W = c S), 1 where G is dL/d(S M).
        self.grad_scale = 1.0
        self.filled: tuple[int, int] | None = None  # (scores.data_ptr(), scores._version) the buffer matches

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()  # type: ignore[misc]


def _contiguous(*tensors: torch.Tensor) -> bool:
    return all(t.is_contiguous() and t.device.type == "cpu" for t in tensors)


def fused_update(grad_weight: torch.Tensor, unit: torch.Tensor, scale: float, square_avg: torch.Tensor,
                 scores: torch.Tensor, mask_out: torch.Tensor, alpha: float, eps: float, lr: float,
                 compiled: bool = True) -> None:
    """RMSprop on `scores` with gradient `(grad_weight * scale) * unit`, then `mask_out = 1[scores >= 0] * unit`.

    float32: `grad_weight`, `unit` (= W, with `scale` 1) and `mask_out` float32. bfloat16: all three
    bfloat16, `unit` = S of a signed-constant weight `W = c S` (`bfloat16.unit_and_scale`): with
    `scale = c` and `grad_weight = dL/dW_eff` the gradient is `dL/dW_eff * W` exactly; the compiled
    loop reads the 2-byte `unit` instead of the 4-byte weight. In place; the compiled loop where
    `compiled` and available, else torch ops, with the same bits.
    """
    low = grad_weight.dtype == torch.bfloat16
    want = torch.bfloat16 if low else torch.float32
    if mask_out.dtype != want or unit.dtype != want:
        raise ValueError(f"grad_weight {grad_weight.dtype}, unit {unit.dtype} and mask_out {mask_out.dtype} must all "
                         "be float32 or all bfloat16")
    library = KERNELS.load() if compiled else None
    tensors = (grad_weight, unit, square_avg, scores, mask_out)
    if library is not None and _contiguous(*tensors) and scores.dtype == torch.float32:
        fn = library.step_bf16_bf16 if low else library.step_f32_f32
        fn(scores.numel(), grad_weight.data_ptr(), scale, square_avg.data_ptr(), scores.data_ptr(), alpha, 1 - alpha,
           eps, -lr, mask_out.data_ptr(), unit.data_ptr())
        return
    grad = grad_weight.to(torch.float32, copy=True).mul_(scale).mul_(unit)
    square_avg.mul_(alpha).add_(grad.mul(1 - alpha).mul_(grad))
    # A correctly rounded float32 square root, as the C loop's sqrtf (torch's float sqrt may differ by an ulp).
    denominator = square_avg.double().sqrt_().float().add_(eps)
    scores.add_(grad.mul_(-lr).div_(denominator))
    torch.ge(scores, 0.0, out=mask_out).mul_(unit)


class FusedScoreRMSprop(EagerOptimizer):
    """RMSprop (no momentum, no weight decay) whose masked-linear scores take the fused step.

    `layers` maps each fused parameter (a layer's scores of the task in training) to its layer; the
    layer's backward leaves `dL/dW_eff` in `layer.deferred` and `step` updates scores, RMSprop state
    and the next mask in one pass. Other parameters get `optimizers._rmsprop`. `state_dict` has
    RMSprop's layout (`square_avg` per parameter), so checkpoints read either way.
    """

    def __init__(self, params: list[torch.Tensor], layers: dict[torch.Tensor, Any], lr: float,
                 alpha: float = 0.99, eps: float = 1e-8) -> None:
        super().__init__(params, _rmsprop, {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": 0.0,
                                            "momentum": 0.0}, counts_steps=True)
        self.layers = layers

    def _step(self) -> None:  # under `EagerOptimizer.step`: no gradients, torch's step hooks around it
        for group in self.param_groups:
            for p in group["params"]:
                layer = self.layers.get(p)
                deferred = None if layer is None else layer.deferred
                if deferred is None or deferred.grad_weight is None:
                    if p.grad is not None:
                        self.steps[p] += 1
                        self.update(p, p.grad, self.state[p], group, self.steps[p])
                    continue
                state = self.state[p]
                if "square_avg" not in state:
                    state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                self.steps[p] += 1
                mask_out, unit = layer.next_mask_buffer()
                fused_update(deferred.grad_weight, unit, deferred.grad_scale, state["square_avg"], p, mask_out,
                             group["alpha"], group["eps"], group["lr"])
                deferred.grad_weight = None
                deferred.filled = (p.data_ptr(), p._version)


def fusable(optimizer: str, weight_decay: float) -> bool:
    """Whether the optimiser settings allow the fused step: RMSprop (no momentum) without weight decay."""
    return optimizer == "rmsprop" and weight_decay == 0


@contextmanager
def deferring(layers: dict[torch.Tensor, Any]) -> Iterator[None]:
    """While inside, each of `layers` hands its score gradient to the fused step (`layer.deferred`)."""
    for layer in layers.values():
        layer.deferred = DeferredScores()
    try:
        yield
    finally:
        for layer in layers.values():
            layer.deferred = None


__all__ = ["DeferredScores", "FusedScoreRMSprop", "deferring", "fused_update", "fusable"]
