"""The sectioned config: old flat keys, settings that count only in some combinations, method sections, layers.

Over 400 lines because it is one job, the rules of sections and layers, with one test for each rule.
"""

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from supermasks.config import (OLD_KEYS, ConfigError, ExperimentConfig, check_names, compose, conditions, from_stored,
                               idle_settings, load_config, to_dict, updated, valid_keys, without_settings)
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


def test_density_is_required_by_topk_and_an_error_under_threshold():
    assert load_config(None, ["model.mask_rule=topk", "model.density=0.3"]).model.density == 0.3
    assert load_config(None, []).model.density is None
    with pytest.raises(ConfigError, match="^model.density is required by mask_rule topk"):
        load_config(None, ["model.mask_rule=topk"])
    with pytest.raises(ConfigError, match=r"^model.density does nothing here: it applies only to mask_rule topk: "
                                          r"remove it, or set model.mask_rule=topk$"):
        load_config(None, ["model.density=0.5"])
    with pytest.raises(ConfigError, match=r"^model.density does nothing here: .* \(model.mask_rule is .threshold.\)"):
        load_config(None, ["model.mask_rule=threshold", "model.density=0.5"])


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


def test_nns_settings_outside_the_nns_scenario_are_an_error(tmp_path):
    assert load_config(None, ["scenario.name=nns", "scenario.nns.margin=0.25"]).scenario.nns.margin == 0.25
    assert load_config(None, ["scenario.name=nns"]).scenario.nns.check_every == 100  # its defaults
    assert load_config(None, []).scenario.nns is None
    with pytest.raises(ConfigError, match="^scenario.nns does nothing here: it applies only to scenario nns"):
        load_config(None, ["scenario.nns.margin=0.25"])
    with pytest.raises(ConfigError, match="applies only to scenario nns"):
        load_config(write(tmp_path, "scenario:\n  name: gnu\n  nns: {warmup: 0}\n"))


def test_rotation_step_without_the_rotated_benchmark_is_an_error():
    config = load_config(None, ["data.benchmark=[rotated, permuted]", "data.rotation_step=15"])
    assert config.data.rotation_step == 15.0
    with pytest.raises(ConfigError, match="^data.rotation_step does nothing here: it applies only to the rotated benchmark"):
        load_config(None, ["data.rotation_step=15"])


def test_permute_fraction_applies_to_the_permuted_benchmark_only():
    assert load_config(None, []).data.permute_fraction == 1.0  # the default benchmark is permuted
    assert load_config(None, ["data.permute_fraction=0"]).data.permute_fraction == 0.0
    assert load_config(None, ["data.benchmark=[rotated]"]).data.permute_fraction is None
    with pytest.raises(ConfigError, match="^data.permute_fraction does nothing here: it applies only to the permuted"):
        load_config(None, ["data.benchmark=[split]", "data.permute_fraction=0.5"])
    with pytest.raises(ConfigError, match=r"permute_fraction must be in \[0, 1\], got 1.5"):
        load_config(None, ["data.permute_fraction=1.5"])


def test_nested_permuted_subsets_and_their_range_apply_only_where_they_do_something():
    default = load_config(None, []).data
    assert (default.permute_subsets, default.permute_fraction, default.permute_fraction_range) == (
        "independent", 1.0, None)  # the benchmark as it always was
    nested = load_config(None, ["data.permute_subsets=nested"]).data
    assert (nested.permute_fraction, nested.permute_fraction_range) == (None, [0.1, 1.0])
    assert load_config(None, ["data.permute_subsets=nested", "data.permute_fraction_range=[0, 0.5]"]
                       ).data.permute_fraction_range == [0.0, 0.5]
    mixed = load_config(None, ["data.benchmark=[rotated, permuted]", "data.permute_subsets=nested"]).data
    assert mixed.permute_subsets == "nested"  # the run's permuted benchmark reads it, the rotated one not
    rotated = load_config(None, ["data.benchmark=[rotated]"]).data
    assert (rotated.permute_subsets, rotated.permute_fraction, rotated.permute_fraction_range) == (None, None, None)


