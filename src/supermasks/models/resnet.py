"""ResNet-18 (reduced, for 32x32 images) and ResNet-50 (ImageNet) from any `LayerKit`.

He, Zhang, Ren and Sun, "Deep residual learning for image recognition" (CVPR 2016). As in
SupSup's SplitCIFAR100 and SplitImageNet runs (Wortsman et al. 2020): every convolution is
followed by BatchNorm (per task and non-affine with the masked kit), there are no biases, and
the classifier after global average pooling is a 1x1 convolution (`fc`), masked like the rest.

- `resnet18`: 20 base filters (20/40/80/160 per stage, the reduced ResNet-18 of Lopez-Paz and
  Ranzato's GEM, used by SupSup on SplitCIFAR100), basic blocks 2-2-2-2, a 3x3 stride-1 stem
  without max-pooling (for 32x32 images).
- `resnet50`: bottleneck blocks 3-4-6-3, base width 64, expansion 4 (2048 features), the
  ImageNet stem (7x7 stride 2, max-pool 3x3 stride 2); the stride of a stage sits on its first
  block's 3x3 convolution.
A block whose input and output shapes differ adds a 1x1 strided projection (`shortcut_conv`,
`shortcut_bn`) to its shortcut. Layer names: `conv1`, `bn1`, `layer<s>.<b>.conv<i>`,
`layer<s>.<b>.bn<i>`, `layer<s>.<b>.shortcut_conv`, `fc`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from supermasks.models.kits import LayerKit


class BasicBlock(nn.Module):
    """3x3 conv, BN, ReLU, 3x3 conv, BN, plus the shortcut, ReLU."""

    expansion = 1

    def __init__(self, kit: LayerKit, c_in: int, width: int, stride: int) -> None:
        super().__init__()
        self.conv1 = kit.conv(c_in, width, 3, stride=stride, padding=1)
        self.bn1 = kit.norm(width, dims=2)
        self.conv2 = kit.conv(width, width, 3, padding=1)
        self.bn2 = kit.norm(width, dims=2)
        self.shortcut_conv, self.shortcut_bn = _projection(kit, c_in, width, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (b, c_in, h, w) -> (b, width, h/s, w/s)
        h = torch.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return torch.relu(h + _shortcut(self, x))


class Bottleneck(nn.Module):
    """1x1 conv, BN, ReLU, 3x3 conv (stride), BN, ReLU, 1x1 conv to 4x width, BN, plus the shortcut, ReLU."""

    expansion = 4

    def __init__(self, kit: LayerKit, c_in: int, width: int, stride: int) -> None:
        super().__init__()
        self.conv1 = kit.conv(c_in, width, 1)
        self.bn1 = kit.norm(width, dims=2)
        self.conv2 = kit.conv(width, width, 3, stride=stride, padding=1)
        self.bn2 = kit.norm(width, dims=2)
        self.conv3 = kit.conv(width, width * 4, 1)
        self.bn3 = kit.norm(width * 4, dims=2)
        self.shortcut_conv, self.shortcut_bn = _projection(kit, c_in, width * 4, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (b, c_in, h, w) -> (b, 4 width, h/s, w/s)
        h = torch.relu(self.bn1(self.conv1(x)))
        h = torch.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        return torch.relu(h + _shortcut(self, x))


def _projection(kit: LayerKit, c_in: int, c_out: int, stride: int) -> tuple[nn.Module | None, nn.Module | None]:
    """A 1x1 strided conv and its BN where the shortcut must change shape, else (None, None)."""
    if stride == 1 and c_in == c_out:
        return None, None
    return kit.conv(c_in, c_out, 1, stride=stride), kit.norm(c_out, dims=2)


def _shortcut(block: BasicBlock | Bottleneck, x: torch.Tensor) -> torch.Tensor:
    if block.shortcut_conv is None:
        return x
    assert block.shortcut_bn is not None
    return block.shortcut_bn(block.shortcut_conv(x))


class ResNet(nn.Module):
    """A stem, four stages of residual blocks, global average pooling, and a 1x1 conv classifier `fc`.

    `output_size=None` stops after pooling (a trunk of `feature_size` features, for per-task heads).
    """

    def __init__(self, kit: LayerKit, output_size: int | None, *, block: type[BasicBlock] | type[Bottleneck],
                 blocks: tuple[int, int, int, int], base_width: int, imagenet_stem: bool,
                 in_channels: int = 3) -> None:
        super().__init__()
        self.imagenet_stem = imagenet_stem
        if imagenet_stem:
            self.conv1 = kit.conv(in_channels, base_width, 7, stride=2, padding=3)
        else:
            self.conv1 = kit.conv(in_channels, base_width, 3, padding=1)
        self.bn1 = kit.norm(base_width, dims=2)
        c_in = base_width
        for stage, count in enumerate(blocks, start=1):
            width = base_width * 2 ** (stage - 1)
            layers = []
            for b in range(count):
                layers.append(block(kit, c_in, width, 2 if stage > 1 and b == 0 else 1))
                c_in = width * block.expansion
            setattr(self, f"layer{stage}", nn.Sequential(*layers))
        self.feature_size = c_in
        self.fc = kit.conv(c_in, output_size, 1) if output_size is not None else None

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (batch, c, h, w) -> (batch, feature_size)
        h = torch.relu(self.bn1(self.conv1(x)))
        if self.imagenet_stem:
            h = F.max_pool2d(h, 3, stride=2, padding=1)
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            h = stage(h)
        return F.adaptive_avg_pool2d(h, 1).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, c, h, w) -> (batch, out)
        h = self.features(x)
        if self.fc is None:
            return h
        return self.fc(h[:, :, None, None]).flatten(1)  # the 1x1 conv on the pooled (batch, c, 1, 1) map


def resnet18(kit: LayerKit, output_size: int | None) -> ResNet:
    """The reduced ResNet-18 of SupSup's SplitCIFAR100: 20 base filters, basic blocks 2-2-2-2, 3x3 stem."""
    return ResNet(kit, output_size, block=BasicBlock, blocks=(2, 2, 2, 2), base_width=20, imagenet_stem=False)


def resnet50(kit: LayerKit, output_size: int | None) -> ResNet:
    """ResNet-50: bottleneck blocks 3-4-6-3, base width 64, expansion 4, the 7x7/2 + max-pool ImageNet stem."""
    return ResNet(kit, output_size, block=Bottleneck, blocks=(3, 4, 6, 3), base_width=64, imagenet_stem=True)


__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet18", "resnet50"]
