"""What images a network takes: channels, and a fixed height x width or any size."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InputShape:
    """Images of `channels` channels and `size` = (height, width), or any size where `size` is None."""

    channels: int
    size: tuple[int, int] | None = None

    def accepts(self, shape: tuple[int, ...]) -> bool:
        """Whether one image of `shape` (C, H, W) fits."""
        if len(shape) != 3 or shape[0] != self.channels:
            return False
        return self.size is None or tuple(shape[1:]) == self.size

    def describe(self) -> str:
        """`1x28x28`, or `3xHxW (any size)`."""
        if self.size is None:
            return f"{self.channels}xHxW (any size)"
        return f"{self.channels}x{self.size[0]}x{self.size[1]}"

    @property
    def numel(self) -> int | None:
        """Values per image, where the size is fixed."""
        return None if self.size is None else self.channels * self.size[0] * self.size[1]


def image_shape(images_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """The (C, H, W) of one image in a batch of shape (N, H, W) (one channel) or (N, C, H, W)."""
    if len(images_shape) == 3:
        return (1, images_shape[1], images_shape[2])
    if len(images_shape) == 4:
        return (images_shape[1], images_shape[2], images_shape[3])
    raise ValueError(f"images must be (N, H, W) or (N, C, H, W), got shape {tuple(images_shape)}")


__all__ = ["InputShape", "image_shape"]
