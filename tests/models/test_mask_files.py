import math

import numpy as np
import torch

from supermasks.models.mask_files import load_task_masks, save_task_checkpoint
from supermasks.models import add_task, build_model, export_masks, set_task


def test_checkpoint_round_trip_of_masks_and_size(tmp_path):
    model = build_model("lenet-300-100", output_size=20, rule="topk", density=0.3, batch_norm=True, seed=0)
    g = torch.Generator().manual_seed(0)
    for _ in range(2):
        add_task(model, g)
    set_task(model, 1)
    model.train()
    model(torch.randn(16, 1, 28, 28))  # give task 1 non-trivial BN statistics
    path = tmp_path / "task_001.safetensors"
    size = save_task_checkpoint(path, model, 1)
    assert path.stat().st_size == size
    loaded = load_task_masks(path)
    expected = export_masks(model, 1)
    assert list(loaded) == list(expected)
    for name in expected:
        np.testing.assert_array_equal(loaded[name], expected[name])
    bits = sum(math.ceil(m.size / 8) for m in expected.values())
    assert size < bits + 2 * 4 * (300 + 100) + 2048  # packed bits + BN stats + a small header
