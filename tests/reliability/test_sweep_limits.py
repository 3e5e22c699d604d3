"""A sweep's size is counted and capped before any run is built, it says what it is about to do, and every option of
`sweep` (CPUs, GPUs, --address, timeouts, the cap) is checked first: one line, exit 2, nothing written."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from supermasks.config import ConfigError
from supermasks.sweep import load_sweep
from supermasks.sweep.address import NO_CLUSTER, check_reachable, parse_address, resolve_auto
from supermasks.sweep.estimate import estimate, estimate_text
from supermasks.sweep.grid import DEFAULT_MAX_RUNS, count_runs
from tests.reliability.test_bad_inputs import _cli, _files, _one_line_error
from tests.sweep.common import write_config

TINY = ["data.num_tasks=2", "training.steps_per_task=2", "--no-progress"]


def _sweep_error(tmp_path: Path, capsys, *argv: str) -> str:
    """`sweep` on the tiny config with `argv`: one line, exit 2, and no output directory made."""
    out = tmp_path / "runs"
    line = _one_line_error(capsys, "sweep", write_config(tmp_path), f"run.out_dir={out}", *TINY, *argv)
    assert _files(out) == []
    return line


# --- the size of a sweep ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seeds", ["100000000", str(10**40)])
def test_a_huge_seed_count_is_refused_before_the_seeds_are_built(tmp_path, capsys, seeds):
    line = _sweep_error(tmp_path, capsys, "--seeds", seeds, "--executor", "local")
    assert f"this sweep has {int(seeds) * 2:,} runs (2 values of method x {int(seeds):,} seeds)" in line
    assert f"more than the limit of {DEFAULT_MAX_RUNS:,}" in line and f"--max-runs {int(seeds) * 2}" in line


def test_a_grid_of_90000_points_is_refused_at_once_naming_its_factors(tmp_path, capsys):
    rates = ",".join(f"{i + 1}e-4" for i in range(300))
    sizes = ",".join(str(i + 1) for i in range(150))
    line = _sweep_error(tmp_path, capsys, f"training.lr={rates}", f"training.batch_size={sizes}", "--executor", "local")
    assert "this sweep has 90,000 runs (2 values of method x 300 values of training.lr x 150 values of " \
           "training.batch_size x 1 seed)" in line


def test_max_runs_raises_and_lowers_the_limit(tmp_path, capsys):
    line = _sweep_error(tmp_path, capsys, "--seeds", "2", "--max-runs", "3", "--executor", "local")
    assert "this sweep has 4 runs" in line and "limit of 3" in line
    out = tmp_path / "runs"
    code, _, err = _cli(capsys, "sweep", write_config(tmp_path), f"run.out_dir={out}", *TINY, "--seeds", "2",
                        "--max-runs", "4", "--executor", "local")
    assert code == 0, err
    assert "sweep: 4 runs (2 values of method x 2 seeds)" in err
    assert "0 already finished, 4 to run, 8 task trainings" in err and "no time estimate until" in err
    (record,) = out.glob("*-sweep-*/sweep.json")
    assert json.loads(record.read_text())["summary"]["done"] == 4


@pytest.mark.parametrize("value", ["0", "-5"])
def test_max_runs_below_one_is_refused(tmp_path, capsys, value):
    assert "--max-runs must be a whole number, 1 or more" in _sweep_error(tmp_path, capsys, "--max-runs", value)


@settings(max_examples=25, deadline=None)
@given(sizes=st.lists(st.integers(1, 3), max_size=2), seeds=st.integers(1, 3), limit=st.integers(1, 12))
def test_the_count_is_the_number_of_runs_built_and_the_limit_holds(tmp_path_factory, sizes, seeds, limit):
    folder = tmp_path_factory.mktemp("grid")
    overrides = [f"{key}={','.join(str(v + 1) for v in range(size))}"
                 for key, size in zip(["training.batch_size", "training.steps_per_task"], sizes)]
    grid = {key: [None] * size for key, size in zip("ab", sizes)} | {"method": ["supsup", "naive"]}
    expected = count_runs(grid, seeds)
    if expected > limit:
        with pytest.raises(ConfigError, match=f"this sweep has {expected:,} runs"):
            load_sweep(write_config(folder), [*overrides, f"run.out_dir={folder}"], seeds=seeds, max_runs=limit)
    else:
        sweep = load_sweep(write_config(folder), [*overrides, f"run.out_dir={folder}"], seeds=seeds, max_runs=limit)
        assert len(sweep.runs) == expected == len({run.key for run in sweep.runs})


def test_the_estimate_is_timed_from_the_finished_runs_of_the_sweep(tmp_path, capsys):
    out = tmp_path / "runs"
    args = ["sweep", write_config(tmp_path), f"run.out_dir={out}", *TINY, "--executor", "local"]
    assert _cli(capsys, *args)[0] == 0
    code, _, err = _cli(capsys, *args, "--seeds", "2")
    assert code == 0, err
    assert "2 already finished, 2 to run, 4 task trainings" in err
    assert "of run time one after another, from the 2 finished runs of this sweep" in err


def test_the_estimate_scales_the_measured_time_per_task_training(tmp_path):
    sweep = load_sweep(write_config(tmp_path), [f"run.out_dir={tmp_path}", "data.num_tasks=2"], seeds=3)
    done, todo = sweep.runs[:2], sweep.runs[2:]
    for run, seconds in zip(done, (10, 30)):
        run.directory.mkdir(parents=True)
        (run.directory / "meta.json").write_text(json.dumps(
            {"status": "finished", "started": "2026-01-01T00:00:00+00:00",
             "finished": f"2026-01-01T00:00:{seconds:02d}+00:00"}))
    found = estimate(todo, done)
    # 40 s over 4 task trainings (2 runs of one method, 2 tasks): 10 s each; 4 runs of 2 trainings to do
    assert (found.to_run, found.trainings, found.seconds, found.measured_runs) == (4, 8, 80.0, 2)
    assert "about 80 s of run time one after another, from the 2 finished runs" in estimate_text(found)


# --- options ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv, expected", [
    (["--num-cpus", "-1"], "--num-cpus must be a whole number of CPUs, 1 or more, got -1"),
    (["--num-cpus", "0"], "--num-cpus must be a whole number of CPUs, 1 or more, got 0"),
    (["--cpus-per-run", "0"], "--cpus-per-run must be a positive number"),
    (["--cpus-per-run", "nan"], "--cpus-per-run must be a positive number"),
    (["--cpus-per-run", "inf"], "--cpus-per-run must be a positive number"),
    (["--gpus-per-run", "-1"], "--gpus-per-run must be 0 or a positive number"),
    (["--gpus-per-run", "nan"], "--gpus-per-run must be 0 or a positive number"),
    (["--connect-timeout", "0", "--address", "127.0.0.1:6379"], "--connect-timeout must be a positive number"),
    (["--cpus-per-run", "3", "--num-cpus", "2"], "lower --cpus-per-run or raise --num-cpus"),
    (["--num-cpus", "2", "--address", "127.0.0.1:6379"], "--num-cpus sets the CPUs of the local Ray"),
    (["--address", "foo"], "--address must be HOST:PORT"),
    (["--address", "http://head:6379"], "--address must be HOST:PORT"),
    (["--address", "head:0"], "--address must be HOST:PORT"),
    (["--address", "head:65536"], "--address must be HOST:PORT"),
    (["--address", ":6379"], "--address must be HOST:PORT"),
    (["--address", "name.invalid:6379"], "cannot resolve the host 'name.invalid'"),
])
def test_a_bad_option_is_one_line_before_anything_starts(tmp_path, capsys, argv, expected):
    pytest.importorskip("ray")  # without Ray these options are refused as Ray's
    line = _sweep_error(tmp_path, capsys, "--executor", "ray", *argv)
    assert expected in line
    if "--num-cpus" in argv[:1]:
        assert "--cpus-per-run" not in line  # the option that is wrong, not another


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_address_where_nothing_listens_is_one_line_at_once(tmp_path, capsys):
    pytest.importorskip("ray")
    port = _closed_port()
    line = _sweep_error(tmp_path, capsys, "--executor", "ray", "--address", f"127.0.0.1:{port}")
    assert f"no Ray cluster answers at 127.0.0.1:{port}" in line and "refused" in line
    assert "drop --address" in line and f"ray start --head --port={port}" in line


def test_auto_without_a_cluster_says_how_to_start_one(tmp_path, capsys, monkeypatch):
    pytest.importorskip("ray")
    import ray._private.services as services

    def nothing_here(address):
        raise ConnectionError("Could not find any running Ray instance.")

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(services, "canonicalize_bootstrap_address_or_die", nothing_here)
    line = _sweep_error(tmp_path, capsys, "--executor", "ray", "--address", "auto")
    assert line == f"supermasks: error: {NO_CLUSTER}"
    assert "ray start --head" in line and "drop --address" in line


def test_auto_follows_ray_address(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "10.1.2.3:6380")
    assert (resolve_auto().host, resolve_auto().port) == ("10.1.2.3", 6380)


def test_a_listening_head_passes_the_check_and_the_forms_parse():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        check_reachable(parse_address(f"127.0.0.1:{port}"), timeout=2.0)
    assert parse_address("auto") is None
    assert (parse_address("ray://head:10001").host, parse_address("ray://head:10001").port) == ("head", 10001)
    assert parse_address("[::1]:6379").host == "::1"


def test_the_help_states_the_default_limit(capsys):
    from supermasks.cli import main

    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    assert f"default {DEFAULT_MAX_RUNS}" in capsys.readouterr().out


class _RayThatCannotStart:
    """A stand-in for the ray module whose init fails as a local Ray does when its node times out starting."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def init(self, **arguments) -> None:
        raise self.error


def test_a_local_ray_that_fails_to_start_is_one_line_with_what_to_do():
    from supermasks.sweep.executors import _init

    error = Exception("The current node timed out during startup. This could happen because some of the Ray "
                      "processes failed to startup.\nmore lines")
    with pytest.raises(ConfigError) as raised:
        _init(_RayThatCannotStart(error), {"num_cpus": 2})
    message = str(raised.value)
    assert "\n" not in message and "timed out during startup" in message and "--executor local" in message
    with pytest.raises(Exception, match="timed out"):  # joining a given cluster keeps Ray's own error
        _init(_RayThatCannotStart(error), {"address": "10.0.0.1:6379"})
