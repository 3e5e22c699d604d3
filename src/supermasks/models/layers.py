"""Masked linear and conv layers over fixed signed-constant weights, and per-task BatchNorm."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from supermasks.models.masks import MASK_RULES, MaskWorkspace, compute_mask, masked_linear, masked_weight


def signed_constant(shape: tuple[int, ...], fan_in: int, generator: torch.Generator) -> torch.Tensor:
    """`sign(W0) * sqrt(2 / fan_in)` with `W0` the default uniform init (ALGORITHMS.md section 1)."""
    bound = 1.0 / math.sqrt(fan_in)
    w0 = torch.empty(shape).uniform_(-bound, bound, generator=generator)
    return torch.sign(w0) * math.sqrt(2.0 / fan_in)


def score_init(shape: tuple[int, ...], fan_in: int, generator: torch.Generator) -> torch.Tensor:
    """Kaiming-uniform scores `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, as SupSup initialises them."""
    bound = 1.0 / math.sqrt(fan_in)
    return torch.empty(shape).uniform_(-bound, bound, generator=generator)


class _MaskedBase(nn.Module):
    """Shared state of masked layers: fixed weight, one score tensor per task, the active task."""

    def __init__(self, shape: tuple[int, ...], fan_in: int, rule: str, density: float,
                 generator: torch.Generator) -> None:
        super().__init__()
        if rule not in MASK_RULES:
            raise ValueError(f"unknown mask rule {rule!r}; choose one of {', '.join(MASK_RULES)}")
        if not 0.0 < density <= 1.0:
            raise ValueError(f"density must be in (0, 1], got {density}")
        self.rule = rule
        self.density = density
        self.fan_in = fan_in
        # The weight never trains; a Parameter with requires_grad=False keeps it in state_dict
        # and visible to `freeze_weights`, without an optimiser ever touching it.
        self.weight = nn.Parameter(signed_constant(shape, fan_in, generator), requires_grad=False)
        self.scores = nn.ParameterList()
        self.task_id = 0
        # Optional replacement for `W * M_t` (e.g. a superposition of several tasks' masks during
        # task inference); None means the active task's own mask.
        self.injected_weight: Callable[[], torch.Tensor] | None = None

    def add_scores(self, generator: torch.Generator, init: torch.Tensor | None = None) -> int:
        """Append a score tensor for a new task (random init unless `init` is given)."""
        value = score_init(tuple(self.weight.shape), self.fan_in, generator) if init is None else init.clone()
        if value.shape != self.weight.shape:
            raise ValueError(f"scores of shape {tuple(value.shape)} for a weight of {tuple(self.weight.shape)}")
        self.scores.append(nn.Parameter(value))
        return len(self.scores) - 1

    def _check_task(self) -> None:
        if not 0 <= self.task_id < len(self.scores):
            raise IndexError(f"task {self.task_id} has no scores in this layer ({len(self.scores)} tasks)")

    def effective_weight(self) -> torch.Tensor:
        """`W * M_t` for the active task t, differentiable with respect to its scores."""
        if self.injected_weight is not None:
            return self.injected_weight()
        self._check_task()
        return masked_weight(self.scores[self.task_id], self.weight, self.rule, self.density)

    def mask(self, task_id: int) -> torch.Tensor:
        """The binary mask (bool) of `task_id`."""
        return compute_mask(self.scores[task_id].detach(), self.rule, self.density)

    def extra_repr(self) -> str:
        return f"shape={tuple(self.weight.shape)}, rule={self.rule}, density={self.density}, tasks={len(self.scores)}"


class MaskedLinear(_MaskedBase):
    """`y = x @ (W * M_t).T` for the active task t; no bias."""

    def __init__(self, in_features: int, out_features: int, *, rule: str = "threshold",
                 density: float = 0.5, generator: torch.Generator) -> None:
        super().__init__((out_features, in_features), in_features, rule, density, generator)
        self.workspace = MaskWorkspace()  # W * M reused from step to step

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, in) -> (batch, out)
        if self.injected_weight is not None:
            return x.matmul(self.injected_weight().t())
        self._check_task()
        return masked_linear(x, self.scores[self.task_id], self.weight, self.rule, self.density, self.workspace)


class MaskedConv2d(_MaskedBase):
    """2-D convolution with weight `W * M_t` for the active task t; no bias."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1,
                 padding: int = 0, rule: str = "threshold", density: float = 0.5,
                 generator: torch.Generator) -> None:
        fan_in = in_channels * kernel_size * kernel_size
        super().__init__((out_channels, in_channels, kernel_size, kernel_size), fan_in, rule, density, generator)
        self.stride = stride
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, c_in, h, w) -> (batch, c_out, h', w')
        return F.conv2d(x, self.effective_weight(), stride=self.stride, padding=self.padding)


class PerTaskBatchNorm(nn.Module):
    """Non-affine BatchNorm with one set of running statistics per task (they are task state)."""

    def __init__(self, num_features: int, *, dims: int = 1) -> None:
        super().__init__()
        if dims not in (1, 2):
            raise ValueError(f"dims must be 1 (features) or 2 (images), got {dims}")
        self.num_features = num_features
        self.dims = dims
        self.norms = nn.ModuleList()
        self.task_id = 0

    def add_task(self) -> int:
        cls = nn.BatchNorm1d if self.dims == 1 else nn.BatchNorm2d
        self.norms.append(cls(self.num_features, affine=False))
        return len(self.norms) - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norms[self.task_id](x)

    def running_mean(self, task_id: int) -> torch.Tensor:
        """The task's signature for this layer: its BN running mean."""
        return self.norms[task_id].running_mean.detach().clone()
