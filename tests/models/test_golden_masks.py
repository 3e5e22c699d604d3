"""Golden values for the mask rules and the masked linear layer, worked out by hand from SupSup.

SupSup (Wortsman, Ramanujan et al., NeurIPS 2020; docs/algorithms.md section 1): a masked layer
computes `y = x @ (W * M).T` over fixed weights W, with the mask M from real scores s:
- threshold rule: `M = 1[s >= 0]` (s = 0 is kept);
- top-k rule: keep the fraction `density` of entries with the largest |s| in the layer;
and trains s with a straight-through estimator: `dL/ds = dL/dW_eff * W`, times `sign(s)` for the
top-k rule because it ranks |s|. Every expected number below is a literal computed by hand for
the 2x3 example, never by calling the code under test.

The example (batch 2, in 3, out 2), with L = sum(y * g):
    W = [[ 1, -2, 3],      x = [[ 1, 2, 3],      g = [[1, -1  ],
         [-1, .5, 2]]           [-1, 0, 2]]           [2,  0.5]]
    dL/dW_eff = g.T @ x = [[-1, 2, 7], [-1.5, -2, -2]]   (the same for every mask)
"""

from __future__ import annotations

import pytest
import torch

from supermasks.models import MaskedConv2d, MaskedLinear
from supermasks.models.masks import compute_mask, masked_linear, masked_weight

W = torch.tensor([[1.0, -2.0, 3.0], [-1.0, 0.5, 2.0]])
X = torch.tensor([[1.0, 2.0, 3.0], [-1.0, 0.0, 2.0]])
G = torch.tensor([[1.0, -1.0], [2.0, 0.5]])

# Threshold rule. Scores: entry (0, 2) is exactly 0 and is kept.
S_THRESHOLD = torch.tensor([[0.3, -0.1, 0.0], [-0.2, 0.5, -0.7]])
M_THRESHOLD = [[True, False, True], [False, True, False]]
# W * M = [[1, 0, 3], [0, .5, 0]]
# y = x @ (W * M).T: [1 + 9, 1] = [10, 1];  [-1 + 6, 0] = [5, 0]
Y_THRESHOLD = [[10.0, 1.0], [5.0, 0.0]]
# L = 10 * 1 + 1 * (-1) + 5 * 2 + 0 * 0.5
L_THRESHOLD = 19.0
# dL/ds = dL/dW_eff * W = [[-1 * 1, 2 * -2, 7 * 3], [-1.5 * -1, -2 * .5, -2 * 2]]
DS_THRESHOLD = [[-1.0, -4.0, 21.0], [1.5, -1.0, -4.0]]
# dL/dx = g @ (W * M): [1, 0, 3] - [0, .5, 0] = [1, -.5, 3];  2 [1, 0, 3] + .5 [0, .5, 0] = [2, .25, 6]
DX_THRESHOLD = [[1.0, -0.5, 3.0], [2.0, 0.25, 6.0]]

# Top-k rule, density 0.5 of 6 entries: the 3 largest |s| are .9 at (0, 1), .6 at (1, 2) and .4 at
# (1, 0); two of them have negative scores, which the threshold rule would drop.
S_TOPK = torch.tensor([[0.3, -0.9, 0.05], [-0.4, 0.1, 0.6]])
M_TOPK = [[False, True, False], [True, False, True]]
# W * M = [[0, -2, 0], [-1, 0, 2]]
# y: [-4, -1 + 6] = [-4, 5];  [0, 1 + 4] = [0, 5]
Y_TOPK = [[-4.0, 5.0], [0.0, 5.0]]
# L = -4 * 1 + 5 * (-1) + 0 * 2 + 5 * 0.5
L_TOPK = -6.5
# dL/ds = dL/dW_eff * W * sign(s) = [[-1, -4, 21], [1.5, -1, -4]] * [[+, -, +], [-, +, +]]
DS_TOPK = [[-1.0, 4.0, 21.0], [-1.5, -1.0, -4.0]]
# dL/dx = g @ (W * M): [0, -2, 0] - [-1, 0, 2] = [1, -2, -2];  2 [0, -2, 0] + .5 [-1, 0, 2] = [-.5, -4, 1]
DX_TOPK = [[1.0, -2.0, -2.0], [-0.5, -4.0, 1.0]]