@pytest.mark.parametrize("overrides, message", [
    (["data.permute_fraction_range=[0.1, 1.0]"],
     r"^data.permute_fraction_range does nothing here: it applies only to the permuted benchmark with "
     r"permute_subsets nested \(data.permute_subsets is 'independent'\): remove it, or set data.permute_subsets=nested$"),
    (["data.benchmark=[rotated]", "data.permute_subsets=nested"],
     r"^data.permute_subsets does nothing here: it applies only to the permuted benchmark "
     r"\(data.benchmark is \['rotated'\]\)"),
    (["data.benchmark=[split]", "data.permute_fraction=0.5"],
     r"^data.permute_fraction does nothing here: it applies only to the permuted benchmark with permute_subsets "
     r"independent: remove it, or set data.permute_subsets=independent$"),
    (["data.permute_subsets=nested", "data.permute_fraction=0.5"],
     r"^data.permute_fraction does nothing here: .* \(data.permute_subsets is 'nested'\)"),
    (["data.permute_subsets=nested", "data.permute_fraction_range=[0.2, 1.5]"],
     r"^data.permute_fraction_range must lie in \[0, 1\], got \[0.2, 1.5\]$"),
    (["data.permute_subsets=nested", "data.permute_fraction_range=[-0.2, 0.5]"], r"must lie in \[0, 1\]"),
    (["data.permute_subsets=nested", "data.permute_fraction_range=[0.8, 0.2]"],
     r"^data.permute_fraction_range must be \[low, high\] with low <= high, got \[0.8, 0.2\]$"),
    (["data.permute_subsets=nested", "data.permute_fraction_range=0.5"], r"two numbers \[low, high\], got \[0.5\]"),
    (["data.permute_subsets=nested", "data.permute_fraction_range=[0.1, 0.5, 0.9]"], "two numbers"),
    (["data.permute_subsets=shuffled"],
     "^data.permute_subsets: unknown value 'shuffled'; choose one of independent, nested"),
])
def test_nested_permuted_subsets_refuse_what_does_not_apply(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, overrides)


def test_a_later_layer_switches_permuted_subsets_and_drops_what_served_the_other(tmp_path):
    nested = write(tmp_path, "data:\n  benchmark: [permuted, rotated]\n  permute_subsets: nested\n"
                             "  permute_fraction_range: [0.2, 0.8]\n", "nested.yaml")
    fraction = write(tmp_path, "data:\n  permute_fraction: 0.5\n", "fraction.yaml")
    assert load_config(nested).data.permute_fraction_range == [0.2, 0.8]
    # The range served nested subsets, so independent ones drop it, and another benchmark drops both:
    # permute_subsets goes with the permuted benchmark, and the range with permute_subsets.
    independent = load_config(nested, ["data.permute_subsets=independent", "data.permute_fraction=0.3"]).data
    assert (independent.permute_fraction, independent.permute_fraction_range) == (0.3, None)
    rotated = load_config(nested, ["data.benchmark=[rotated]"]).data
    assert (rotated.permute_subsets, rotated.permute_fraction_range) == (None, None)
    switched = load_config(fraction, ["data.permute_subsets=nested"]).data
    assert (switched.permute_fraction, switched.permute_fraction_range) == (None, [0.1, 1.0])
    # null is "not set": independent subsets on the permuted benchmark, which keep the file's fraction.
    assert load_config(fraction, ["data.permute_subsets=null"]).data.permute_fraction == 0.5
    reset = load_config(nested, ["data.permute_subsets=null"]).data
    assert (reset.permute_subsets, reset.permute_fraction, reset.permute_fraction_range) == ("independent", 1.0, None)
    # A command-line setting a study's runs cannot use: the fraction where they are nested, and the other way round.
    assert idle_settings([{"data": {"permute_subsets": "nested"}}], {"data.permute_fraction": 0.3}) == {
        "data.permute_fraction": "it applies only to the permuted benchmark with permute_subsets independent"}
    assert idle_settings([{"data": {"benchmark": ["permuted"]}}], {"data.permute_fraction": 0.3}) == {}
    assert list(idle_settings([{}], {"data.permute_fraction_range": [0.2, 0.9]})) == ["data.permute_fraction_range"]
    assert idle_settings([{"data": {"benchmark": ["split"]}}], {"data.permute_fraction": 0.3}) != {}


def test_a_later_layer_drops_what_only_served_an_earlier_choice(tmp_path):
    """A file for topk, nns, rotated, SupSup and EWC, overridden on the command line by threshold, task, split and
    naive."""
    path = write(tmp_path, """
method: [supsup, ewc]
data: {benchmark: [rotated], rotation_step: 10}
model: {mask_rule: topk, density: 0.2}
scenario: {name: nns, nns: {margin: 0.5}}
ewc: {lambda: 10}
""")
    assert load_config(path).model.density == 0.2
    config = load_config(path, ["method=naive", "data.benchmark=split", "scenario.name=task"])
    assert (config.model.mask_rule, config.model.density, config.data.rotation_step, config.scenario.nns,
            config.method) == (None, None, None, None, ["naive"])  # naive learns no mask: no mask rule
    threshold = load_config(path, ["model.mask_rule=threshold"])
    assert (threshold.model.mask_rule, threshold.model.density) == ("threshold", None)
    kept = load_config(path, ["method=[ewc, supsup]", "data.benchmark=[rotated, split]"])
    assert (kept.settings("ewc").lam, kept.data.rotation_step, kept.model.density) == (10.0, 10.0, 0.2)
    with pytest.raises(ConfigError, match="density does nothing"):  # within one layer it is an error
        compose({"model": {"mask_rule": "threshold", "density": 0.2}})
    with pytest.raises(ConfigError, match="^model.mask_rule does nothing here"):
        load_config(path, ["method=naive", "model.mask_rule=threshold"])


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


