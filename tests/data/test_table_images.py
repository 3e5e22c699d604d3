"""The bfloat16 table of normalised images: the same bits as normalising each batch, made once per base."""

from __future__ import annotations

import gc

import pytest
import torch

from supermasks.data import table_images
from supermasks.data.images import TaskImages
from supermasks.data.table_images import TableImages, normalized_table
from supermasks.data.transforms import Normalization


def _base(n: int = 300, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("rows", [None, torch.tensor([5, 3, 299, 0, 3])])
def test_every_way_of_indexing_gives_the_batches_bits_rounded(rows):
    images = TaskImages(_base(), rows=rows)
    table = TableImages(images, torch.bfloat16)
    assert len(table) == len(images) and table.shape == images.shape and table.dtype == torch.bfloat16
    n = len(images)
    for index in (slice(None), slice(1, 4), torch.tensor([2, 0, 1]), torch.tensor([-1, 0]),
                  torch.randperm(n, generator=torch.Generator().manual_seed(1))):
        assert torch.equal(table[index], images[index].to(torch.bfloat16)), index
    assert torch.equal(table[n - 1], images[n - 1].to(torch.bfloat16))
    with pytest.raises(IndexError):
        table[torch.tensor([n])]
    with pytest.raises(TypeError, match="1-D tensor of int64"):
        table[torch.ones(n, dtype=torch.bool)]


def test_the_table_is_made_in_chunks_with_the_same_bits(monkeypatch):
    base = _base(50, seed=2)
    whole = TaskImages(base)[:].to(torch.bfloat16)
    monkeypatch.setattr(table_images, "CHUNK", 7)  # 8 chunks, the last of 1 image
    assert torch.equal(normalized_table(base, Normalization((0.5,), (0.25,)), torch.bfloat16),
                       TaskImages(base, norm=Normalization((0.5,), (0.25,)))[:].to(torch.bfloat16))
    assert torch.equal(normalized_table(base, TaskImages(base).norm, torch.bfloat16), whole)


def test_one_table_per_base_shared_by_its_tasks_and_gone_with_it():
    base = _base(40, seed=3)
    a, b = TableImages(TaskImages(base), torch.bfloat16), TableImages(TaskImages(base, rows=torch.arange(10)), torch.bfloat16)
    assert a.table is b.table  # every task of a benchmark reads one table
    other = TableImages(TaskImages(base.clone()), torch.bfloat16)
    assert other.table is not a.table and torch.equal(other.table, a.table)
    before = len(table_images._TABLES)
    del a, b, base
    gc.collect()
    assert len(table_images._TABLES) == before - 1  # the table went with its images


def test_a_pixel_map_must_be_folded_first():
    source = torch.randperm(784, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="fold the task's pixel map first"):
        TableImages(TaskImages(_base(), source=source), torch.bfloat16)
