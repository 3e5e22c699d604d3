"""What data a run learns from: the benchmark(s), the image source, and the benchmark's own knobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from supermasks.errors import require_number

from .benchmarks import _ALIASES, list_benchmarks
from .sources import idx_source_names, source_names

LabelMode = Literal["remap", "keep"]


@dataclass(frozen=True)
class DataSettings:
    """The `data` section of an experiment config."""

    benchmark: list[str] = field(default_factory=lambda: ["permuted"])  # one run per benchmark
    source: str = "mnist-5k"
    data_dir: str | None = None  # a local directory of IDX files, overriding an IDX source's location
    num_tasks: int = 10
    classes_per_task: int = 2  # split benchmark only
    label_mode: LabelMode = "remap"  # split benchmark only: "remap" to 0..c-1 or "keep"
    pair_source: str = "fashion-mnist"  # pair benchmark only: the second task's data
    rotation_step: float | None = None  # rotated benchmark only: degrees between tasks (default 360 // num_tasks)

    def __post_init__(self) -> None:
        known = list_benchmarks()
        for name in self.benchmark:
            if name not in known:
                raise ValueError(f"benchmark: unknown value {name!r}; choose one of {', '.join(known)}")
        if len(set(self.benchmark)) != len(self.benchmark):
            raise ValueError(f"benchmark: {self.benchmark} names one twice")
        for key in ("source", "pair_source"):
            if getattr(self, key) not in source_names():
                raise ValueError(f"{key}: unknown value {getattr(self, key)!r}; choose one of "
                                 f"{', '.join(source_names())}")
        if self.data_dir is not None and self.source not in idx_source_names():
            raise ValueError(f"data_dir applies to the IDX sources ({', '.join(idx_source_names())}) only; source "
                             f"{self.source!r} does not read it: remove data_dir, or set data.source to the data set "
                             f"its files hold")
        if self.num_tasks < 1:
            raise ValueError(f"num_tasks must be a positive number, got {self.num_tasks}")
        if self.classes_per_task < 2:
            raise ValueError(f"classes_per_task must be at least 2, got {self.classes_per_task}")
        if self.rotation_step is not None:
            require_number("rotation_step", self.rotation_step, maximum=360)
            if "rotated" not in self.benchmarks():
                raise ValueError("rotation_step only applies to the rotated benchmark, which is not in "
                                 f"benchmark {self.benchmark}: remove it")
        if "pair" in self.benchmarks() and self.num_tasks != 2:
            raise ValueError(f"num_tasks: the pair benchmark has exactly 2 tasks: set data.num_tasks=2 "
                             f"(got {self.num_tasks})")

    def benchmarks(self) -> list[str]:
        """The benchmark names with aliases resolved."""
        return [_ALIASES.get(name, name) for name in self.benchmark]


__all__ = ["DataSettings", "LabelMode"]
