"""A task's images read from one table normalised up front in a low precision (bfloat16), row by row.

`TaskImages` normalises each batch from the shared uint8 images: three elementwise passes over a
float32 batch, and a network computing in bfloat16 then rounds the batch once more. Where the pixel
map is not needed per batch (a permutation folded into the first layer, `models.folding`), every task
of a benchmark reads the same images, so normalising and rounding them once, into a table shared by
all tasks, and gathering a batch's rows from it gives the same bits for a fraction of the work:
normalisation and rounding are elementwise, and a row gather moves values without rounding them.
The table is made on first use for a (base images, normalisation, dtype) and lives as long as the
base images do.
"""

from __future__ import annotations

import weakref

import torch

from supermasks.data.images import Index, TaskImages
from supermasks.data.transforms import Normalization, normalize

CHUNK = 8192  # images normalised at a time while the table is made: bounds the float32 temporary (~25 MB)

_TABLES: dict[tuple[int, Normalization, torch.dtype], torch.Tensor] = {}


def normalized_table(base: torch.Tensor, norm: Normalization, dtype: torch.dtype) -> torch.Tensor:
    """`normalize(base, norm).to(dtype)`, (N, C, H, W), made once per live `base` (uint8) and kept while it lives."""
    key = (id(base), norm, dtype)
    table = _TABLES.get(key)
    if table is None:
        first = normalize(base[:1], norm)
        table = torch.empty((len(base), *first.shape[1:]), dtype=dtype, device=base.device)
        for i in range(0, len(base), CHUNK):  # copy_ rounds as .to(dtype) does, into the table: no second copy
            table[i:i + CHUNK].copy_(normalize(base[i:i + CHUNK], norm))
        _TABLES[key] = table
        weakref.finalize(base, _TABLES.pop, key, None)  # gone with the images (before their id can be reused)
    return table


class TableImages:
    """The images of `TaskImages` without a pixel map, as `dtype` rows of the base's normalised table.

    `x[index]` is `images[index].to(dtype)` bit for bit: (B, C, H, W) for a slice or an int64 index tensor,
    (C, H, W) for an int.
    """

    __slots__ = ("table", "rows", "norm")

    def __init__(self, images: TaskImages, dtype: torch.dtype) -> None:
        if images.source is not None:
            raise ValueError("a table holds the base images as they are: fold the task's pixel map first")
        self.table = normalized_table(images.base, images.norm, dtype)
        self.rows = images.rows
        self.norm = images.norm

    def __len__(self) -> int:
        return len(self.rows) if self.rows is not None else len(self.table)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), *self.table.shape[1:]))

    @property
    def dtype(self) -> torch.dtype:
        return self.table.dtype

    @property
    def device(self) -> torch.device:
        return self.table.device

    def __getitem__(self, index: Index) -> torch.Tensor:
        if isinstance(index, slice):
            return self.table[index] if self.rows is None else self.table.index_select(0, self.rows[index])
        if not isinstance(index, torch.Tensor):
            return self[torch.tensor([int(index)])][0]
        if index.dtype == torch.bool or index.dim() != 1:
            raise TypeError("index images by a slice, an int, or a 1-D tensor of int64 positions")
        if self.rows is not None:
            return self.table.index_select(0, self.rows[index])  # advanced indexing: negatives count from the end
        try:  # a batch's positions are never negative: no pass over them to check (index_select refuses them)
            return self.table.index_select(0, index)
        except IndexError:
            if not len(index) or not bool(index.min() < 0):
                raise
            return self.table.index_select(0, torch.where(index < 0, index + len(self), index))

    def __repr__(self) -> str:
        return f"TableImages({len(self)} of {len(self.table)} rows, {self.table.dtype}, shape={tuple(self.shape)})"


__all__ = ["CHUNK", "TableImages", "normalized_table"]
