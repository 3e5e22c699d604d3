"""Layer factories that let one network definition build masked, dense or shape-only layers.

A network class asks its kit for `conv`, `linear` and `norm` layers; the masked kit gives
`MaskedConv2d` / `MaskedLinear` over signed-constant weights with per-task non-affine
`PerTaskBatchNorm`, the dense kit ordinary trainable layers with affine BatchNorm (the dense
twins of the baselines), the BatchE kit shared weights with per-task rank-one factors and
per-task BatchNorm (`models/batche.py`), and the shape kit records weight shapes without
allocating them (weight counts for memory estimates).
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from supermasks.models.batche import BatchEConv2d, BatchELinear
from supermasks.models.layers import MaskedConv2d, MaskedLinear, PerTaskBatchNorm


class LayerKit(Protocol):
    """What a network definition asks for; each call builds one layer (in forward order)."""

    def conv(self, c_in: int, c_out: int, kernel: int, *, stride: int = 1, padding: int = 0) -> nn.Module: ...

    def linear(self, fan_in: int, fan_out: int) -> nn.Module: ...

    def norm(self, features: int, *, dims: int) -> nn.Module: ...


class MaskedKit:
    """Masked layers (no bias) whose fixed weights come, in build order, from `generator`."""

    def __init__(self, *, rule: str, density: float, generator: torch.Generator) -> None:
        self.rule = rule
        self.density = density
        self.generator = generator

    def conv(self, c_in: int, c_out: int, kernel: int, *, stride: int = 1, padding: int = 0) -> nn.Module:
        return MaskedConv2d(c_in, c_out, kernel, stride=stride, padding=padding, rule=self.rule,
                            density=self.density, generator=self.generator)

    def linear(self, fan_in: int, fan_out: int) -> nn.Module:
        return MaskedLinear(fan_in, fan_out, rule=self.rule, density=self.density, generator=self.generator)

    def norm(self, features: int, *, dims: int) -> nn.Module:
        return PerTaskBatchNorm(features, dims=dims)


class DenseKit:
    """Ordinary trainable layers (PyTorch's default init): conv without bias, linear with bias, affine BN."""

    def conv(self, c_in: int, c_out: int, kernel: int, *, stride: int = 1, padding: int = 0) -> nn.Module:
        return nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False)

    def linear(self, fan_in: int, fan_out: int) -> nn.Module:
        return nn.Linear(fan_in, fan_out)

    def norm(self, features: int, *, dims: int) -> nn.Module:
        return nn.BatchNorm1d(features) if dims == 1 else nn.BatchNorm2d(features)


class BatchEKit:
    """BatchE layers holding task 0 (r = s = 1): conv without bias, linear with a per-task bias, per-task BN.

    Weights take PyTorch's default init in the caller's RNG state (the dense kit's draws, in the
    same order). BN is non-affine with statistics per task: BN statistics shared by all tasks would
    move with every later task and change earlier tasks' outputs.
    """

    def conv(self, c_in: int, c_out: int, kernel: int, *, stride: int = 1, padding: int = 0) -> nn.Module:
        return BatchEConv2d(c_in, c_out, kernel, stride=stride, padding=padding)

    def linear(self, fan_in: int, fan_out: int) -> nn.Module:
        return BatchELinear(fan_in, fan_out)

    def norm(self, features: int, *, dims: int) -> nn.Module:
        norm = PerTaskBatchNorm(features, dims=dims)
        norm.add_task()  # task 0, as the BatchE layers have it from the start
        return norm


class WeightShape(nn.Module):
    """Stands for a conv or linear layer whose weight would have `shape` (the shape kit's layers)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape


class ShapeKit:
    """Placeholders that only record each conv/linear weight shape (nothing allocated, nothing drawn)."""

    def conv(self, c_in: int, c_out: int, kernel: int, *, stride: int = 1, padding: int = 0) -> nn.Module:
        return WeightShape((c_out, c_in, kernel, kernel))

    def linear(self, fan_in: int, fan_out: int) -> nn.Module:
        return WeightShape((fan_out, fan_in))

    def norm(self, features: int, *, dims: int) -> nn.Module:
        return nn.Identity()


__all__ = ["BatchEKit", "DenseKit", "LayerKit", "MaskedKit", "ShapeKit", "WeightShape"]
