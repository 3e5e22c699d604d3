"""The sectioned config: old flat keys name their new spelling, method sections, choice errors, nested and dotted
YAML, the README's table of every setting, and names that read back as themselves.

The settings that count only in some combinations are tests/test_config_conditions.py."""

import dataclasses
from pathlib import Path

import pytest
import yaml

from supermasks.config import (OLD_KEYS, ConfigError, ExperimentConfig, check_names, conditions, load_config, to_dict,
                               valid_keys)
from supermasks.methods import list_methods


def write(tmp_path, text, name="exp.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("old, new", [("num_tasks", "data.num_tasks"), ("steps_per_task", "training.steps_per_task"),
                                      ("ewc_lambda", "ewc.lambda"), ("nns_margin", "scenario.nns.margin"),
                                      ("heads_trunk", "separate_heads.trunk")])
def test_an_old_flat_key_names_its_new_spelling(tmp_path, old, new):
    with pytest.raises(ConfigError, match=f"^'{old}' is now '{new}'"):
        load_config(None, [f"{old}=1"])
    with pytest.raises(ConfigError, match=f"'{old}' is now '{new}'"):
        load_config(write(tmp_path, f"{old}: 1\n"))


@pytest.mark.parametrize("text, new", [("model: fc-300-300\n", "model.arch"), ("scenario: domain\n", "scenario.name")])
def test_an_old_flat_key_that_is_now_a_section_names_its_new_spelling(tmp_path, text, new):
    with pytest.raises(ConfigError, match=f"is now '{new}'"):
        load_config(write(tmp_path, text))
    key, value = text.strip().split(": ")
    with pytest.raises(ConfigError, match=f"is now '{new}'"):
        load_config(None, [f"{key}={value}"])


def test_every_old_key_maps_to_a_valid_key():
    assert set(OLD_KEYS.values()) <= set(valid_keys())
    assert not set(OLD_KEYS) & set(valid_keys())


def test_a_section_of_a_method_not_in_method_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match=r"^ewc.lambda does nothing here: it applies only to runs of method ewc "
                                          r"\(method is \['supsup'\]\): remove it, or add ewc to method$"):
        load_config(None, ["ewc.lambda=5000"])
    with pytest.raises(ConfigError, match="^replay.fraction does nothing here: .* add replay to method"):
        load_config(write(tmp_path, "method: [naive]\nreplay: {fraction: 0.1}\n"))
    with pytest.raises(ConfigError, match="^ewc does nothing here: .* add ewc to method"):  # an empty section too
        load_config(write(tmp_path, "method: [naive]\newc: {}\n"))
    with pytest.raises(ValueError, match="^ewc: settings for method 'ewc', which is not in method"):  # built directly
        ExperimentConfig(method=["naive"], method_settings={"ewc": load_config(None, ["method=ewc"]).settings("ewc")})
    with pytest.raises(KeyError, match="not in this config's methods"):
        load_config(None, []).settings("ewc")


def test_a_dotted_override_reaches_the_method_settings():
    config = load_config(None, ["method=[naive, ewc]", "ewc.lambda=5000", "ewc.mode=online"])
    ewc = config.settings("ewc")
    assert (ewc.lam, ewc.mode, type(ewc.lam)) == (5000.0, "online", float)
    assert config.settings("naive") is not None and to_dict(config)["ewc"]["lambda"] == 5000.0


def test_a_method_without_a_section_gets_its_defaults():
    assert load_config(None, ["method=ewc"]).settings("ewc").lam == 1000.0


@pytest.mark.parametrize("override, choices", [
    ("training.optimizer=adamw", "rmsprop, adam, sgd"),
    ("scenario.name=online", "task, domain, class, gns, gnu, nns"),
    ("model.mask_rule=top", "threshold, topk"),
    ("run.evaluate=never", "each, last"),
])
def test_a_choice_error_lists_the_choices(override, choices):
    key, value = override.split("=")
    with pytest.raises(ConfigError, match=f"^{key}: unknown value '{value}'; choose one of {choices}$"):
        load_config(None, [override])


