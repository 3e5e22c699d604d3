"""`density_budget`: the same top-k density in every layer, or the layer-wise ER budget (kept counts by hand)."""

from __future__ import annotations

import pytest
import torch

from supermasks.config import ConfigError, load_config
from supermasks.models import add_task, build_model, layer_density, masked_layers


def _kept(model) -> dict[str, int]:
    add_task(model, torch.Generator().manual_seed(5))
    return {name: int(m.mask(0).sum()) for name, m in masked_layers(model).items()}


def test_er_budget_keeps_d_times_fan_in_plus_fan_out_per_layer():
    # ER: k_l = min(0.5, d (c_out + c_in) / (c_out c_in kh kw)) of the layer's c_out c_in kh kw weights,
    # i.e. d (c_out + c_in) weights where under the 0.5 cap. LeNet-5 with d = 2:
    #   conv1 (6, 1, 5, 5): 2 * 7 = 14 of 150      conv2 (16, 6, 5, 5): 2 * 22 = 44 of 2400
    #   fc1 (120, 400): 2 * 520 = 1040 of 48000    fc2 (84, 120): 2 * 204 = 408 of 10080
    #   fc3 (10, 84): 2 * 94 = 188 of 840
    model = build_model("lenet5", output_size=10, rule="topk", density=2.0, density_budget="er", seed=0)
    assert _kept(model) == {"conv1": 14, "conv2": 44, "fc1": 1040, "fc2": 408, "fc3": 188}


def test_er_budget_caps_each_layer_at_half_its_weights():
    # d = 10: conv1 would keep 70 of 150 (< 75), fc3 940 of 840: capped at 420; conv2 220 of 2400.
    model = build_model("lenet5", output_size=10, rule="topk", density=10.0, density_budget="er", seed=0)
    assert _kept(model) == {"conv1": 70, "conv2": 220, "fc1": 5200, "fc2": 2040, "fc3": 420}


def test_global_budget_keeps_the_same_fraction_everywhere():
    model = build_model("lenet5", output_size=10, rule="topk", density=0.1, seed=0)
    assert _kept(model) == {"conv1": 15, "conv2": 240, "fc1": 4800, "fc2": 1008, "fc3": 84}


def test_layer_density_reads_linear_and_conv_shapes():
    assert layer_density(0.3, "global", (16, 6, 5, 5)) == 0.3
    assert layer_density(1.0, "er", (300, 784)) == pytest.approx((300 + 784) / (300 * 784))
    assert layer_density(1.0, "er", (40, 20, 3, 3)) == pytest.approx(60 / (40 * 20 * 9))
    with pytest.raises(ValueError, match="unknown density budget 'uniform'"):
        layer_density(0.3, "uniform", (3, 3))


def test_er_refused_with_the_threshold_rule():
    with pytest.raises(ValueError, match="density_budget 'er' sets each layer's top-k density"):
        build_model("lenet5", rule="threshold", density_budget="er")
    with pytest.raises(ConfigError, match="density_budget"):
        load_config(None, ["model.density_budget=er"])  # mask_rule threshold: the setting does nothing


def test_config_takes_an_er_scale_above_one_but_a_global_density_only_up_to_one():
    config = load_config(None, ["model.mask_rule=topk", "model.density=8", "model.density_budget=er"])
    assert (config.model.density, config.model.density_budget) == (8, "er")
    assert load_config(None, ["model.mask_rule=topk", "model.density=0.2"]).model.density_budget == "global"
    with pytest.raises(ConfigError, match="density must be in"):
        load_config(None, ["model.mask_rule=topk", "model.density=8"])


def test_topk_on_a_4d_conv_weight_equals_the_sort_based_rule():
    from supermasks.models import compute_mask, kept_count

    scores = torch.randn(16, 6, 5, 5, generator=torch.Generator().manual_seed(7))
    mask = compute_mask(scores, "topk", 0.13)
    k = kept_count(scores.numel(), 0.13)
    reference = torch.zeros(scores.numel(), dtype=torch.bool)
    reference[torch.sort(scores.abs().flatten(), descending=True).indices[:k]] = True
    assert mask.shape == scores.shape and torch.equal(mask.flatten(), reference)


def test_memory_estimate_counts_the_conv_net_s_weights():
    from supermasks.runner.checks import estimate_memory
    from supermasks.models import weight_count

    base = ["method=naive", "data.num_tasks=2"]
    mlp = estimate_memory(load_config(None, [*base, "model.arch=fc-300-300"]), 1000, 784)
    conv = estimate_memory(load_config(None, [*base, "model.arch=lenet5"]), 1000, 784)
    # the same data and method: the difference is the network's four float32 copies of its weights
    assert mlp - conv == 16 * (weight_count("fc-300-300", 10) - weight_count("lenet5", 10))
