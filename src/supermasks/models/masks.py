"""Mask rules (threshold, top-k) with straight-through gradients, and bit-packing of masks."""

from __future__ import annotations

import math
import weakref
from typing import Any

import torch

MASK_RULES = ("threshold", "topk")
DENSITY_BUDGETS = ("global", "er")  # the same top-k density in every layer, or the layer-wise ER budget


class _MaskedWeight(torch.autograd.Function):
    """`weight * mask(scores)` in one op; backward passes the gradient straight through.

    With `W_eff = W * M(s)` and the straight-through estimator `dM/ds := 1`, the score gradient is
    `dL/ds = dL/dW_eff * W` (docs/algorithms.md section 1). Fusing the rule and the product saves the
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


def _masked_linear_grads(ctx: Any, grad_out: torch.Tensor, sign_buffer: torch.Tensor | None = None
                         ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(dL/dx, dL/ds) of `x @ (W * M(s)).T` from the saved (x, s, W, W * M): straight through,
    `dL/ds = (dL/dW_eff) * W`, computed in place on the weight gradient this op allocates itself,
    times sign(s) for the top-k rule (it ranks |s|), written into `sign_buffer` where given."""
    x, scores, weight, w_eff = ctx.saved_tensors
    # Under autocast the forward's product, and so `grad_out`, is bfloat16: the products run in its
    # dtype and the score gradient comes back in the scores' (without autocast no cast happens at all).
    low = grad_out.dtype
    grad_x = grad_out.matmul(w_eff.to(low)) if ctx.needs_input_grad[0] else None
    grad_scores = None
    if ctx.needs_input_grad[1]:
        g2 = grad_out.reshape(-1, grad_out.shape[-1])
        grad_scores = g2.t().mm(x.reshape(-1, x.shape[-1]).to(low)).to(scores.dtype).mul_(weight)  # (out, in), ours
        if ctx.rule == "topk":
            grad_scores.mul_(torch.sign(scores.detach(), out=sign_buffer) if sign_buffer is not None
                             else torch.sign(scores))
    return grad_x, grad_scores


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
        return (*_masked_linear_grads(ctx, grad_out), None, None, None)


class MaskWorkspace:
    """Reusable tensors of one masked linear layer: `W * M`, and for top-k a scratch tensor (|s| or sign(s)).

    The tensors are (re)allocated only when the weight's shape, dtype or device changes. They are
    saved for the backward pass, so a forward while an earlier graph still needs them (a second
    forward before `backward`, or `retain_graph`) takes fresh tensors instead: `busy` holds a weak
    reference to the graph node that saved them, cleared by its backward or when the graph is freed.
    """

    def __init__(self) -> None:
        self.w_eff: torch.Tensor | None = None
        self.scratch: torch.Tensor | None = None  # top-k: |s| in forward, sign(s) in backward
        self.indices: torch.Tensor | None = None  # top-k: kept positions
        self.values: torch.Tensor | None = None   # top-k: |s| at those positions, then W there
        self.busy: weakref.ref | None = None

    def __getstate__(self) -> dict:
        """Copies and pickles start empty: the tensors are scratch space, not state."""
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()  # type: ignore[misc]

    def acquire(self, weight: torch.Tensor, k: int | None) -> tuple[torch.Tensor, torch.Tensor | None,
                                                                     torch.Tensor | None, torch.Tensor | None]:
        """(w_eff, scratch, indices, values) for `weight`, free to overwrite; the last three only for
        the top-k rule (`k` kept entries, None for threshold)."""
        if self.busy is not None and self.busy() is not None:
            if k is None:
                return torch.empty_like(weight), None, None, None
            return (torch.empty_like(weight), torch.empty_like(weight), weight.new_empty(k, dtype=torch.long),
                    weight.new_empty(k))
        w = self.w_eff
        if w is None or w.shape != weight.shape or w.dtype != weight.dtype or w.device != weight.device:
            self.w_eff = torch.empty_like(weight)
            self.scratch = self.indices = self.values = None
        if k is None:
            return self.w_eff, None, None, None
        if self.scratch is None:
            self.scratch = torch.empty_like(weight)
        if self.indices is None or self.indices.numel() != k:
            self.indices, self.values = weight.new_empty(k, dtype=torch.long), weight.new_empty(k)
        return self.w_eff, self.scratch, self.indices, self.values


def _fill_masked_weight(out: torch.Tensor, scratch: torch.Tensor | None, indices: torch.Tensor | None,
                        values: torch.Tensor | None, scores: torch.Tensor, weight: torch.Tensor, rule: str,
                        k: int) -> torch.Tensor:
    """`out = W * M(s)` in two passes, without temporaries (threshold: `1[s >= 0]` as floats, times W)."""
    if rule == "threshold":  # a comparison written as 0./1. floats: one float kernel, no bool tensor
        return torch.ge(scores, 0.0, out=out).mul_(weight)
    assert scratch is not None and indices is not None and values is not None
    out.zero_()
    if k > 0:  # the same `torch.topk` call as `compute_mask`, so the same kept entries
        torch.topk(torch.abs(scores, out=scratch).view(-1), k, sorted=False, out=(values, indices))
        torch.index_select(weight.view(-1), 0, indices, out=values)
        out.view(-1).index_copy_(0, indices, values)
    return out


