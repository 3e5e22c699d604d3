"""Mask rules (threshold, top-k) with straight-through gradients, and bit-packing of masks."""

from __future__ import annotations

import math

import torch

MASK_RULES = ("threshold", "topk")


class _MaskedWeight(torch.autograd.Function):
    """`weight * mask(scores)` in one op; backward passes the gradient straight through.

    With `W_eff = W * M(s)` and the straight-through estimator `dM/ds := 1`, the score gradient is
    `dL/ds = dL/dW_eff * W` (ALGORITHMS.md section 1). Fusing the rule and the product saves the
    intermediate float mask and one element-wise op per step in both directions.
    """

    @staticmethod
    def forward(ctx, scores: torch.Tensor, weight: torch.Tensor, rule: str, density: float):  # type: ignore[override]
        ctx.save_for_backward(scores, weight)
        ctx.rule = rule
        return _float_mask(scores.detach(), rule, density).mul_(weight)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        scores, weight = ctx.saved_tensors
        grad_scores = grad_out * weight
        if ctx.rule == "topk":
            # The top-k rule ranks |s|; the chain rule through |s| contributes sign(s).
            grad_scores = grad_scores * torch.sign(scores)
        return grad_scores, None, None, None


def _float_mask(scores: torch.Tensor, rule: str, density: float) -> torch.Tensor:
    """The mask as 0./1. floats, built with fast float kernels.

    On CPU, `torch.where(bool_mask, w, 0)` and float-times-bool products run several times slower
    than plain float kernels; `clamp(sign(s) + 1, max=1)` is exactly `1[s >= 0]` for finite s.
    """
    if rule == "threshold":
        return scores.sign().add_(1.0).clamp_(max=1.0)
    return compute_mask(scores, rule, density).to(scores.dtype)


class _MaskedLinear(torch.autograd.Function):
    """`x @ (W * M(s)).T` with the straight-through score gradient, fused into one op.

    The score gradient `(dL/dW_eff) * W` is computed in place on the weight gradient this op
    has just allocated itself, which saves one full-size temporary per layer and step compared
    with `masked_weight` followed by `F.linear`.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, scores: torch.Tensor, weight: torch.Tensor, rule: str, density: float):  # type: ignore[override]
        w_eff = _float_mask(scores.detach(), rule, density).mul_(weight)
        ctx.save_for_backward(x, scores, weight, w_eff)
        ctx.rule = rule
        return x.matmul(w_eff.t())  # (..., out)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        x, scores, weight, w_eff = ctx.saved_tensors
        grad_x = grad_out.matmul(w_eff) if ctx.needs_input_grad[0] else None
        grad_scores = None
        if ctx.needs_input_grad[1]:
            g2 = grad_out.reshape(-1, grad_out.shape[-1])
            grad_scores = g2.t().mm(x.reshape(-1, x.shape[-1])).mul_(weight)  # (out, in), ours to modify
            if ctx.rule == "topk":
                grad_scores.mul_(torch.sign(scores))
        return grad_x, grad_scores, None, None, None


def masked_linear(x: torch.Tensor, scores: torch.Tensor, weight: torch.Tensor, rule: str,
                  density: float) -> torch.Tensor:
    """`x @ (weight * M(scores)).T` (no bias), gradients straight through to `scores`."""
    return _MaskedLinear.apply(x, scores, weight, rule, density)


def masked_weight(scores: torch.Tensor, weight: torch.Tensor, rule: str, density: float) -> torch.Tensor:
    """Effective weight `W * M(scores)` whose gradient flows to `scores` straight through."""
    return _MaskedWeight.apply(scores, weight, rule, density)


def compute_mask(scores: torch.Tensor, rule: str, density: float = 0.5) -> torch.Tensor:
    """Binary mask (bool, shape of `scores`) under `rule`.

    `threshold`: `s >= 0`. `topk`: exactly `round(density * n)` entries with the largest `|s|`
    (ties broken by `torch.topk`, so the kept count is exact).
    """
    if rule == "threshold":
        return scores >= 0
    if rule == "topk":
        flat = scores.reshape(-1).abs()
        k = kept_count(flat.numel(), density)
        mask = torch.zeros(flat.numel(), dtype=torch.bool, device=scores.device)
        if k > 0:
            mask[torch.topk(flat, k, sorted=False).indices] = True
        return mask.view_as(scores)
    raise ValueError(f"unknown mask rule {rule!r}; choose one of {', '.join(MASK_RULES)}")


def kept_count(numel: int, density: float) -> int:
    """Number of entries the top-k rule keeps: `round(density * numel)`."""
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"density must be in [0, 1], got {density}")
    return int(round(density * numel))


def layer_budget(density: float, c_out: int, c_in: int, kh: int = 1, kw: int = 1) -> float:
    """Per-layer density from Mocanu et al. (2018): `min(0.5, d (c_out + c_in) / (c_out c_in kh kw))`."""
    return min(0.5, density * (c_out + c_in) / (c_out * c_in * kh * kw))


_BIT_WEIGHTS = torch.tensor([128, 64, 32, 16, 8, 4, 2, 1], dtype=torch.uint8)


def pack_mask(mask: torch.Tensor) -> torch.Tensor:
    """Pack a boolean mask into uint8, 8 entries per byte (most significant bit first).

    The shape is not stored: keep it beside the packed bytes (`unpack_mask` needs it).
    """
    flat = mask.reshape(-1).to(torch.uint8)
    pad = (-flat.numel()) % 8
    if pad:
        flat = torch.cat([flat, flat.new_zeros(pad)])
    return (flat.view(-1, 8) * _BIT_WEIGHTS.to(flat.device)).sum(dim=1, dtype=torch.uint8)


def unpack_mask(packed: torch.Tensor, shape: tuple[int, ...] | torch.Size) -> torch.Tensor:
    """Inverse of `pack_mask`: a boolean tensor of `shape`."""
    n = math.prod(shape)
    if packed.numel() * 8 < n or packed.numel() * 8 - n >= 8:
        raise ValueError(f"{packed.numel()} packed bytes cannot hold a mask of shape {tuple(shape)}")
    bits = (packed.view(-1, 1) & _BIT_WEIGHTS.to(packed.device)) != 0
    return bits.reshape(-1)[:n].reshape(shape)
