import math

import pytest
import torch

from supermasks.models.masks import (compute_mask, kept_count, layer_budget, masked_weight, pack_mask, threshold_distance,
                                     unpack_mask)


def test_threshold_rule_keeps_non_negative_scores():
    s = torch.tensor([[-1.0, 0.0, 2.0], [0.5, -0.1, -3.0]])
    assert compute_mask(s, "threshold").tolist() == [[False, True, True], [True, False, False]]


@pytest.mark.parametrize("density", [0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
def test_topk_density_is_exact(density):
    s = torch.randn(37, 53, generator=torch.Generator().manual_seed(0))
    mask = compute_mask(s, "topk", density)
    assert mask.sum().item() == round(density * s.numel())


def test_topk_keeps_largest_magnitudes_like_a_full_sort():
    s = torch.randn(1000, generator=torch.Generator().manual_seed(1))
    mask = compute_mask(s, "topk", 0.3)
    order = s.abs().argsort(descending=True)  # the sort-based rule
    expected = torch.zeros(1000, dtype=torch.bool)
    expected[order[:300]] = True
    assert torch.equal(mask, expected)


def test_unknown_rule_and_bad_density():
    with pytest.raises(ValueError, match="unknown mask rule 'median'"):
        compute_mask(torch.zeros(3), "median")
    with pytest.raises(ValueError, match="density must be in"):
        kept_count(10, 1.5)


def test_masked_weight_forward_is_weight_times_mask():
    s = torch.tensor([[-1.0, 0.0], [2.0, -0.5]])
    w = torch.tensor([[0.5, -0.5], [-0.5, 0.5]])
    out = masked_weight(s, w, "threshold", 0.5)
    assert out.tolist() == [[0.0, -0.5], [-0.5, 0.0]]


def test_threshold_gradient_is_straight_through_times_weight():
    s = torch.tensor([[-1.0, 0.0], [2.0, -0.5]], requires_grad=True)
    w = torch.tensor([[0.5, -0.5], [-0.5, 0.5]])
    upstream = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    (masked_weight(s, w, "threshold", 0.5) * upstream).sum().backward()
    # dL/ds = dL/dW_eff * W, also where the mask is 0 (straight-through)
    assert s.grad.tolist() == [[0.5, -1.0], [-1.5, 2.0]]


def test_topk_gradient_carries_sign_of_scores():
    s = torch.tensor([-2.0, 1.0, -0.1, 3.0], requires_grad=True)
    w = torch.tensor([1.0, 1.0, -1.0, -1.0])
    masked_weight(s, w, "topk", 0.5).sum().backward()
    assert s.grad.tolist() == [-1.0, 1.0, 1.0, -1.0]


@pytest.mark.parametrize("shape", [(1,), (7,), (8,), (9,), (300, 784), (3, 5, 3, 3)])
def test_pack_round_trip(shape):
    mask = torch.rand(shape, generator=torch.Generator().manual_seed(2)) > 0.5
    packed = pack_mask(mask)
    assert packed.dtype == torch.uint8
    assert packed.numel() == math.ceil(mask.numel() / 8)  # one bit per weight
    assert torch.equal(unpack_mask(packed, shape), mask)


def test_pack_bit_order_by_hand():
    mask = torch.tensor([True, False, False, False, False, False, False, True, True])
    assert pack_mask(mask).tolist() == [0b10000001, 0b10000000]


def test_unpack_rejects_wrong_size():
    with pytest.raises(ValueError, match="cannot hold"):
        unpack_mask(torch.zeros(2, dtype=torch.uint8), (30,))


def test_layer_budget_by_hand():
    # d (c_out + c_in) / (c_out c_in kh kw) = 8 * (64 + 32) / (64 * 32 * 9) = 0.041666...
    assert layer_budget(8, 64, 32, 3, 3) == pytest.approx(768 / 18432)
    assert layer_budget(1000, 4, 4) == 0.5


@pytest.mark.parametrize("rule", ["threshold", "topk"])
def test_fused_masked_linear_matches_the_composed_ops(rule):
    from supermasks.models.masks import masked_linear

    g = torch.Generator().manual_seed(4)
    x = torch.randn(5, 7, generator=g, requires_grad=True)
    s1 = torch.randn(3, 7, generator=g, requires_grad=True)
    s2 = s1.detach().clone().requires_grad_(True)
    x2 = x.detach().clone().requires_grad_(True)
    w = torch.sign(torch.randn(3, 7, generator=g))
    upstream = torch.randn(5, 3, generator=g)
    y1 = masked_linear(x, s1, w, rule, 0.4)
    y2 = torch.nn.functional.linear(x2, masked_weight(s2, w, rule, 0.4))
    assert torch.allclose(y1, y2)
    (y1 * upstream).sum().backward()
    (y2 * upstream).sum().backward()
    assert torch.allclose(s1.grad, s2.grad) and torch.allclose(x.grad, x2.grad)


def test_threshold_distance_by_hand():
    scores = torch.tensor([[-0.5, 0.2], [0.0, 0.9]])
    assert torch.equal(threshold_distance(scores, "threshold"), scores.abs())
    # top-k keeps 2 of 4 (|s| 0.9, 0.5): tau = 0.5, the 2nd largest |s|
    expected = torch.tensor([[0.0, 0.3], [0.5, 0.4]])
    assert torch.allclose(threshold_distance(scores, "topk", 0.5), expected)
    # nothing kept: the edge is the largest |s|
    assert torch.allclose(threshold_distance(scores, "topk", 0.1), torch.tensor([[0.4, 0.7], [0.9, 0.0]]))
    with pytest.raises(ValueError, match="unknown mask rule 'x'"):
        threshold_distance(scores, "x")


@pytest.mark.parametrize("density", [0.1, 0.5])
def test_topk_mask_edge_is_where_the_distance_is_smallest(density):
    scores = torch.randn(40, 30, generator=torch.Generator().manual_seed(0))
    mask, distance = compute_mask(scores, "topk", density), threshold_distance(scores, "topk", density)
    # the kept weight with the smallest |s| sits on the edge; every kept |s| is tau + distance, every dropped tau - distance
    tau = scores.abs()[mask].min()
    assert distance[mask].min() == 0
    assert torch.allclose(scores.abs()[mask], tau + distance[mask], atol=1e-6)
    assert torch.allclose(scores.abs()[~mask], tau - distance[~mask], atol=1e-6)
