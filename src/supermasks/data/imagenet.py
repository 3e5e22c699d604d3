"""SplitImageNet from a local ImageNet folder (train/<wnid>/*.JPEG, val/<wnid>/*.JPEG), decoded per batch.

ImageNet cannot be downloaded or embedded (its licence asks each user to obtain it), so it is read
from the user's copy in the usual one-folder-per-class layout (what torchvision's ImageFolder
reads; the validation images sorted into class folders). Nothing is decoded up
front: a task's images are a `FolderImages`, whose `x[idx]` decodes the batch's files with PIL in
a thread pool (JPEG decoding releases the GIL) and applies the evaluation transform; training
batches go through `RandomResizedCropFlip` (`Task.augment`) instead.

Transforms, as the standard ImageNet recipe (torchvision's reference scripts, without torchvision):
- train: a random crop of 8% to 100% of the area with aspect ratio in [3/4, 4/3] (log-uniform),
  resized to 224 x 224 (bilinear), mirrored with probability 1/2;
- test: shorter side resized to 256 (bilinear), centre crop 224 x 224;
then (x / 255 - mean) / std with ImageNet's per-channel mean and std (`IMAGENET_NORMALIZATION`).
A smaller crop side S (`image_size`) scales both: crops of S x S, evaluation resize to
round(S * 256 / 224) (`resize_side`), the standard ratio.
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from supermasks.seeds import streams

from .errors import CorruptFileError, DataError, SourceUnavailableError
from .images import Images, Index
from .task import Task
from .transforms import IMAGENET_NORMALIZATION, Normalization, normalize

EXTENSIONS = (".jpeg", ".jpg", ".png")
CROP = 224
RESIZE = 256
SCALE = (0.08, 1.0)
RATIO = (3 / 4, 4 / 3)
ATTEMPTS = 10  # tries at a random box before falling back to the centre crop, as torchvision
# Decoding threads: decoding runs between training steps, when the cores are otherwise idle, so extra threads
# cost little even on fewer cores; a fixed number keeps a run's config the same on every machine of a sweep.
DEFAULT_WORKERS = 8
CLASSES_PER_TASK = 10
# ILSVRC-2012: what a complete folder holds; a folder with fewer classes or images is marked a subset.
ILSVRC_CLASSES = 1000
ILSVRC_TRAIN = 1_281_167
ILSVRC_VAL = 50_000
HOW_TO_GET = ("ImageNet (ILSVRC-2012) cannot be downloaded here: obtain it from https://image-net.org, unpack the "
              "training images into DIR/train/<wnid>/*.JPEG and sort the validation images into DIR/val/<wnid>/ "
              "(one folder per class), then give DIR")


class EmptyClassError(DataError):
    """A class folder holds no image."""


@dataclass(frozen=True)
class ImageFolder:
    """The image files of a one-folder-per-class tree, train and val: paths and int64 labels.

    `classes` are the class folder names (ImageNet's wnids), sorted; label k is classes[k].
    """

    root: Path
    classes: tuple[str, ...]
    train_paths: tuple[Path, ...]
    y_train: torch.Tensor  # (N,) int64
    val_paths: tuple[Path, ...]
    y_val: torch.Tensor  # (M,) int64

    # What a run records of its source (meta.json), as a `dataset.Dataset` says it.
    name = "imagenet"

    @property
    def is_subset(self) -> bool:
        """Whether the folder holds less than ILSVRC-2012 (1,000 classes, 1,281,167 train / 50,000 val images)."""
        return (len(self.classes) < ILSVRC_CLASSES or len(self.train_paths) < ILSVRC_TRAIN
                or len(self.val_paths) < ILSVRC_VAL)

    @property
    def description(self) -> str:
        return (f"ImageNet-style image folder {self.root}: {len(self.classes):,} classes, {len(self.train_paths):,} "
                f"train / {len(self.val_paths):,} val images, decoded per batch")


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in EXTENSIONS)


def _scan(split_dir: Path, classes: Sequence[str] | None) -> tuple[tuple[str, ...], list[Path], list[int]]:
    if not split_dir.is_dir():
        raise SourceUnavailableError(f"imagenet: {split_dir} is missing; {HOW_TO_GET}")
    found = tuple(sorted(p.name for p in split_dir.iterdir() if p.is_dir()))
    if not found:
        raise SourceUnavailableError(f"imagenet: {split_dir} holds no class folder; {HOW_TO_GET}")
    if classes is not None and found != tuple(classes):
        missing = sorted(set(classes) - set(found))[:5]
        extra = sorted(set(found) - set(classes))[:5]
        raise DataError(f"imagenet: the class folders of {split_dir} differ from train's (missing {missing}, extra "
                        f"{extra}); {HOW_TO_GET}")
    paths: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(found):
        images = _images_in(split_dir / name)
        if not images:
            raise EmptyClassError(f"imagenet: class folder {split_dir / name} holds no image "
                                  f"({', '.join(EXTENSIONS)}); {HOW_TO_GET}")
        paths.extend(images)
        labels.extend([label] * len(images))
    return found, paths, labels


def load_image_folder(root: Path | str) -> ImageFolder:
    """List the images of `root`/train and `root`/val (same class folders), without opening any.

    Classes are the sorted folder names; a missing folder, a class folder without images, or
    class folders that differ between train and val raise a DataError naming the folder.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise SourceUnavailableError(f"imagenet: {root} is not a directory; {HOW_TO_GET}")
    classes, train, y_train = _scan(root / "train", None)
    _, val, y_val = _scan(root / "val", classes)
    return ImageFolder(root, classes, tuple(train), torch.tensor(y_train, dtype=torch.int64), tuple(val),
                       torch.tensor(y_val, dtype=torch.int64))


def resize_side(image_size: int) -> int:
    """The evaluation resize (shorter side) for crops of `image_size`: round(image_size * 256 / 224)."""
    return int(round(image_size * RESIZE / CROP))


@functools.lru_cache(maxsize=4)
def _pool(workers: int) -> ThreadPoolExecutor:
    # One pool per worker count, shared by every FolderImages of the process and kept for its lifetime.
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode")


def _open_rgb(path: Path):  # -> PIL.Image.Image
    from PIL import Image, UnidentifiedImageError  # PIL loads only where images are decoded

    try:
        with Image.open(path) as image:
            return image.convert("RGB")  # decodes; grey and CMYK files become RGB
    except Image.DecompressionBombError as err:
        # A header declaring far more pixels than PIL's limit (2 x Image.MAX_IMAGE_PIXELS): decoding it would take
        # gigabytes of memory, whatever the file's size; no photograph of an image folder is that large.
        found = re.search(r"\((\d+) pixels\) exceeds limit of (\d+)", str(err))
        why = (f"{int(found[1]):,} pixels, more than the {int(found[2]):,} that PIL decodes safely" if found
               else str(err).rstrip("."))
        raise CorruptFileError(f"{path}: declares an image too large to decode ({why}); replace or remove it") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise CorruptFileError(f"{path}: cannot be decoded as an image ({err}); replace or remove it") from err


def _to_array(image) -> np.ndarray:  # PIL.Image.Image -> uint8 (3, H, W)
    return np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)


