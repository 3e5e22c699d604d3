"""Whole-tensor image transforms: normalisation, pixel permutation and rotation."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

# MNIST's pixel mean and standard deviation (on the 0..1 scale): the usual normalisation
# for the MNIST family. Every benchmark uses these two numbers and nothing else.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W) -> float32 (N, 1, H, W) computed as (x / 255 - mean) / std.

    The three steps run in place on one new float tensor: the same operations, in the same
    order, so the same bits as computing them out of place, without two temporaries.
    """
    out = images.to(torch.float32, copy=True)
    return out.div_(255.0).sub_(MNIST_MEAN).div_(MNIST_STD).unsqueeze(1)


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
