"""One-shot task inference: one superposed forward and one gradient with respect to the mixing weights.

Wortsman, Ramanujan et al., "Supermasks in Superposition" (NeurIPS 2020), section 3: with
`alpha_i = 1/k` over the k learned tasks, the task whose mask most decreases the objective
(entropy H, or G on the extra "s-neurons") is `argmin_i dObjective/dalpha_i`.

Precision: "float32" (the default) computes everything in float32. "bfloat16" computes the
network's products in bfloat16 with float32 accumulation (torch's autocast): the superposed
weight `W * sum_i alpha_i M_i` and the activations are rounded to bfloat16 (not exact: alpha is
real), so the picks may differ from float32's where two tasks' gradients are close. The products
with the stored masks (the alpha gradient itself, and the per-image products' contraction)
accumulate in float32 either way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from supermasks.inference.bank import MaskBank
from supermasks.inference.superpose import check_superposable, superposed_forward
from supermasks.models.layers import MaskedLinear
from supermasks.models.tasks import masked_layers

OBJECTIVES = ("H", "G")
PRECISIONS = ("float32", "bfloat16")


def check_precision(precision: str) -> None:
    """ValueError unless `precision` is one of `PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")


@contextlib.contextmanager
def _products_in(precision: str, device: torch.device) -> Iterator[None]:
    """Within the block, matrix products (linear, conv) run in `precision` with float32 accumulation."""
    check_precision(precision)
    if precision == "float32":
        yield
        return
    with torch.autocast(device.type, dtype=torch.bfloat16):
        yield


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
                   num_classes: int | None = None, tasks: torch.Tensor | None = None,
                   precision: str = "float32") -> torch.Tensor:
    """`dObjective/dalpha` at uniform alpha over `tasks` (default: all tasks in the bank): shape (len(tasks),).

    `precision`: of the network's products (see the module's docstring); the gradient is float32.
    """
    count = bank.num_tasks if tasks is None else len(tasks)
    alphas = torch.full((count,), 1.0 / max(count, 1), device=bank.device, requires_grad=True)
    with _products_in(precision, x.device):
        logits = superposed_forward(model, bank, x, alphas, tasks)  # (batch, outputs)
    objective = inference_objective(logits.to(torch.float32), objective_name, num_classes)
    (grad,) = torch.autograd.grad(objective, alphas)
    return grad


def infer_task(model: nn.Module, bank: MaskBank, x: torch.Tensor, objective: str = "H",
               num_classes: int | None = None, precision: str = "float32") -> int:
    """The learned task (index into the bank) that one-shot inference picks for the batch `x`."""
    return int(alpha_gradient(model, bank, x, objective, num_classes, precision=precision).argmin())


# Floats of unpacked, weight-scaled masks per chunk of tasks (plus the (batch, chunk * out) product):
# large enough for long matrix multiplies, small enough to stay well under a few hundred MiB.
_CHUNK_FLOATS = 1 << 24


def _per_image_layer_products(weight: torch.Tensor, h: torch.Tensor, delta: torch.Tensor, bank: MaskBank,
                              name: str, ids: torch.Tensor, precision: str = "float32") -> torch.Tensor:
    """`[delta_b^T (W * M_i) h_b]_{b,i}` for one linear layer: (batch, len(ids)).

    The per-image weight gradient `delta_b h_b^T * W` is never formed (it would be batch x out x in);
    instead each chunk of masks is unpacked once, scaled by W, and hit with the whole batch in a
    single (batch, in) x (in, chunk * out) matrix multiply, then contracted with `delta` over outputs.
    In "bfloat16" `precision` the scaled masks and `h` are rounded to bfloat16 for that multiply
    (float32 accumulation, its result rounded to bfloat16); the contraction is float32.
    """
    out_features, in_features = weight.shape
    batch = h.shape[0]
    dtype = torch.bfloat16 if precision == "bfloat16" else torch.float32
    w = weight.detach().to(dtype).reshape(1, out_features, in_features)
    h = h.to(dtype)
    chunk = max(1, _CHUNK_FLOATS // (out_features * (in_features + batch)))
    result = torch.empty(batch, ids.numel(), device=h.device)
    for c0 in range(0, ids.numel(), chunk):
        sub = ids[c0:c0 + chunk]
        # Unpacked on the bank's device (the layer's, unless the bank was kept elsewhere).
        scaled = bank.unpack(name, sub).view(-1, out_features, in_features).to(w.device, dtype) * w
        projected = (h @ scaled.reshape(-1, in_features).t()).view(batch, sub.numel(), out_features).to(torch.float32)
        result[:, c0:c0 + sub.numel()] = torch.einsum("bto,bo->bt", projected, delta)
    return result


def per_image_alpha_gradient(model: nn.Module, bank: MaskBank, x: torch.Tensor, objective_name: str = "H",
                             num_classes: int | None = None, tasks: torch.Tensor | None = None,
                             precision: str = "float32") -> torch.Tensor:
    """Each image's own `dObjective_b/dalpha` at uniform alpha over `tasks`: shape (batch, len(tasks)).

    Single-image inference (Wortsman, Ramanujan et al., NeurIPS 2020, section 3) for a whole batch
    at once. Images do not interact in the superposed network (no BatchNorm), so the gradient of
    the summed objective with respect to each masked layer's output, row b, is exactly image b's
    own `delta_b`; its alpha gradient in that layer is `<delta_b h_b^T * W, M_i>`, with `h_b` the
    layer's input. One forward and one backward serve the whole batch; the per-task products
    are dense matrix multiplies over unpacked chunks of masks. Models with layers other than
    masked linear ones fall back to one superposed forward and backward per image.
    """
    check_superposable(model, bank)
    check_precision(precision)
    ids = torch.arange(bank.num_tasks) if tasks is None else torch.as_tensor(tasks, dtype=torch.long).cpu()
    layers = masked_layers(model)
    if not all(isinstance(layer, MaskedLinear) for layer in layers.values()):
        return torch.stack([alpha_gradient(model, bank, x[b:b + 1], objective_name, num_classes, tasks, precision)
                            for b in range(len(x))]) if len(x) else torch.zeros(0, ids.numel(), device=bank.device)
    inputs: dict[str, torch.Tensor] = {}
    outputs: dict[str, torch.Tensor] = {}

    def capture(name: str):
        def hook(_module: nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
            inputs[name] = args[0].detach()
            # A zero leaf added to the output: its gradient is dObjective/d(layer output), and,
            # unlike a detached copy, it keeps the path from earlier layers to the objective.
            outputs[name] = torch.zeros_like(output, requires_grad=True)
            return output + outputs[name]
        return hook

    alphas = torch.full((ids.numel(),), 1.0 / max(ids.numel(), 1), device=bank.device)
    handles = [layer.register_forward_hook(capture(name)) for name, layer in layers.items()]
    try:
        with torch.enable_grad():
            with _products_in(precision, x.device):
                logits = superposed_forward(model, bank, x, alphas, None if tasks is None else ids)
            # The objective is a batch mean; times the batch size it is the sum of the images' own
            # objectives, whose gradient in row b belongs to image b alone.
            total = inference_objective(logits.to(torch.float32), objective_name, num_classes) * len(x)
            deltas = torch.autograd.grad(total, [outputs[name] for name in layers], allow_unused=True)
            # allow_unused: a layer the objective does not reach (G with no path) gives None.
    finally:
        for handle in handles:
            handle.remove()
    grad = torch.zeros(len(x), ids.numel(), device=x.device)
    for (name, layer), delta in zip(layers.items(), deltas):
        if delta is not None:  # an output the objective does not reach contributes nothing
            grad += _per_image_layer_products(layer.weight, inputs[name], delta.to(torch.float32), bank, name, ids,
                                              precision)
    return grad


def infer_per_image(model: nn.Module, bank: MaskBank, x: torch.Tensor, objective: str = "H",
                    num_classes: int | None = None, precision: str = "float32") -> torch.Tensor:
    """One inferred task per image of `x` (single-image inference): LongTensor of shape (batch,).

    Same picks as `infer_task` on each image alone, computed for the whole batch at once by
    `per_image_alpha_gradient`.
    """
    check_precision(precision)
    if len(x) == 0:
        return torch.zeros(0, dtype=torch.long, device=x.device)
    return per_image_alpha_gradient(model, bank, x, objective, num_classes, precision=precision).argmin(dim=1)
