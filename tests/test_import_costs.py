"""The training path loads neither scipy, matplotlib nor torch._dynamo: they are imported where they are used."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("scipy", "matplotlib", "torch._dynamo")

# A one-task run on synthetic data through the command line's own imports; figures on (a run of
# one task draws none: no overlap pairs, no curves), overlap on (it needs two tasks).
PROBE = textwrap.dedent("""
    import sys
    import supermasks.cli, supermasks.studies.grid, supermasks.studies.transfer
    import supermasks.studies.transfer_file, supermasks.studies.transfer_results
    from supermasks.config import load_config
    from supermasks.runner import run
    import supermasks.analysis.overlap, supermasks.analysis.similarity, supermasks.runner.overlap
    imported = [m for m in sys.argv[2:] if m in sys.modules]
    run(load_config(None, ["data.source=synthetic", "data.num_tasks=1", "training.steps_per_task=5",
                           "training.batch_size=16", f"run.out_dir={sys.argv[1]}"]), progress=False)
    print(" ".join(imported) or "-", "|", " ".join(m for m in sys.argv[2:] if m in sys.modules) or "-")
""")


def test_a_one_task_run_imports_no_plotting_statistics_or_compiler(tmp_path):
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path), *HEAVY], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["-", "|", "-"], proc.stdout
    (run_dir,) = tmp_path.iterdir()
    assert (run_dir / "permuted" / "supsup" / "accuracy.csv").is_file()
