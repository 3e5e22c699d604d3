"""A ReLU MLP of masked linear layers over flattened images (FC 784-300-300-10, LeNet-300-100, ...)."""

from __future__ import annotations

import torch
from torch import nn

from supermasks.models import low_mlp
from supermasks.models.layers import MaskedLinear, PerTaskBatchNorm


class MaskedMLP(nn.Module):
    """A ReLU MLP of masked linear layers `fc1..fcL`, optional per-task non-affine BN after each hidden layer."""

    def __init__(self, sizes: tuple[int, ...], *, rule: str, density: float, batch_norm: bool,
                 generator: torch.Generator) -> None:
        super().__init__()
        self.layer_names: list[str] = []
        self.norm_names: list[str | None] = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            name = f"fc{i}"
            setattr(self, name, MaskedLinear(fan_in, fan_out, rule=rule, density=density, generator=generator))
            self.layer_names.append(name)
            hidden = i < len(sizes) - 1
            if batch_norm and hidden:
                setattr(self, f"bn{i}", PerTaskBatchNorm(fan_out))
            self.norm_names.append(f"bn{i}" if batch_norm and hidden else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, 1, 28, 28) -> (batch, out)
        h = x.flatten(1)
        layers = [getattr(self, name) for name in self.layer_names]
        if low_mlp.applies(layers, self.norm_names):  # bfloat16 products: the whole MLP as one function
            return low_mlp.low_mlp(h, layers)
        last = len(self.layer_names) - 1
        for i, (name, norm) in enumerate(zip(self.layer_names, self.norm_names)):
            h = getattr(self, name)(h)
            if norm is not None:
                h = getattr(self, norm)(h)
            if i < last:
                h = torch.relu(h)
        return h


__all__ = ["MaskedMLP"]
