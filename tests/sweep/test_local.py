"""Sweeps in this process: a failing run is recorded and does not stop the others; a rerun skips what finished."""

import os
import subprocess
import sys
from pathlib import Path

from supermasks.cli import main
from supermasks.runner import run
from supermasks.store.rundir import read_meta
from supermasks.sweep import local_executor, run_sweep

from tests.sweep.common import block, results, sweep_record, tiny_sweep, write_config

ROOT = Path(__file__).resolve().parents[2]


def test_failure_is_recorded_the_others_finish_and_a_rerun_retries_only_it(tmp_path):
    sweep = tiny_sweep(tmp_path, tmp_path / "runs")
    obstacle = block(sweep, 5)
    record = run_sweep(sweep, local_executor, progress=False)
    assert record.summary() == {"done": 7, "skipped": 0, "failed": 1, "pending": 0}
    assert record.failed() == [sweep.runs[5].directory]
    saved = sweep_record(sweep)
    assert saved["summary"] == record.summary() and saved["seeds"] == [0, 1]
    assert saved["grid"] == {"method": ["supsup", "naive"], "data.benchmark": ["permuted", "rotated"]}
    entry = saved["runs"][5]
    assert entry["status"] == "failed" and "is not a directory" in entry["error"]
    assert entry["grid"] == sweep.runs[5].grid and entry["seed"] == sweep.runs[5].seed
    failure = sweep.directory() / "failures" / f"{sweep.runs[5].key}.txt"
    assert "Traceback" in failure.read_text() and "is not a directory" in failure.read_text()
    for item, run_ in zip(saved["runs"], sweep.runs):
        assert (sweep.directory() / item["run_directory"]).resolve() == run_.directory
        if item["status"] == "done":
            assert read_meta(run_.directory)["status"] == "finished"
    # Rerun: every finished run is skipped, the failing one fails again.
    again = run_sweep(sweep, local_executor, progress=False)
    assert again.summary() == {"done": 0, "skipped": 7, "failed": 1, "pending": 0}
    # The obstacle gone, only that run runs; its failure file goes.
    obstacle.unlink()
    last = run_sweep(sweep, local_executor, progress=False)
    assert last.summary() == {"done": 1, "skipped": 7, "failed": 0, "pending": 0}
    assert not failure.exists()
    # A sweep run is an ordinary run: `supermasks run` with its settings finds it finished.
    assert run(sweep.runs[5].config, progress=False).skipped


def test_cli_sweep_reports_and_exits_1_on_a_failure(tmp_path, capsys):
    config = write_config(tmp_path)
    out_dir = tmp_path / "runs"
    args = ["sweep", str(config), "method=naive", "--seeds", "2", "data.benchmark=permuted,rotated",
            f"run.out_dir={out_dir}", "--executor", "local", "--no-progress"]
    sweep = tiny_sweep(tmp_path, out_dir, extra=("method=naive",))
    block(sweep, 0)
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "sweep: 4 runs: 3 done, 0 skipped (already finished), 1 failed" in out
    assert f"failed: {sweep.runs[0].directory}" in out
    assert out.strip().splitlines()[-1] == f"sweep directory: {sweep.directory()}"
    # The finished runs' table over seeds, as `supermasks aggregate` prints it, before the counts
    table = out[out.index("benchmark: permuted"):out.index("sweep: 4 runs:")]
    assert "benchmark: rotated" in table and "mean ± half-width of the 95% Student t interval" in table
    header, *rows = table.splitlines()[1:3]
    assert header.split()[0] == "method" and "ACC" in header.split() and rows[0].split()[0] == "naive"
    assert rows[0].rstrip().endswith(" 1")  # permuted: seed 0's run failed, seed 1's is the mean
    sweep.runs[0].directory.unlink()
    assert main(args) == 0
    assert "sweep: 4 runs: 1 done, 3 skipped (already finished), 0 failed" in capsys.readouterr().out


def test_without_ray_a_sweep_runs_in_process(tmp_path):
    """`sys.modules['ray'] = None` hides an installed Ray: the default executor is then this process."""
    probe = ("import sys; sys.modules['ray'] = None\n"
             "from supermasks.cli import main\n"
             f"code = main(['sweep', {str(write_config(tmp_path))!r}, 'method=naive', 'seed=0,1', "
             f"'run.out_dir={tmp_path / 'runs'}', '--no-progress'])\n"
             "assert code == 0, code\n"
             "assert main(['sweep', 'x.yaml', '--executor', 'ray']) == 2\n")
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=600,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Ray is not installed: running the sweep in this process" in proc.stderr
    assert "pip install 'supermasks[ray]'" in proc.stderr
    assert "sweep: 2 runs: 2 done" in proc.stdout
    runs = sorted(p for p in (tmp_path / "runs").iterdir() if "-sweep-" not in p.name)
    assert len(runs) == 2 and all(results(p) for p in runs)


def test_a_run_in_this_process_uses_its_threads_and_gives_them_back(tmp_path, monkeypatch):
    import torch

    # Under passive waits (which a CLI test may have left set) a run of a small FC net trains with one thread.
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)

    from supermasks.config import to_dict
    from supermasks.sweep import Job, run_job

    (item,) = tiny_sweep(tmp_path, tmp_path / "runs", seeds=1, extra=("method=naive", "data.benchmark=permuted")).runs
    before, environ = torch.get_num_threads(), dict(os.environ)
    outcome = run_job(Job(item.key, to_dict(item.config), threads=2))
    assert outcome.status == "done", outcome.error
    assert read_meta(item.directory)["torch_threads"] == 2
    assert torch.get_num_threads() == before and dict(os.environ) == environ
    assert run_job(Job(item.key, to_dict(item.config), threads=2)).status == "skipped"


def test_a_locked_run_directory_is_waited_for_briefly_then_reported(tmp_path, monkeypatch):
    import threading

    from supermasks.config import to_dict
    from supermasks.store.lock import run_lock
    from supermasks.sweep import Job, run_job
    from supermasks.sweep import job as job_module

    first, second = tiny_sweep(tmp_path, tmp_path / "runs", extra=("method=naive", "data.benchmark=permuted")).runs
    held = run_lock(first.directory)  # as a worker of a killed sweep would hold it, a moment longer
    held.__enter__()
    threading.Timer(3.0, held.__exit__, (None, None, None)).start()
    waits = []
    sleep = job_module.time.sleep
    monkeypatch.setattr(job_module.time, "sleep", lambda s: (waits.append(s), sleep(s)))
    assert run_job(Job(first.key, to_dict(first.config), 1)).status == "done"
    assert waits, "the run did not meet the lock"
    monkeypatch.undo()
    monkeypatch.setattr(job_module, "LOCK_WAIT_SECONDS", 0.0)
    with run_lock(second.directory):
        outcome = run_job(Job(second.key, to_dict(second.config), 1))
    assert outcome.status == "failed" and "RunLockedError" in outcome.error and "is being written by" in outcome.error
