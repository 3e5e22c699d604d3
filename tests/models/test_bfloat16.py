"""bfloat16 products of masked layers (`training.precision=bfloat16`) against float32 references.

The weights are exact in bfloat16 (`W = c * S`, `S * M` in {-1, 0, +1}); only activations and
gradients are rounded (8-bit mantissa, relative error at most 2^-8 per rounding). References are
computed in float64 from the same bfloat16-rounded inputs.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from supermasks.compute.devices import bfloat16_note, cpu_flags
from supermasks.models import add_task, build_model, masked_layers, set_precision, set_task, task_scores
from supermasks.models.bfloat16 import LOW, unit_and_scale
from supermasks.models.layers import MaskedConv2d, MaskedLinear
from supermasks.models.masks import compute_mask

EPS = 2.0 ** -8  # one bfloat16 rounding, relative


def _layer(rule: str = "threshold", seed: int = 0, out: int = 40, inp: int = 70) -> MaskedLinear:
    g = torch.Generator().manual_seed(seed)
    layer = MaskedLinear(inp, out, rule=rule, density=0.3, generator=g)
    layer.add_scores(g)
    return layer


def test_unit_and_scale_factor_a_signed_constant_exactly() -> None:
    layer = _layer()
    unit, c = unit_and_scale(layer.weight)
    assert c == pytest.approx((2.0 / 70) ** 0.5, rel=1e-6)
    assert set(unit.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(unit * c, layer.weight)
    assert torch.equal(unit.to(LOW).float(), unit)  # exact in bfloat16
    other = torch.randn(5, 4)
    unit2, c2 = unit_and_scale(other)
    assert c2 == 1.0 and torch.equal(unit2, other)


@pytest.mark.parametrize("rule", ["threshold", "topk"])
def test_forward_is_the_product_of_rounded_activations_and_the_exact_mask(rule: str) -> None:
    layer = _layer(rule)
    layer.set_precision("bfloat16")
    x = torch.randn(16, 70, generator=torch.Generator().manual_seed(1))
    y = layer(x)
    assert y.dtype == torch.float32
    unit, c = unit_and_scale(layer.weight)
    mask = compute_mask(layer.scores[0].detach(), rule, 0.3).double()
    exact = c * (x.to(LOW).double() @ (unit.double() * mask).t())  # only x rounded
    # The product's float32 accumulation is rounded once to bfloat16.
    assert torch.all((y.double() - exact).abs() <= EPS * exact.abs() + 1e-6)
    layer.set_precision("float32")
    y32 = layer(x).double()
    # Against float32: each activation rounds by at most 2^-9 of itself, the result once more.
    bound = c * (x.double().abs() @ (unit.double() * mask).abs().t()) * 2.0 ** -9 + EPS * y32.abs() + 1e-5
    assert torch.all((y.double() - y32).abs() <= bound)


@pytest.mark.parametrize("rule", ["threshold", "topk"])
def test_score_gradient_is_straight_through_times_the_weight(rule: str) -> None:
    layer = _layer(rule, seed=3)
    layer.set_precision("bfloat16")
    x = torch.randn(32, 70, generator=torch.Generator().manual_seed(4), requires_grad=True)
    g = torch.randn(32, 40, generator=torch.Generator().manual_seed(5))
    layer(x).backward(g)
    scores = layer.scores[0]
    g_low, x_low = g.to(LOW).double(), x.detach().to(LOW).double()
    grad_w = g_low.t() @ x_low  # dL/dW_eff from the rounded g and x
    expected = grad_w * layer.weight.double()
    if rule == "topk":
        expected = expected * torch.sign(scores.detach()).double()
    # g^T x is accumulated in float32 and rounded once to bfloat16; then widened and times W in float32.
    assert torch.all((scores.grad.double() - expected).abs() <= EPS * expected.abs() + 1e-7)
    unit, c = unit_and_scale(layer.weight)
    mask = compute_mask(scores.detach(), rule, 0.3).double()
    expected_x = c * (g_low @ (unit.double() * mask))
    assert torch.all((x.grad.double() - expected_x).abs() <= 2 * EPS * expected_x.abs() + 1e-6)


def test_a_finished_task_predicts_as_it_did_while_training() -> None:
    """The packed path (S * M_t cached in bfloat16) computes exactly what the score path computed."""
    layer = _layer()
    layer.set_precision("bfloat16")
    x = torch.randn(8, 70, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        before = layer(x)
    layer.finish(0)
    assert layer.is_packed(0)
    with torch.no_grad():
        assert torch.equal(layer(x), before)
    assert torch.allclose(layer.effective_weight(), layer.weight * layer.mask(0))


def test_switching_precision_drops_the_cached_weight() -> None:
    layer = _layer()
    layer.finish(0)
    x = torch.randn(4, 70, generator=torch.Generator().manual_seed(6))
    y32 = layer(x)
    layer.set_precision("bfloat16")
    y16 = layer(x)
    layer.set_precision("float32")
    assert torch.equal(layer(x), y32)
    assert not torch.equal(y16, y32)
    with pytest.raises(ValueError, match="unknown precision 'float16'; choose one of float32, bfloat16"):
        layer.set_precision("float16")


def test_conv_products_in_bfloat16() -> None:
    g = torch.Generator().manual_seed(0)
    conv = MaskedConv2d(3, 8, 3, padding=1, generator=g)
    conv.add_scores(g)
    low = copy.deepcopy(conv)
    low.set_precision("bfloat16")
    x = torch.randn(4, 3, 10, 10, generator=g)
    y32, y16 = conv(x), low(x)
    assert y16.dtype == torch.float32
    unit, c = unit_and_scale(conv.weight)
    exact = c * F.conv2d(x.to(LOW).double(), (unit * conv.mask(0)).double(), padding=1)
    assert torch.all((y16.double() - exact).abs() <= EPS * exact.abs() + 1e-6)
    y32.square().sum().backward()
    y16.square().sum().backward()
    a, b = conv.scores[0].grad, low.scores[0].grad
    assert (a - b).norm() / a.norm() < 0.02
    low.finish(0)
    with torch.no_grad():
        assert torch.equal(low(x), y16.detach())


def test_a_network_in_bfloat16_agrees_with_float32() -> None:
    model = build_model("fc-300-300", output_size=10, rule="threshold", density=0.5, batch_norm=False, seed=0)
    add_task(model, torch.Generator().manual_seed(1))
    set_task(model, 0)
    low = copy.deepcopy(model)
    set_precision(low, "bfloat16")
    assert {layer.precision for layer in masked_layers(low).values()} == {"bfloat16"}
    x = torch.randn(256, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a, b = model(x), low(x)
    assert (a - b).abs().max() <= 0.02 * a.abs().max()
    assert (a.argmax(1) == b.argmax(1)).float().mean() >= 0.95
    assert all(p.dtype == torch.float32 for p in task_scores(low, 0))


def test_cpu_flags_and_the_note_on_missing_bfloat16_units() -> None:
    amx = "processor\t: 0\nflags\t\t: fpu sse avx512f amx_bf16 amx_tile\n"
    old = "processor\t: 0\nflags\t\t: fpu sse avx2 fma\n"
    assert "amx_bf16" in cpu_flags(amx)
    assert bfloat16_note(torch.device("cpu"), cpu_flags(amx)) is None
    assert bfloat16_note(torch.device("cpu"), cpu_flags("flags : avx512_bf16")) is None
    note = bfloat16_note(torch.device("cpu"), cpu_flags(old))
    assert note is not None and "neither amx_bf16 nor avx512_bf16" in note and "float32" in note
    assert bfloat16_note(torch.device("cpu"), frozenset()) is None  # nothing to read: nothing said
