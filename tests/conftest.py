"""Shared fixtures: tiny, well-separated synthetic tasks built directly as Task objects."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest
import torch

from supermasks.data.task import Task

# The test networks are too small to gain from threads, and on a busy machine every parallel op
# waits for a second core: one thread keeps the suite fast and its run time steady.
torch.set_num_threads(1)

# The fused step's compiled loop (models.fused) is built into a cache of this session's own, not the user's.
if "SUPERMASKS_CACHE" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="supermasks-test-cache-")
    os.environ["SUPERMASKS_CACHE"] = _cache
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)


def make_tasks(num_tasks: int = 3, n_train: int = 256, n_test: int = 128, num_classes: int = 4,
               seed: int = 0) -> list[Task]:
    """Each task: class prototypes on 28x28 plus noise, its own random pixel permutation."""
    g = torch.Generator().manual_seed(seed)
    protos = torch.randn(num_classes, 784, generator=g) * 2
    tasks = []
    for t in range(num_tasks):
        perm = torch.randperm(784, generator=g)

        def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
            y = torch.randint(0, num_classes, (n,), generator=g)
            x = protos[y] + 0.5 * torch.randn(n, 784, generator=g)
            return x[:, perm].view(n, 1, 28, 28), y

        xtr, ytr = draw(n_train)
        xte, yte = draw(n_test)
        tasks.append(Task(t, f"synthetic-{t}", xtr, ytr, xte, yte, tuple(range(num_classes)), num_classes))
    return tasks


@pytest.fixture
def tiny_tasks() -> list[Task]:
    return make_tasks()


def make_conflicting_tasks(n_train: int = 256, n_test: int = 128, seed: int = 0) -> list[Task]:
    """Two tasks on the same inputs whose labels disagree (task 1 swaps the classes of task 0).

    A single network that fits task 1 must unlearn task 0, so forgetting is easy to provoke.
    """
    base = make_tasks(num_tasks=1, n_train=n_train, n_test=n_test, num_classes=4, seed=seed)[0]
    swap = torch.tensor([1, 0, 3, 2])
    second = Task(1, "conflicting-1", base.x_train, swap[base.y_train], base.x_test, swap[base.y_test],
                  base.classes, base.num_classes)
    return [base, second]


@pytest.fixture
def log_lines():
    """The messages the package logs at INFO and above while the test runs."""
    import logging

    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger = logging.getLogger("supermasks")
    handler, level = Collect(logging.INFO), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lines
    logger.removeHandler(handler)
    logger.setLevel(level)
