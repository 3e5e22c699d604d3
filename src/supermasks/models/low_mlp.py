"""A masked ReLU MLP's whole forward and backward in bfloat16, as one autograd function.

Layer by layer (`bfloat16.low_masked_linear`), each masked layer widens its bfloat16 product to
float32, scales it by its `c` and rounds it back to bfloat16 for the next product, and autograd
runs a node per layer and per ReLU. For an MLP without BatchNorm whose layers are all masked linear
layers in bfloat16, the scales can wait until the logits instead: with `W_i = c_i S_i` and ReLU
positively homogeneous, the pre-activations are `y_i = P_i z_i` with `P_i = c_1 ... c_i`,
`z_i = h_{i-1} (S_i M_i)^T`, `h_i = relu(z_i)`, `h_0 = x`, so the activations stay bfloat16 from
product to product (one rounding fewer per layer) and the logits are `P_L z_L` in float32. Backward
needs no scale but the first: `dL/dz_L = P_L dL/dy_L`, `dL/dh_{i-1} = dL/dz_i (S_i M_i)`,
`dL/dz_{i-1} = dL/dh_{i-1} 1[z_{i-1} > 0]`, and the straight-through score gradient
`dL/ds_i = (dL/dW_eff_i) * W_i = ((dL/dz_i)^T h_{i-1}) * S_i` (times `sign(s_i)` for top-k).
Every product in bfloat16 with float32 accumulation, as in the layers.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import torch

from supermasks.models.bfloat16 import LOW, fill_low_mask
from supermasks.models.layers import MaskedLinear


def applies(layers: Sequence[object], norms: Sequence[object]) -> bool:
    """Whether an MLP of `layers` (and BatchNorm `norms`, None where a layer has none) takes `low_mlp`:
    every layer a masked linear layer in bfloat16 with nothing injected, and no BatchNorm."""
    return all(n is None for n in norms) and all(
        isinstance(layer, MaskedLinear) and layer.precision == "bfloat16" and layer.injected_weight is None
        for layer in layers)


def _weight(layer: MaskedLinear, scores: torch.Tensor | None) -> torch.Tensor:
    """The active task's `S * M` in bfloat16: a packed task's cached one, or the scores' (reusing what the
    fused step wrote, where it did)."""
    if scores is None:
        return layer._packed_weight(layer.task_id)
    workspace, deferred = layer.low_workspace, layer.deferred
    buffer = workspace.acquire(layer.weight)
    if deferred is None or buffer is not workspace.buffer or deferred.filled != (scores.data_ptr(), scores._version):
        unit, unit_low, _ = layer.units.get(layer.weight)
        fill_low_mask(buffer, scores.detach(), unit, unit_low, layer.rule, layer.density)
    return buffer


class _LowMLP(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, layers: tuple[MaskedLinear, ...], *scores: torch.Tensor | None):  # type: ignore[override]
        h = x.to(LOW)
        hs, weights, total = [h], [], 1.0
        for i, (layer, s) in enumerate(zip(layers, scores)):
            w = _weight(layer, s)
            weights.append(w)
            total *= layer.units.get(layer.weight)[2]
            h = h.matmul(w.t())
            if i < len(layers) - 1:
                h = torch.relu_(h)
                hs.append(h)
        ctx.save_for_backward(*hs, *weights)
        ctx.layers, ctx.total, ctx.depth, ctx.in_dtype = layers, total, len(layers), x.dtype
        out_dtype = torch.float32 if x.dtype == LOW else x.dtype  # images already in bfloat16: float32 logits
        if torch.is_grad_enabled():
            for layer, s, w in zip(layers, scores, weights):
                if s is not None and w is layer.low_workspace.buffer:
                    layer.low_workspace.busy = weakref.ref(ctx)
        return h.to(out_dtype).mul_(total)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        saved = ctx.saved_tensors
        hs, weights = saved[:ctx.depth], saved[ctx.depth:]
        g = grad_out.mul(ctx.total).to(LOW)  # dL/dz_L
        grads: list[torch.Tensor | None] = [None] * ctx.depth
        grad_x = None
        for i in reversed(range(ctx.depth)):
            layer = ctx.layers[i]
            if ctx.needs_input_grad[2 + i]:
                g_weight = g.t().mm(hs[i])  # dL/d(S M) in bfloat16, float32 accumulation
                if layer.deferred is not None:  # the fused step: (G * 1) * S
                    layer.deferred.grad_weight, layer.deferred.grad_scale = g_weight, 1.0
                else:
                    unit = layer.units.get(layer.weight)[0]
                    grads[i] = torch.mul(g_weight, unit)
                    if layer.rule == "topk":
                        grads[i].mul_(torch.sign(layer.scores[layer.task_id].detach()))
            if i > 0:
                g = torch.ops.aten.threshold_backward(g.mm(weights[i]), hs[i], 0)
            elif ctx.needs_input_grad[0]:
                grad_x = g.mm(weights[0]).to(ctx.in_dtype)
            if layer.low_workspace.busy is not None and layer.low_workspace.busy() is ctx:
                layer.low_workspace.busy = None
        return (grad_x, None, *grads)


def low_mlp(x: torch.Tensor, layers: Sequence[MaskedLinear]) -> torch.Tensor:
    """Logits of the MLP of masked `layers` (bfloat16, see `applies`) on flattened `x` (float32, or bfloat16 as
    `data.table_images` gives it: the same bits), in float32."""
    scores = []
    for layer in layers:
        layer._check_task()
        scores.append(None if layer.is_packed(layer.task_id) else layer.scores[layer.task_id])
    return _LowMLP.apply(x, tuple(layers), *scores)


__all__ = ["applies", "low_mlp"]