def decode_eval(path: Path, resize: int = RESIZE, crop: int = CROP) -> np.ndarray:
    """uint8 (3, crop, crop): shorter side resized to `resize` (bilinear), then the centre crop."""
    from PIL import Image

    image = _open_rgb(path)
    width, height = image.size
    if width <= height:
        size = (resize, int(resize * height / width))
    else:
        size = (int(resize * width / height), resize)
    image = image.resize(size, Image.Resampling.BILINEAR)
    left, top = int(round((size[0] - crop) / 2.0)), int(round((size[1] - crop) / 2.0))
    return _to_array(image.crop((left, top, left + crop, top + crop)))


def crop_box(width: int, height: int, uniforms: np.ndarray, scale: tuple[float, float] = SCALE,
             ratio: tuple[float, float] = RATIO) -> tuple[int, int, int, int]:
    """(left, top, box width, box height) of a random-resized crop, from `uniforms` (ATTEMPTS, 4) in [0, 1).

    Attempt a: area fraction scale[0] + u0 (scale[1] - scale[0]), aspect exp(log ratio[0] + u1 log(ratio[1] /
    ratio[0])), box w = round(sqrt(area aspect)), h = round(sqrt(area / aspect)); the first box that fits
    is placed at top = floor(u2 (H - h + 1)), left = floor(u3 (W - w + 1)). No box fits: the largest centred
    box within the ratio range (torchvision's RandomResizedCrop.get_params, its draws given as numbers).
    """
    area = width * height
    log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
    for u0, u1, u2, u3 in uniforms:
        target = area * (scale[0] + u0 * (scale[1] - scale[0]))
        aspect = math.exp(log_low + u1 * (log_high - log_low))
        w, h = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(u3 * (width - w + 1)), int(u2 * (height - h + 1)), w, h
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        w, h = int(round(height * ratio[1])), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def decode_train(path: Path, uniforms: np.ndarray, flip: bool, crop: int = CROP) -> np.ndarray:
    """uint8 (3, crop, crop): the random-resized crop that `uniforms` pick, resized (bilinear), mirrored if `flip`."""
    from PIL import Image

    image = _open_rgb(path)
    left, top, w, h = crop_box(*image.size, uniforms)
    image = image.resize((crop, crop), Image.Resampling.BILINEAR, box=(left, top, left + w, top + h))
    if flip:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return _to_array(image)


