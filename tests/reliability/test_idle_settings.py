"""A setting that does nothing in its combination is refused in one line that names it, says why and what to do;
defaults never are; such settings never split a run's hash; a study's part names are checked when the file is read;
a run that stops on an error says `failed` in its meta.json; and the checks that can come first come before any
directory is made (run.eval_sample against the test sets, the disk's free space against what the run writes)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supermasks.cli import main
from supermasks.config import (IDLE_VALUES, ConfigError, compose, conditions, from_stored, identity, load_config,
                               read_yaml, valid_keys)
from supermasks.errors import DataError
from supermasks.methods import list_methods, masked_methods, method_spec
from supermasks.runner import checks
from supermasks.scenarios import SCENARIOS
from supermasks.config.records import config_hash, run_directory
from supermasks.studies.grid import load_study

from tests.reliability.cli_helpers import TINY, one_line_error as _one_line_error, tiny_config as _config

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
METHODS = list(list_methods())






def _refused(overrides: list[str]) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(None, overrides)
    return str(info.value)


# --- case: settings that do nothing under the chosen scenario, method or switch -----------------------------------


@pytest.mark.parametrize("overrides, words", [
    (["scenario.inference_batch_size=1"],
     ["scenario.inference_batch_size does nothing here", "(gns, gnu, nns)", "'task'", "set scenario.name"]),
    (["method=naive", "run.overlap=true"],
     ["run.overlap does nothing here", "mask per task", "['naive']", "add supsup to method"]),
    (["run.figures=false", "run.figure_format=svg"],
     ["run.figure_format does nothing here", "figures is False", "set run.figures=true"]),
    (["method=ewc", "model.mask_rule=topk", "model.density=0.2"],
     ["model.mask_rule does nothing here", "add supsup to method"]),
    (["scenario.name=nns", "run.eval_batch_size=64"],
     ["run.eval_batch_size does nothing here", "'nns'", "set scenario.inference_batch_size"]),
    (["scenario.name=nns", "run.evaluate=last"], ["run.evaluate does nothing here", "'nns'"]),
    (["method=ewc", "ewc.decay=0.5"], ["ewc.decay does nothing here", "set ewc.mode=online"]),
    (["supsup.transfer_temperature=2"], ["supsup.transfer_temperature does nothing here", "set supsup.transfer=soft"]),
    (["method=naive", "ewc.lambda=5"], ["ewc.lambda does nothing here", "runs of method ewc", "add ewc to method"]),
])
def test_a_setting_that_does_nothing_is_one_line_exit_2_before_anything_is_written(tmp_path, capsys, overrides, words):
    out = tmp_path / "runs"
    line = _one_line_error(capsys, "run", _config(tmp_path), *TINY[:-2], *overrides, f"run.out_dir={out}",
                           "--no-progress")
    assert line.startswith("supermasks: error: ") and ": remove it" in line
    for word in words:
        assert word in line, line
    assert not out.exists()


@pytest.mark.parametrize("overrides", [
    ["method=naive", "run.overlap=false"],  # off: what happens without masks anyway
    ["scenario.name=nns", "run.eval_every=0"],
    ["scenario.name=gnu", "scenario.inference_batch_size=1"],
    ["method=[naive, supsup]", "run.overlap=true", "model.mask_rule=topk", "model.density=0.3"],
    ["run.figures=true", "run.figure_format=png+svg"],
])
def test_the_same_settings_where_they_count_are_accepted(overrides):
    load_config(None, overrides)


COMBINATIONS = st.fixed_dictionaries({
    "method": st.lists(st.sampled_from(METHODS), min_size=1, max_size=3, unique=True),
    "scenario.name": st.sampled_from(sorted(SCENARIOS)),
    "run.figures": st.booleans(),
    "model.mask_rule": st.none(),
})


@SETTINGS
@given(COMBINATIONS)
def test_defaults_never_trigger_the_refusal(choice):
    """Any method list, scenario and switch with every other setting at its default loads."""
    config = compose({k: v for k, v in choice.items() if v is not None})
    for key, condition, rule in conditions():
        if key.split(".")[0] in METHODS and key.split(".")[0] not in config.method:
            continue  # the method's section is not there at all
        if not rule.applies(config.value(condition)):
            assert config.value(key) is None, key  # null where it does nothing


def _method_keys() -> list[tuple[str, str]]:
    return [(name, key) for name in METHODS for key in valid_keys() if key.startswith(f"{name}.")]


def _given_value(owner: str, key: str):
    """A value of the method setting `key` that its section accepts alone (its default, or one where that is None)."""
    default = method_spec(owner).settings()
    names = {f.metadata.get("key", f.name): f.name for f in dataclasses.fields(default)}
    value = getattr(default, names[key.split(".", 1)[1]])
    return {"replay.fraction": 0.5, "replay.per_task": 5, "replay.budget": 100}.get(key, value)


@pytest.mark.parametrize("owner, key", _method_keys(), ids=lambda v: str(v))
def test_every_method_key_is_refused_under_every_method_that_does_not_read_it(owner, key):
    """Every method x every method-specific key: refused, naming the key, unless its method is listed."""
    value = _given_value(owner, key)
    if value is None:  # a setting that applies under another of its section's: tested with the declared ones
        return
    shown = json.dumps(value)
    for other in METHODS:
        if other == owner:
            continue
        message = _refused([f"method=[{other}]", f"{key}={shown}"])
        assert message == (f"{key} does nothing here: it applies only to runs of method {owner} (method is "
                           f"['{other}']): remove it, or add {owner} to method")
    load_config(None, [f"method=[{owner}]", f"{key}={shown}"])  # with its method it counts


def _conditional_cases() -> list[tuple[str, str]]:
    """(dotted key, a value of its own) for every setting declared to apply only in some combinations."""
    cases = []
    for key, _, rule in conditions():
        default = rule.fallback()
        if key == "scenario.nns":
            cases.append(("scenario.nns.margin", 0.5))
        elif key == "model.density":
            cases.append((key, 0.5))
        elif key == "data.rotation_step":
            cases.append((key, 10.0))
        elif default is not None:
            cases.append((key, default))
    return cases


# Values of each condition, one of which makes a given setting do nothing.
AWAY = {"method": ["[naive]"], "scenario.name": ["task", "nns"], "run.figures": ["false"],
        "model.mask_rule": ["threshold"], "data.benchmark": ["[rotated]", "[permuted]"],
        "data.permute_subsets": ["nested", "independent"], "supsup.transfer": ["random"], "ewc.mode": ["separate"],
        "replay.per_task": ["5"], "training.epochs": ["2"]}


@pytest.mark.parametrize("key, value", _conditional_cases(), ids=lambda v: str(v))
def test_every_conditional_setting_given_where_it_does_nothing_is_refused(key, value):
    """Each declared setting set outside its condition (the defaults of everything else) names itself and its
    condition, or is accepted when it counts with the defaults, or asks for nothing there (an inert `off`)."""
    ((condition, rule),) = [(c, r) for k, c, r in conditions() if k == key or key.startswith(k + ".")]
    away = next(text for text in AWAY[condition] if not rule.applies(yaml.safe_load(text)))
    method = key.split(".")[0] if key.split(".")[0] in METHODS else None
    context = [f"{condition}={away}"] + ([f"method=[{method}]"] if method and condition != "method" else [])
    shown = json.dumps(value)
    if rule.is_inert(value):
        load_config(None, [*context, f"{key}={shown}"])
        return
    message = _refused([*context, f"{key}={shown}"])
    assert " does nothing here: it applies only to " in message and rule.reason in message
    assert ": remove it" in message


# --- such settings never split a run's hash ----------------------------------------------------------------------


def test_a_setting_that_does_nothing_is_left_out_of_the_identity_whatever_stood_there():
    naive = load_config(None, ["method=naive"])
    assert config_hash(naive) == config_hash(load_config(None, ["method=naive", "run.overlap=false"]))
    assert config_hash(load_config(None, [])) != config_hash(load_config(None, ["run.overlap=false"]))
    assert identity(naive)["run"]["overlap"] is False  # the value every stored run of such a method recorded
    task = identity(load_config(None, []))
    assert task["scenario"]["inference_batch_size"] == IDLE_VALUES["scenario.inference_batch_size"]
    assert "figure_format" not in identity(load_config(None, ["run.figures=false"]))["run"]


def _stored_configs() -> list[Path]:
    """The config.yaml of a few stored runs of every result (results/), each kind of run once."""
    found: dict[tuple, Path] = {}
    for path in sorted((ROOT / "results").glob("*/*/config.yaml")):
        values = read_yaml(path)
        kind = (path.parts[-3], tuple(values["method"]), values["scenario"]["name"], values["run"]["figures"])
        found.setdefault(kind, path)
    return list(found.values())


@pytest.mark.parametrize("path", _stored_configs(), ids=lambda p: p.parent.name)
def test_stored_runs_read_back_under_the_hash_of_their_directory(path):
    """config.yaml written before these settings were declared (inference_batch_size under task, figure_format
    without figures) reads back, and hashes to the directory it is in."""
    config = from_stored(read_yaml(path))
    assert path.parent.name.endswith("-" + config_hash(config))


# --- case: the study file's part names ------------------------------------------------------------------------


STUDY = "name: st\ndata: {source: synthetic, num_tasks: 2}\ntraining: {steps_per_task: 5}\nrun: {figures: false}\n"


@pytest.mark.parametrize("key, words", [
    ("null", "part name null: YAML reads this key as no value"),
    ("~", "part name null: YAML reads this key as no value"),
    ("off", "part name false: YAML reads this key as bool"),
    ("yes", "part name true: YAML reads this key as bool"),
    ("no", "part name false: YAML reads this key as bool"),
    ("true", "part name true: YAML reads this key as bool"),
    ("3", "part name 3: YAML reads this key as int"),
    ("'None'", "part name 'None': the study's tables would read it back as no value"),
    ("'NaN'", "part name 'NaN'"),
    ("'1e3'", "would read it back as a number"),
    ("''", "part name: '' cannot name a run directory"),
    ("'../up'", "cannot name a run directory"),
])
def test_a_part_name_that_cannot_name_runs_and_rows_is_refused_before_any_work(tmp_path, capsys, key, words):
    path = tmp_path / "study.yaml"
    path.write_text(STUDY + f"parts:\n  good: {{}}\n  {key}: {{}}\n")
    line = _one_line_error(capsys, "run", path, f"run.out_dir={tmp_path / 'runs'}", "--no-progress")
    assert words in line, line
    assert not (tmp_path / "runs").exists()


def test_quoted_words_are_names_and_case_twins_are_refused(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(STUDY + "parts:\n  'off': {}\n  'yes': {}\n")
    assert {r.part for r in load_study(path).runs} == {"off", "yes"}
    path.write_text(STUDY + "parts:\n  Base: {}\n  base: {}\n")
    with pytest.raises(ConfigError, match="'Base' and 'base' differ only in case"):
        load_study(path)


@SETTINGS
@given(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False))
def test_no_yaml_scalar_that_is_not_text_names_a_part(key):
    with pytest.raises(ConfigError, match="YAML reads this key as"):
        from supermasks.config import check_names

        check_names(["good", key], "part name")


# --- case: run.eval_sample larger than a task's test set ---------------------------------------------------------


def test_an_eval_sample_larger_than_a_test_set_is_refused_before_a_directory_exists(tmp_path, capsys):
    out = tmp_path / "runs"
    line = _one_line_error(capsys, "run", _config(tmp_path), *TINY, "run.eval_sample=100000", f"run.out_dir={out}")
    assert "run.eval_sample=100000 test images per task, but task 0" in line and "use at most that many" in line
    assert not out.exists()


# --- an error after the run directory exists: meta.json says failed ------------------------------------------------


@pytest.mark.parametrize("error", [ConfigError("a setting the run found wrong"), DataError("a file went bad")])
def test_an_error_caught_by_the_cli_mid_run_leaves_meta_failed_and_the_run_resumes(tmp_path, capsys, monkeypatch,
                                                                                   error):
    import supermasks.runner.experiment as experiment

    real = experiment.run_method
    calls = []

    def second_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(experiment, "run_method", second_fails)
    out = tmp_path / "runs"
    argv = ["run", _config(tmp_path), *TINY, "data.benchmark=[permuted, rotated]", f"run.out_dir={out}"]
    line = _one_line_error(capsys, "-q", *argv)  # -q: no progress lines before the error
    (run_dir,) = out.iterdir()
    assert line == (f"supermasks: error: {error}. Every finished task is saved in {run_dir}: after the fix, "
                    "run the same command again to resume")
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "failed" and str(error) in meta["error"] and meta["stopped"]
    monkeypatch.setattr(experiment, "run_method", real)
    assert main([str(a) for a in argv]) == 0
    assert "did not finish (failed)" in capsys.readouterr().err
    assert json.loads((run_dir / "meta.json").read_text())["status"] == "finished"


# --- case: free space, from what the run writes ------------------------------------------------------------------


def _free(monkeypatch, free: int) -> None:
    class Usage:
        pass

    usage = Usage()
    usage.free = free
    monkeypatch.setattr(checks.shutil, "disk_usage", lambda path: usage)


def test_a_small_disk_takes_a_run_without_state_checkpoints(tmp_path, capsys, monkeypatch):
    config = load_config(None, [*TINY[:-1], "run.checkpoint_state=false", f"run.out_dir={tmp_path / 'runs'}"])
    assert checks.needed_space(config) < 2 * 10**6
    _free(monkeypatch, 2 * 10**6)  # a 2 MB file system
    checks.check_free_space(config, run_directory(config))
    with_states = load_config(None, [*TINY[:-1], f"run.out_dir={tmp_path / 'runs'}"])
    assert checks.needed_space(with_states) > checks.needed_space(config)


def test_the_free_space_message_suggests_only_settings_not_applied(tmp_path, capsys, monkeypatch):
    _free(monkeypatch, 1000)
    out = tmp_path / "runs"
    line = _one_line_error(capsys, "run", _config(tmp_path), *TINY, "run.checkpoint_state=false", f"run.out_dir={out}")
    assert "not enough free disk space" in line and "KiB needed" in line
    assert "checkpoint_state" not in line and "run.figures" not in line and "set run.out_dir" in line
    line = _one_line_error(capsys, "run", _config(tmp_path), *TINY[:3], "--no-progress", f"run.out_dir={out}")
    assert "set run.checkpoint_state=false to skip resumable checkpoints or run.figures=false" in line
    assert not out.exists()


def test_the_estimate_follows_what_is_written():
    base = load_config(None, ["run.figures=false", "run.overlap=false", "run.report=false",
                              "run.checkpoint_state=false"])
    figures = load_config(None, ["run.overlap=false", "run.report=false", "run.checkpoint_state=false"])
    svg = load_config(None, ["run.overlap=false", "run.report=false", "run.checkpoint_state=false",
                             "run.figure_format=png+svg"])
    overlap = load_config(None, ["run.figures=false", "run.report=false", "run.checkpoint_state=false"])
    dense = load_config(None, ["method=naive", "run.figures=false", "run.report=false", "run.checkpoint_state=false"])
    needed = checks.needed_space
    assert needed(base) < needed(figures) < needed(svg) and needed(base) < needed(overlap)
    assert needed(dense) < needed(base)  # no masks written
    assert masked_methods() == {name for name in METHODS if method_spec(name).masks}
