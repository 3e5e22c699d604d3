"""A user's own small network and tasks, shared by the tests that train them through the library.

`small_net`: conv 3x3 (1 -> 4), BatchNorm, ReLU, then a linear layer over the 4x6x6 maps, seeded. `column_tasks`:
task t asks whether the sum of column t of a 1x6x6 input is positive (100 inputs each, 80 to train, 20 to test).
"""

from __future__ import annotations

import torch
from torch import nn

from supermasks import tasks_from
from supermasks.data.task import Task


def small_net(out: int = 2) -> nn.Module:
    """conv 3x3 (1 -> 4), BN, ReLU, then a linear layer over the 4x6x6 maps: logits (batch, out)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 6 * 6, out, bias=False))


def column_tasks(count: int = 3) -> list[Task]:
    """Task t: is the sum of column t of a 6x6 input positive?"""
    g = torch.Generator().manual_seed(1)
    train_sets, test_sets = [], []
    for t in range(count):
        x = torch.randn(100, 1, 6, 6, generator=g)
        y = (x[:, 0, :, t].sum(1) > 0).long()
        train_sets.append((x[:80], y[:80]))
        test_sets.append((x[80:], y[80:]))
    return tasks_from(train_sets, test_sets)
