"""Download the MNIST-family IDX files and the CIFAR-100 archive into a local cache, checking each file's SHA-256."""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pooch

from supermasks.store.files import create_temporary, sync_file
from supermasks.store.temporaries import STALE_AFTER_S, remove_stale

from .errors import ChecksumError, SourceUnavailableError

CACHE_ENV = "SUPERMASKS_DATA_DIR"
MIRROR_ENV = "SUPERMASKS_MIRROR"
_TIMEOUT_S = 60


@dataclass(frozen=True)
class Remote:
    """Where a data set's files live and the SHA-256 of each, as published."""

    description: str
    base_urls: tuple[str, ...]  # tried in order; every mirror serves byte-identical files
    sha256: Mapping[str, str]  # file name -> hex digest of the (gzipped) file
    files_are: str = "its four IDX files"  # what a user copies by hand instead, in error messages


FILE_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def _by_file(*digests: str) -> dict[str, str]:
    """Pair four digests, given in FILE_NAMES order (train images, train labels, test images,
    test labels), with their file names."""
    return dict(zip(FILE_NAMES, digests, strict=True))


# The digests are the published checksums of the original files, the same figures that
# torchvision's dataset definitions and the TensorFlow Datasets url_checksums files list.
# Each value was compared against at least two independent listings; for Fashion-MNIST the
# gzip files' MD5s also match the table in the data set's README.
REGISTRY: dict[str, Remote] = {
    "mnist": Remote(
        description="MNIST handwritten digits (LeCun, Cortes, Burges)",
        base_urls=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "https://yann.lecun.com/exdb/mnist/",
        ),
        sha256=_by_file(
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        ),
    ),
    "fashion-mnist": Remote(
        description="Fashion-MNIST clothing images (Xiao, Rasul, Vollgraf, Zalando Research)",
        base_urls=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        sha256=_by_file(
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        ),
    ),
    "kmnist": Remote(
        description="Kuzushiji-MNIST cursive Japanese characters (ROIS-DS CODH)",
        base_urls=("https://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        sha256=_by_file(
            "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4",
            "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17",
            "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5",
            "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c",
        ),
    ),
    # The python version of CIFAR-100 (169,001,437 bytes; the page lists its MD5
    # eb9058c3a382ffc7106e4002c42a8d85). The SHA-256 is the one Keras' cifar100.load_data and
    # TensorFlow Datasets' url_checksums pin for the same URL.
    "cifar100": Remote(
        description="CIFAR-100 python version (Krizhevsky, 2009): 50,000 train / 10,000 test 32x32 colour images",
        base_urls=("https://www.cs.toronto.edu/~kriz/",),
        sha256={"cifar-100-python.tar.gz": "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"},
        files_are="cifar-100-python.tar.gz",
    ),
}

# SHA-256 of the *decompressed* Fashion-MNIST files. Debian's dataset-fashion-mnist package
# recompresses the originals, so its .gz digests differ from the published ones while the
# content is identical; these figures let that be checked.
FASHION_MNIST_RAW_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}


def default_cache_dir() -> Path:
    """The cache root: $SUPERMASKS_DATA_DIR if set, else the user's cache folder for supermasks."""
    override = os.environ.get(CACHE_ENV)
    return Path(override).expanduser() if override else Path(pooch.os_cache("supermasks"))


def _remote(name: str) -> Remote:
    if name not in REGISTRY:
        raise ValueError(f"no download known for {name!r}; choose one of {sorted(REGISTRY)}")
    return REGISTRY[name]


def dataset_dir(name: str, cache_dir: Path | None = None) -> Path:
    """The folder where `fetch(name)` puts (or would put) the data set's files."""
    _remote(name)
    return Path(cache_dir if cache_dir is not None else default_cache_dir()) / name


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks so large files do not fill memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cached(name: str, cache_dir: Path | None = None) -> bool:
    """True when all of the data set's files are in the cache with their published SHA-256."""
    folder = dataset_dir(name, cache_dir)
    return all(
        (folder / fname).is_file() and sha256_of(folder / fname) == digest
        for fname, digest in _remote(name).sha256.items()
    )


