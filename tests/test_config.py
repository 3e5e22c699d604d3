import pytest

from supermasks.config import ConfigError, ExperimentConfig, load_config, parse_override


def write(tmp_path, text):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_overrides_are_typed(tmp_path):
    cfg = load_config(write(tmp_path, "data:\n  benchmark: [permuted, split]\n  num_tasks: 5\n"),
                      ["data.benchmark=rotated", "data.num_tasks=10", "seed=3", "training.lr=1e-3", "model.batch_norm=true"])
    assert cfg.data.benchmark == ["rotated"]  # a single name becomes a one-element list
    assert (cfg.data.num_tasks, cfg.seed, cfg.training.lr, cfg.model.batch_norm) == (10, 3, 0.001, True)
    assert cfg.name == "exp"  # from the file name when the file has none


def test_int_accepted_for_float_but_not_the_reverse(tmp_path):
    assert load_config(None, ["training.lr=1"]).training.lr == 1.0
    with pytest.raises(ConfigError, match=r"^data.num_tasks: expected int, got 2.5"):
        load_config(None, ["data.num_tasks=2.5"])
    with pytest.raises(ConfigError, match="^model.batch_norm: expected bool"):
        load_config(None, ["model.batch_norm=3"])


def test_unknown_key_suggests_and_lists_valid_keys():
    with pytest.raises(ConfigError) as info:
        load_config(None, ["num_task=3"])
    message = str(info.value)
    assert "unknown config key 'num_task'" in message
    assert "Did you mean 'data.num_tasks'?" in message
    assert "Valid keys: name, seed, method, data.benchmark, data.source" in message


def test_unknown_key_in_file(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key 'learning_rate'"):
        load_config(write(tmp_path, "learning_rate: 0.1\n"))


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "a: [1, 2\n"))
    with pytest.raises(ConfigError, match="mapping"):
        load_config(write(tmp_path, "- 1\n- 2\n"))


def test_parse_override_forms():
    assert parse_override("data.benchmark=[permuted, rotated]") == ("data.benchmark", ["permuted", "rotated"])
    assert parse_override("data.data_dir=null") == ("data.data_dir", None)
    for bad in ("seed", "=3"):
        with pytest.raises(ConfigError, match="key=value"):
            parse_override(bad)


def test_optional_field_and_defaults():
    cfg = load_config(None, ["data.source=mnist", "data.data_dir=/tmp"])
    assert cfg.data.data_dir == "/tmp"
    assert ExperimentConfig().training.steps_per_task == 1000 and ExperimentConfig().training.lr == 1e-4


def test_string_field_accepts_the_word_true():
    assert load_config(None, ["method=ewc", "ewc.fisher_label=true"]).settings("ewc").fisher_label == "true"
