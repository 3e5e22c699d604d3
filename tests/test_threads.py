"""The command line's thread settings: one thread and passive waiting by default, the user's choice respected."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from supermasks.compute.threads import ThreadPlan, apply_threads, plan_threads

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("requested, environ, expected", [
    (None, {}, ThreadPlan(1, {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"})),
    (3, {}, ThreadPlan(3, {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "3"})),
    (0, {}, ThreadPlan(None, {"OMP_WAIT_POLICY": "PASSIVE"})),
    (None, {"SUPERMASKS_THREADS": "4"}, ThreadPlan(4, {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "4"})),
    (None, {"SUPERMASKS_THREADS": " "}, ThreadPlan(1, {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1"})),
    (None, {"OMP_NUM_THREADS": "6"}, ThreadPlan(None, {"OMP_WAIT_POLICY": "PASSIVE"})),
    (None, {"OMP_NUM_THREADS": "6", "SUPERMASKS_THREADS": "2"},
     ThreadPlan(2, {"OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "2"})),
    (5, {"SUPERMASKS_THREADS": "2", "OMP_WAIT_POLICY": "ACTIVE"}, ThreadPlan(5, {"OMP_NUM_THREADS": "5"})),
])
def test_plan_follows_the_documented_precedence(requested, environ, expected):
    assert plan_threads(requested, environ) == expected


@pytest.mark.parametrize("requested, environ", [(-1, {}), (None, {"SUPERMASKS_THREADS": "two"})])
def test_bad_thread_counts_are_refused(requested, environ):
    with pytest.raises(ValueError, match="threads"):
        plan_threads(requested, environ)


def test_apply_sets_the_variables():
    environ = {"OMP_NUM_THREADS": "8"}
    apply_threads(ThreadPlan(None, {"OMP_WAIT_POLICY": "PASSIVE"}), environ)
    assert environ == {"OMP_NUM_THREADS": "8", "OMP_WAIT_POLICY": "PASSIVE"}


# `supermasks run` on a config that does not exist: the thread settings are applied first, then it
# fails before loading torch; torch imported afterwards shows what the run would have used.
PROBE = textwrap.dedent("""
    import os, sys
    import supermasks.cli as cli
    assert "torch" not in sys.modules
    code = cli.main(["run", "no-such-config.yaml", *sys.argv[1:]])
    import torch
    print(code, torch.get_num_threads(), os.environ.get("OMP_WAIT_POLICY"))
""")


def _probe(args, **env):
    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "SUPERMASKS_THREADS")}
    clean["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, env=clean | env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    code, threads, policy = proc.stdout.split()
    assert code == "2"  # the missing config
    return int(threads), policy


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores to tell two threads from torch's default")
def test_cli_sets_threads_before_torch_loads_and_respects_overrides():
    assert _probe([]) == (1, "PASSIVE")
    assert _probe(["--threads", "2"]) == (2, "PASSIVE")
    assert _probe([], SUPERMASKS_THREADS="2") == (2, "PASSIVE")
    assert _probe([], OMP_NUM_THREADS="2", OMP_WAIT_POLICY="ACTIVE") == (2, "ACTIVE")
    assert _probe(["--threads", "1"], OMP_NUM_THREADS="2") == (1, "PASSIVE")