class FolderImages:
    """A task's images as files, decoded per batch: `x[idx]` gives float32 (B, 3, crop, crop), normalised.

    Indexing decodes with the evaluation transform (`decode_eval`) in a pool of `workers` threads;
    `decode_train` does the training transform for `RandomResizedCropFlip`. Holds only the paths.
    """

    __slots__ = ("paths", "workers", "crop", "resize", "norm")

    def __init__(self, paths: Sequence[Path], workers: int = DEFAULT_WORKERS, crop: int = CROP, resize: int = RESIZE,
                 norm: Normalization = IMAGENET_NORMALIZATION) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.paths = tuple(paths)
        self.workers = workers
        self.crop = crop
        self.resize = resize
        self.norm = norm

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), 3, self.crop, self.crop))

    def _positions(self, index: Index) -> list[int]:
        if isinstance(index, slice):
            return list(range(len(self))[index])
        if isinstance(index, torch.Tensor):
            if index.dtype == torch.bool or index.dim() != 1:
                raise TypeError("index images by a slice, an int, or a 1-D tensor of int64 positions")
            positions, count = index.tolist(), len(self)
            wrong = [p for p in positions if not -count <= p < count]
            if wrong:
                raise IndexError(f"image index {wrong[0]} out of range for {count} images")
            return [p % count for p in positions]
        raise TypeError(f"cannot index images by {type(index).__name__}")

    def _stack(self, arrays: list[np.ndarray]) -> torch.Tensor:
        raw = torch.from_numpy(np.stack(arrays)) if arrays else torch.empty(0, 3, self.crop, self.crop,
                                                                            dtype=torch.uint8)
        return normalize(raw, self.norm)

    def __getitem__(self, index: Index) -> torch.Tensor:
        """Float32 normalised images, evaluation transform: (B, 3, crop, crop), or (3, crop, crop) for an int."""
        if not isinstance(index, (slice, torch.Tensor)):
            (position,) = self._positions(torch.tensor([operator.index(index)]))
            return self._stack([decode_eval(self.paths[position], self.resize, self.crop)])[0]
        paths = [self.paths[p] for p in self._positions(index)]
        decode = functools.partial(decode_eval, resize=self.resize, crop=self.crop)
        return self._stack(list(_pool(self.workers).map(decode, paths)))

    def subset(self, index: torch.Tensor) -> FolderImages:
        """The images at int64 positions `index`, in that order: the same decoding, those files."""
        return FolderImages([self.paths[p] for p in self._positions(index)], self.workers, self.crop, self.resize,
                            self.norm)

    def train_batch(self, index: torch.Tensor, uniforms: np.ndarray, flips: np.ndarray) -> torch.Tensor:
        """The training transform of images `index`: image b's box from uniforms[b] (ATTEMPTS, 4), mirrored if flips[b]."""
        paths = [self.paths[p] for p in self._positions(index)]
        decode = functools.partial(decode_train, crop=self.crop)
        return self._stack(list(_pool(self.workers).map(decode, paths, list(uniforms), [bool(f) for f in flips])))

    def __repr__(self) -> str:
        return f"FolderImages({len(self)} files, shape={tuple(self.shape)}, workers={self.workers})"


