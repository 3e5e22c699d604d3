"""A download stopped any way leaves no temporary behind for long: Ctrl-C, errors and SIGTERM delete it at once
(`supermasks data fetch` exits 143 on SIGTERM), and a SIGKILL's leftover goes at the next fetch."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from supermasks.data import download
from supermasks.data.download import _fetch_files, remove_leftovers
from supermasks.store import temporaries
from supermasks.store.temporaries import STALE_AFTER_S

FILE = "train-images-idx3-ubyte.gz"


@pytest.fixture
def stalling_server() -> Iterator[str]:
    """The base URL of a server on 127.0.0.1 that sends the first 64 KiB of a 10 MiB file, then nothing more."""
    release = threading.Event()

    class Stall(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(10 * 2**20))
            self.end_headers()
            self.wfile.write(b"\0" * 2**16)
            self.wfile.flush()
            release.wait(120)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Stall)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def _temporaries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith(".tmp")) if folder.is_dir() else []


def _fetch_until_downloading(cache: Path, url: str) -> subprocess.Popen:
    """`supermasks data fetch mnist` in a child process, once it has written part of its first file."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "SUPERMASKS_DATA_DIR": str(cache),
           "SUPERMASKS_MIRROR": url}
    proc = subprocess.Popen([sys.executable, "-m", "supermasks.cli", "data", "fetch", "mnist", "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    folder = cache / "mnist"
    deadline = time.monotonic() + 120  # a bound on waiting for the child, not a measurement
    while not any(p.stat().st_size for p in _temporaries(folder)):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the fetch never started downloading: {proc.communicate()}")
        time.sleep(0.05)
    return proc


def test_sigterm_during_a_fetch_deletes_the_partial_file_and_exits_143(tmp_path, stalling_server):
    proc = _fetch_until_downloading(tmp_path / "cache", stalling_server)
    try:
        (partial,) = _temporaries(tmp_path / "cache" / "mnist")
        assert partial.name.startswith(f".{FILE}.{proc.pid}-")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 143, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "terminated (SIGTERM)" in err and "run the same command again" in err
    assert list((tmp_path / "cache" / "mnist").iterdir()) == []


def test_sigkill_leaves_a_partial_file_that_the_next_fetch_removes(tmp_path, stalling_server, http_server,
                                                                   make_idx_dir):
    proc = _fetch_until_downloading(tmp_path / "cache", stalling_server)
    proc.kill()
    proc.communicate(timeout=60)
    folder = tmp_path / "cache" / "mnist"
    (partial,) = _temporaries(folder)
    # The next fetch (here of small generated files from another local server) starts by removing it.
    url, root = http_server
    for path in make_idx_dir(n_train=20, n_test=10).iterdir():
        path.rename(root / path.name)
    sums = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in root.iterdir()}
    _fetch_files(sums, [url], folder)
    assert not partial.exists() and _temporaries(folder) == []
    assert sorted(p.name for p in folder.iterdir()) == sorted(sums)


@pytest.mark.parametrize("stop", [KeyboardInterrupt, ConnectionError])
def test_a_download_stopped_in_this_process_deletes_its_temporary(tmp_path, monkeypatch, stop):
    def half_then_stop(self, url, output_file, pooch, check_only=False):
        output_file.write(b"\0" * 1000)
        raise stop("stopped")

    monkeypatch.setattr(download.pooch.HTTPDownloader, "__call__", half_then_stop)
    folder = tmp_path / "toy"
    with pytest.raises((KeyboardInterrupt, download.SourceUnavailableError)):
        _fetch_files({FILE: "0" * 64}, ["http://127.0.0.1:9/"], folder)
    assert list(folder.iterdir()) == []


def test_a_running_download_s_temporary_is_not_removed(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    mine = folder / f".{FILE}.{os.getpid()}-{temporaries._owner()}-{'1' * 12}.tmp"
    mine.write_bytes(b"downloading")
    assert remove_leftovers(folder) == [] and mine.read_bytes() == b"downloading"


def test_pooch_s_old_leftovers_go_after_a_day_and_nothing_else_does(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    old_leftover, recent, other = folder / "tmpa1b2_c3d", folder / "tmpzz99zz99", folder / "tmp-my-notes.txt"
    for path in (old_leftover, recent, other):
        path.write_bytes(b"x")
    day_ago = time.time() - STALE_AFTER_S - 60
    for path in (old_leftover, other):
        os.utime(path, (day_ago, day_ago))
    assert remove_leftovers(folder) == [old_leftover]
    assert recent.is_file() and other.is_file()