def fetch(
    name: str,
    cache_dir: Path | None = None,
    base_url: str | None = None,
    progress: bool = True,
) -> Path:
    """Download `name`'s files (unless cached and intact) and return their folder.

    `base_url`, or else $SUPERMASKS_MIRROR, replaces the published hosts, e.g. with a
    local mirror. Raises ChecksumError when a file's SHA-256 differs from the published
    one, SourceUnavailableError when no host can be reached.
    """
    remote = _remote(name)
    mirror = base_url or os.environ.get(MIRROR_ENV)
    return _fetch_files(
        files=remote.sha256,
        base_urls=(mirror,) if mirror else remote.base_urls,
        target=dataset_dir(name, cache_dir),
        progress=progress,
        label=name,
        files_are=remote.files_are,
    )


def _fetch_files(
    files: Mapping[str, str],
    base_urls: Sequence[str],
    target: Path,
    progress: bool = False,
    label: str = "data set",
    files_are: str = "its files",
) -> Path:
    """Make `target` hold every file in `files` (name -> SHA-256), trying each host in turn."""
    target.mkdir(parents=True, exist_ok=True)
    remove_leftovers(target)
    for fname, digest in files.items():
        path = target / fname
        if path.is_file() and sha256_of(path) != digest:
            # Files under their final name are never replaced: they may be the user's own.
            raise ChecksumError(
                f"{path} exists but its SHA-256 differs from the published {digest}; it was "
                "left untouched. Delete it to download it again, or load the folder as a "
                "local directory (data.data_dir=...) to use it as it is."
            )
        if not path.is_file():
            _download_one(fname, digest, base_urls, target, progress, label, files_are)
    return target


# What pooch.retrieve named its temporaries (tempfile's `tmp` and 8 characters), which earlier versions of this
# module left in a data set's folder when killed; the package's own temporaries are `store.temporaries`'.
_POOCH_TEMPORARY = re.compile(r"tmp[a-z0-9_]{8}")


def remove_leftovers(folder: Path) -> list[Path]:
    """Delete the unfinished downloads in a data set's `folder` that no running process writes any more.

    A download killed outright (SIGKILL, power loss) cannot delete its temporary file: it is removed
    here, at the next fetch, once its process is gone (`store.temporaries.remove_stale`). A temporary
    named by pooch (`tmpXXXXXXXX`, no owner in its name) is removed only after a day without writes.
    Nothing else is touched. Returns what was removed.
    """
    removed = remove_stale(folder)
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        try:
            if (_POOCH_TEMPORARY.fullmatch(entry.name) and entry.is_file(follow_symlinks=False)
                    and time.time() - entry.stat(follow_symlinks=False).st_mtime > STALE_AFTER_S):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


class _Mismatch(ValueError):
    """A downloaded file's SHA-256 is not the published one."""


def _download_checked(url: str, path: Path, digest: str, progress: bool) -> None:
    """Stream `url` into a temporary file beside `path`, check its SHA-256, then rename it to `path`.

    The temporary is named for this process (`store.temporaries`) and deleted whatever stops the
    download: a bad digest, a network error, Ctrl-C or SIGTERM (which `supermasks data fetch` turns
    into an exception); only SIGKILL and the like leave it, for `remove_leftovers` to find.
    """
    fd, tmp = create_temporary(path)
    try:
        with os.fdopen(fd, "w+b") as handle:
            pooch.HTTPDownloader(progressbar=progress, timeout=_TIMEOUT_S)(url, handle, None)
        got = sha256_of(tmp)
        if got != digest:
            raise _Mismatch(f"got {got}")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    sync_file(path)  # make the cached file and its name durable


def _download_one(
    fname: str, digest: str, base_urls: Sequence[str], target: Path, progress: bool, label: str,
    files_are: str = "its files",
) -> None:
    failures: list[str] = []
    mismatch = False
    for base in base_urls:
        url = base.rstrip("/") + "/" + fname
        try:
            _download_checked(url, target / fname, digest, progress)
            return
        except _Mismatch as err:
            mismatch = True
            failures.append(f"{url}: SHA-256 mismatch ({err})")
        except OSError as err:
            # HTTP errors are requests' exceptions, all OSErrors without an errno; one with an errno
            # is a local file-system failure (disk full, no permission): say so as it is.
            if err.errno is not None:
                raise
            failures.append(f"{url}: {err}")
    details = "\n  ".join(failures)
    if mismatch:
        raise ChecksumError(
            f"{fname} of {label}: the downloaded file's SHA-256 differs from the published "
            f"{digest}; it was deleted, nothing was cached.\n  {details}"
        )
    raise SourceUnavailableError(
        f"cannot download {fname} of {label} into {target}.\n  {details}\n"
        f"No network? Copy {files_are} into {target} or set data.data_dir=... to a "
        f"folder that holds them; ${MIRROR_ENV} can point at a mirror."
    )
