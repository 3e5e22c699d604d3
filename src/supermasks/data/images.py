"""A task's images computed per batch: shared uint8 base images, a row selection and a pixel map.

A benchmark task is its data set's images seen through a fixed transform: a pixel permutation
or a nearest-neighbour rotation reads every output pixel from one input pixel (or a fill), and
a split task keeps some rows. `TaskImages` stores only that map (a few KB) next to a reference
to the uint8 images every task of the benchmark shares, and produces the float32 normalised
(B, C, H, W) batch when a batch is indexed (grey (N, H, W) images give C = 1; colour images are
held channels first, (N, C, H, W), and a pixel map moves all channels of a pixel together).
The values are those of transforming and normalising the whole set up front, bit for bit:
normalisation is elementwise, and gathering pixels commutes with it.
"""

from __future__ import annotations

import operator
from typing import Protocol, SupportsIndex, runtime_checkable

import torch

from .transforms import MNIST_NORMALIZATION, Normalization, normalize

Index = SupportsIndex | slice | torch.Tensor


class Images(Protocol):
    """What consumers need of a task's images: a count, a shape, and float batches by index.

    A float32 (N, C, H, W) tensor, `TaskImages` and `imagenet.FolderImages` (files decoded per
    batch) satisfy it; `x[idx]` with a slice or an int64 index tensor gives a float32
    (B, C, H, W) tensor.
    """

    @property
    def shape(self) -> torch.Size: ...

    def __len__(self) -> int: ...

    def __getitem__(self, index: Index) -> torch.Tensor: ...


@runtime_checkable
class Subsettable(Protocol):
    """Images that can pick a subset of themselves, in a given order, without computing any image."""

    def subset(self, index: torch.Tensor) -> Images:
        """The images at int64 positions `index` (1-D, in that order), as images of the same kind."""
        ...


def subset(images: Images, index: torch.Tensor) -> Images:
    """The images at int64 positions `index`, in that order: lazy images stay lazy, a tensor is indexed."""
    if isinstance(images, Subsettable):
        return images.subset(index)
    return images[index.to(images.device) if isinstance(images, torch.Tensor) else index]


