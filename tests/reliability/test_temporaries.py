"""Temporary files left by killed processes: named for their writer, removed at the next start only once it is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supermasks.store import files, temporaries
from supermasks.store.temporaries import STALE_AFTER_S, remove_stale, temporary_path


def _dead_pid() -> int:
    """The PID of a process that has ended (and been reaped), so that no process of it runs."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _named(folder: Path, target: str, pid: int, owner: str | None = None) -> Path:
    """A temporary of `target` in `folder` as process `pid` of this machine (or of the machine `owner`) names it."""
    path = folder / f".{target}.{pid}-{owner or temporaries._owner()}-{'0' * 12}.tmp"
    path.write_bytes(b"half a file")
    return path


def test_the_name_says_which_process_of_which_machine_writes_it(tmp_path):
    path = temporary_path(tmp_path / "meta.json")
    assert path.parent == tmp_path and path.name.startswith(f".meta.json.{os.getpid()}-") and path.suffix == ".tmp"
    assert temporary_path(tmp_path / "meta.json") != path  # a random part: two writes of one process differ


def test_a_killed_writer_s_temporary_goes_and_a_live_one_s_stays(tmp_path):
    dead = _named(tmp_path, "meta.json", _dead_pid())
    mine = _named(tmp_path, "meta.json", os.getpid())
    parent = _named(tmp_path, "accuracy.csv", os.getppid())
    assert remove_stale(tmp_path) == [dead]
    assert not dead.exists() and mine.read_bytes() == b"half a file" and parent.is_file()


def test_another_machine_s_temporary_goes_only_after_a_day_without_writes(tmp_path):
    recent = _named(tmp_path, "a.bin", _dead_pid(), owner="0" * 8)
    old = _named(tmp_path, "b.bin", os.getpid(), owner="f" * 8)
    os.utime(old, (time.time() - STALE_AFTER_S - 60,) * 2)
    assert remove_stale(tmp_path) == [old]
    assert recent.is_file()


@settings(max_examples=60, deadline=None)
@given(name=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="/\0"), min_size=1, max_size=40)
       .filter(lambda n: n not in (".", "..") and not temporaries._NAME.fullmatch(n)))
def test_no_file_of_another_name_is_ever_removed_however_old(tmp_path_factory, name):
    folder = tmp_path_factory.mktemp("names")
    path = folder / name
    try:
        path.write_bytes(b"the user's")
    except OSError:  # a name this file system refuses
        return
    os.utime(path, (time.time() - 10 * STALE_AFTER_S,) * 2)
    assert remove_stale(folder, recursive=True) == []
    assert path.read_bytes() == b"the user's"


@pytest.mark.parametrize("name", [".meta.json.tmp", ".meta.json.1234.tmp", ".meta.json.abc-12345678-0123456789ab.tmp",
                                  "meta.json.1-12345678-0123456789ab.tmp", ".x.1-12345678-0123456789ab.tmp.bak"])
def test_names_close_to_the_pattern_are_left_alone(tmp_path, name):
    (tmp_path / name).write_text("keep")
    assert remove_stale(tmp_path) == [] and (tmp_path / name).read_text() == "keep"


KILLED_WRITER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from supermasks.store import files
    Path(sys.argv[1]).parent.mkdir()
    fd, tmp = files._create_temporary(Path(sys.argv[1]))
    os.write(fd, b"partial")
    print(tmp, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_an_atomic_write_killed_by_sigkill_leaves_a_temporary_the_next_start_removes(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(tmp_path / "sub" / "meta.json")],
                          capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    leftover = Path(proc.stdout.strip())
    assert leftover.is_file() and not (tmp_path / "sub" / "meta.json").exists()
    assert remove_stale(tmp_path, recursive=True) == [leftover]
    assert not leftover.exists()


def test_a_run_removes_the_temporaries_of_a_killed_run_of_its_directory(tmp_path):
    from supermasks.config import load_config
    from supermasks.runner import run
    from supermasks.config.records import run_directory

    config = load_config(None, ["data.source=synthetic", "data.num_tasks=2", "training.steps_per_task=3",
                                "run.figures=false", "run.overlap=false", "run.report=false",
                                f"run.out_dir={tmp_path / 'runs'}"])
    directory = run_directory(config)
    (directory / "permuted" / "supsup").mkdir(parents=True)
    killed = [_named(directory, "meta.json", _dead_pid()),
              _named(directory / "permuted" / "supsup", "accuracy.csv", _dead_pid())]
    live = _named(directory, "notes.txt", os.getppid())  # a process that runs: never its file
    run(config, progress=False)
    assert not any(p.exists() for p in killed)
    assert live.read_bytes() == b"half a file"
    assert [p.name for p in directory.rglob("*.tmp")] == [live.name]


def test_atomic_writes_still_clean_up_after_an_error(tmp_path, monkeypatch):
    def fail(fd, *args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", fail)
    with pytest.raises(OSError, match="No space left"):
        files.atomic_write_bytes(tmp_path / "x.json", b"{}")
    assert list(tmp_path.iterdir()) == []


def test_process_alive_on_odd_pids():
    assert temporaries.process_alive(os.getpid())
    assert not temporaries.process_alive(_dead_pid())
    assert temporaries.process_alive(0)  # a process group, never a file's writer: its file is kept
    assert not temporaries.process_alive(2**80)


def test_a_sweep_an_aggregate_and_a_report_remove_their_own_killed_predecessors_temporaries(tmp_path):
    from supermasks.aggregate import aggregate_runs, write_aggregate
    from supermasks.report.html import write_report
    from supermasks.sweep import local_executor, run_sweep

    from tests.sweep.common import tiny_sweep

    sweep = tiny_sweep(tmp_path, tmp_path / "runs", seeds=1, extra=("method=supsup", "data.benchmark=permuted"))
    directory = sweep.directory()
    directory.mkdir(parents=True)
    killed_sweep = _named(directory, "sweep.json", _dead_pid())
    run_sweep(sweep, local_executor, progress=False)
    assert not killed_sweep.exists()

    out = tmp_path / "tables"
    (out / "figures").mkdir(parents=True)
    killed_tables = [_named(out, "runs.csv", _dead_pid()), _named(out / "figures", "acc.png", _dead_pid())]
    write_aggregate(aggregate_runs([directory]), out, figures=False)
    assert not any(p.exists() for p in killed_tables)

    page = tmp_path / "pages" / "report.html"
    page.parent.mkdir()
    killed_page = _named(page.parent, "report.html", _dead_pid())
    other = _named(page.parent, "notes.md", _dead_pid())  # another file's: the user's folder is not the report's
    write_report([sweep.runs[0].directory], page, figures=False)
    assert not killed_page.exists() and other.read_bytes() == b"half a file" and page.is_file()
