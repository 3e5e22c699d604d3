"""Named image sources: in-memory uint8 tensors (embedded, system, downloaded, generated) and image folders.

Most sources load whole into a `Dataset`. A folder source (`imagenet`) is too large for that: it
is listed as an `imagenet.ImageFolder` of file paths and decoded per batch; `open_source` gives
either, by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import cifar, download, embedded, imagenet, synthetic
from .dataset import Dataset
from .errors import SourceUnavailableError
from .idx_folder import IDX_PARTS, NUM_CLASSES, find_idx_file, has_idx_files, load_idx_dir
from .transforms import CIFAR100_NORMALIZATION
from .user import is_own_source

DEBIAN_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
_GENERATED = Path("<generated>")  # what `locate` returns for data made in memory


@dataclass(frozen=True)
class SourceInfo:
    """What `list_sources` reports about one source."""

    name: str
    description: str
    available: bool
    location: str | None  # file or folder it would be read from; None for generated data
    how_to_get: str


@dataclass(frozen=True)
class _Source:
    description: str
    how_to_get: Callable[[], str]  # a callable so that paths reflect the current environment
    locate: Callable[[], Path | None]  # where the data is on this machine, or None
    load: Callable[[Path], Dataset]  # read it from what `locate` returned
    idx_files: bool = False  # read from four IDX files, so a data_dir of them can stand in for its location
    load_dir: Callable[[Path], Dataset] | None = None  # read it from a user's data_dir (None: not possible)
    num_classes: int = NUM_CLASSES


def _from_arrays(name: str, arrays: tuple[np.ndarray, ...], is_subset: bool) -> Dataset:
    # The cached arrays are read-only and shared, so every Dataset gets its own copy.
    x_train, y_train, x_test, y_test = (torch.from_numpy(np.array(a)) for a in arrays)
    description = _SOURCES[name].description
    return Dataset(name, x_train, y_train, x_test, y_test, NUM_CLASSES, is_subset, description)


def _fetch_hint(name: str) -> Callable[[], str]:
    def hint() -> str:
        return (
            f"download it with `supermasks data fetch {name}` (into {download.dataset_dir(name)}), "
            "or set data.data_dir=DIR to a folder holding its four IDX files"
        )

    return hint


def _fashion_hint() -> str:
    return (
        f"apt install dataset-fashion-mnist (files in {DEBIAN_FASHION_DIR}), or "
        + _fetch_hint("fashion-mnist")()
    )


def _cached_dir(name: str) -> Path | None:
    return download.dataset_dir(name) if download.cached(name) else None


def _fashion_dir() -> Path | None:
    return (
        DEBIAN_FASHION_DIR if has_idx_files(DEBIAN_FASHION_DIR) else _cached_dir("fashion-mnist")
    )


def _idx_source(
    name: str, description: str, how_to_get: Callable[[], str], locate: Callable[[], Path | None]
) -> _Source:
    def load(folder: Path) -> Dataset:
        return load_idx_dir(folder, name, description, how_to_get())

    def load_dir(folder: Path) -> Dataset:
        hint = f"put the four IDX files of {name} into {folder}, or drop data_dir to use the default"
        return load_idx_dir(folder, name, f"{name} (IDX files from {folder})", hint)

    return _Source(description, how_to_get, locate, load, idx_files=True, load_dir=load_dir)


def _cifar_hint() -> str:
    return (f"download it with `supermasks data fetch cifar100` (into {download.dataset_dir('cifar100')}), or set "
            f"data.data_dir=DIR to a folder holding {cifar.ARCHIVE} or its unpacked {cifar.FOLDER}/ "
            "(from https://www.cs.toronto.edu/~kriz/cifar.html)")


def _cifar_dataset(arrays: tuple[np.ndarray, ...], description: str) -> Dataset:
    x_train, y_train, x_test, y_test = (torch.from_numpy(np.array(a)) for a in arrays)
    return Dataset("cifar100", x_train, y_train, x_test, y_test, cifar.NUM_CLASSES,
                   is_subset=not cifar.is_complete(arrays), description=description,
                   normalization=CIFAR100_NORMALIZATION)


_CIFAR_DESCRIPTION = "CIFAR-100: 50,000 train / 10,000 test 32x32 colour images, 100 classes"


def _load_cifar_cache(folder: Path) -> Dataset:
    return _cifar_dataset(cifar.read_archive(folder / cifar.ARCHIVE, _cifar_hint()), _CIFAR_DESCRIPTION)


def _load_cifar_dir(folder: Path) -> Dataset:
    hint = f"put {cifar.ARCHIVE} or its unpacked {cifar.FOLDER}/ into {folder}, or drop data_dir to use the cache"
    return _cifar_dataset(cifar.read_local(folder, hint), f"{_CIFAR_DESCRIPTION} (from {folder})")


def _colour_arrays(name: str) -> Dataset:
    x_train, y_train, x_test, y_test = (torch.from_numpy(np.array(a)) for a in synthetic.load_colour_arrays())
    return Dataset(name, x_train, y_train, x_test, y_test, synthetic.COLOUR_CLASSES, False,
                   _SOURCES[name].description, normalization=CIFAR100_NORMALIZATION)


_SOURCES: dict[str, _Source] = {
    "mnist-5k": _Source(
        description="MNIST subset: 5,000 of the 70,000 digits (500 per class) shipped with supermasks, "
        "split 400 train / 100 test per class",
        how_to_get=lambda: embedded.HOW_TO_GET,
        locate=embedded.locate,
        load=lambda _path: _from_arrays("mnist-5k", embedded.load_arrays(), is_subset=True),
    ),
    "fashion-mnist": _idx_source(
        "fashion-mnist",
        "Fashion-MNIST: 60,000 train / 10,000 test clothing images, 10 classes",
        _fashion_hint,
        _fashion_dir,
    ),
    "mnist": _idx_source(
        "mnist",
        "MNIST: 60,000 train / 10,000 test handwritten digits",
        _fetch_hint("mnist"),
        lambda: _cached_dir("mnist"),
    ),
    "kmnist": _idx_source(
        "kmnist",
        "Kuzushiji-MNIST: 60,000 train / 10,000 test cursive Japanese characters, 10 classes",
        _fetch_hint("kmnist"),
        lambda: _cached_dir("kmnist"),
    ),
    "synthetic": _Source(
        description="synthetic: 600 train / 200 test generated 28x28 images in 10 well-separated "
        "classes (for tests)",
        how_to_get=lambda: "generated on the fly; always available",
        locate=lambda: _GENERATED,
        load=lambda _path: _from_arrays("synthetic", synthetic.load_arrays(), is_subset=False),
    ),
    "cifar100": _Source(
        description=_CIFAR_DESCRIPTION,
        how_to_get=_cifar_hint,
        locate=lambda: _cached_dir("cifar100"),
        load=_load_cifar_cache,
        load_dir=_load_cifar_dir,
        num_classes=cifar.NUM_CLASSES,
    ),
    "synthetic-cifar": _Source(
        description="synthetic-cifar: GENERATED, not CIFAR: 1,600 train / 400 test 32x32 colour images in 100 "
        "classes shaped like CIFAR-100 (for smoke runs and tests)",
        how_to_get=lambda: "generated on the fly; always available",
        locate=lambda: _GENERATED,
        load=lambda _path: _colour_arrays("synthetic-cifar"),
        num_classes=synthetic.COLOUR_CLASSES,
    ),
}


@dataclass(frozen=True)
class _FolderSource:
    description: str
    how_to_get: str
    num_classes: int  # of the complete data set (a user's folder may hold fewer)


# Sources read from the user's one-folder-per-class tree (data.data_dir), never loaded whole.
_FOLDERS: dict[str, _FolderSource] = {
    "imagenet": _FolderSource(
        description="ImageNet (ILSVRC-2012) from a local folder: 1,281,167 train / 50,000 val colour images, "
        "1,000 classes, decoded per batch",
        how_to_get=f"set data.data_dir=DIR. {imagenet.HOW_TO_GET}",
        num_classes=imagenet.ILSVRC_CLASSES,
    ),
}


def _source(name: str) -> _Source:
    if name in _FOLDERS:
        raise ValueError(f"{name} is read per batch from its folder, not loaded whole: use open_source({name!r}, DIR) "
                         f"or data.imagenet.load_image_folder(DIR)")
    if name not in _SOURCES:
        raise ValueError(f"unknown data source {name!r}; valid names: {', '.join(source_names())}")
    return _SOURCES[name]


def load_source(name: str, data_dir: Path | None = None) -> Dataset:
    """Load a named source; `data_dir`, a folder of its files (the four IDX files; CIFAR-100's
    archive or unpacked folder), overrides where from."""
    source = _source(name)
    if data_dir is not None:
        if source.load_dir is None:
            raise ValueError(f"data_dir applies to the sources read from files ({', '.join(dir_source_names())}) "
                             f"only, not to {name!r}")
        return source.load_dir(Path(data_dir).expanduser())
    location = source.locate()
    if location is None:
        raise SourceUnavailableError(
            f"{name} is not available on this machine; {source.how_to_get()}"
        )
    return source.load(location)


Source = Dataset | imagenet.ImageFolder  # what a run reads: images held in memory, or files decoded per batch


def open_source(name: str, data_dir: Path | None = None) -> Source:
    """The source `name`: a `Dataset` (`load_source`), or, for a folder source (`folder_source_names`),
    the `ImageFolder` listing the files of `data_dir` (required: it cannot be downloaded)."""
    if name in _FOLDERS:
        if data_dir is None:
            raise SourceUnavailableError(f"{name} is read from a local folder, and no data.data_dir names one: "
                                         f"{_FOLDERS[name].how_to_get}")
        return imagenet.load_image_folder(data_dir)
    return load_source(name, data_dir)


def source_problem(name: str, data_dir: Path | str | None = None) -> str | None:
    """Why the source `name` (from `data_dir`, where given) cannot be read on this machine, with how to get it;
    None when its files are where a run looks for them. Finds the files without reading them (their contents
    are checked when a run loads them), so that every source a study may use is checked before any work starts.
    A user's own tasks (`data.user`) are had when a run loads them."""
    if is_own_source(name):
        return None
    if name in _FOLDERS:
        if data_dir is None:
            return f"{name} is read from a local folder, and no data.data_dir names one: {_FOLDERS[name].how_to_get}"
        root = Path(data_dir).expanduser()
        lacking = [str(root / split) for split in ("train", "val") if not (root / split).is_dir()]
        if lacking:
            return f"{name}: {' and '.join(lacking)} {'is' if len(lacking) == 1 else 'are'} missing; {imagenet.HOW_TO_GET}"
        return None
    source = _source(name)
    if data_dir is None:
        if source.locate() is None:
            return f"{name} is not available on this machine; {source.how_to_get()}"
        return None
    folder = Path(data_dir).expanduser()
    if not folder.is_dir():
        return f"{name}: data.data_dir {folder} is not a directory"
    if source.idx_files:
        missing = [f"{p}-{k}-idx{n}-ubyte[.gz]" for p, k, n in IDX_PARTS if find_idx_file(folder, p, k, n) is None]
        if missing:
            return f"{name}: {folder} lacks {', '.join(missing)}; put the four IDX files of {name} there"
        return None
    if name == "cifar100" and cifar.find_local(folder) is None:
        return (f"cifar100: {folder} holds neither {cifar.ARCHIVE} nor {cifar.FOLDER}/train and {cifar.FOLDER}/test; "
                f"{_cifar_hint()}")
    return None