def test_idle_settings_are_those_a_run_does_not_use_and_can_be_left_out():
    shared = {"ewc.samples": 16, "scenario.nns.margin": 0.2, "model.density": 0.3, "data.rotation_step": 5,
              "training.lr": 0.01}
    idle = idle_settings([{"method": ["naive"]}], shared)
    assert sorted(idle) == ["data.rotation_step", "ewc.samples", "model.density", "scenario.nns.margin"]
    assert without_settings(shared, idle) == {"training": {"lr": 0.01}}  # emptied sections go too
    used = [{"method": ["ewc"], "scenario": {"name": "nns"}, "model": {"mask_rule": "topk"},
             "data": {"benchmark": ["rotated"]}}]
    assert idle_settings(used, shared) == {}
    assert idle_settings([{"method": ["naive"]}], {"method": ["ewc"], "ewc.samples": 16}) == {}  # it chooses ewc itself


@pytest.mark.parametrize("setting, applying, default", [
    ("data.classes_per_task=3", "data.benchmark=[split]", ("data", "classes_per_task", 2)),
    ("data.label_mode=keep", "data.benchmark=[partitioned]", ("data", "label_mode", "remap")),
    ("data.pair_source=kmnist", "data.benchmark=[pair]", ("data", "pair_source", "fashion-mnist")),
    ("supsup.task_inference=binary", "scenario.name=gnu", ("supsup", "task_inference", "oneshot")),
    ("supsup.inference_objective=G", "scenario.name=gns", ("supsup", "inference_objective", "H")),
    ("supsup.transfer_protocol=two_pass", "supsup.transfer=similar", ("supsup", "transfer_protocol", "causal")),
    ("supsup.transfer_temperature=0.5", "supsup.transfer=soft", ("supsup", "transfer_temperature", 0.1)),
    ("ewc.decay=0.9", "ewc.mode=online", ("ewc", "decay", 1.0)),
    ("data.permute_fraction_range=[0.2, 0.6]", "data.permute_subsets=nested",
     ("data", "permute_fraction_range", [0.1, 1.0])),
])
def test_a_setting_for_another_choice_is_an_error_and_takes_its_default_where_it_applies(setting, applying, default):
    section, field, value = default
    method = [f"method={section}"] if section in list_methods() else []
    extra = ["data.num_tasks=2"] if "pair" in applying else []
    as_dict = to_dict(load_config(None, [*method, *extra]))
    assert as_dict[section][field] is None  # not applying: null in the run's config
    with pytest.raises(ConfigError, match=f"^{re.escape(setting.split('=')[0])} does nothing here: it applies only to"):
        load_config(None, [*method, *extra, setting])
    assert to_dict(load_config(None, [*method, *extra, applying]))[section][field] == value
    given = yaml.safe_load(setting.split("=")[1])
    assert to_dict(load_config(None, [*method, *extra, applying, setting]))[section][field] == given


def test_replay_fraction_and_per_task_are_one_choice():
    assert load_config(None, ["method=replay"]).settings("replay").fraction == 0.5
    assert load_config(None, ["method=replay", "replay.per_task=10"]).settings("replay").fraction is None
    with pytest.raises(ConfigError, match="^replay.fraction does nothing here: it applies only to replay without per_task"):
        load_config(None, ["method=replay", "replay.per_task=10", "replay.fraction=0.3"])


def test_a_later_layer_drops_the_settings_of_the_choice_it_changes(tmp_path):
    path = write(tmp_path, "method: [supsup, ewc]\nmodel: {batch_norm: true}\ndata: {benchmark: [split], "
                           "classes_per_task: 5, label_mode: keep}\nscenario: {name: gnu}\n"
                           "supsup: {task_inference: binary, transfer: soft, transfer_temperature: 0.3}\n"
                           "ewc: {mode: online, decay: 0.5}\n")
    config = load_config(path, ["data.benchmark=[permuted]", "scenario.name=task", "supsup.transfer=mean",
                                "ewc.mode=separate"])
    assert (config.data.classes_per_task, config.data.label_mode) == (None, None)
    supsup = config.settings("supsup")
    assert (supsup.task_inference, supsup.transfer_protocol, supsup.transfer_temperature) == (None, None, None)
    assert config.settings("ewc").decay is None
    # Set again in the later layer, a setting is kept; a change that keeps it applying keeps it.
    assert load_config(path, ["supsup.transfer=similar"]).settings("supsup").transfer_protocol == "causal"
    assert load_config(path, ["data.benchmark=[split, rotated]"]).data.classes_per_task == 5