@dataclass(frozen=True)
class RandomResizedCropFlip:
    """The ImageNet training augmentation (`decode_train`) of the images of a `FolderImages`.

    Draws for step s of task t, from a generator seeded with `streams(seed).augment(t, s)`: the
    uniforms (B, ATTEMPTS, 4) float64 (`torch.rand`), then the B flips (`randint(0, 2, (B,))`); a
    fixed amount whatever the image sizes, so the draws never depend on the files.
    """

    seed: int
    task_id: int

    def draws(self, count: int, step: int) -> tuple[np.ndarray, np.ndarray]:
        generator = torch.Generator().manual_seed(streams(self.seed).augment(self.task_id, step))
        uniforms = torch.rand((count, ATTEMPTS, 4), generator=generator, dtype=torch.float64)
        flips = torch.randint(0, 2, (count,), generator=generator).bool()
        return uniforms.numpy(), flips.numpy()

    def __call__(self, images: Images, index: torch.Tensor, step: int) -> torch.Tensor:
        if not isinstance(images, FolderImages):
            raise TypeError(f"RandomResizedCropFlip decodes image files: it needs FolderImages, got "
                            f"{type(images).__name__}")
        uniforms, flips = self.draws(len(index), step)
        return images.train_batch(index, uniforms, flips)


def splitimagenet_classes(num_classes: int, num_tasks: int, seed: int,
                          classes_per_task: int = CLASSES_PER_TASK) -> list[tuple[int, ...]]:
    """Task i's class indices (into the sorted class folders): perm[i * c:(i + 1) * c] of
    RandomState(seed).permutation(num_classes), as SplitCIFAR100 draws its classes."""
    most = num_classes // classes_per_task
    if classes_per_task < 2 or not 1 <= num_tasks <= most:
        raise ValueError(f"splitimagenet: {num_classes} classes make at most {most} tasks of {classes_per_task} "
                         f"classes, got num_tasks={num_tasks}")
    perm = np.random.RandomState(seed).permutation(num_classes)
    return [tuple(int(c) for c in perm[i * classes_per_task:(i + 1) * classes_per_task]) for i in range(num_tasks)]


def make_splitimagenet(folder: ImageFolder, num_tasks: int, seed: int, classes_per_task: int = CLASSES_PER_TASK,
                       workers: int = DEFAULT_WORKERS, augment: bool = True, image_size: int = CROP) -> list[Task]:
    """SplitImageNet: task i keeps the classes `splitimagenet_classes(...)[i]`, labelled 0..c-1 in that order.

    With the full 1,000 classes: 100 tasks of 10 (the SupSup paper's). A smaller tree gives
    len(classes) // classes_per_task tasks at most. Training batches go through
    `RandomResizedCropFlip` when `augment`; test (val) images are decoded with the evaluation transform.
    Images are `image_size` x `image_size` crops (224: the standard), evaluated after resizing the
    shorter side to `resize_side(image_size)`.
    """
    if image_size < 1:
        raise ValueError(f"image_size must be >= 1, got {image_size}")
    resize = resize_side(image_size)
    tasks = []
    for i, classes in enumerate(splitimagenet_classes(len(folder.classes), num_tasks, seed, classes_per_task)):
        lut = torch.full((len(folder.classes),), -1, dtype=torch.int64)
        lut[list(classes)] = torch.arange(len(classes))
        chosen = torch.tensor(classes)
        parts = []
        for paths, labels in ((folder.train_paths, folder.y_train), (folder.val_paths, folder.y_val)):
            keep = torch.isin(labels, chosen).nonzero().squeeze(1)
            images = FolderImages([paths[k] for k in keep.tolist()], workers, crop=image_size, resize=resize)
            parts.append((images, lut[labels[keep]]))
        (x_train, y_train), (x_test, y_test) = parts
        wnids = ",".join(folder.classes[c] for c in classes)
        tasks.append(Task(task_id=i, name=f"splitimagenet-{i}[{wnids}]", x_train=x_train, y_train=y_train,
                          x_test=x_test, y_test=y_test, classes=classes, num_classes=len(classes),
                          benchmark="splitimagenet", augment=RandomResizedCropFlip(seed, i) if augment else None))
    return tasks
