"""Tiny generated images for fast tests: 28x28 grey in 10 classes, and 32x32 colour in 100 classes."""

from __future__ import annotations

import functools

import numpy as np

NUM_CLASSES = 10
TRAIN_PER_CLASS = 60
TEST_PER_CLASS = 20
SEED = 0
_SIDE = 28
_FILL = 0.3  # fraction of a prototype's pixels that are bright
_FLIP = 0.03  # fraction of pixels flipped per image: noise that never hides the class
_NOISE = 20.0  # standard deviation of the additive grey-level noise


def _prototypes(rng: np.random.RandomState) -> np.ndarray:
    """One random binary pattern per class; random patterns overlap only by chance (~9%)."""
    return rng.random_sample((NUM_CLASSES, _SIDE, _SIDE)) < _FILL


def _sample(
    rng: np.random.RandomState, protos: np.ndarray, per_class: int
) -> tuple[np.ndarray, np.ndarray]:
    labels = np.repeat(np.arange(NUM_CLASSES, dtype=np.int64), per_class)
    flips = rng.random_sample((len(labels), _SIDE, _SIDE)) < _FLIP
    bright = protos[labels] ^ flips
    pixels = np.where(bright, 220.0, 15.0) + rng.normal(0.0, _NOISE, bright.shape)
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8), labels


@functools.lru_cache(maxsize=1)
def _load_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.RandomState(SEED)
    protos = _prototypes(rng)
    x_train, y_train = _sample(rng, protos, TRAIN_PER_CLASS)
    x_test, y_test = _sample(rng, protos, TEST_PER_CLASS)
    arrays = (x_train, y_train, x_test, y_test)
    for array in arrays:
        array.flags.writeable = False  # shared by every caller through the cache
    return arrays


def load_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train uint8 (600,28,28), y_train int64, x_test (200,28,28), y_test), read-only."""
    return _load_arrays()


# Generated colour images shaped like CIFAR-100 (3 x 32 x 32, 100 classes), for smoke runs and
# tests of the colour benchmarks without a download. Each class is a random 4x4 grid of colours
# blown up to 32x32 (8x8 blocks), so a 4-pixel crop shift or a horizontal flip keeps most of it.
COLOUR_CLASSES = 100
COLOUR_TRAIN_PER_CLASS = 16
COLOUR_TEST_PER_CLASS = 4
COLOUR_SIDE = 32
_COLOUR_SEED = 1
_COLOUR_GRID = 4


def _colour_sample(rng: np.random.RandomState, protos: np.ndarray, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    labels = np.repeat(np.arange(COLOUR_CLASSES, dtype=np.int64), per_class)
    pixels = protos[labels] + rng.normal(0.0, _NOISE, (len(labels), 3, COLOUR_SIDE, COLOUR_SIDE))
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8), labels


@functools.lru_cache(maxsize=1)
def _load_colour_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.RandomState(_COLOUR_SEED)
    grid = rng.randint(0, 256, (COLOUR_CLASSES, 3, _COLOUR_GRID, _COLOUR_GRID)).astype(np.float64)
    block = COLOUR_SIDE // _COLOUR_GRID
    protos = grid.repeat(block, axis=2).repeat(block, axis=3)  # (100, 3, 32, 32)
    x_train, y_train = _colour_sample(rng, protos, COLOUR_TRAIN_PER_CLASS)
    x_test, y_test = _colour_sample(rng, protos, COLOUR_TEST_PER_CLASS)
    arrays = (x_train, y_train, x_test, y_test)
    for array in arrays:
        array.flags.writeable = False
    return arrays


def load_colour_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train uint8 (1600, 3, 32, 32), y_train int64, x_test (400, 3, 32, 32), y_test), read-only, generated."""
    return _load_colour_arrays()