class _BufferedMaskedLinear(torch.autograd.Function):
    """`_MaskedLinear` writing `W * M(s)` and the top-k scratch into a `MaskWorkspace`.

    Forward: `y = x (W * M).T`; backward: `dL/dx = g (W * M)`, `dL/ds = (g.T x) * W`, times
    `sign(s)` for the top-k rule (SupSup's straight-through GetSubnet). The score gradient is
    computed in place on the matrix product's own result, which autograd then takes over as
    `scores.grad` without a copy.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, scores: torch.Tensor, weight: torch.Tensor, rule: str, density: float,  # type: ignore[override]
                workspace: MaskWorkspace):
        k = kept_count(scores.numel(), density) if rule == "topk" else 0
        w_eff, scratch, indices, values = workspace.acquire(weight, k if rule == "topk" else None)
        _fill_masked_weight(w_eff, scratch, indices, values, scores.detach(), weight, rule, k)
        ctx.save_for_backward(x, scores, weight, w_eff)
        ctx.rule = rule
        ctx.workspace = workspace
        ctx.scratch = scratch
        if w_eff is workspace.w_eff and any(ctx.needs_input_grad[:2]):
            workspace.busy = weakref.ref(ctx)  # a graph will read w_eff and scratch: not free until its backward
        return x.matmul(w_eff.t())

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        grad_x, grad_scores = _masked_linear_grads(ctx, grad_out, sign_buffer=ctx.scratch)
        if ctx.workspace.busy is not None and ctx.workspace.busy() is ctx:
            ctx.workspace.busy = None
        return grad_x, grad_scores, None, None, None, None


def masked_linear(x: torch.Tensor, scores: torch.Tensor, weight: torch.Tensor, rule: str,
                  density: float, workspace: MaskWorkspace | None = None) -> torch.Tensor:
    """`x @ (weight * M(scores)).T` (no bias), gradients straight through to `scores`.

    With a `workspace`, `W * M` and the top-k scratch tensors are reused from step to step
    instead of allocated (same results, fewer element-wise passes and allocations).
    """
    if workspace is None:
        return _MaskedLinear.apply(x, scores, weight, rule, density)
    if rule not in MASK_RULES:
        raise ValueError(f"unknown mask rule {rule!r}; choose one of {', '.join(MASK_RULES)}")
    return _BufferedMaskedLinear.apply(x, scores, weight, rule, density, workspace)


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


def threshold_distance(scores: torch.Tensor, rule: str, density: float = 0.5) -> torch.Tensor:
    """How far each score lies from the value where its mask bit flips (float, shape of `scores`).

    `threshold`: `|s|` (the bit is `s >= 0`). `topk`: `||s| - tau|` with tau the k-th largest
    `|s|`, k the kept count: there a bit flips when `|s|` crosses the edge of the kept set, so
    the weights nearest tau, not 0, are the ones a little training flips. (Training moves tau
    too; this is the distance at the scores given.)
    """
    if rule == "threshold":
        return scores.abs()
    if rule == "topk":
        flat = scores.reshape(-1).abs()
        k = kept_count(flat.numel(), density)
        tau = torch.kthvalue(flat, flat.numel() - k + 1).values if k > 0 else flat.max()
        return (scores.abs() - tau).abs()
    raise ValueError(f"unknown mask rule {rule!r}; choose one of {', '.join(MASK_RULES)}")


def kept_count(numel: int, density: float) -> int:
    """Number of entries the top-k rule keeps: `round(density * numel)`."""
    if not 0.0 <= density <= 1.0:
        raise ValueError(f"density must be in [0, 1], got {density}")
    return int(round(density * numel))


def layer_budget(density: float, c_out: int, c_in: int, kh: int = 1, kw: int = 1) -> float:
    """Per-layer density from Mocanu et al. (2018): `min(0.5, d (c_out + c_in) / (c_out c_in kh kw))`."""
    return min(0.5, density * (c_out + c_in) / (c_out * c_in * kh * kw))


def layer_density(density: float, budget: str, shape: tuple[int, ...]) -> float:
    """The top-k density of a layer whose weight has `shape` (out, in) or (out, in, kh, kw), under `budget`.

    "global": `density` itself in every layer. "er": `layer_budget(density, c_out, c_in, kh, kw)`,
    the Erdos-Renyi budget of Mocanu et al. (2018) as SupSup applies it to SplitCIFAR100/ImageNet,
    where `density` is the budget's scale (it may exceed 1; a layer keeps at most half its weights).
    """
    if budget == "global":
        return density
    if budget == "er":
        c_out, c_in, *kernel = shape
        kh, kw = kernel if kernel else (1, 1)
        return layer_budget(density, c_out, c_in, kh, kw)
    raise ValueError(f"unknown density budget {budget!r}; choose one of {', '.join(DENSITY_BUDGETS)}")


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
