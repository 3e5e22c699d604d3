"""`report` and `aggregate` never write over what they read nor into another command's run, sweep or study
directory; paths the operating system cannot take are refused when read; a report over runs of which some
are damaged or unfinished leaves those out with a warning each."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supermasks.cli import main
from supermasks.errors import ConfigError
from supermasks.report.outputs import AGGREGATE, REPORT, check_output, read_directories
from supermasks.config.pathnames import RUN_DIR_ROOM, path_problem

from ..aggregate.rundirs import write_run
from .cli_helpers import TINY, tiny_config as _config
from .test_bad_inputs import _cli, _one_line_error

SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FINAL = {"naive": [0.5, 0.9], "supsup": [0.9, 0.9]}


def _snapshot(root: Path) -> dict[str, bytes | str]:
    """Every file's bytes and every link's target under `root`, by relative path (directories as such)."""
    found: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        found[rel] = f"-> {os.readlink(path)}" if path.is_symlink() else b"" if path.is_dir() else path.read_bytes()
    return found


def _tree(root: Path) -> dict[str, Path]:
    """Two finished runs, a sweep and a study over them, a plain directory with links into a run."""
    runs = root / "runs"
    for seed in (0, 1):
        write_run(runs, f"hand-{seed}", seed, FINAL)
    sweep = runs / "hand-sweep-00000000"
    sweep.mkdir()
    listed = [{"run_directory": f"../hand-{s}", "seed": s, "status": "done", "error": None} for s in (0, 1)]
    (sweep / "sweep.json").write_text(json.dumps({"runs": listed}))
    (sweep / "runs.csv").write_text("run_directory,config_hash,seed,status\n../hand-0,0,0,done\n")
    study = runs / "hand-study-00000000"
    study.mkdir()
    pd.DataFrame({"run_directory": [str(runs / "hand-0"), str(runs / "hand-1")]}).to_csv(study / "study.csv",
                                                                                         index=False)
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "into-run").symlink_to(runs / "hand-0", target_is_directory=True)
    (elsewhere / "meta-link.html").symlink_to(runs / "hand-0" / "meta.json")
    (elsewhere / "notes.html").write_text("<p>my own notes</p>\n")
    return {"runs": runs, "run": runs / "hand-0", "other": runs / "hand-1", "sweep": sweep, "study": study,
            "elsewhere": elsewhere}


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> dict[str, Path]:
    """Read-only for every test that uses it: only refused writes are tried on it."""
    return _tree(tmp_path_factory.mktemp("outputs"))


# --- case: `report RUN -o RUN/<its file>` and friends ----------------------------------------------------------


@pytest.mark.parametrize("name", ["meta.json", "config.yaml", "permuted/naive/metrics.json",
                                  "permuted/supsup/accuracy.csv", "permuted/new.html", "new.html"])
def test_a_report_is_never_written_inside_a_run_but_as_its_report_html(tree, capsys, name):
    before = _snapshot(tree["runs"].parent)
    line = _one_line_error(capsys, "report", tree["run"], "-o", tree["run"] / name)
    assert f"cannot write the report to {tree['run'] / name}" in line
    assert f"inside the run directory {tree['run']}" in line and f"give -o {tree['run'] / 'report.html'}" in line
    assert _snapshot(tree["runs"].parent) == before


def test_a_run_not_being_reported_on_is_protected_too(tree, capsys):
    before = _snapshot(tree["runs"].parent)
    line = _one_line_error(capsys, "report", tree["run"], "-o", tree["other"] / "config.yaml")
    assert f"inside the run directory {tree['other']}" in line
    assert _snapshot(tree["runs"].parent) == before


@pytest.mark.parametrize("via", ["file link", "directory link", "dot-dot"])
def test_links_and_dot_dot_do_not_lead_around_the_check(tree, capsys, via):
    before = _snapshot(tree["runs"].parent)
    out = {"file link": tree["elsewhere"] / "meta-link.html",
           "directory link": tree["elsewhere"] / "into-run" / "config.yaml",
           "dot-dot": tree["elsewhere"] / ".." / "runs" / "hand-1" / ".." / "hand-0" / "meta.json"}[via]
    line = _one_line_error(capsys, "report", tree["run"], "-o", out)
    assert f"inside the run directory {tree['run']}" in line
    if via != "dot-dot":
        assert f"(that is {os.path.realpath(out)})" in line
    assert _snapshot(tree["runs"].parent) == before


def test_a_damaged_run_that_is_read_stays_protected(tmp_path, capsys):
    write_run(tmp_path / "runs", "hand-0", 0, FINAL)
    (tmp_path / "runs" / "hand-0" / "meta.json").unlink()  # config.yaml alone: a run all the same
    before = _snapshot(tmp_path)
    line = _one_line_error(capsys, "aggregate", tmp_path / "runs", "-o", tmp_path / "runs" / "hand-0" / "tables")
    assert "inside the run directory" in line
    assert _snapshot(tmp_path) == before


# --- case: `aggregate SWEEP -o SWEEP` -------------------------------------------------------------------------


@pytest.mark.parametrize("out", ["sweep", "sweep/figures", "study", "run/aggregate"])
def test_the_tables_never_go_into_a_sweep_study_or_run_but_as_their_aggregate(tree, capsys, out):
    before = _snapshot(tree["runs"].parent)
    where, _, below = out.partition("/")
    target = tree[where] / below if below else tree[where]
    line = _one_line_error(capsys, "aggregate", tree["sweep"], "-o", target)
    kind = {"sweep": "sweep", "study": "study", "run": "run"}[where]
    assert f"the {kind} directory {tree[where]}" in line
    if kind in ("sweep", "study"):
        assert f"give -o {tree[where] / 'aggregate'} (its place there)" in line
    assert _snapshot(tree["runs"].parent) == before
    assert (tree["sweep"] / "runs.csv").read_text().startswith("run_directory,config_hash")


def test_a_sweeps_tables_go_to_its_aggregate_directory_by_default(tmp_path, capsys):
    tree = _tree(tmp_path)
    sweep_record = (tree["sweep"] / "runs.csv").read_bytes()
    code, out, _ = _cli(capsys, "aggregate", tree["sweep"], "--no-figures")
    assert code == 0 and out.strip().endswith(f"aggregate directory: {tree['sweep'] / 'aggregate'}")
    assert (tree["sweep"] / "runs.csv").read_bytes() == sweep_record
    assert sorted(pd.read_csv(tree["sweep"] / "aggregate" / "runs.csv")["seed"].unique()) == [0, 1]


# --- cases: -o onto an existing directory (report) or file (aggregate), or a file of another kind -------------


def test_a_report_onto_an_existing_directory_is_one_line(tree, capsys):
    before = _snapshot(tree["runs"].parent)
    line = _one_line_error(capsys, "report", tree["run"], "-o", tree["elsewhere"])
    assert f"cannot write the report to {tree['elsewhere']}: it is a directory" in line
    assert f"such as {tree['elsewhere'] / 'report.html'}" in line
    line = _one_line_error(capsys, "report", tree["run"], "-o", tree["run"])
    assert "it is a directory" in line
    assert _snapshot(tree["runs"].parent) == before


def test_the_tables_onto_an_existing_file_are_one_line(tree, capsys):
    before = _snapshot(tree["runs"].parent)
    notes = tree["elsewhere"] / "notes.html"
    line = _one_line_error(capsys, "aggregate", tree["run"], "-o", notes)
    assert f"cannot write the aggregate's tables to {notes}: it is a file" in line
    line = _one_line_error(capsys, "aggregate", tree["run"], "-o", notes / "tables")
    assert f"{notes} is a file, not a directory" in line
    assert _snapshot(tree["runs"].parent) == before


def test_a_report_replaces_no_file_but_a_report(tree, capsys):
    before = _snapshot(tree["runs"].parent)
    notes = tree["elsewhere"] / "notes.html"
    line = _one_line_error(capsys, "report", tree["run"], "-o", notes)
    assert "exists and is no supermasks report" in line and "remove it yourself or give -o another file" in line
    assert _snapshot(tree["runs"].parent) == before


# --- property: whatever the path, a refusal writes nothing, and only the allowed places are accepted ---------

SEGMENTS = ["runs", "hand-0", "hand-1", "hand-sweep-00000000", "hand-study-00000000", "permuted", "naive", "..",
            ".", "elsewhere", "into-run", "meta-link.html", "notes.html", "meta.json", "config.yaml",
            "report.html", "aggregate", "new.html", "runs.csv", "sweep.json", "study.csv"]
paths = st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=6).map(lambda parts: os.path.join(*parts))


def _inside(path: str, directory: Path) -> bool:
    return os.path.commonpath([path, str(directory)]) == str(directory)


def _allowed(tree: dict[str, Path], out: Path, output: str) -> bool:
    """The rule, stated on resolved strings: what may be written where (the oracle of the property)."""
    real = os.path.realpath(out)
    protected = {tree["run"]: "run", tree["other"]: "run", tree["sweep"]: "sweep", tree["study"]: "study"}
    for directory, kind in protected.items():
        if output == "report":
            if _inside(real, directory) and real != str(directory) and real != str(directory / "report.html"):
                return False
        elif _inside(real, directory) and not (kind != "run" and real == str(directory / "aggregate")):
            return False
    given = Path(os.path.abspath(tree["runs"].parent)).joinpath(*Path(out).relative_to(tree["runs"].parent).parts)
    for prefix in [*given.parents, *Path(real).parents]:  # no write gets through a file, even as `file/..`
        if os.path.lexists(prefix) and not os.path.isdir(prefix):
            return False
    if output == "report":
        return not os.path.isdir(real) and (not os.path.exists(real) or Path(real).read_bytes().startswith(b"<!"))
    return not os.path.exists(real) or os.path.isdir(real)


@SETTINGS
@given(relative=paths, output=st.sampled_from(["report", "aggregate"]))
def test_only_the_allowed_places_are_accepted(tree, relative, output):
    out = tree["runs"].parent / relative
    reads = read_directories([tree["runs"]])
    try:
        check_output(out, REPORT if output == "report" else AGGREGATE, reads)
        accepted = True
    except ConfigError as error:
        accepted = False
        assert "\n" not in str(error) and str(out) in str(error)
    assert accepted == _allowed(tree, out, output), relative


@SETTINGS
@given(relative=paths, output=st.sampled_from(["report", "aggregate"]))
def test_a_refused_output_leaves_every_file_as_it_was(tree, capsys, relative, output):
    out = tree["runs"].parent / relative
    if _allowed(tree, out, output):
        return  # an accepted path is written: the property is about the refused ones
    before = _snapshot(tree["runs"].parent)
    line = _one_line_error(capsys, output, tree["runs"], "-o", out)
    assert line.startswith(f"supermasks: error: cannot write the {'report' if output == 'report' else 'agg'}")
    assert _snapshot(tree["runs"].parent) == before


# --- paths the operating system cannot take ------------------------------------------------------------------


def _long_path(root: Path, length: int) -> Path:
    """A path under `root` of exactly `length` bytes, made absolute (components of at most 200 bytes)."""
    remaining = length - len(os.fsencode(str(root.absolute())))
    count = -(-remaining // 201)  # each component takes its bytes and a separator
    total = remaining - count
    path = root.absolute().joinpath(*("d" * (total // count + (i < total % count)) for i in range(count)))
    assert len(os.fsencode(str(path))) == length
    return path


def _path_max(path: Path) -> int:
    return os.pathconf(path, "PC_PATH_MAX")


@pytest.mark.parametrize("command, extra", [("run", []), ("compare", ["seeds=[0,1]"])])
def test_an_out_dir_over_the_name_or_path_limit_is_refused_when_read(tmp_path, capsys, command, extra):
    config = _config(tmp_path)
    long_name = tmp_path / ("n" * 256)
    line = _one_line_error(capsys, command, config, f"run.out_dir={long_name}", *TINY, *extra)
    assert "run.out_dir has a component of 256 bytes" in line and "at most 255 bytes" in line
    too_long = _long_path(tmp_path, _path_max(tmp_path) - RUN_DIR_ROOM)
    line = _one_line_error(capsys, command, config, f"run.out_dir={too_long}", *TINY, *extra)
    assert f"run.out_dir is {_path_max(tmp_path) - RUN_DIR_ROOM} bytes long" in line
    assert "limit of paths here" in line and "choose another run.out_dir" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == [config.name]  # nothing created: no meta.json running


def test_the_longest_out_dir_accepted_holds_a_whole_run(tmp_path, capsys):
    out_dir = _long_path(tmp_path, _path_max(tmp_path) - RUN_DIR_ROOM - 1)
    code, out, err = _cli(capsys, "run", _config(tmp_path), f"run.out_dir={out_dir}", *TINY, "run.report=false")
    assert code == 0, err
    (run_dir,) = out_dir.iterdir()
    assert json.loads((run_dir / "meta.json").read_text())["status"] == "finished"


@pytest.mark.parametrize("how", ["config file", "override"])
def test_a_nul_byte_in_out_dir_is_refused_when_read(tmp_path, capsys, how):
    if how == "config file":
        config = _config(tmp_path, 'name: tiny\nrun: {out_dir: "runs\\0x"}\n')
        line = _one_line_error(capsys, "run", config, *TINY)
    else:
        config = _config(tmp_path)
        line = _one_line_error(capsys, "run", config, 'run.out_dir="runs\\0x"', *TINY)
    assert "run.out_dir holds a NUL byte" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == [config.name]


@pytest.mark.parametrize("command", ["report", "aggregate"])
def test_an_output_option_over_the_limits_is_one_line(tree, capsys, command):
    before = _snapshot(tree["runs"].parent)
    out = tree["elsewhere"] / ("o" * 300)
    line = _one_line_error(capsys, command, tree["run"], "-o", out)
    assert "has a component of 300 bytes" in line and "give -o another path" in line
    out = _long_path(tree["elsewhere"], _path_max(tree["elsewhere"]) + 10)
    line = _one_line_error(capsys, command, tree["run"], "-o", out)
    assert "limit of paths here" in line
    assert _snapshot(tree["runs"].parent) == before


@pytest.mark.parametrize("command", ["report", "aggregate"])
def test_a_path_argument_over_the_limits_is_one_line(tmp_path, capsys, command):
    line = _one_line_error(capsys, command, tmp_path / ("p" * 300))
    assert "cannot read" in line and "has a component of 300 bytes" in line
    assert list(tmp_path.iterdir()) == []


name_parts = st.lists(st.tuples(st.sampled_from(["a", "é"]), st.integers(1, 300)), min_size=1, max_size=24)


@SETTINGS
@given(parts=name_parts)
def test_path_problem_agrees_with_the_operating_system(tmp_path, parts):
    """None exactly when the directories can be created: byte lengths, not characters, count."""
    top = tmp_path / "p"
    path = top.joinpath(*(letter * count for letter, count in parts))
    try:
        os.makedirs(path)
        created = True
    except OSError as error:
        assert error.errno == errno.ENAMETOOLONG
        created = False
    finally:
        shutil.rmtree(top, ignore_errors=True)
    assert (path_problem(path) is None) == created


# --- a report over runs of which some are damaged or unfinished ------------------------------------------------


def _mixed_runs(root: Path) -> Path:
    runs = root / "runs"
    write_run(runs, "hand-good", 0, FINAL)
    write_run(runs, "hand-damaged", 1, FINAL)
    (runs / "hand-damaged" / "permuted" / "naive" / "metrics.json").write_text("{not json")
    write_run(runs, "hand-killed", 2, FINAL, status="running")
    for method in FINAL:  # killed before its results: no metrics.json, no accuracy.csv
        (runs / "hand-killed" / "permuted" / method / "metrics.json").unlink()
    return runs


def test_a_report_leaves_out_damaged_and_killed_runs_with_a_warning_each(tmp_path, capsys):
    runs = _mixed_runs(tmp_path)
    page = tmp_path / "page.html"
    code, out, err = _cli(capsys, "report", runs, "-o", page)
    assert code == 0 and out.strip() == f"report: {page}", err
    warnings = [line for line in err.splitlines() if line.startswith("warning: skipping")]
    assert len(warnings) == 2, err
    damaged = next(line for line in warnings if "hand-damaged" in line)
    assert "cannot be read" in damaged and "metrics.json" in damaged
    killed = next(line for line in warnings if "hand-killed" in line)
    assert "status running: unfinished: killed, or still running" in killed
    html = page.read_text()
    assert "Runs left out" in html and "hand-damaged" in html and "hand-killed" in html
    assert "Run hand, seed 0" in html  # the one run left, named by its config name and seed


def test_a_report_with_nothing_usable_left_is_one_line(tmp_path, capsys):
    runs = _mixed_runs(tmp_path)
    shutil.rmtree(runs / "hand-good")
    line = _one_line_error(capsys, "report", runs, "-o", tmp_path / "page.html")
    assert "no finished run to report on" in line and "hand-damaged" in line and "hand-killed" in line
    assert not (tmp_path / "page.html").exists()


# --- aggregate of a directory without runs: what to pass instead ----------------------------------------------


def test_aggregate_of_a_study_directory_names_where_its_runs_are(tree, capsys):
    line = _one_line_error(capsys, "aggregate", tree["study"])
    assert f"{tree['study']} is no run directory and holds none" in line
    assert f"its runs are beside it in {tree['runs']}: pass that directory" in line
    assert f"supermasks report {tree['study']}" in line


def test_aggregate_inside_a_run_or_beside_runs_names_what_to_pass(tree, capsys, tmp_path):
    line = _one_line_error(capsys, "aggregate", tree["run"] / "permuted")
    assert f"it is inside the run directory {tree['run']}: pass that" in line
    empty = tmp_path / "empty"
    empty.mkdir()
    write_run(tmp_path, "hand-0", 0, FINAL)
    line = _one_line_error(capsys, "aggregate", empty)
    assert f"its parent {tmp_path} holds runs: pass that" in line
