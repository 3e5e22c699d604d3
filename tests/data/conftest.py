"""Data-test fixtures: a hermetic environment, generated IDX folders, a local HTTP server."""

from __future__ import annotations

import functools
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from supermasks.data import Dataset, load_source
from supermasks.data.idx import write_idx

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@pytest.fixture(autouse=True)
def hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty download cache, no mirror from the shell, no connection off this machine."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("SUPERMASKS_DATA_DIR", str(cache))
    monkeypatch.delenv("SUPERMASKS_MIRROR", raising=False)
    real_connect = socket.socket.connect

    def loopback_only(sock: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else address
        if sock.family in (socket.AF_INET, socket.AF_INET6) and host not in _LOOPBACK:
            raise OSError(f"tests must not reach the network (tried {address})")
        real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    return cache


def fake_mnist(n_train: int, n_test: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Random MNIST-shaped arrays keyed by the distributed file stems."""
    rng = np.random.RandomState(seed)
    return {
        "train-images-idx3-ubyte": rng.randint(0, 256, (n_train, 28, 28)).astype(np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.randint(0, 256, (n_test, 28, 28)).astype(np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test) % 10).astype(np.uint8),
    }


@pytest.fixture
def make_idx_dir(tmp_path: Path) -> Callable[..., Path]:
    """Factory: a folder holding the four MNIST-style IDX files of small random data."""

    def make(
        name: str = "idx", gzip: bool = True, n_train: int = 50, n_test: int = 20, seed: int = 0
    ) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        for stem, array in fake_mnist(n_train, n_test, seed).items():
            write_idx(folder / (stem + ".gz" if gzip else stem), array, gzip=gzip)
        return folder

    return make


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, folder it serves) of an HTTP server on 127.0.0.1 at a free port."""
    root = tmp_path / "served"
    root.mkdir()
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root))
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def small() -> Dataset:
    """The generated synthetic source (tiny, no files needed)."""
    return load_source("synthetic")


@pytest.fixture(scope="module")
def mnist5k() -> Dataset:
    """The embedded 5,000-image MNIST subset."""
    return load_source("mnist-5k")
