"""A generated one-folder-per-class image tree shaped like ImageNet's (train/<wnid>/, val/<wnid>/), for tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

SIZES = [(40, 30), (30, 52), (64, 64)]  # (width, height): landscape, portrait, square


def make_tree(root: Path, num_classes: int = 25, per_class: int = 3, val_per_class: int = 2) -> Path:
    """`num_classes` folders n00000000.. under root/train and root/val of random images: JPEGs of the three
    SIZES in turn, every third one a grey PNG (which decodes to RGB)."""
    rng = np.random.RandomState(0)
    for split, count in (("train", per_class), ("val", val_per_class)):
        for c in range(num_classes):
            folder = root / split / f"n{c:08d}"
            folder.mkdir(parents=True)
            for k in range(count):
                width, height = SIZES[(c + k) % len(SIZES)]
                pixels = rng.randint(0, 256, (height, width, 3)).astype(np.uint8)
                if k % 3 == 2:  # a grey PNG, which decodes to RGB
                    Image.fromarray(pixels[:, :, 0], mode="L").save(folder / f"img{k}.png")
                else:
                    Image.fromarray(pixels).save(folder / f"img{k}.JPEG", quality=90)
    return root
