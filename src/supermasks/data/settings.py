"""What data a run learns from: the benchmark(s), the image source, and the benchmark's own knobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from supermasks.conditional import complete, only_when
from supermasks.errors import ConfigError, require_number, shown

from .benchmarks import _ALIASES, NESTED_RANGE, list_benchmarks
from .imagenet import CROP, DEFAULT_WORKERS
from .permutations import check_fraction_range
from .sources import dir_source_names, folder_source_names, source_names
from .user import OWN_BENCHMARK, is_own_source

LabelMode = Literal["remap", "keep"]
PermuteSubsets = Literal["independent", "nested"]
_SPLIT = {"split", *(alias for alias, name in _ALIASES.items() if name == "split")}


@dataclass(frozen=True)
class DataSettings:
    """The `data` section of an experiment config."""

    benchmark: list[str] = field(default_factory=lambda: ["permuted"])  # one run per benchmark
    # A name of the sources (`supermasks data list`), or a user's own tasks: an import path package.module:function
    # returning them, with benchmark [own] (`data.user`)
    source: str = "mnist-5k"
    data_dir: str | None = None  # a local directory of the source's files (IDX files; CIFAR-100's archive or folder;
    # ImageNet's train/ and val/ class folders, which source imagenet requires)
    num_tasks: int = 10
    # The settings below apply to one benchmark each (None elsewhere; an error when given there).
    classes_per_task: int | None = field(default=None, metadata=only_when(
        "benchmark", _SPLIT, "the split benchmark", default=2, fix="add split to data.benchmark"))
    label_mode: LabelMode | None = field(default=None, metadata=only_when(  # "remap" to 0..c-1 or "keep"
        "benchmark", _SPLIT, "the split benchmark", default="remap", fix="add split to data.benchmark"))
    pair_source: str | None = field(default=None, metadata=only_when(  # the second task's data
        "benchmark", "pair", "the pair benchmark", default="fashion-mnist", fix="add pair to data.benchmark"))
    rotation_step: float | None = field(default=None, metadata=only_when(  # degrees between tasks
        "benchmark", "rotated", "the rotated benchmark",
        fix="add rotated to data.benchmark"))  # None there: 360 // num_tasks
    # How permuted tasks choose the pixels they move: each its own random subset ("independent", every pair about
    # equally related), or the first positions of one shared order ("nested", pairs from unrelated to near-equal).
    permute_subsets: PermuteSubsets | None = field(default=None, metadata=only_when(
        "benchmark", "permuted", "the permuted benchmark", default="independent",
        fix="add permuted to data.benchmark"))
    permute_fraction: float | None = field(default=None, metadata=only_when(  # pixels each task moves
        "permute_subsets", "independent", "the permuted benchmark with permute_subsets independent",
        default=1.0, fix="set data.permute_subsets=independent"))  # 1: a full permutation, 0: none
    # [low, high]: nested task t moves a fraction evenly spaced over it (task 0 low, the last high).
    permute_fraction_range: list[float] | None = field(default=None, metadata=only_when(
        "permute_subsets", "nested", "the permuted benchmark with permute_subsets nested",
        default_factory=lambda: list(NESTED_RANGE), fix="set data.permute_subsets=nested"))
    image_size: int | None = field(default=None, metadata=only_when(  # crop side S; evaluation resizes to S*256/224
        "benchmark", "splitimagenet", "the splitimagenet benchmark", default=CROP,
        fix="set data.benchmark=splitimagenet"))
    # Threads decoding a batch's image files (a thread decodes about 70 training crops a second); the images are
    # the same for any count, so it is not part of the run's hash. On a GPU machine give it the cores.
    workers: int | None = field(default=None, metadata=only_when(
        "benchmark", "splitimagenet", "the splitimagenet benchmark", default=DEFAULT_WORKERS,
        fix="set data.benchmark=splitimagenet"))

    def __post_init__(self) -> None:
        complete(self, "data")
        if self._check_own_source():
            return
        known = list_benchmarks()
        for name in self.benchmark:
            if name not in known:
                raise ValueError(f"benchmark: unknown value {shown(name)}; choose one of {', '.join(known)}")
        if len(set(self.benchmark)) != len(self.benchmark):
            raise ValueError(f"benchmark: {shown(self.benchmark)} names one twice")
        for key in ("source", "pair_source"):
            if getattr(self, key) is not None and getattr(self, key) not in source_names():
                raise ValueError(f"{key}: unknown value {shown(getattr(self, key))}; choose one of "
                                 f"{', '.join(source_names())}")
        self._check_folder_source()
        if self.data_dir is not None and self.source not in dir_source_names():
            raise ValueError(f"data_dir applies to the sources read from files ({', '.join(dir_source_names())}) "
                             f"only; source "
                             f"{shown(self.source)} does not read it: remove data_dir, or set data.source to the data set "
                             f"its files hold")
        if self.num_tasks < 1:
            raise ValueError(f"num_tasks must be a positive number, got {self.num_tasks}")
        for key in ("image_size", "workers"):
            if getattr(self, key) is not None and getattr(self, key) < 1:
                raise ValueError(f"{key} must be a positive number, got {getattr(self, key)}")
        if self.classes_per_task is not None and self.classes_per_task < 2:
            raise ValueError(f"classes_per_task must be at least 2, got {self.classes_per_task}")
        if self.rotation_step is not None:
            require_number("rotation_step", self.rotation_step, maximum=360)
        if self.permute_fraction is not None:
            require_number("permute_fraction", self.permute_fraction, inclusive=True, maximum=1)
        if self.permute_fraction_range is not None:
            check_fraction_range(self.permute_fraction_range)
        if "pair" in self.benchmarks() and self.num_tasks != 2:
            raise ValueError(f"num_tasks: the pair benchmark has exactly 2 tasks: set data.num_tasks=2 "
                             f"(got {self.num_tasks})")

    def _check_own_source(self) -> bool:
        """Whether `source` is a user's own tasks (benchmark `own`, which no other source makes); the settings that
        make a benchmark's tasks do not apply to them."""
        own = is_own_source(self.source)
        if own != (self.benchmark == [OWN_BENCHMARK]):
            if own:
                raise ValueError(f"source {self.source} gives its own tasks: set data.benchmark=[{OWN_BENCHMARK}] "
                                 f"(got {self.benchmark})")
            if OWN_BENCHMARK in self.benchmark:
                raise ValueError(f"benchmark {OWN_BENCHMARK} is a user's own tasks, alone: set data.source to an "
                                 "import path package.module:function returning them")
            return False
        if own:
            if self.num_tasks < 1:
                raise ValueError(f"num_tasks must be a positive number, got {self.num_tasks}")
            if self.data_dir is not None:
                raise ValueError(f"data_dir applies to the sources read from files; source {self.source} gives its "
                                 "own tasks: remove data_dir")
        return own

    def _check_folder_source(self) -> None:
        """splitimagenet reads an image folder (source imagenet), and an image folder makes no other benchmark."""
        folders = folder_source_names()
        if "splitimagenet" in self.benchmark and self.source not in folders:
            raise ValueError(f"benchmark splitimagenet reads ImageNet's image folders: set data.source=imagenet and "
                             f"data.data_dir=DIR (got data.source={self.source})")
        if self.source in folders and self.benchmark != ["splitimagenet"]:
            raise ValueError(f"source {self.source} is an image folder read per batch, which only the splitimagenet "
                             f"benchmark reads: set data.benchmark=splitimagenet (got {self.benchmark})")
        if self.pair_source in folders:
            raise ValueError(f"pair_source: {self.pair_source} is an image folder, which the pair benchmark cannot "
                             f"read; choose one of {', '.join(n for n in source_names() if n not in folders)}")

    def benchmarks(self) -> list[str]:
        """The benchmark names with aliases resolved."""
        return [_ALIASES.get(name, name) for name in self.benchmark]


def crop_size(data: DataSettings) -> int:
    """The side of the square crops an image folder is decoded to (`data.image_size`, which the splitimagenet
    benchmark sets); ConfigError elsewhere, where no folder is read."""
    if data.image_size is None:
        raise ConfigError("an image folder is read by the splitimagenet benchmark only, which sets data.image_size")
    return data.image_size


__all__ = ["DataSettings", "LabelMode", "PermuteSubsets", "crop_size"]
