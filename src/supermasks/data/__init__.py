"""Data: IDX files, CIFAR-100, ImageNet folders, named sources (embedded, system, downloaded, synthetic) and benchmarks."""

from .augment import Augment, CropFlip
from .benchmarks import list_benchmarks, make_benchmark
from .dataset import Dataset
from .download import cached, default_cache_dir, fetch
from .errors import (
    BadMagicError,
    ChecksumError,
    CorruptFileError,
    CountMismatchError,
    DataError,
    EmptyDataError,
    SourceUnavailableError,
    TrailingBytesError,
    TruncatedFileError,
)
from .imagenet import FolderImages, ImageFolder, RandomResizedCropFlip, load_image_folder, make_splitimagenet
from .images import Images, Subsettable, TaskImages, materialize, subset
from .idx import read_idx, read_idx_pair, write_idx
from .relatedness import Relatedness, task_relatedness
from .sources import SourceInfo, list_sources, load_source
from .task import Task
from .transforms import (
    CIFAR100_NORMALIZATION,
    IMAGENET_NORMALIZATION,
    MNIST_MEAN,
    MNIST_NORMALIZATION,
    MNIST_STD,
    Normalization,
    normalize,
)

__all__ = [
    "CIFAR100_NORMALIZATION",
    "IMAGENET_NORMALIZATION",
    "MNIST_MEAN",
    "MNIST_NORMALIZATION",
    "MNIST_STD",
    "Augment",
    "BadMagicError",
    "ChecksumError",
    "CorruptFileError",
    "CountMismatchError",
    "CropFlip",
    "DataError",
    "Dataset",
    "EmptyDataError",
    "FolderImages",
    "ImageFolder",
    "Subsettable",
    "SourceInfo",
    "SourceUnavailableError",
    "Task",
    "TaskImages",
    "Images",
    "Normalization",
    "RandomResizedCropFlip",
    "Relatedness",
    "TrailingBytesError",
    "TruncatedFileError",
    "cached",
    "default_cache_dir",
    "fetch",
    "list_benchmarks",
    "list_sources",
    "load_image_folder",
    "load_source",
    "make_benchmark",
    "make_splitimagenet",
    "materialize",
    "normalize",
    "read_idx",
    "subset",
    "read_idx_pair",
    "task_relatedness",
    "write_idx",
]
