"""YAML and JSON are read within bounds: a YAML alias bomb, a deeply nested or oversized YAML text (a config, a
study or sweep file, an override) is one line naming the limit; a JSON file of a run nested thousands of levels
deep is a damaged file like a truncated one. Nothing ever raises MemoryError or RecursionError, and no message
quotes more than a few dozen characters of a value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supermasks.config.typed import SHOWN_CHARS, shown
from supermasks.cli import main
from supermasks.config import ConfigError, load_config, parse_overrides, valid_keys
from supermasks.store.checkpoint_manifest import StateCheckpointError, read_manifest
from supermasks.store.json_files import MAX_JSON_DEPTH, loads_json, read_json
from supermasks.store.lock import _holder
from supermasks.store.rundir import read_meta_checked
from supermasks.config.yaml_files import MAX_YAML_BYTES, MAX_YAML_DEPTH, MAX_YAML_VALUES, YAMLLimitError, load_yaml_text

from tests.reliability.cli_helpers import TINY, one_line_error as _one_line_error, tiny_config as _config

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# The longest one-line message: every valid key listed (an unknown key's message), plus a few quoted values.
LONGEST = len(", ".join(valid_keys())) + 1000




def bomb(levels: int = 9, width: int = 9) -> str:
    """A YAML flow list of `levels` anchored lists, each repeating the one before `width` times: a few hundred
    characters standing for width**levels values."""
    items = ["&a0 [" + ", ".join(["lol"] * width) + "]"]
    items += [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "[" + ", ".join(items) + "]"


def chain_values(levels: int, width: int) -> int:
    """The values `bomb(levels, width)` stands for: the outer list, and each level counted in full."""
    sizes = [width + 1]
    for _ in range(1, levels):
        sizes.append(1 + width * sizes[-1])
    return 1 + sum(sizes)


# --- case: a YAML alias bomb in a config value -----------------------------------------------------------------


@pytest.mark.parametrize("text", [
    f"name: bomb\ntraining:\n  lr: {bomb()}\n",  # a known setting of the wrong type: the message would show it
    f"name: bomb\ntraining:\n  lrr: {bomb()}\n",  # an unknown key: the message would name what it holds
    f"name: bomb\nsurprise: {bomb()}\n",
    f"name: bomb\nmethod: {bomb()}\n",
])
def test_an_alias_bomb_in_a_config_is_one_line_naming_the_file_and_the_limit(tmp_path, capsys, text):
    config = tmp_path / "bomb.yaml"
    config.write_text(text)
    out = tmp_path / "runs"
    line = _one_line_error(capsys, "run", config, f"run.out_dir={out}", *TINY)
    assert line.startswith(f"supermasks: error: {config}: YAML past its limits: more than {MAX_YAML_VALUES} values, "
                           "counting each alias as all the values it repeats (line ")
    assert not out.exists()
    with pytest.raises(ConfigError, match="counting each alias"):
        load_config(config)


def test_an_alias_bomb_in_an_override_is_one_line(tmp_path, capsys):
    out = tmp_path / "runs"
    line = _one_line_error(capsys, "run", "supsup", f"training.lr={bomb()}", f"run.out_dir={out}", *TINY)
    assert "override 'training.lr=" in line and "the value is past a limit of YAML: more than 100000 values" in line
    assert len(line) < 400
    assert not out.exists()


def test_an_alias_bomb_in_a_study_file_and_a_sweep_spec_is_one_line(tmp_path, capsys):
    study = tmp_path / "study.yaml"
    study.write_text(f"name: study\nmethod: [supsup]\nparts:\n  a: {{training: {{lr: {bomb()}}}}}\n")
    assert "YAML past its limits" in _one_line_error(capsys, "run", study, f"run.out_dir={tmp_path / 'runs'}", *TINY)
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"name: spec\nsweep:\n  training.lr: {bomb()}\n")
    line = _one_line_error(capsys, "sweep", spec, f"run.out_dir={tmp_path / 'runs'}", "--executor", "local",
                           "--no-progress")
    assert f"{spec}: YAML past its limits" in line
    assert not (tmp_path / "runs").exists()


def test_a_deeply_nested_config_and_override_name_the_depth_limit(tmp_path, capsys):
    config = tmp_path / "deep.yaml"
    config.write_text("name: deep\nseed: " + "[" * 200_000 + "\n")
    line = _one_line_error(capsys, "run", config, *TINY)
    assert line == (f"supermasks: error: {config}: YAML past its limits: nested more than {MAX_YAML_DEPTH} levels "
                    f"deep (line 2); a config stays far within them: check the file")
    line = _one_line_error(capsys, "run", "supsup", "seed=" + "{a: " * 100 + "1" + "}" * 100, *TINY)
    assert f"the value is past a limit of YAML: nested more than {MAX_YAML_DEPTH} levels deep" in line


@pytest.mark.parametrize("source", ["big", "/dev/zero"])
def test_a_config_past_the_size_limit_is_refused_without_reading_it_whole(tmp_path, capsys, source):
    config = Path(source) if source.startswith("/") else tmp_path / "big.yaml"
    if source == "big":
        config.write_text("name: big\n" + "# padding\n" * (MAX_YAML_BYTES // 10))
    line = _one_line_error(capsys, "run", config, *TINY)
    assert line == (f"supermasks: error: {config}: larger than {MAX_YAML_BYTES // 1024} KiB, the limit of a YAML config "
                    "(configs are a few kilobytes): check that this is the file you meant")


def test_an_alias_inside_the_value_it_names_is_refused():
    with pytest.raises(Exception, match="an alias inside the value it names") as info:
        load_yaml_text("a: &a [1, *a]")
    assert "recursi" not in type(info.value).__name__.lower()
    with pytest.raises(ConfigError, match="an alias inside the value it names"):
        load_config(None, ["training.lr=&a {b: *a}"])


def test_aliases_and_merge_keys_within_the_limits_still_read():
    assert load_yaml_text("base: &b {lr: 0.1, steps: 5}\nrun:\n  <<: *b\n  steps: 6\nagain: *b\n") == {
        "base": {"lr": 0.1, "steps": 5}, "run": {"lr": 0.1, "steps": 6}, "again": {"lr": 0.1, "steps": 5}}
    with pytest.raises(Exception, match="duplicate key 'steps'"):
        load_yaml_text("base: &b {lr: 0.1}\nrun:\n  <<: *b\n  steps: 5\n  steps: 6\n")


# --- echoed values are cut short ---------------------------------------------------------------------------------


@pytest.mark.parametrize("override", [
    "training.lr=" + "x" * 100_000,  # a wrong type: the message shows the value
    "x" * 100_000 + "=1",  # an unknown key
    "name=" + "n" * 100_000,  # a name that cannot name a directory
    "method=[" + ", ".join(["supsup"] * 2_000) + "]",  # a method named twice
    "training.lr=[" + ", ".join(map(str, range(2_000))) + "]",
    "=" + "v" * 100_000,  # no key
])
def test_a_message_quotes_at_most_a_few_dozen_characters_of_a_value(capsys, override):
    line = _one_line_error(capsys, "run", "supsup", override, *TINY)
    assert "..." in line
    for repeated in ("x" * 300, "n" * 300, "v" * 300, "supsup', 'supsup', 'supsup', 'supsup', 'supsup', 'supsup', 'supsup"):
        assert repeated not in line
    assert len(line) < LONGEST


def test_shown_is_bounded_in_text_and_in_work():
    value = []
    for _ in range(30):  # a list holding itself 1000 times per level: never expanded
        value = [value] * 1000
    assert len(shown(value)) <= SHOWN_CHARS
    assert shown("abc") == "'abc'" and shown([1, 2]) == "[1, 2]"
    assert shown("n" * 150, 202) == repr("n" * 150)


# --- case: overrides given to the Python API as one string ------------------------------------------------------


def test_load_config_refuses_a_single_string_of_overrides_naming_the_fix(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text("name: tiny\n")
    with pytest.raises(TypeError) as info:
        load_config(config, "seed=3")
    assert str(info.value) == "overrides must be a list of 'key=value' strings, not one string: pass ['seed=3']"
    with pytest.raises(TypeError, match="overrides must be 'key=value' strings, got 3 \\(int\\)"):
        load_config(config, ["seed=1", 3])
    assert load_config(config, None) == load_config(config) == load_config(config, [])
    assert load_config(config, ("seed=3",)).seed == load_config(config, ["seed=3"]).seed == 3
    assert parse_overrides(None) == {}


# --- properties: YAML ---------------------------------------------------------------------------------------------

YAMLISH = st.text(st.sampled_from(list("[]{}&*!|>-?:,#'\"\n\t <=.ab01%@`~\\")), max_size=120)


def _check_message(error: Exception) -> None:
    text = str(error)
    assert "\n" not in text and len(text) < LONGEST


@PROPERTY
@given(YAMLISH)
def test_any_yamlish_config_file_is_read_or_one_line(tmp_path, text):
    config = tmp_path / "any.yaml"
    config.write_text(text)
    try:
        load_config(config)
    except ConfigError as error:
        _check_message(error)


@PROPERTY
@given(YAMLISH, st.sampled_from(["training.lr", "seed", "name", "data", "method", "nope"]))
def test_any_yamlish_override_value_is_read_or_one_line(text, key):
    try:
        load_config(None, [f"{key}={text}"])
    except ConfigError as error:
        _check_message(error)


@PROPERTY
@given(st.integers(1, 400) | st.sampled_from([MAX_YAML_DEPTH, MAX_YAML_DEPTH + 1]),
       st.sampled_from(["flow list", "flow map", "block list"]))
def test_nesting_reads_up_to_the_depth_limit_and_is_refused_past_it(depth, kind):
    if kind == "flow list":
        text, expected = "[" * depth + "]" * depth, []
    elif kind == "flow map":  # the innermost value is one level below its mapping
        depth = max(depth, 2)
        text, expected = "{a: " * (depth - 1) + "1" + "}" * (depth - 1), 1
    else:
        depth = max(depth, 2)
        text = "".join(f"{'  ' * i}-\n" for i in range(depth - 2)) + "  " * (depth - 2) + "- 1\n"
        expected = [1]
    if depth <= MAX_YAML_DEPTH:
        value = load_yaml_text(text)
        for _ in range(depth - (1 if kind == "flow list" else 2 if kind == "block list" else 1)):
            value = value[0] if isinstance(value, list) else value["a"]
        assert value == expected
    else:
        with pytest.raises(YAMLLimitError, match=f"nested more than {MAX_YAML_DEPTH} levels deep"):
            load_yaml_text(text)


@PROPERTY
@given(st.integers(1, 12), st.integers(1, 12))
def test_an_alias_chain_reads_while_its_values_are_within_the_limit(tmp_path, levels, width):
    text = bomb(levels, width)
    if chain_values(levels, width) <= MAX_YAML_VALUES:
        value = load_yaml_text(text)
        assert len(value) == levels and len(value[-1]) == width
    else:
        with pytest.raises(YAMLLimitError, match=f"more than {MAX_YAML_VALUES} values"):
            load_yaml_text(text)
    config = tmp_path / "chain.yaml"
    config.write_text(f"training:\n  lr: {text}\n")
    with pytest.raises(ConfigError) as info:  # a list is no learning rate; either way the message is short
        load_config(config)
    _check_message(info.value)
    assert len(str(info.value)) < 300


# --- properties: JSON ---------------------------------------------------------------------------------------------


def nested_json(depth: int, kind: str) -> str:
    return ("[" * depth + "]" * depth) if kind == "list" else ('{"a": ' * depth + "1" + "}" * depth)


@PROPERTY
@given(st.integers(1, 3000) | st.sampled_from([MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 200_000]),
       st.sampled_from(["list", "dict"]))
def test_any_json_nesting_is_the_value_or_a_damaged_file(tmp_path, depth, kind):
    text = nested_json(depth, kind)
    if depth <= MAX_JSON_DEPTH:
        assert loads_json(text) == json.loads(text)
    else:
        with pytest.raises(ValueError, match=f"JSON nested more than {MAX_JSON_DEPTH} levels deep"):
            loads_json(text)
    (tmp_path / "meta.json").write_text(text)
    meta, problem = read_meta_checked(tmp_path)  # the run's status is unknown, as for any damaged meta.json
    assert problem is not None and problem.startswith(str(tmp_path / "meta.json"))
    if depth > MAX_JSON_DEPTH:
        assert meta is None and "nested more than" in problem
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(StateCheckpointError, match="manifest.json cannot be read"):
        read_manifest(tmp_path)


@PROPERTY
@given(st.binary(max_size=200) | YAMLISH)
def test_any_bytes_as_json_are_the_value_or_a_value_error(data):
    try:
        loads_json(data)
    except ValueError:
        pass


def test_a_json_file_is_read_at_most_one_byte_past_the_size_limit(monkeypatch, tmp_path):
    monkeypatch.setattr("supermasks.store.json_files.MAX_JSON_BYTES", 10)
    path = tmp_path / "big.json"
    path.write_text("[" + "1," * 100 + "1]")
    with pytest.raises(ValueError, match="larger than"):
        read_json(path)
    path.write_text("[1, 2]")
    assert read_json(path) == [1, 2]


def test_a_lock_file_of_deep_brackets_names_no_holder():
    assert _holder("[" * 200_000) == "another process (it has not written its name into the lock file yet)"


# --- case: a run's meta.json, a sweep's sweep.json as deep brackets: aggregate, report -----------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("deep")
    config = tmp / "tiny.yaml"
    config.write_text("name: tiny\n")
    assert main(["run", str(config), *TINY, "run.report=false", f"run.out_dir={tmp / 'runs'}"]) == 0
    return next((tmp / "runs").iterdir())


def _copy_with_deep(finished_run: Path, tmp_path: Path, name: str) -> Path:
    import shutil

    copy = tmp_path / "runs" / finished_run.name
    shutil.copytree(finished_run, copy)
    (copy / name).write_text("[" * 200_000)
    return copy


def test_aggregate_skips_a_run_whose_meta_json_is_deep_brackets_as_any_damaged_one(finished_run, tmp_path, capsys):
    copy = _copy_with_deep(finished_run, tmp_path, "meta.json")
    code = main(["aggregate", str(copy.parent), "-o", str(tmp_path / "agg"), "--no-figures"])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    assert (f"skipped {copy}: {copy / 'meta.json'} cannot be read (ValueError: JSON nested more than "
            f"{MAX_JSON_DEPTH} levels deep)") in out + err


def test_report_on_a_run_whose_meta_json_is_deep_brackets_is_one_line(finished_run, tmp_path, capsys):
    copy = _copy_with_deep(finished_run, tmp_path, "meta.json")
    line = _one_line_error(capsys, "report", copy)
    assert line == (f"supermasks: error: no finished run to report on ({copy}: {copy / 'meta.json'} cannot be read "
                    f"(ValueError: JSON nested more than {MAX_JSON_DEPTH} levels deep))")
    assert not (copy / "report.html").exists()


@pytest.mark.parametrize("command", ["aggregate", "report"])
def test_a_sweep_json_of_deep_brackets_is_one_line_naming_it(tmp_path, capsys, command):
    sweep = tmp_path / "grid-sweep-0000abcd"
    sweep.mkdir()
    (sweep / "sweep.json").write_text("[" * 200_000)
    before = (sweep / "sweep.json").read_bytes()
    line = _one_line_error(capsys, command, sweep, "-o", tmp_path / "out")
    assert f"{sweep / 'sweep.json'} cannot be read (ValueError: JSON nested more than {MAX_JSON_DEPTH} levels deep)" in line
    assert (sweep / "sweep.json").read_bytes() == before


def test_run_resumes_a_run_whose_meta_json_is_deep_brackets_from_its_checkpoints(finished_run, tmp_path, capsys,
                                                                                  log_lines):
    copy = _copy_with_deep(finished_run, tmp_path, "meta.json")
    config = finished_run.parent.parent / "tiny.yaml"
    code = main(["run", str(config), *TINY, "run.report=false", f"run.out_dir={tmp_path / 'runs'}"])
    err = capsys.readouterr().err
    assert code == 0 and "Traceback" not in err
    assert any(str(copy / "meta.json") in line and "going on from each method's newest usable checkpoint" in line
               for line in log_lines)
    assert not any("permuted/supsup task " in line for line in log_lines)  # nothing trained again
    assert read_json(copy / "meta.json")["status"] == "finished"