def test_the_two_pass_reference_is_the_random_run_without_the_guided_settings():
    from supermasks.methods.supsup_settings import reference_config

    config = load_config(None, ["model.batch_norm=true", "supsup.transfer=soft", "supsup.transfer_protocol=two_pass",
                                "supsup.transfer_temperature=0.2"])
    reference = reference_config(config).settings("supsup")
    assert (reference.transfer, reference.transfer_protocol, reference.transfer_temperature) == ("random", None, None)


def test_idle_settings_follow_every_declared_condition():
    shared = {"supsup.transfer_temperature": 0.2, "data.classes_per_task": 4, "ewc.decay": 0.5}
    idle = idle_settings([{"method": ["supsup", "ewc"], "supsup": {"transfer": "similar"}}], shared)
    assert idle == {"supsup.transfer_temperature": "it applies only to supsup.transfer soft",
                    "data.classes_per_task": "it applies only to the split benchmark",
                    "ewc.decay": "it applies only to ewc.mode online"}
    used = [{"method": ["supsup", "ewc"], "supsup": {"transfer": "soft"}, "data": {"benchmark": ["split"]},
             "ewc": {"mode": "online"}}]
    assert idle_settings(used, shared) == {}


# --- settings that count only with a masked method, with figures, in a scenario ------------------------------------


@pytest.mark.parametrize("overrides, key", [
    (["scenario.inference_batch_size=1"], "scenario.inference_batch_size"),
    (["scenario.name=domain", "method=naive", "scenario.inference_batch_size=64"], "scenario.inference_batch_size"),
    (["method=naive", "run.overlap=true"], "run.overlap"),
    (["method=[ewc, replay]", "model.mask_rule=threshold"], "model.mask_rule"),
    (["run.figures=false", "run.figure_format=svg"], "run.figure_format"),
    (["scenario.name=nns", "run.eval_every=10"], "run.eval_every"),
])
def test_settings_of_other_scenarios_methods_or_switches_are_refused(overrides, key):
    with pytest.raises(ConfigError, match=f"^{re.escape(key)} does nothing here: it applies only to .*: remove it, or "):
        load_config(None, overrides)


def test_an_idle_setting_is_null_and_a_later_layer_that_changes_the_choice_drops_it(tmp_path):
    naive = load_config(None, ["method=naive"])
    assert (naive.run.overlap, naive.model.mask_rule, naive.scenario.inference_batch_size) == (None, None, None)
    assert naive.run.overlap is None and load_config(None, ["method=naive", "run.overlap=false"]) == naive
    path = write(tmp_path, "method: [supsup]\nrun: {overlap: true, figure_format: svg}\nscenario: {name: gnu, "
                           "inference_batch_size: 1}\n")
    config = load_config(path, ["method=naive", "scenario.name=task", "run.figures=false"])
    assert (config.run.overlap, config.run.figure_format, config.scenario.inference_batch_size) == (None, None, None)
    assert config.run.figure_formats == ()
    assert updated(naive, {"method": ["supsup"]}).run.overlap is True  # null is "not set": the default returns


def test_stored_configs_of_earlier_versions_read_back_without_their_idle_settings():
    old = to_dict(load_config(None, ["method=naive", "run.figures=false"]))
    old["run"].update(overlap=True, figure_format="svg", eval_every=0)  # as an earlier version wrote them
    old["scenario"]["inference_batch_size"] = 128
    old["model"]["mask_rule"] = "threshold"
    with pytest.raises(ConfigError, match="does nothing here"):
        compose(old)
    assert from_stored(old) == load_config(None, ["method=naive", "run.figures=false"])


def test_part_and_benchmark_names_are_text_that_reads_back_as_itself():
    check_names(["base", "topk-10", "off", "Yes"], "part name")
    for bad, words in [(None, "no value"), (False, "bool"), (2, "int"), ("nan", "read it back"),
                       ("TRUE", "read it back"), ("0.5", "a number")]:
        with pytest.raises(ConfigError, match=words):
            check_names(["base", bad], "part name")
    with pytest.raises(ConfigError, match="differ only in case"):
        check_names(["base", "Base"], "part name")