class TaskImages:
    """Images of one task: `base[rows]`, pixels read through `source`, normalised per batch.

    base: uint8 (N, H, W) grey or (N, C, H, W) colour images, shared by every task built from
        it, never written.
    rows: int64 (M,) rows of `base` this task uses, in order; None for all of them.
    source: int64 (H*W,) for each output pixel (row-major) the input pixel it copies; None
        for the identity.
    inside: uint8 (H*W,) 1 where an output pixel reads its input pixel, 0 where it reads none
        and takes raw value 0 before normalisation (a rotation's uncovered corners); None when
        every pixel reads one. Multiplying by it is the fill (much faster than a masked fill).
    norm: the per-channel normalisation (default MNIST's); one channel for grey images.
    """

    __slots__ = ("base", "rows", "source", "inside", "norm", "_flat")

    def __init__(self, base: torch.Tensor, rows: torch.Tensor | None = None,
                 source: torch.Tensor | None = None, inside: torch.Tensor | None = None,
                 norm: Normalization = MNIST_NORMALIZATION) -> None:
        if base.dtype != torch.uint8 or base.dim() not in (3, 4):
            raise ValueError(f"base images must be uint8 (N, H, W) or (N, C, H, W), got {base.dtype} "
                             f"{tuple(base.shape)}")
        channels = base.shape[1] if base.dim() == 4 else 1
        if channels != norm.channels:
            raise ValueError(f"{channels}-channel images need a {channels}-channel normalisation, got {norm}")
        pixels = base.shape[-2] * base.shape[-1]
        if source is not None and (source.shape != (pixels,) or source.dtype != torch.long):
            raise ValueError(f"source must hold one int64 input pixel per output pixel ({pixels}), "
                             f"got {source.dtype} {tuple(source.shape)}")
        if inside is not None and source is None:
            raise ValueError("inside applies to a pixel map: give source too (the identity is torch.arange)")
        if inside is not None and (inside.shape != (pixels,) or inside.dtype != torch.uint8):
            raise ValueError(f"inside must be uint8 0/1 for each of the {pixels} output pixels, "
                             f"got {inside.dtype} {tuple(inside.shape)}")
        self.base = base
        self.rows = rows
        self.source = source
        self.inside = inside
        self.norm = norm
        # (N, H*W) grey, (N, C, H*W) colour: a pixel map gathers along the last dimension.
        self._flat = base.reshape(*base.shape[:-2], pixels)

    @classmethod
    def from_index(cls, base: torch.Tensor, index: torch.Tensor, rows: torch.Tensor | None = None,
                   norm: Normalization = MNIST_NORMALIZATION) -> TaskImages:
        """From a padded pixel index as `transforms.rotation_index` gives it: 1 + the input pixel, 0 for the fill."""
        index = index.to(device=base.device, dtype=torch.long)
        outside = index == 0
        source = (index - 1).clamp_(min=0)
        identity = torch.arange(len(index), device=base.device)
        return cls(base, rows=rows, source=None if torch.equal(source, identity) and not outside.any() else source,
                   inside=(~outside).to(torch.uint8) if outside.any() else None, norm=norm)

    def __len__(self) -> int:
        return len(self.rows) if self.rows is not None else self.base.shape[0]

    @property
    def shape(self) -> torch.Size:
        """(N, C, H, W), the shape of the whole float set (C = 1 for grey images)."""
        return torch.Size((len(self), self.norm.channels, *self.base.shape[-2:]))

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32

    @property
    def device(self) -> torch.device:
        return self.base.device

    @property
    def nbytes(self) -> int:
        """Bytes this task holds of its own: the row selection and the pixel map, not the shared base."""
        return sum(t.numel() * t.element_size() for t in (self.rows, self.source, self.inside) if t is not None)

    def _raw(self, index: slice | torch.Tensor) -> torch.Tensor:
        """The selected uint8 rows, flattened (B, H*W) or (B, C, H*W), before the pixel map."""
        if isinstance(index, slice):
            return self._flat[index] if self.rows is None else self._flat.index_select(0, self.rows[index])
        if index.dtype == torch.bool or index.dim() != 1:
            raise TypeError("index images by a slice, an int, or a 1-D tensor of int64 positions")
        if self.rows is not None:
            index = self.rows[index]  # advanced indexing: negative positions count from the end
        elif len(index) and bool(index.min() < 0):
            # index_select (a row copy each) is much faster than advanced indexing, but takes no negatives.
            index = torch.where(index < 0, index + len(self), index)
        return self._flat.index_select(0, index)

    def __getitem__(self, index: Index) -> torch.Tensor:
        """Float32 normalised images: (B, C, H, W) for a slice or index tensor, (C, H, W) for an int."""
        single = not isinstance(index, (slice, torch.Tensor))
        if single:
            n, i = len(self), operator.index(index)
            if not -n <= i < n:
                raise IndexError(f"image index {i} out of range for {n} images")
            index = slice(i % n, i % n + 1)
        raw = self._raw(index)
        if self.source is not None:
            # gather with the map repeated over rows reads contiguous rows: the fastest CPU pixel gather.
            raw = torch.gather(raw, -1, self.source.expand(*raw.shape[:-1], -1))
            if self.inside is not None:
                raw.mul_(self.inside)
        out = normalize(raw.reshape(len(raw), *self.base.shape[1:]), self.norm)
        return out[0] if single else out

    def subset(self, index: torch.Tensor) -> TaskImages:
        """The images at int64 positions `index`, in that order: the same base and pixel map, other rows."""
        if index.dtype != torch.long or index.dim() != 1:
            raise TypeError("take a subset of images by a 1-D tensor of int64 positions")
        n = len(self)
        index = index.to(self.base.device)
        if len(index) and not (-n <= int(index.min()) and int(index.max()) < n):
            raise IndexError(f"image positions must lie in [{-n}, {n}), got {int(index.min())}..{int(index.max())}")
        index = torch.where(index < 0, index + n, index)
        rows = index if self.rows is None else self.rows[index]
        return TaskImages(self.base, rows=rows, source=self.source, inside=self.inside, norm=self.norm)

    def __repr__(self) -> str:
        kind = "identity" if self.source is None else "rotated" if self.inside is not None else "mapped"
        return f"TaskImages({len(self)} of {self.base.shape[0]} rows, {kind} pixels, shape={tuple(self.shape)})"


def materialize(images: Images) -> torch.Tensor:
    """The whole image set as one float32 tensor: a tensor itself, or a `TaskImages` computed in full."""
    return images if isinstance(images, torch.Tensor) else images[:]
