"""A whole image data set held in memory: uint8 images and int64 labels, train and test, checked on creation."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .transforms import MNIST_NORMALIZATION, Normalization


@dataclass(frozen=True)
class Dataset:
    """A whole image data set: uint8 images and int64 labels, train and test.

    Grey images are (N, H, W), colour images channels first (N, C, H, W); `normalization`
    holds one mean and std per channel (one for grey images), applied per batch by the tasks.
    """

    name: str
    x_train: torch.Tensor  # (N, H, W) or (N, C, H, W) uint8
    y_train: torch.Tensor  # (N,) int64
    x_test: torch.Tensor  # (M, H, W) or (M, C, H, W) uint8
    y_test: torch.Tensor  # (M,) int64
    num_classes: int
    is_subset: bool  # True when it is a sample of a larger data set: say so in every output
    description: str
    normalization: Normalization = MNIST_NORMALIZATION

    def __post_init__(self) -> None:
        for x, y in ((self.x_train, self.y_train), (self.x_test, self.y_test)):
            if x.dtype != torch.uint8 or x.dim() not in (3, 4):
                raise ValueError(
                    f"{self.name}: images must be uint8 (N, H, W) or (N, C, H, W), got {x.dtype} {tuple(x.shape)}"
                )
            channels = x.shape[1] if x.dim() == 4 else 1
            if channels != self.normalization.channels:
                raise ValueError(f"{self.name}: {channels}-channel images, but a {self.normalization.channels}-"
                                 "channel normalisation")
            if y.dtype != torch.int64 or y.dim() != 1 or len(y) != len(x):
                raise ValueError(f"{self.name}: labels must be int64 (N,) matching the images")
