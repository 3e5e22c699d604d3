"""`supermasks results update` and `reproduce` end to end on a tiny synthetic run and a fake benchmark script; the
slow suite reruns the documented results that take under 5 minutes (benchmarks compared where the machine does not
decide)."""

import json
import re
import shutil
from pathlib import Path

import pytest

from supermasks.cli import main
from supermasks.data.sources import list_sources
from supermasks.results import registry, tables
from supermasks.results.diff import diff_results
from supermasks.results.registry import Result, list_results
from supermasks.results.rerun import VERSION_FILE, committed_files, reproduce, update

ROOT = Path(__file__).resolve().parents[2]

TINY = Result(
    name="tiny",
    command=("run", "configs/supsup.yaml", "data.source=synthetic", "data.benchmark=[permuted]", "data.num_tasks=2",
             "training.steps_per_task=5", "run.overlap=false", "run.figures=false", "run.report=false"),
    minutes=0.1,
    tables={"tiny": tables.compare_table},
)


def test_update_keeps_small_files_then_reproduce_agrees_and_a_changed_metric_is_named(tmp_path, monkeypatch, capsys):
    root = tmp_path / "repo"
    (root / "configs").mkdir(parents=True)
    shutil.copy(ROOT / "configs" / "supsup.yaml", root / "configs" / "supsup.yaml")
    monkeypatch.setitem(registry.RESULTS, "tiny", TINY)

    dest = update(TINY, root)
    kept = committed_files(dest)
    assert kept and all(re.fullmatch(r"supsup-[0-9a-f]{8}/(config\.yaml|comparison\.csv|permuted/supsup/"
                                     r"(metrics\.json|accuracy\.csv))", f) for f in kept), kept
    version = json.loads((dest / VERSION_FILE).read_text())
    assert version["command"] == "supermasks " + " ".join(TINY.command) and version["seconds"] > 0
    assert "package_version" in version and "git_commit" in version
    # The cost of the command: its CPU time cannot exceed wall time x threads by much, its peak set is a process's.
    assert version["threads"] == 1 and 0 < version["cpu_seconds"] <= 2 * version["seconds"] + 1
    assert 50 < version["peak_rss_mib"] < 16 * 1024

    assert main(["results", "--root", str(root), "reproduce", "tiny", "--keep"]) == 0
    out = capsys.readouterr().out
    assert "identical to results/tiny/" in out
    rerun_dir = Path(re.search(r"the rerun is in (\S+)", out).group(1))

    # The same rerun against a committed copy with one metric and one timing changed: only the metric is reported.
    metrics = next(dest.glob("*/permuted/supsup/metrics.json"))
    values = json.loads(metrics.read_text())
    metrics.write_text(json.dumps({**values, "ACC": values["ACC"] + 0.01, "seconds_per_task": 123.0}))
    lines = diff_results(dest, rerun_dir / "runs", committed_files(dest))
    rel = metrics.relative_to(dest).as_posix()
    assert lines == [f"{rel}: ACC: committed {values['ACC'] + 0.01!r}, rerun {values['ACC']!r}"]
    shutil.rmtree(rerun_dir)


def test_reproduce_of_an_unknown_result_lists_the_registered_ones(capsys):
    assert main(["results", "reproduce", "nope"]) == 2
    from supermasks.results.registry import RESULTS

    assert f"no documented result 'nope'; registered: {', '.join(sorted(RESULTS))}" in capsys.readouterr().err


def test_a_command_that_fails_is_an_error_with_its_output_and_commits_nothing(tmp_path, monkeypatch, capsys):
    broken = Result(name="broken", command=("run", "configs/missing.yaml"), minutes=0.1, tables={"b": tables.compare_table})
    monkeypatch.setitem(registry.RESULTS, "broken", broken)
    (tmp_path / "results").mkdir()
    assert main(["results", "--root", str(tmp_path), "update", "broken"]) == 1
    err = capsys.readouterr().err
    assert "`supermasks run configs/missing.yaml` exited with 2" in err and "missing.yaml" in err.split("\n", 1)[1]
    assert not (tmp_path / "results" / "broken").exists()
    assert main(["results", "--root", str(tmp_path), "reproduce", "broken"]) == 1
    assert "results/broken is missing: `supermasks results update broken` makes it" in capsys.readouterr().err


