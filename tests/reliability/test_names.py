"""Run names become directory names: only safe ones load; the error names the rule, before any work."""

import pytest
import yaml

from supermasks.cli import main
from supermasks.config import NAME_RULE, ConfigError, load_config
from supermasks.runner import run
from tests.reliability.test_resume_runs import BASE

BAD = ["../../escape", "..", "/tmp/absolute", "", "a" * 101, "x" * 300, ".hidden", "-option", "a..b", "sub/dir",
       "back\\slash", "with space", "tab\there", "new\nline", "caf\u00e9", "nul\x00"]
GOOD = ["experiment", "a", "A_b-c.1", "_private", "0", "a" * 100, "v1.2-final"]


@pytest.mark.parametrize("name", BAD)
def test_an_unsafe_name_is_refused_at_load_with_the_rule(tmp_path, name):
    with pytest.raises(ConfigError) as refused:
        load_config(None, [f"name={yaml.safe_dump(name, default_style=chr(34)).strip()}", f"run.out_dir={tmp_path}"])
    message = str(refused.value)
    assert message.startswith("name: ") and NAME_RULE in message and "\n" not in message.replace(repr(name), "")
    assert not any(tmp_path.iterdir())  # nothing written, inside out_dir or outside it


@pytest.mark.parametrize("name", GOOD)
def test_a_safe_name_loads(name):
    assert load_config(None, [f"name={name}"]).name == name


def test_a_name_in_a_file_is_checked_and_the_file_stem_too(tmp_path):
    path = tmp_path / "fine.yaml"
    path.write_text("name: ../../escape\n")
    with pytest.raises(ConfigError, match="name: '../../escape' cannot name a run directory"):
        load_config(path)
    spaced = tmp_path / "my experiment.yaml"  # no name given: the stem is the name, and must be safe too
    spaced.write_text("seed: 1\n")
    with pytest.raises(ConfigError, match="'my experiment' cannot name a run directory"):
        load_config(spaced)


def test_the_cli_refuses_an_escaping_name_with_one_line_and_writes_nothing_outside(tmp_path, capsys):
    out = tmp_path / "inside" / "runs"
    capsys.readouterr()  # only what main prints
    code = main(["run", "--no-progress", str(_config(tmp_path)), "name=../../escape", f"run.out_dir={out}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and NAME_RULE in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.yaml"]  # no `inside`, no `escape-<hash>`


def test_a_good_name_still_runs_and_names_the_directory(tmp_path):
    result = run(load_config(None, [*BASE, "method=naive", "scenario.name=domain", "name=v1.2-final",
                                    f"run.out_dir={tmp_path}"]), progress=False)
    assert result.directory.parent == tmp_path and result.directory.name.startswith("v1.2-final-")


def _config(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({"method": ["naive"], "scenario": {"name": "domain"}}))
    return path


@pytest.mark.parametrize("part, why", [("a/b", "part name: 'a/b'"), ("..", "part name: '..'"),
                                       (".x", "part name: '.x'"), ("", "part name: ''")])
def test_a_study_part_name_that_would_make_an_unsafe_run_name_is_refused_at_load(tmp_path, part, why):
    from supermasks.studies.grid import load_study

    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"name": "st", "method": ["naive"], "scenario": {"name": "domain"},
                                    "parts": {"fine": {}, part: {}}}))
    with pytest.raises(ConfigError, match=f"study.yaml: {why} cannot name a run directory") as refused:
        load_study(path, [f"run.out_dir={tmp_path / 'runs'}"])
    assert NAME_RULE in str(refused.value)
    assert not (tmp_path / "runs").exists()


def test_a_study_name_and_a_part_too_long_together_are_refused_naming_the_part(tmp_path):
    from supermasks.studies.grid import load_study

    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"name": "s" * 60, "method": ["naive"], "scenario": {"name": "domain"},
                                    "parts": {"p" * 60: {}}}))
    with pytest.raises(ConfigError, match=f"part {'p' * 60}: name: 's{{60}}-p{{60}}' cannot name a run directory"):
        load_study(path)


def test_a_study_name_is_checked(tmp_path):
    from supermasks.studies.grid import load_study

    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"name": "../up", "method": ["naive"], "parts": {"fine": {}}}))
    with pytest.raises(ConfigError, match="study.yaml: name: '../up' cannot name a run directory"):
        load_study(path)


@pytest.mark.parametrize("bench", ["a/b", "..", "-x"])
def test_a_transfer_study_benchmark_name_is_checked(tmp_path, bench):
    from supermasks.studies.transfer_file import load_transfer_study
    from tests.studies.test_transfer import TINY, write

    spec = {**TINY, "transfer_study": {**TINY["transfer_study"],
                                       "benchmarks": {bench: {"data": {"benchmark": ["permuted"]}}}}}
    with pytest.raises(ConfigError, match=f"benchmark name: '{bench}' cannot name a run directory"):
        load_transfer_study(write(tmp_path, spec))
