"""SplitImageNet from a generated one-folder-per-class tree of tiny JPEG and PNG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from supermasks.data import CorruptFileError, DataError, SourceUnavailableError, load_source, make_benchmark
from supermasks.data.imagenet import (
    ATTEMPTS,
    EmptyClassError,
    FolderImages,
    ImageFolder,
    resize_side,
    RandomResizedCropFlip,
    crop_box,
    load_image_folder,
    make_splitimagenet,
    splitimagenet_classes,
)
from supermasks.data.sources import open_source
from supermasks.data.transforms import IMAGENET_NORMALIZATION, normalize

from .imagenet_tree import make_tree

def reference_eval(path: Path, resize: int = 256, crop: int = 224) -> torch.Tensor:
    """Shorter side to `resize`, centre `crop`, written out image by image."""
    image = Image.open(path).convert("RGB")
    w, h = image.size
    size = (resize, int(resize * h / w)) if w <= h else (int(resize * w / h), resize)
    image = image.resize(size, Image.Resampling.BILINEAR)
    left, top = int(round((size[0] - crop) / 2.0)), int(round((size[1] - crop) / 2.0))
    array = np.array(image.crop((left, top, left + crop, top + crop)), dtype=np.uint8)
    return torch.from_numpy(array).permute(2, 0, 1)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tree(tmp_path_factory.mktemp("imagenet"))


def test_the_folder_is_listed_with_sorted_classes(tree: Path) -> None:
    folder = load_image_folder(tree)
    assert folder.classes == tuple(f"n{c:08d}" for c in range(25))
    assert len(folder.train_paths) == 75 and len(folder.val_paths) == 50
    assert folder.y_train.tolist() == [c for c in range(25) for _ in range(3)]
    assert all(p.parent.name == folder.classes[y] for p, y in zip(folder.train_paths, folder.y_train.tolist()))


def test_tasks_take_the_seeded_permutation_of_the_classes(tree: Path) -> None:
    folder = load_image_folder(tree)
    tasks = make_splitimagenet(folder, num_tasks=5, seed=3, classes_per_task=5, workers=2)
    perm = np.random.RandomState(3).permutation(25)
    assert [t.classes for t in tasks] == [tuple(perm[5 * i:5 * i + 5].tolist()) for i in range(5)]
    assert splitimagenet_classes(1000, 100, 3)[0] == tuple(np.random.RandomState(3).permutation(1000)[:10].tolist())
    for task in tasks:
        assert len(task.x_train) == 15 and len(task.x_test) == 10 and task.num_classes == 5
        for images, labels, paths, all_labels in ((task.x_train, task.y_train, folder.train_paths, folder.y_train),
                                                  (task.x_test, task.y_test, folder.val_paths, folder.y_val)):
            for path, label in zip(images.paths, labels.tolist()):
                assert folder.classes.index(path.parent.name) == task.classes[label]
    with pytest.raises(ValueError, match="at most 5 tasks"):
        make_splitimagenet(folder, num_tasks=6, seed=0, classes_per_task=5)


def test_eval_batches_equal_decoding_image_by_image(tree: Path) -> None:
    folder = load_image_folder(tree)
    (task,) = make_splitimagenet(folder, num_tasks=1, seed=0, classes_per_task=5, workers=3)
    index = torch.tensor([0, 7, 3, -1])
    batch = task.x_test[index]
    expected = normalize(torch.stack([reference_eval(task.x_test.paths[int(i)]) for i in index]),
                         IMAGENET_NORMALIZATION)
    assert batch.shape == (4, 3, 224, 224) and torch.equal(batch, expected)
    assert torch.equal(task.x_test[7], expected[1]) and torch.equal(task.x_test[2:4], task.x_test[torch.tensor([2, 3])])


def test_training_batches_are_seeded_per_step_and_do_not_depend_on_the_pool(tree: Path) -> None:
    folder = load_image_folder(tree)
    one = make_splitimagenet(folder, num_tasks=1, seed=0, classes_per_task=5, workers=1)[0]
    four = make_splitimagenet(folder, num_tasks=1, seed=0, classes_per_task=5, workers=4)[0]
    index = torch.tensor([1, 4, 9, 14, 0])
    first = one.augment(one.x_train, index, 0)
    assert first.shape == (5, 3, 224, 224)
    assert torch.equal(first, four.augment(four.x_train, index, 0))
    assert not torch.equal(first, one.augment(one.x_train, index, 1))
    assert not torch.equal(first, one.x_train[index])  # cropped, not the evaluation view
    with pytest.raises(TypeError, match="FolderImages"):
        one.augment(one.x_train[index], torch.tensor([0]), 0)


def test_crop_box_follows_the_random_resized_crop_rule() -> None:
    rng = np.random.RandomState(0)
    for _ in range(200):
        width, height = rng.randint(20, 400, 2)
        left, top, w, h = crop_box(int(width), int(height), rng.random_sample((ATTEMPTS, 4)))
        assert 0 <= left and left + w <= width and 0 <= top and top + h <= height
    # Attempt 0: area 0.08 + 0.5 * 0.92 = 54% of 100x100, aspect exp(0) = 1: a 73x73 box at floor(u * 28).
    uniforms = np.tile([0.5, 0.5, 0.25, 0.75], (ATTEMPTS, 1))
    assert crop_box(100, 100, uniforms) == (21, 7, 73, 73)
    # No attempt fits a 10x100 strip at full scale and wide aspect: the centred fallback within the ratio range.
    assert crop_box(10, 100, np.tile([1.0, 1.0, 0.0, 0.0], (ATTEMPTS, 1))) == (0, 43, 10, 13)


def test_draws_are_a_fixed_amount_per_image() -> None:
    aug = RandomResizedCropFlip(seed=1, task_id=2)
    uniforms, flips = aug.draws(6, step=4)
    assert uniforms.shape == (6, ATTEMPTS, 4) and flips.shape == (6,)
    again = aug.draws(6, step=4)
    assert np.array_equal(uniforms, again[0]) and np.array_equal(flips, again[1])


def test_missing_folders_and_empty_classes(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailableError, match="is not a directory"):
        load_image_folder(tmp_path / "nowhere")
    (tmp_path / "train" / "n1").mkdir(parents=True)
    with pytest.raises(EmptyClassError, match=str(tmp_path / "train" / "n1")):
        load_image_folder(tmp_path)
    Image.new("RGB", (8, 8)).save(tmp_path / "train" / "n1" / "a.JPEG")
    with pytest.raises(SourceUnavailableError, match=str(tmp_path / "val")):
        load_image_folder(tmp_path)
    (tmp_path / "val" / "n2").mkdir(parents=True)
    with pytest.raises(DataError, match="differ from train's"):
        load_image_folder(tmp_path)


def test_an_unreadable_image_is_named(tmp_path: Path) -> None:
    root = make_tree(tmp_path, num_classes=2, per_class=2, val_per_class=1)
    bad = root / "val" / "n00000001" / "img0.JPEG"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    folder = load_image_folder(root)
    images = FolderImages(folder.val_paths, workers=2)
    assert images[0].shape == (3, 224, 224)
    with pytest.raises(CorruptFileError, match="img0.JPEG"):
        images[torch.tensor([0, 1])]
    assert bad.exists()  # never deleted


def test_indexing_follows_tensor_rules(tree: Path) -> None:
    images = FolderImages(load_image_folder(tree).val_paths[:4], workers=1)
    assert images.shape == (4, 3, 224, 224) and len(images) == 4
    assert torch.equal(images[-1], images[3]) and images[4:].shape == (0, 3, 224, 224)
    with pytest.raises(IndexError, match="out of range for 4"):
        images[torch.tensor([0, 4])]
    with pytest.raises(TypeError):
        images[torch.tensor([True, False, True, False])]


def test_a_smaller_image_size_scales_crop_and_resize(tree: Path) -> None:
    folder = load_image_folder(tree)
    (task,) = make_splitimagenet(folder, num_tasks=1, seed=0, classes_per_task=5, workers=2, image_size=32)
    assert resize_side(32) == 37 and resize_side(224) == 256
    expected = normalize(torch.stack([reference_eval(p, resize=37, crop=32) for p in task.x_test.paths[:3]]),
                         IMAGENET_NORMALIZATION)
    assert task.x_test[0:3].shape == (3, 3, 32, 32) and torch.equal(task.x_test[0:3], expected)
    assert task.augment(task.x_train, torch.tensor([0, 2]), 0).shape == (2, 3, 32, 32)


def test_a_folder_describes_itself_and_opens_only_from_a_data_dir(tree: Path) -> None:
    folder = open_source("imagenet", tree)
    assert isinstance(folder, ImageFolder) and folder.name == "imagenet" and folder.is_subset
    assert folder.description.startswith(f"ImageNet-style image folder {tree}: 25 classes, 75 train / 50 val images")
    with pytest.raises(SourceUnavailableError, match="no data.data_dir.*image-net.org"):
        open_source("imagenet")
    with pytest.raises(ValueError, match="read per batch from its folder"):
        load_source("imagenet")
    with pytest.raises(ValueError, match="reads an image folder, not a Dataset"):
        make_benchmark("splitimagenet", load_source("synthetic"), num_tasks=1, seed=0)
