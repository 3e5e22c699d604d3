"""A masked MLP in bfloat16 as one autograd function (`models.low_mlp`) against the same computation by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from supermasks.models import add_task, build_model, masked_layers, set_precision, set_task, task_scores
from supermasks.models import low_mlp
from supermasks.models.bfloat16 import LOW, unit_and_scale
from supermasks.models.masks import compute_mask


def _mlp(rule: str = "threshold", batch_norm: bool = False):
    model = build_model("fc-300-300", output_size=10, rule=rule, density=0.4, batch_norm=batch_norm, seed=0)
    set_task(model, add_task(model, torch.Generator().manual_seed(1)))
    set_precision(model, "bfloat16")
    return model


def _by_hand(model, x: torch.Tensor, y: torch.Tensor):
    """Logits and score gradients from plain bfloat16 autograd: h_i = relu(h_{i-1} (S_i M_i)^T), logits P_L z_L."""
    layers = list(masked_layers(model).values())
    leaves, units, total = [], [], 1.0
    h = x.flatten(1).to(LOW)
    for i, layer in enumerate(layers):
        unit, c = unit_and_scale(layer.weight)
        total *= c
        sm = (unit * compute_mask(layer.scores[0].detach(), layer.rule, layer.density)).to(LOW).requires_grad_()
        leaves.append(sm)
        units.append(unit)
        h = h @ sm.t()
        if i < len(layers) - 1:
            h = torch.relu(h)
    logits = h.float() * total
    F.cross_entropy(logits, y).backward()
    grads = [leaf.grad.float() * unit for leaf, unit in zip(leaves, units)]
    if layers[0].rule == "topk":
        grads = [g * torch.sign(layer.scores[0].detach()) for g, layer in zip(grads, layers)]
    return logits.detach(), grads


@pytest.mark.parametrize("rule", ["threshold", "topk"])
def test_logits_and_score_gradients_are_the_bfloat16_network_by_hand(rule: str) -> None:
    model = _mlp(rule)
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(64, 1, 28, 28, generator=g), torch.randint(0, 10, (64,), generator=g)
    logits = model(x)
    F.cross_entropy(logits, y).backward()
    expected_logits, expected_grads = _by_hand(model, x, y)
    assert torch.allclose(logits.detach(), expected_logits, rtol=1e-6, atol=1e-6)
    for p, expected in zip(task_scores(model, 0), expected_grads):
        # The products are the same; autograd may order a gradient product's operands otherwise.
        assert torch.allclose(p.grad, expected, rtol=2 ** -7, atol=1e-3 * expected.abs().max().item())


def test_the_bfloat16_mlp_agrees_with_float32() -> None:
    model = _mlp()
    full = _mlp()
    set_precision(full, "float32")
    x = torch.randn(256, 1, 28, 28, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a, b = full(x), model(x)
    assert (a - b).abs().max() <= 0.02 * a.abs().max()
    assert (a.argmax(1) == b.argmax(1)).float().mean() >= 0.95


def test_only_plain_bfloat16_mlps_take_it(monkeypatch) -> None:
    calls = []
    real = low_mlp.low_mlp
    monkeypatch.setattr(low_mlp, "low_mlp", lambda *a: calls.append(1) or real(*a))
    x = torch.randn(4, 1, 28, 28)
    _mlp()(x)
    assert calls == [1]
    with_norm = _mlp(batch_norm=True)
    with_norm(x)
    full = _mlp()
    set_precision(full, "float32")
    full(x)
    assert calls == [1]  # BatchNorm between layers, or float32: layer by layer
