"""Sweeps: a grid of settings times seeds, each run its own run directory, executed in this process or on Ray.

`grid` expands a config's `sweep:` block and comma-list overrides into runs (counted, and capped,
first), `job` is what one run does on a worker, `executors` runs the jobs (here, or as Ray tasks;
`address` checks a cluster's address, `reaper` ends a local Ray whose sweep was killed), `record`
writes the sweep directory (sweep.json, runs.csv, failures/), `estimate` says what is left to do,
and `run` ties them together, skipping finished runs.
"""

from supermasks.sweep.executors import RayExecutor, executor_for, local_executor, ray_installed
from supermasks.sweep.grid import DEFAULT_MAX_RUNS, Sweep, SweepRun, load_sweep, split_overrides
from supermasks.sweep.job import Job, Outcome, run_job
from supermasks.sweep.record import Record, write_record
from supermasks.sweep.run import finished, run_sweep, summary_text

__all__ = ["DEFAULT_MAX_RUNS", "Job", "Outcome", "RayExecutor", "Record", "Sweep", "SweepRun", "executor_for",
           "finished", "load_sweep", "local_executor", "ray_installed", "run_job", "run_sweep", "split_overrides",
           "summary_text", "write_record"]
