"""Whole-tensor transforms: normalisation constants, pixel permutations, rotations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from supermasks.data.transforms import MNIST_MEAN, MNIST_STD, normalize, permute_pixels, rotate


def _images(n: int = 6, side: int = 28, seed: int = 0) -> torch.Tensor:
    return torch.randint(
        1, 256, (n, side, side), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed)
    )


def test_normalisation_constants() -> None:
    assert (MNIST_MEAN, MNIST_STD) == (0.1307, 0.3081)
    out = normalize(torch.tensor([[[0, 255]]], dtype=torch.uint8))
    assert out.dtype == torch.float32 and out.shape == (1, 1, 1, 2)
    expected = torch.tensor([(0 - 0.1307) / 0.3081, (1 - 0.1307) / 0.3081])
    torch.testing.assert_close(out.flatten(), expected)


def test_permutation_moves_pixels() -> None:
    x = _images()
    perm = np.random.RandomState(3).permutation(784)
    out = permute_pixels(x, perm)
    torch.testing.assert_close(out.reshape(6, 784), x.reshape(6, 784)[:, torch.as_tensor(perm)])
    with pytest.raises(ValueError, match="permutation"):
        permute_pixels(x, np.zeros(784, dtype=int))


def test_rotation_by_zero_and_full_turn_is_identity() -> None:
    x = _images()
    assert torch.equal(rotate(x, 0), x) and torch.equal(rotate(x, 360), x)


@pytest.mark.parametrize("quarter_turns", [1, 2, 3, -1])
def test_quarter_turns_equal_rot90(quarter_turns: int) -> None:
    # Positive angles are counter-clockwise, the direction of rot90 over dims (-2, -1).
    x = _images()
    assert torch.equal(rotate(x, 90 * quarter_turns), torch.rot90(x, quarter_turns, dims=(-2, -1)))


def test_rotation_direction_is_counter_clockwise() -> None:
    x = torch.zeros(1, 5, 5, dtype=torch.uint8)
    x[0, 0, 2] = 1  # top middle
    assert rotate(x, 90)[0, 2, 0] == 1  # ends at the left middle


def test_rotation_fills_corners_black() -> None:
    white = torch.full((2, 28, 28), 255, dtype=torch.uint8)
    out = rotate(white, 45)
    assert out[:, [0, 0, -1, -1], [0, -1, 0, -1]].eq(0).all()
    assert out[:, 14, 14].eq(255).all()  # the centre stays covered
    assert out.dtype == torch.uint8


@settings(max_examples=25, deadline=None)
@given(degrees=st.integers(-720, 720), side=st.sampled_from([5, 8, 28]))
def test_rotation_only_moves_existing_pixels(degrees: int, side: int) -> None:
    x = torch.arange(1, side * side + 1, dtype=torch.int32).reshape(1, side, side)
    out = rotate(x, degrees)
    values = out[out != 0]
    # Nearest-neighbour sampling copies values, never invents or blends them,
    # and it keeps at least the disc inscribed in the image.
    assert torch.isin(values, x.flatten()).all()
    assert len(values) >= 0.7 * side * side
