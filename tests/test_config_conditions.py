"""Settings that count only in some combinations (a scenario, a method, a benchmark, a switch): refused with the
reason where they would do nothing, dropped when a later layer changes the choice they served, left out of a
stored config as idle, and read back from earlier versions without them."""

import re

import pytest
import yaml

from supermasks.config import (ConfigError, compose, from_stored, idle_settings, load_config, to_dict, updated,
                               without_settings)
from supermasks.methods import list_methods


def write(tmp_path, text, name="exp.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


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
