"""Experiment 2 end to end at a tiny size on the embedded data, and its study-file checks."""

import pandas as pd
import pytest
import yaml

from supermasks.config import ConfigError
from supermasks.studies.transfer import run_transfer_study
from supermasks.studies.transfer_file import is_transfer_study_file, load_transfer_study

TINY = {
    "name": "tiny2", "method": ["supsup"], "data": {"source": "mnist-5k", "num_tasks": 3},
    "model": {"arch": "fc-300-300", "batch_norm": True}, "training": {"optimizer": "adam", "lr": 0.01, "batch_size": 64},
    "scenario": {"inference_batch_size": 250}, "run": {"overlap": False, "eval_batch_size": 1000},
    "transfer_study": {"transfers": ["mean", "random", "similar", "soft"], "budgets": [10, 5], "seeds": [0, 1],
                       "benchmarks": {"rotated_small": {"data": {"benchmark": ["rotated"], "rotation_step": 10}},
                                      "permuted": {"data": {"benchmark": ["permuted"]}}}},
}


def write(tmp_path, study, name="study.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(study))
    return path


def test_tiny_experiment2_runs_end_to_end_and_resumes_by_unit(tmp_path, log_lines):
    path = write(tmp_path, TINY)
    assert is_transfer_study_file(path)
    study = load_transfer_study(path, [f"run.out_dir={tmp_path / 'runs'}"])
    assert study.transfers == ["random", "mean", "similar", "soft"]  # random first: every mode is compared with it
    assert study.budgets == [5, 10] and study.benchmarks["permuted"]["random"].training.steps_per_task == 10
    tables = run_transfer_study(study, progress=False)
    ev = tables["evaluation"]
    # benchmarks x seeds x modes x tasks x budgets
    assert len(ev) == 2 * 2 * 4 * 3 * 2
    assert ev["accuracy"].between(0, 1).all()
    # Task 0 always starts random, so every mode gives it exactly the same accuracy.
    first = ev[ev.task == 0].pivot_table(index=["benchmark", "seed", "budget"], columns="transfer", values="accuracy")
    assert (first.nunique(axis=1) == 1).all()
    alphas = tables["alphas"]
    assert set(alphas.transfer) == {"mean", "similar", "soft"}
    one_hot = alphas[alphas.transfer == "similar"].groupby(["benchmark", "seed", "task", "layer"])["alpha"]
    assert (one_hot.sum() == 1).all() and (one_hot.max() == 1).all()
    assert (alphas[alphas.transfer == "similar"].source_task < alphas[alphas.transfer == "similar"].task).all()
    summary = tables["summary"]
    assert len(summary) == 2 * 4 * 2
    assert summary[summary.transfer == "random"]["p_value"].isna().all()
    assert len(tables["final"]) == 2 * 4 and set(tables["final"].budget) == {10}
    pred = tables["prediction"]
    assert len(pred) == 2 * 2 * 4 * 3 and pred["task_inference_accuracy"].between(0, 1).all()
    directory = study.directory()
    for name in ("evaluation", "prediction", "alphas", "summary", "final"):
        assert (directory / f"{name}.csv").is_file()
    figures = {p.name for p in (directory / "figures").iterdir()}
    assert {"efficiency_permuted.png", "similarity_rotated_small.svg", "alphas_permuted_soft.png"} <= figures
    similarity = pd.read_csv(directory / "similarity" / "permuted-seed0-bn1.csv").set_index("task").to_numpy()
    assert similarity.shape == (3, 3) and similarity.diagonal() == pytest.approx([1, 1, 1])

    again = run_transfer_study(study, progress=False)
    assert sum("already done" in line for line in log_lines) == 2 * 2 * 4
    pd.testing.assert_frame_equal(again["evaluation"], ev)


@pytest.mark.parametrize("change, message", [
    ({"transfers": ["mean"]}, "must include random"),
    ({"transfers": ["random", "nearest"]}, "transfers must list"),
    ({"budgets": [10, 10]}, "twice"),
    ({"budgets": []}, "non-empty list"),
    ({"seeds": [-1]}, "seeds"),
    ({"bogus": 1}, "unknown transfer_study key"),
    ({"benchmarks": {"x": {"data.benchmark": ["permuted"], "model.batch_norm": False}}}, "set model.batch_norm=true"),
    ({"benchmarks": {"x": {"data.benchmark": ["permuted"], "training.steps_per_task": 7}}}, "largest budget"),
    ({"benchmarks": {"x": {"data": {"benchmark": ["permuted"], "rotaton_step": 7}}}},
     "Did you mean 'data.rotation_step'"),
    ({"benchmarks": {"x": {"benchmark": ["permuted"]}}}, "'benchmark' is now 'data.benchmark'"),
])
def test_bad_study_files_are_refused_before_any_work(tmp_path, change, message):
    study = {**TINY, "transfer_study": {**TINY["transfer_study"], **change}}
    with pytest.raises(ConfigError, match=message):
        load_transfer_study(write(tmp_path, study))


def test_a_command_line_setting_for_some_benchmarks_only_skips_the_others(tmp_path):
    study = load_transfer_study(write(tmp_path, TINY), [f"run.out_dir={tmp_path}", "data.rotation_step=5"])
    assert study.benchmarks["rotated_small"]["mean"].data.rotation_step == 5.0
    assert study.benchmarks["permuted"]["mean"].data.rotation_step is None
    with pytest.raises(ConfigError, match="ewc.lambda on the command line does nothing in any run of this study"):
        load_transfer_study(write(tmp_path, TINY), ["ewc.lambda=1"])


def test_guided_transfer_settings_reach_only_the_modes_they_apply_to(tmp_path):
    study = load_transfer_study(write(tmp_path, TINY), [f"run.out_dir={tmp_path}", "supsup.transfer_temperature=0.5",
                                                        "supsup.transfer_protocol=two_pass"])
    units = study.benchmarks["permuted"]
    got = {t: (c.settings("supsup").transfer, c.settings("supsup").transfer_protocol,
               c.settings("supsup").transfer_temperature) for t, c in units.items()}
    assert got == {"random": ("random", None, None), "mean": ("mean", None, None),
                   "similar": ("similar", "two_pass", None), "soft": ("soft", "two_pass", 0.5)}
    only_random = {**TINY, "transfer_study": {**TINY["transfer_study"], "transfers": ["random", "mean"]}}
    with pytest.raises(ConfigError, match="supsup.transfer_temperature on the command line does nothing in any run "
                                          r"of this study \(it applies only to supsup.transfer soft\)"):
        load_transfer_study(write(tmp_path, only_random), ["supsup.transfer_temperature=0.5"])
