"""Data: IDX files, named sources (embedded, system, downloaded, synthetic) and benchmarks."""

from .benchmarks import list_benchmarks, make_benchmark
from .download import cached, default_cache_dir, fetch
from .errors import (
    BadMagicError,
    ChecksumError,
    CorruptFileError,
    CountMismatchError,
    DataError,
    SourceUnavailableError,
    TrailingBytesError,
    TruncatedFileError,
)
from .images import Images, TaskImages, materialize
from .idx import read_idx, read_idx_pair, write_idx
from .relatedness import Relatedness, task_relatedness
from .sources import Dataset, SourceInfo, list_sources, load_source
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
    "BadMagicError",
    "ChecksumError",
    "CorruptFileError",
    "CountMismatchError",
    "DataError",
    "Dataset",
    "SourceInfo",
    "SourceUnavailableError",
    "Task",
    "TaskImages",
    "Images",
    "Normalization",
    "Relatedness",
    "TrailingBytesError",
    "TruncatedFileError",
    "cached",
    "default_cache_dir",
    "fetch",
    "list_benchmarks",
    "list_sources",
    "load_source",
    "make_benchmark",
    "materialize",
    "normalize",
    "read_idx",
    "read_idx_pair",
    "task_relatedness",
    "write_idx",
]