def test_a_method_choice_error_lists_the_choices():
    with pytest.raises(ConfigError, match="^replay.selection: unknown value 'smart'; choose one of random, uncertain, "
                                          "misclassified, balanced$"):
        load_config(None, ["method=replay", "replay.selection=smart"])


def test_nested_yaml_round_trip(tmp_path):
    config = load_config(None, ["name=trip", "seed=4", "method=[supsup, ewc, replay]", "data.benchmark=[rotated, split]",
                                "data.rotation_step=12.5", "model.mask_rule=topk", "model.density=0.25",
                                "training.lr=1e-3", "scenario.name=task", "supsup.transfer=mean", "ewc.lambda=5000",
                                "replay.budget=100", "run.eval_every=50"])
    written = to_dict(config)
    assert written["ewc"] == {"lambda": 5000.0, "samples": 200, "fisher_label": "predicted", "mode": "separate",
                              "decay": None}  # separate mode: no decay
    assert written["model"]["density"] == 0.25 and written["scenario"]["nns"] is None
    path = write(tmp_path, yaml.safe_dump(written), "trip.yaml")
    assert load_config(path) == config
    assert load_config(write(tmp_path, yaml.safe_dump(written, sort_keys=False), "again.yaml")) == config


def test_dotted_keys_in_a_yaml_file_mean_the_same_as_nested_ones(tmp_path):
    dotted = load_config(write(tmp_path, "training.lr: 0.01\nmethod: [ewc]\newc.lambda: 3\n"))
    nested = load_config(write(tmp_path, "training: {lr: 0.01}\nmethod: [ewc]\newc: {lambda: 3}\n"))
    assert dotted == nested and nested.training.lr == 0.01 and nested.settings("ewc").lam == 3.0


def _readme_settings() -> dict[str, str]:
    """The settings table of docs/configuration.md (linked from the README): dotted key -> default as written."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text(encoding="utf-8")
    table = text.split("| section | field | default | meaning |", 1)[1]
    rows, section = {}, ""
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        section = cells[0] or section  # blank: the row above's (the top-level keys come first)
        rows[f"{section}.{cells[1]}" if section else cells[1]] = cells[2]
    return rows


# Keys of a config file that are not settings of one run: `seeds` expands a config into one run per seed.
LAYER_KEYS = {"seeds": "null"}


def test_the_readme_documents_every_setting_with_its_default():
    rows = _readme_settings()
    for key, default in LAYER_KEYS.items():
        assert rows.pop(key) == default, key
    assert list(rows) == valid_keys()
    defaults = to_dict(ExperimentConfig())
    defaults["scenario"]["nns"] = to_dict(load_config(None, ["scenario.name=nns"]))["scenario"]["nns"]
    for name in list_methods():
        defaults[name] = to_dict(load_config(None, [f"method={name}"])).get(name, {})
    for key, _, rule in conditions():  # null where they do not apply: the table gives the value where they do
        fallback = rule.fallback()  # a section's (scenario.nns) fields are rows of their own, filled above
        if fallback is not None and not dataclasses.is_dataclass(fallback):
            section, leaf = key.split(".")
            defaults[section][leaf] = fallback
    for key, written in rows.items():
        node = defaults
        for part in key.split("."):
            node = node[part]
        value = yaml.safe_load(written)
        assert (float(value) if isinstance(node, float) else value) == node, key


def test_a_misspelt_section_suggests_the_section(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key 'traning'. Did you mean the section 'training'?"):
        load_config(write(tmp_path, "traning: {lr: 0.1, batch_size: 32}\n"))
    with pytest.raises(ConfigError, match="unknown config key 'dat.num_tasks'. Did you mean 'data.num_tasks'?"):
        load_config(None, ["dat.num_tasks=3"])


def test_part_and_benchmark_names_are_text_that_reads_back_as_itself():
    check_names(["base", "topk-10", "off", "Yes"], "part name")
    for bad, words in [(None, "no value"), (False, "bool"), (2, "int"), ("nan", "read it back"),
                       ("TRUE", "read it back"), ("0.5", "a number")]:
        with pytest.raises(ConfigError, match=words):
            check_names(["base", bad], "part name")
    with pytest.raises(ConfigError, match="differ only in case"):
        check_names(["base", "Base"], "part name")