def _available(source: str) -> bool:
    return any(info.name == source and info.available for info in list_sources())


QUICK = [r for r in list_results() if r.minutes < 5]


@pytest.mark.slow
@pytest.mark.parametrize("result", QUICK, ids=[r.name for r in QUICK])
def test_documented_result_reproduces_exactly(result: Result):
    missing = [s for s in result.needs if not _available(s)]
    if missing:
        pytest.skip(f"{result.name} needs {', '.join(missing)}")
    found = reproduce(result, ROOT)
    # A benchmark's timings and memory growth are the machine's: they come back side by side, never as differences;
    # its table shapes, counts and sizes must still agree.
    assert not found.differences, "\n".join(found.differences)
    assert (result.kind == "benchmark") == bool(found.measurements)


FAKE_BENCHMARK = """
import random
print("noise before the section")
print("## Fake figures\\n")
print("Measured %d times, median %.2f s.\\n" % (3, random.uniform(1, 2)))
print("| tasks | ms | bytes |")
print("|---:|---:|---:|")
for tasks in (10, 250):
    print("| %d | %.1f | %d |" % (tasks, random.uniform(1, 9), tasks * 40))
"""

FAKE = Result(name="fake-bench", command=("benchmarks/fake.py", "--flag"), minutes=0.1, kind="benchmark",
              tables={"fake-bench": tables.data_pipeline_table}, files=("output.md",), measured=("ms",))


def _fake_checkout(tmp_path: Path, monkeypatch) -> Path:
    root = tmp_path / "repo"
    (root / "benchmarks").mkdir(parents=True)
    (root / "benchmarks" / "fake.py").write_text(FAKE_BENCHMARK)
    monkeypatch.setitem(registry.RESULTS, FAKE.name, FAKE)
    return root


def test_a_benchmark_keeps_its_section_and_machine_and_reproduce_compares_all_but_the_timings(tmp_path, monkeypatch,
                                                                                               capsys):
    root = _fake_checkout(tmp_path, monkeypatch)
    assert main(["results", "--root", str(root), "update", FAKE.name]) == 0
    dest = root / "results" / FAKE.name
    assert committed_files(dest) == ["output.md"]
    output = (dest / "output.md").read_text()
    assert output.startswith("## Fake figures\n") and "noise" not in output
    version = json.loads((dest / VERSION_FILE).read_text())
    assert version["command"] == "python benchmarks/fake.py --flag"
    machine = version["machine"]
    assert {"cpu", "logical_cores", "memory_gib", "torch", "thread_variables", "date", "load_average"} <= set(machine)

    capsys.readouterr()
    assert main(["results", "--root", str(root), "reproduce", FAKE.name]) == 0
    out = capsys.readouterr().out
    assert "timings and the other measurements of the machine are not compared" in out
    assert "| tasks | ms |" in out and re.search(r"\| 250 \| \d\.\d / \d\.\d \|", out)  # committed / rerun
    assert "Measured # times, median # s.: 3, " in out  # the prose's numbers, side by side too
    assert "the same tables as results/fake-bench/" in out

    # A size that does not depend on the machine is compared: a changed one is named, with the table and row.
    (dest / "output.md").write_text(output.replace("| 10000 |", "| 10001 |"))
    assert main(["results", "--root", str(root), "reproduce", FAKE.name]) == 1
    err = capsys.readouterr().err
    assert "output.md: table `tasks`, row 250, column bytes: committed 10001, rerun 10000" in err


def test_a_benchmark_that_prints_no_section_is_an_error_and_commits_nothing(tmp_path, monkeypatch, capsys):
    root = _fake_checkout(tmp_path, monkeypatch)
    (root / "benchmarks" / "fake.py").write_text("print('plain text, no heading')\n")
    assert main(["results", "--root", str(root), "update", FAKE.name]) == 1
    err = capsys.readouterr().err
    assert "printed no Markdown section" in err and "plain text, no heading" in err
    assert not (root / "results" / FAKE.name).exists()