def source_num_classes(name: str) -> int:
    """How many classes the source `name` holds, without loading it (a folder source: its complete data set's)."""
    if name in _FOLDERS:
        return _FOLDERS[name].num_classes
    return _source(name).num_classes


def folder_source_names() -> list[str]:
    """The sources read per batch from an image folder (`data.data_dir`), never held in memory."""
    return list(_FOLDERS)


def idx_source_names() -> list[str]:
    """The sources read from IDX files: the ones a `data_dir` of IDX files can supply."""
    return [name for name, source in _SOURCES.items() if source.idx_files]


def dir_source_names() -> list[str]:
    """The sources a `data_dir` of the user's own files can supply."""
    return [name for name, source in _SOURCES.items() if source.load_dir is not None] + list(_FOLDERS)


def source_names() -> list[str]:
    """The registered source names (without looking for their files)."""
    return [*_SOURCES, *_FOLDERS]


def list_sources() -> list[SourceInfo]:
    """Every known source, whether it can be loaded here, from where, and how to get it."""
    infos = []
    for name, source in _SOURCES.items():
        location = source.locate()
        shown = None if location in (None, _GENERATED) else str(location)
        infos.append(
            SourceInfo(name, source.description, location is not None, shown, source.how_to_get())
        )
    # A folder source has no default location: it is available once a run names its folder.
    infos.extend(SourceInfo(name, folder.description, False, None, folder.how_to_get) for name, folder in _FOLDERS.items())
    return infos
