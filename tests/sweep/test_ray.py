"""Sweeps on a local Ray of 2 CPUs: the results of in-process runs, failures recorded, reruns skip, SIGKILL loses nothing.

One Ray session serves every test here (starting Ray takes seconds); the sweeps join it as
a caller's Ray (`ray.init` done already) or, from a subprocess, as a cluster at its address.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from supermasks.sweep import RayExecutor, local_executor, run_sweep
from supermasks.store.rundir import read_meta

from tests.sweep.common import GRID, block, results, sweep_record, tiny_sweep, write_config

ray = pytest.importorskip("ray")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_session():
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 2**20, logging_level="warning")
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny grid run in this process: what every Ray sweep of it must reproduce."""
    folder = tmp_path_factory.mktemp("reference")
    here = tiny_sweep(folder, folder / "runs")
    assert run_sweep(here, local_executor, progress=False).summary()["done"] == 8
    return {run.key: results(run.directory) for run in here.runs}


def test_grid_on_ray_equals_in_process_with_a_failure_recorded_and_a_rerun_skipping(tmp_path, ray_session, reference):
    on_ray = tiny_sweep(tmp_path, tmp_path / "ray")
    assert sorted(r.key for r in on_ray.runs) == sorted(reference)
    block(on_ray, 2)
    record = run_sweep(on_ray, RayExecutor(cpus_per_run=1), executor_name="ray", progress=False)
    assert record.summary() == {"done": 7, "skipped": 0, "failed": 1, "pending": 0}
    entry = sweep_record(on_ray)["runs"][2]
    assert entry["status"] == "failed" and "is not a directory" in entry["error"]
    assert sweep_record(on_ray)["executor"] == "ray"
    rerun = run_sweep(on_ray, RayExecutor(cpus_per_run=1), executor_name="ray", progress=False)
    assert rerun.summary() == {"done": 0, "skipped": 7, "failed": 1, "pending": 0}
    for i, run in enumerate(on_ray.runs):
        if i != 2:
            assert read_meta(run.directory)["torch_threads"] == 1  # its one CPU
            assert results(run.directory) == reference[run.key], run.directory.name


def _start(config: Path, out_dir: Path, address: str) -> subprocess.Popen:
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "supermasks.cli", "sweep", str(config), *GRID, "--seeds", "2",
                             f"run.out_dir={out_dir}", "--address", address, "--no-progress"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _done(out_dir: Path) -> int:
    for path in out_dir.glob("*-sweep-*/sweep.json"):
        try:
            return json.loads(path.read_text())["summary"]["done"]
        except (OSError, ValueError):
            return 0
    return 0


def test_a_sweep_killed_with_sigkill_and_started_again_ends_with_the_same_results(tmp_path, ray_session, reference):
    config = write_config(tmp_path)
    out_dir = tmp_path / "killed"
    proc = _start(config, out_dir, ray_session)
    deadline = time.monotonic() + 300
    while _done(out_dir) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[0]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = [p for p in out_dir.iterdir()
                if "-sweep-" not in p.name and (read_meta(p) or {}).get("status") == "finished"]
    assert 1 <= len(finished) < 8, "the sweep was not killed mid-way"

    again = _start(config, out_dir, ray_session)
    output = again.communicate(timeout=600)[0]
    assert again.returncode == 0, output
    assert f"8 runs: {8 - len(finished)} done, {len(finished)} skipped (already finished), 0 failed" in output
    runs = [p for p in out_dir.iterdir() if "-sweep-" not in p.name]
    assert sorted(p.name.rsplit("-", 1)[1] for p in runs) == sorted(reference)
    for path in runs:
        assert results(path) == reference[path.name.rsplit("-", 1)[1]], path.name


def test_sigterm_to_a_sweep_on_a_cluster_marks_its_runs_interrupted_and_exits_143(tmp_path, ray_session):
    from tests.reliability.test_sweep_stop import _status, start_long_sweep

    proc, out = start_long_sweep(tmp_path, "--address", ray_session)
    in_flight = [p for p in out.iterdir() if _status(p) == "running"]
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert [line for line in err.splitlines() if line.startswith("supermasks:")] == [
        "supermasks: terminated (SIGTERM)"], err
    assert "Traceback" not in err and "SIGTERM received" not in err
    assert [_status(p) for p in in_flight] == ["interrupted", "interrupted"]  # they saved and said so themselves
    (record,) = out.glob("*-sweep-*/sweep.json")
    assert json.loads(record.read_text())["summary"]["pending"] == 3
    assert ray.cluster_resources().get("CPU") == 2  # a cluster it joined is left running