CASES = {
    "threshold": (S_THRESHOLD, M_THRESHOLD, Y_THRESHOLD, L_THRESHOLD, DS_THRESHOLD, DX_THRESHOLD),
    "topk": (S_TOPK, M_TOPK, Y_TOPK, L_TOPK, DS_TOPK, DX_TOPK),
}


def exact(actual: torch.Tensor, expected: list | float) -> None:
    """Every value here is a small dyadic number: float32 holds it, so equality is exact."""
    torch.testing.assert_close(actual, torch.tensor(expected), rtol=0, atol=0)


@pytest.mark.parametrize("rule", CASES)
def test_mask_rule(rule: str) -> None:
    scores, mask = CASES[rule][:2]
    assert compute_mask(scores, rule, density=0.5).tolist() == mask


def test_topk_density_one_third_keeps_the_two_largest_magnitudes() -> None:
    assert compute_mask(S_TOPK, "topk", density=1 / 3).tolist() == [[False, True, False], [False, False, True]]


@pytest.mark.parametrize("rule", CASES)
def test_masked_linear_forward_and_straight_through_gradients(rule: str) -> None:
    scores, _, y_expected, loss_expected, ds_expected, dx_expected = CASES[rule]
    scores = scores.clone().requires_grad_(True)
    x = X.clone().requires_grad_(True)
    y = masked_linear(x, scores, W, rule, 0.5)
    exact(y, y_expected)
    loss = (y * G).sum()
    exact(loss, loss_expected)
    loss.backward()
    exact(scores.grad, ds_expected)
    exact(x.grad, dx_expected)


@pytest.mark.parametrize("rule", CASES)
def test_masked_weight_has_the_same_gradient(rule: str) -> None:
    """The unfused path (used by conv layers and superposition) agrees with the golden values."""
    scores, mask, y_expected, _, ds_expected, _ = CASES[rule]
    scores = scores.clone().requires_grad_(True)
    w_eff = masked_weight(scores, W, rule, 0.5)
    exact(w_eff, (W * torch.tensor(mask)).tolist())
    y = X @ w_eff.t()
    exact(y, y_expected)
    (y * G).sum().backward()
    exact(scores.grad, ds_expected)


@pytest.mark.parametrize("rule", CASES)
def test_masked_linear_layer_with_literal_weights_and_scores(rule: str) -> None:
    scores, mask, y_expected, _, ds_expected, _ = CASES[rule]
    layer = MaskedLinear(3, 2, rule=rule, density=0.5, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        layer.weight.copy_(W)
    layer.add_scores(torch.Generator(), init=scores)
    assert layer.mask(0).tolist() == mask
    y = layer(X)
    exact(y, y_expected)
    (y * G).sum().backward()
    exact(layer.scores[0].grad, ds_expected)
    assert layer.weight.grad is None  # the weights never train
    assert [name for name, _ in layer.named_parameters()] == ["weight", "scores.0"]  # no bias


@pytest.mark.parametrize("in_features, out_features, c", [(3, 2, 0.816496580927726),  # sqrt(2 / 3)
                                                          (784, 300, 0.050507627227610534)])  # sqrt(2 / 784)
def test_signed_constant_init_linear(in_features: int, out_features: int, c: float) -> None:
    layer = MaskedLinear(in_features, out_features, generator=torch.Generator().manual_seed(1))
    w = layer.weight.detach().double()
    assert torch.allclose(w.abs(), torch.full_like(w, c), rtol=1e-6, atol=0)  # every weight is +c or -c
    if w.numel() > 1000:
        assert abs((w > 0).double().mean().item() - 0.5) < 0.01  # each sign with probability 1/2


def test_signed_constant_init_conv_uses_the_kernel_fan_in() -> None:
    layer = MaskedConv2d(2, 64, 3, generator=torch.Generator().manual_seed(2))  # fan_in = 2 * 3 * 3 = 18
    w = layer.weight.detach().double()
    assert torch.allclose(w.abs(), torch.full_like(w, 1 / 3), rtol=1e-6, atol=0)  # sqrt(2 / 18) = 1/3
    assert 0.4 < (w > 0).double().mean().item() < 0.6
