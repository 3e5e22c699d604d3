"""Training-batch augmentation declared by a task: random crop with zero padding and horizontal flip.

A task that wants its training images augmented carries an `Augment` (`Task.augment`); the
methods draw their training batches through `training.iterate_batches`, which hands each batch
to it with the batch's step number. Test images are never augmented: evaluation reads
`Task.x_test` directly.

Every step draws from its own generator, seeded by `seeds.Streams.augment(task_id, step)`, not
from a stream whose position would depend on everything drawn before: a task's batches are the
same trained straight through, after a resume, or apart from the other tasks. The draws are
made on the CPU and the indices moved to the images' device, so CPU and GPU runs see the same
crops.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import torch

from supermasks.seeds import streams

from .images import Images
from .transforms import MNIST_NORMALIZATION, Normalization, normalize


class Augment(Protocol):
    """Makes training batch `step` of a task from its images and the positions the batch draws."""

    def __call__(self, images: Images, index: torch.Tensor, step: int) -> torch.Tensor: ...


def black(norm: Normalization) -> torch.Tensor:
    """The normalised value of a black (raw 0) pixel per channel, float32 (C,): what zero padding
    before normalisation puts into the padded border, computed by `normalize` itself."""
    raw = torch.zeros((1, 1, 1) if norm.channels == 1 else (1, norm.channels, 1, 1), dtype=torch.uint8)
    return normalize(raw, norm).reshape(norm.channels)


def crop_flip(batch: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, padding: int,
              fill: torch.Tensor) -> torch.Tensor:
    """Crop every image of `batch` (B, C, H, W) from its zero-padded copy and mirror some, in one gather.

    Image b is padded by `padding` pixels of value `fill[c]` on each side, the H x W window whose
    top-left corner is (offsets[b, 0], offsets[b, 1]) (0 .. 2 * padding) is kept, and it is
    mirrored left-right where flips[b]. Equal, value for value, to doing so image by image
    (torchvision's RandomCrop(padding) then RandomHorizontalFlip), without a per-image loop:
    the batch is padded once, and each output pixel reads one pixel of its padded image.
    """
    b, c, h, w = batch.shape
    device = batch.device
    offsets, flips = offsets.to(device), flips.to(device)
    tall, wide = h + 2 * padding, w + 2 * padding
    padded = fill.to(device=device, dtype=batch.dtype).view(1, c, 1, 1).expand(b, c, tall, wide).clone()
    padded[:, :, padding:padding + h, padding:padding + w] = batch
    rows = offsets[:, :1] + torch.arange(h, device=device)  # (B, H): rows of the padded image
    across = torch.arange(w, device=device)
    across = torch.where(flips[:, None], w - 1 - across, across)  # a mirrored window reads its columns backwards
    cols = offsets[:, 1:] + across  # (B, W)
    pixel = (rows[:, :, None] * wide + cols[:, None, :]).reshape(b, 1, h * w)  # (B, 1, H*W) into the padded image
    out = torch.gather(padded.reshape(b, c, tall * wide), 2, pixel.expand(b, c, h * w))
    return out.reshape(b, c, h, w)


@dataclass(frozen=True)
class CropFlip:
    """Random crop with `padding` pixels of black padding, then a horizontal flip with probability 1/2.

    The CIFAR training augmentation of the SupSup code (and of most CIFAR recipes), applied to
    normalised batches: the border is the normalised black of `norm`, so the values equal
    cropping the raw images and normalising after. Draws for step s of task t: a generator
    seeded with `streams(seed).augment(t, s)` draws the B (row, column) offsets
    (`randint(0, 2 * padding + 1, (B, 2))`), then the B flips (`randint(0, 2, (B,))`).
    """

    seed: int
    task_id: int
    padding: int = 4
    norm: Normalization = MNIST_NORMALIZATION
    fill: torch.Tensor = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.padding < 0:
            raise ValueError(f"padding must be >= 0, got {self.padding}")
        object.__setattr__(self, "fill", black(self.norm))

    def draws(self, count: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(offsets int64 (count, 2), flips bool (count,)) of training batch `step`."""
        generator = torch.Generator().manual_seed(streams(self.seed).augment(self.task_id, step))
        offsets = torch.randint(0, 2 * self.padding + 1, (count, 2), generator=generator)
        flips = torch.randint(0, 2, (count,), generator=generator).bool()
        return offsets, flips

    def __call__(self, images: Images, index: torch.Tensor, step: int) -> torch.Tensor:
        batch = images[index]  # (B, C, H, W)
        offsets, flips = self.draws(len(batch), step)
        return crop_flip(batch, offsets, flips, self.padding, self.fill)
