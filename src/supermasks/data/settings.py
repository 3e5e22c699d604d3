"""What data a run learns from: the benchmark(s), the image source, and the benchmark's own knobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from supermasks.conditional import complete, only_when
from supermasks.errors import require_number

from .benchmarks import _ALIASES, list_benchmarks
from .sources import dir_source_names, source_names

LabelMode = Literal["remap", "keep"]
_SPLIT = {"split", *(alias for alias, name in _ALIASES.items() if name == "split")}


@dataclass(frozen=True)
class DataSettings:
    """The `data` section of an experiment config."""

    benchmark: list[str] = field(default_factory=lambda: ["permuted"])  # one run per benchmark
    source: str = "mnist-5k"
    data_dir: str | None = None  # a local directory of the source's files (IDX files; CIFAR-100's archive or folder)
    num_tasks: int = 10
    # The settings below apply to one benchmark each (None elsewhere; an error when given there).
    classes_per_task: int | None = field(default=None, metadata=only_when(
        "benchmark", _SPLIT, "the split benchmark", default=2))
    label_mode: LabelMode | None = field(default=None, metadata=only_when(  # "remap" to 0..c-1 or "keep"
        "benchmark", _SPLIT, "the split benchmark", default="remap"))
    pair_source: str | None = field(default=None, metadata=only_when(  # the second task's data
        "benchmark", "pair", "the pair benchmark", default="fashion-mnist"))
    rotation_step: float | None = field(default=None, metadata=only_when(  # degrees between tasks
        "benchmark", "rotated", "the rotated benchmark"))  # None there: 360 // num_tasks
    permute_fraction: float | None = field(default=None, metadata=only_when(  # pixels each task moves
        "benchmark", "permuted", "the permuted benchmark", default=1.0))  # 1: a full permutation, 0: none

    def __post_init__(self) -> None:
        complete(self)
        known = list_benchmarks()
        for name in self.benchmark:
            if name not in known:
                raise ValueError(f"benchmark: unknown value {name!r}; choose one of {', '.join(known)}")
        if len(set(self.benchmark)) != len(self.benchmark):
            raise ValueError(f"benchmark: {self.benchmark} names one twice")
        for key in ("source", "pair_source"):
            if getattr(self, key) is not None and getattr(self, key) not in source_names():
                raise ValueError(f"{key}: unknown value {getattr(self, key)!r}; choose one of "
                                 f"{', '.join(source_names())}")
        if self.data_dir is not None and self.source not in dir_source_names():
            raise ValueError(f"data_dir applies to the sources read from files ({', '.join(dir_source_names())}) "
                             f"only; source "
                             f"{self.source!r} does not read it: remove data_dir, or set data.source to the data set "
                             f"its files hold")
        if self.num_tasks < 1:
            raise ValueError(f"num_tasks must be a positive number, got {self.num_tasks}")
        if self.classes_per_task is not None and self.classes_per_task < 2:
            raise ValueError(f"classes_per_task must be at least 2, got {self.classes_per_task}")
        if self.rotation_step is not None:
            require_number("rotation_step", self.rotation_step, maximum=360)
        if self.permute_fraction is not None:
            require_number("permute_fraction", self.permute_fraction, inclusive=True, maximum=1)
        if "pair" in self.benchmarks() and self.num_tasks != 2:
            raise ValueError(f"num_tasks: the pair benchmark has exactly 2 tasks: set data.num_tasks=2 "
                             f"(got {self.num_tasks})")

    def benchmarks(self) -> list[str]:
        """The benchmark names with aliases resolved."""
        return [_ALIASES.get(name, name) for name in self.benchmark]


__all__ = ["DataSettings", "LabelMode"]
