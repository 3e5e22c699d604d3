"""Whole-tensor image transforms: normalisation, pixel permutation and rotation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

# MNIST's pixel mean and standard deviation (on the 0..1 scale): the usual normalisation
# for the MNIST family. Every benchmark uses these two numbers and nothing else.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


@dataclass(frozen=True)
class Normalization:
    """Per-channel mean and standard deviation on the 0..1 scale: x -> (x / 255 - mean) / std."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.mean or len(self.mean) != len(self.std):
            raise ValueError(f"one mean and one std per channel, got {self.mean} and {self.std}")
        if min(self.std) <= 0:
            raise ValueError(f"standard deviations must be positive, got {self.std}")

    @property
    def channels(self) -> int:
        return len(self.mean)


MNIST_NORMALIZATION = Normalization((MNIST_MEAN,), (MNIST_STD,))
# The CIFAR-100 training set's pixel mean and standard deviation per channel (R, G, B), as
# computed over its 50,000 images (0.50708, 0.48655, 0.44092; 0.26733, 0.25644, 0.27615) and
# widely published rounded to four digits (Krizhevsky 2009 data; the common CIFAR-100 recipes).
CIFAR100_NORMALIZATION = Normalization((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))
# ImageNet (ILSVRC-2012) training set, per channel (R, G, B): the standard figures of the
# ImageNet recipes (torchvision's reference training scripts among them).
IMAGENET_NORMALIZATION = Normalization((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def normalize(images: torch.Tensor, norm: Normalization = MNIST_NORMALIZATION) -> torch.Tensor:
    """uint8 (N, H, W) -> float32 (N, 1, H, W), or (N, C, H, W) -> (N, C, H, W): (x / 255 - mean) / std.

    The three steps run in place on one new float tensor: the same operations, in the same
    order, so the same bits as computing them out of place, without two temporaries. A grey
    (N, H, W) set subtracts and divides by Python numbers (the arithmetic every MNIST-family
    result was computed with); a colour set by one float32 number per channel.
    """
    out = images.to(torch.float32, copy=True)
    if images.dim() == 3:
        if norm.channels != 1:
            raise ValueError(f"grey (N, H, W) images need a one-channel normalisation, got {norm.channels} channels")
        return out.div_(255.0).sub_(norm.mean[0]).div_(norm.std[0]).unsqueeze(1)
    if images.dim() != 4 or images.shape[1] != norm.channels:
        raise ValueError(f"images (N, {norm.channels}, H, W) expected for a {norm.channels}-channel normalisation, "
                         f"got {tuple(images.shape)}")
    mean = torch.tensor(norm.mean, dtype=torch.float32, device=images.device).view(-1, 1, 1)
    std = torch.tensor(norm.std, dtype=torch.float32, device=images.device).view(-1, 1, 1)
    return out.div_(255.0).sub_(mean).div_(std)


def permute_pixels(images: torch.Tensor, perm: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Reorder the H*W pixels of every image: output pixel k is input pixel perm[k]."""
    n, h, w = images.shape
    index = torch.as_tensor(np.asarray(perm), dtype=torch.long)
    if sorted(index.tolist()) != list(range(h * w)):
        raise ValueError(f"perm must be a permutation of range({h * w})")
    return images.reshape(n, h * w)[:, index].reshape(n, h, w)


def rotation_index(height: int, width: int, degrees: float) -> torch.Tensor:
    """For each output pixel (row-major), 1 + the input pixel it copies, or 0 when outside.

    Positive angles turn the picture counter-clockwise as displayed (row 0 at the top), the
    direction of torch.rot90(x, 1, dims=(-2, -1)); 90 degrees reproduces rot90 exactly.
    Sampling is nearest-neighbour about the image centre with no expansion, computed once by
    resampling an image of pixel numbers, so it can then be applied to any batch by indexing.
    """
    angle = math.radians(degrees)
    # Rounded so that multiples of 90 degrees give exact 0 / +-1 entries.
    cos, sin = round(math.cos(angle), 12), round(math.sin(angle), 12)
    # affine_grid maps each output location (x right, y down, both in [-1, 1]) to the input
    # location it reads. A counter-clockwise turn on screen reads from the clockwise-rotated
    # position, which in y-down coordinates is this matrix.
    theta = torch.tensor([[cos, -sin, 0.0], [sin, cos, 0.0]], dtype=torch.float64).unsqueeze(0)
    # align_corners=False puts pixel centres at (2k + 1) / size - 1, so a quarter turn of a
    # square image lands exactly on pixel centres.
    grid = F.affine_grid(theta, [1, 1, height, width], align_corners=False)
    numbers = torch.arange(1, height * width + 1, dtype=torch.float64).reshape(1, 1, height, width)
    sampled = F.grid_sample(
        numbers, grid, mode="nearest", padding_mode="zeros", align_corners=False
    )
    return sampled.round().long().reshape(-1)


def rotate(images: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotate every image in (N, H, W) by `degrees` (counter-clockwise); uncovered pixels get 0."""
    n, h, w = images.shape
    index = rotation_index(h, w, degrees)
    # Column 0 is the black fill that out-of-image positions (index 0) read.
    padded = torch.cat([images.new_zeros(n, 1), images.reshape(n, h * w)], dim=1)
    return padded[:, index].reshape(n, h, w)
