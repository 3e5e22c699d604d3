"""Expanding a sweep: the `sweep:` block, comma lists on the command line, seeds, per-method overrides."""

import pytest

from supermasks.config import ConfigError
from supermasks.sweep import executor_for, load_sweep, split_overrides
from supermasks.sweep import executors

from tests.sweep.common import write_config


def test_a_comma_list_sweeps_and_a_bracketed_list_stays_one_value():
    fixed, swept = split_overrides(["method=supsup,ewc", "data.benchmark=[permuted,rotated]", "training.lr=1e-3,0.01",
                                    "name='a,b'", "seed=3"])
    assert swept == {"method": ["supsup", "ewc"], "training.lr": [1e-3, 0.01]}
    assert fixed == {"data.benchmark": ["permuted", "rotated"], "name": "a,b", "seed": 3}
    with pytest.raises(ConfigError, match="empty value"):
        split_overrides(["method=supsup,"])


def test_block_and_command_line_expand_into_grid_times_seeds(tmp_path):
    sweep = load_sweep(write_config(tmp_path), ["data.benchmark=permuted,rotated", "seed=5",
                                                f"run.out_dir={tmp_path}"], seeds=3)
    assert sweep.grid == {"method": ["supsup", "naive"], "data.benchmark": ["permuted", "rotated"]}
    assert sweep.seeds == [5, 6, 7]
    assert len(sweep.runs) == 12 and len({run.key for run in sweep.runs}) == 12
    first = sweep.runs[0]
    assert first.grid == {"method": "supsup", "data.benchmark": "permuted"} and first.seed == 5
    assert first.config.method == ["supsup"] and first.config.data.benchmark == ["permuted"]
    assert first.config.seed == 5 and first.directory.parent == tmp_path.resolve()
    assert [(r.config.method[0], r.config.data.benchmark[0], r.seed) for r in sweep.runs[:4]] == [
        ("supsup", "permuted", 5), ("supsup", "permuted", 6), ("supsup", "permuted", 7), ("supsup", "rotated", 5)]
    assert sweep.directory() == tmp_path.resolve() / f"tiny-sweep-{sweep.directory().name.rsplit('-', 1)[1]}"
    # The same grid maps to the same sweep directory; another grid to another.
    again = load_sweep(write_config(tmp_path), ["data.benchmark=permuted,rotated", "seed=5",
                                                f"run.out_dir={tmp_path}"], seeds=3)
    assert again.directory() == sweep.directory()
    assert load_sweep(write_config(tmp_path), [f"run.out_dir={tmp_path}"], seeds=3).directory() != sweep.directory()


def test_a_fixed_override_ends_a_block_sweep_and_a_seed_list_names_the_seeds(tmp_path):
    sweep = load_sweep(write_config(tmp_path), ["method=naive", "seed=0,3,7"])
    assert sweep.grid == {} and sweep.seeds == [0, 3, 7]
    assert [r.config.seed for r in sweep.runs] == [0, 3, 7] and all(r.config.method == ["naive"] for r in sweep.runs)
    with pytest.raises(ConfigError, match="either as --seeds N or as a list"):
        load_sweep(write_config(tmp_path), ["seed=0,3"], seeds=2)


def test_a_method_setting_applies_to_that_methods_runs_only(tmp_path):
    sweep = load_sweep(write_config(tmp_path), ["method=naive,ewc", "ewc.lambda=7"])
    by_method = {r.config.method[0]: r.config for r in sweep.runs}
    assert by_method["ewc"].settings("ewc").lam == 7
    assert "ewc" not in by_method["naive"].method_settings
    with pytest.raises(ConfigError, match="does nothing in any run"):
        load_sweep(write_config(tmp_path), ["method=naive,supsup", "ewc.lambda=7"])


def test_a_sweep_block_must_map_keys_to_lists(tmp_path):
    with pytest.raises(ConfigError, match="non-empty lists"):
        load_sweep(write_config(tmp_path, "sweep:\n  method: supsup\n"))
    with pytest.raises(ConfigError, match="is a study file"):
        load_sweep(write_config(tmp_path, "parts:\n  one: {}\n"))


def test_executor_choice_without_ray(monkeypatch):
    monkeypatch.setattr(executors, "ray_installed", lambda: False)
    assert executor_for("auto")[0] == "local"
    with pytest.raises(ConfigError, match=r"pip install 'supermasks\[ray\]'"):
        executor_for("ray")
    with pytest.raises(ConfigError, match="--address, --num-cpus, --gpus-per-run and --connect-timeout are Ray's"):
        executor_for("local", address="10.0.0.1:6379")
    with pytest.raises(ConfigError, match="do nothing with --executor local"):
        executor_for("auto", num_cpus=2)
    with pytest.raises(ConfigError, match="do nothing with --executor local"):
        executor_for("local", connect_timeout=10)


def test_a_seeds_list_in_the_config_or_on_the_command_line_is_the_sweeps_seeds(tmp_path):
    path = write_config(tmp_path)
    path.write_text(path.read_text() + "seeds: [4, 9]\n")
    sweep = load_sweep(path, [f"run.out_dir={tmp_path}"])
    assert sweep.seeds == [4, 9] and sorted({run.seed for run in sweep.runs}) == [4, 9]
    assert load_sweep(path, ["seeds=[1, 2, 3]", f"run.out_dir={tmp_path}"]).seeds == [1, 2, 3]
    for clash in (dict(seeds=2), dict()):
        extra = [] if clash else ["seed=0,1"]
        with pytest.raises(ConfigError, match="give the seeds one way"):
            load_sweep(path, [*extra, f"run.out_dir={tmp_path}"], **clash)
