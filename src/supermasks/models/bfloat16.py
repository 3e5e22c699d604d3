"""Masked products in bfloat16 with float32 accumulation (`training.precision=bfloat16`).

A masked layer's weight is a signed constant, `W = c * S` with `S` in {-1, +1} and one scale `c`
per layer (`layers.signed_constant`). So `W * M = c * (S * M)`, and `S * M` (entries -1, 0, +1) is
exact in bfloat16: only the activations (and gradients) are rounded to bfloat16's 8-bit mantissa,
never the weights. The products run on the CPU's bfloat16 matrix units (AMX, AVX512-BF16) or a
GPU's tensor cores, accumulating in float32; each product's bfloat16 result is widened to float32
and multiplied by `c`, so layers exchange float32 activations and the scores, their gradients
and the optimiser state stay float32. A weight that is not a signed constant (loaded from
elsewhere) has `c = 1` and `W * M` rounded to bfloat16.

Straight-through gradients as in float32 (`masks._MaskedLinear`): with `y = c (x (S M)^T)`,
`dL/dx = c g (S M)` and `dL/ds = (g^T x) * W`, times `sign(s)` under the top-k rule.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch

from supermasks.training.settings import Precision

PRECISIONS: tuple[str, ...] = ("float32", "bfloat16")
LOW = torch.bfloat16


def check_precision(precision: str) -> None:
    """ValueError unless `precision` is one of `PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")


def unit_and_scale(weight: torch.Tensor) -> tuple[torch.Tensor, float]:
    """`(S, c)` with `weight = c * S`: `c` the common magnitude and `S = weight / c` (entries +-1) where
    every entry has the same nonzero magnitude; else `(weight, 1.0)`."""
    magnitude = weight.detach().abs()
    c = float(magnitude.reshape(-1)[0]) if weight.numel() else 1.0
    if c > 0 and bool((magnitude == c).all()):
        return weight.detach() / c, c  # c / c == 1 exactly: S holds exactly -1 and +1
    return weight.detach(), 1.0


class UnitWeight:
    """A layer's `(S in float32, S in bfloat16, c)`, recomputed only when its weight changes (data, version, device)."""

    def __init__(self) -> None:
        self.key: tuple[Any, ...] | None = None
        self.unit: torch.Tensor | None = None
        self.low: torch.Tensor | None = None
        self.scale = 1.0

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()  # type: ignore[misc]

    def get(self, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
        key = (weight.data_ptr(), weight._version, weight.device, weight.dtype, tuple(weight.shape))
        if key != self.key:
            self.unit, self.scale = unit_and_scale(weight)
            self.low = self.unit.to(LOW)
            self.key = key
        assert self.unit is not None and self.low is not None
        return self.unit, self.low, self.scale


class LowWorkspace:
    """The bfloat16 `S * M` of one masked linear layer, reused from step to step (see `masks.MaskWorkspace`).

    `busy` holds a weak reference to the graph node that saved the buffer for its backward pass;
    while it lives, a forward takes a fresh buffer instead.
    """

    def __init__(self) -> None:
        self.buffer: torch.Tensor | None = None
        self.busy: weakref.ref | None = None

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()  # type: ignore[misc]

    def acquire(self, like: torch.Tensor) -> torch.Tensor:
        if self.busy is not None and self.busy() is not None:
            return torch.empty_like(like, dtype=LOW)
        b = self.buffer
        if b is None or b.shape != like.shape or b.device != like.device:
            self.buffer = torch.empty_like(like, dtype=LOW)
        return self.buffer


def fill_low_mask(out: torch.Tensor, scores: torch.Tensor, unit: torch.Tensor, unit_low: torch.Tensor,
                  rule: str, density: float) -> torch.Tensor:
    """`out = S * M(s)` in bfloat16 (exact: entries -1, 0, +1, or W * M rounded where W is no signed constant)."""
    from supermasks.models.masks import _float_mask  # the float32 rule, shared

    if rule == "threshold":  # 1[s >= 0] written as bfloat16 0./1., times S: two passes, exact
        return torch.ge(scores, 0.0, out=out).mul_(unit_low)
    return out.copy_(_float_mask(scores, rule, density).mul_(unit))


class _LowMaskedLinear(torch.autograd.Function):
    """`y = c * (x (S M)^T)` with bfloat16 products; straight-through score gradient in float32."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, scores: torch.Tensor, weight: torch.Tensor, rule: str, density: float,  # type: ignore[override]
                units: UnitWeight, workspace: LowWorkspace, deferred: Any):
        unit, unit_low, scale = units.get(weight)
        w_low = workspace.acquire(weight)
        # The fused step (`models.fused`) may have written this very buffer for these scores already.
        if deferred is None or w_low is not workspace.buffer or deferred.filled != (scores.data_ptr(), scores._version):
            fill_low_mask(w_low, scores.detach(), unit, unit_low, rule, density)
        x_low = x.to(LOW)
        ctx.save_for_backward(x_low, scores, weight, w_low)
        ctx.rule, ctx.scale, ctx.out_dtype, ctx.workspace, ctx.deferred = rule, scale, x.dtype, workspace, deferred
        if w_low is workspace.buffer and any(ctx.needs_input_grad[:2]):
            workspace.busy = weakref.ref(ctx)
        y = x_low.matmul(w_low.t())
        return y.to(x.dtype).mul_(scale) if scale != 1.0 else y.to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        x_low, scores, weight, w_low = ctx.saved_tensors
        g_low = grad_out.to(LOW)
        grad_x = grad_scores = None
        if ctx.needs_input_grad[0]:
            grad_x = g_low.matmul(w_low).to(ctx.out_dtype)
            if ctx.scale != 1.0:
                grad_x.mul_(ctx.scale)
        if ctx.needs_input_grad[1]:
            g2 = g_low.reshape(-1, g_low.shape[-1])
            grad_weight = g2.t().mm(x_low.reshape(-1, x_low.shape[-1]))  # bfloat16, float32 accumulation
            if ctx.deferred is not None:  # the fused step takes dL/dW_eff and updates the scores itself
                ctx.deferred.grad_weight, ctx.deferred.grad_scale = grad_weight, ctx.scale
            else:  # widened and times W in one mixed-dtype product
                grad_scores = torch.mul(grad_weight, weight)
                if ctx.rule == "topk":
                    grad_scores.mul_(torch.sign(scores.detach()))
        if ctx.workspace.busy is not None and ctx.workspace.busy() is ctx:
            ctx.workspace.busy = None
        return grad_x, grad_scores, None, None, None, None, None, None


def low_masked_linear(x: torch.Tensor, scores: torch.Tensor, weight: torch.Tensor, rule: str, density: float,
                      units: UnitWeight, workspace: LowWorkspace, deferred: Any = None) -> torch.Tensor:
    """`x @ (weight * M(scores)).T` with bfloat16 products (float32 in and out), gradients straight through.

    With `deferred` (a `fused.DeferredScores`, threshold rule), the backward leaves `dL/dW_eff` there
    for the fused step instead of returning the score gradient, and the forward reuses the mask the
    step wrote.
    """
    return _LowMaskedLinear.apply(x, scores, weight, rule, density, units, workspace, deferred)


def low_linear(x: torch.Tensor, w_low: torch.Tensor, scale: float) -> torch.Tensor:
    """`c * (x w_low^T)` in bfloat16 products, float32 result: a finished task's or a superposed weight."""
    y = x.to(LOW).matmul(w_low.t()).to(x.dtype)
    return y.mul_(scale) if scale != 1.0 else y


def low_conv2d(x: torch.Tensor, w_unit: torch.Tensor, scale: float, stride: int, padding: int) -> torch.Tensor:
    """`c * conv2d(x, w_unit)` with the product in bfloat16 (autograd casts gradients back to float32).

    Images and weight go channels-last: oneDNN's bfloat16 convolutions run fastest on that layout
    (benchmarks/precision_step.py), and the output keeps it, so the next layer's input needs no reorder.
    """
    y = torch.nn.functional.conv2d(x.to(dtype=LOW, memory_format=torch.channels_last),
                                   w_unit.to(dtype=LOW, memory_format=torch.channels_last),
                                   stride=stride, padding=padding).to(x.dtype)
    return y * scale if scale != 1.0 else y


__all__ = ["LOW", "PRECISIONS", "Precision", "UnitWeight", "LowWorkspace", "check_precision", "fill_low_mask",
           "low_conv2d", "low_linear", "low_masked_linear", "unit_and_scale"]
