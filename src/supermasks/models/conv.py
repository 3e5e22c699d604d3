"""A LeNet-5-style convolutional network for 1x28x28 images, from any `LayerKit`.

LeCun, Bottou, Bengio and Haffner, "Gradient-based learning applied to document recognition"
(1998). Ours keeps its shape (two 5x5 convolutions with 6 and 16 maps, each followed by 2x2
subsampling, then fully connected layers of 120 and 84 units and the output) and differs in:
a 28x28 input with conv1 padded by 2 (LeCun padded the digits to 32x32 instead: same maps),
ReLU instead of the scaled tanh, max-pooling instead of trainable average subsampling, C3 fully
connected to S2 (not LeCun's sparse connection table), no biases, and a linear output layer
(not Euclidean RBF units). With a masked kit every conv and fc layer is masked; per-task
BatchNorm after each hidden layer is optional, as in the MLPs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from supermasks.models.kits import LayerKit


class LeNet5(nn.Module):
    """conv1 5x5 -> 6, ReLU, max-pool 2, conv2 5x5 -> 16, ReLU, max-pool 2, fc1 120, fc2 84, fc3 output.

    `output_size=None` stops after fc2 (a trunk of `feature_size` = 84 features, for per-task heads).
    """

    def __init__(self, kit: LayerKit, output_size: int | None, *, batch_norm: bool = False) -> None:
        super().__init__()
        self.conv1 = kit.conv(1, 6, 5, padding=2)       # (b, 6, 28, 28), pooled to 14x14
        self.bn1 = kit.norm(6, dims=2) if batch_norm else None
        self.conv2 = kit.conv(6, 16, 5)                 # (b, 16, 10, 10), pooled to 5x5
        self.bn2 = kit.norm(16, dims=2) if batch_norm else None
        self.fc1 = kit.linear(16 * 5 * 5, 120)
        self.bn3 = kit.norm(120, dims=1) if batch_norm else None
        self.fc2 = kit.linear(120, 84)
        self.bn4 = kit.norm(84, dims=1) if batch_norm else None
        self.fc3 = kit.linear(84, output_size) if output_size is not None else None
        self.feature_size = 84

    @staticmethod
    def _norm(bn: nn.Module | None, h: torch.Tensor) -> torch.Tensor:
        return h if bn is None else bn(h)

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (batch, 1, 28, 28) -> (batch, 84)
        h = F.max_pool2d(torch.relu(self._norm(self.bn1, self.conv1(x))), 2)  # (batch, 6, 14, 14)
        h = F.max_pool2d(torch.relu(self._norm(self.bn2, self.conv2(h))), 2)  # (batch, 16, 5, 5)
        h = torch.relu(self._norm(self.bn3, self.fc1(h.flatten(1))))          # (batch, 120)
        return torch.relu(self._norm(self.bn4, self.fc2(h)))                  # (batch, 84)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, 1, 28, 28) -> (batch, out)
        h = self.features(x)
        return h if self.fc3 is None else self.fc3(h)


__all__ = ["LeNet5"]
