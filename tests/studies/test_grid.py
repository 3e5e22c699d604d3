import pandas as pd
import pytest

from supermasks.cli import main
from supermasks.config import ConfigError
from supermasks.studies.grid import is_study_file, load_study, run_study, study_summary

STUDY = """
name: mini
data:
  benchmark: [permuted]
  source: synthetic
  num_tasks: 2
training:
  steps_per_task: 10
  batch_size: 32
  lr: 0.001
run:
  overlap: false
  figures: true
  eval_every: 5
parts:
  one:
    method: [supsup]
  sweep:
    method: [supsup]
    grid:
      training.lr: [0.001, 0.01]
      training.optimizer: [adam]
"""


def write(tmp_path, text=STUDY):
    path = tmp_path / "mini.yaml"
    path.write_text(text)
    return path


def test_parts_and_grid_expand_with_cli_overrides_last(tmp_path):
    study = load_study(write(tmp_path), [f"run.out_dir={tmp_path}", "training.steps_per_task=4"])
    assert [(r.part, r.grid) for r in study.runs] == [
        ("one", {}), ("sweep", {"training.lr": 0.001, "training.optimizer": "adam"}),
        ("sweep", {"training.lr": 0.01, "training.optimizer": "adam"})]
    assert all(r.config.training.steps_per_task == 4 for r in study.runs)
    assert study.runs[1].config.name == "mini-sweep"
    assert is_study_file(write(tmp_path)) and not is_study_file(tmp_path / "missing.yaml")


def test_run_study_writes_table_and_figures(tmp_path):
    study = load_study(write(tmp_path), [f"run.out_dir={tmp_path}"])
    frame = run_study(study, progress=False)
    assert len(frame) == 3
    saved = pd.read_csv(study.directory() / "study.csv")
    assert list(saved["grid.training.lr"].dropna()) == [0.001, 0.01]
    figures = study.directory() / "figures"
    assert (figures / "sweep_ACC_vs_training.lr.png").stat().st_size > 0
    assert (figures / "learning_curves.svg").stat().st_size > 0
    again = run_study(study, progress=False)  # finished runs are read back, not re-run
    pd.testing.assert_frame_equal(frame, again)


def test_a_study_names_the_definition_of_its_figures(tmp_path):
    study = load_study(write(tmp_path), [f"run.out_dir={tmp_path}", "training.steps_per_task=4"],
                       only="one")
    frame = run_study(study, progress=False)
    definitions = pd.read_csv(study.directory() / "definitions.csv").set_index("column")["definition"]
    assert definitions["ACC"].startswith("mean_j R[T-1, j]")
    assert definitions["first_task_accuracy"].startswith("R[T-1, 0]")
    assert "while learning task t" in definitions["memory_peak_training_bytes"]
    assert "after the last task" in definitions["memory_total_bytes"]
    assert "grid.<key>" not in definitions  # this part has no grid
    # SupSup on 2 tasks holds the float scores of the task in training: its peak exceeds what it keeps.
    row = frame.iloc[0]
    assert row["memory_peak_training_bytes"] > row["memory_total_bytes"]
    text = study_summary(frame)
    assert "peak training" in text and "kept" in text
    assert "definitions:" in text and "first_task_accuracy: R[T-1, 0]" in text


@pytest.mark.parametrize("text, message", [
    (STUDY.replace("method: [supsup]\n  sweep", "metod: [supsup]\n  sweep"), "part one: unknown config key 'metod'"),
    (STUDY.replace("lr: [0.001, 0.01]", "lr: 0.001"), "non-empty list"),
    (STUDY.replace("optimizer: [adam]", "optimizer: [adamw]"), "training.optimizer: unknown value 'adamw'"),
])
def test_study_errors_before_any_run(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_study(write(tmp_path, text), [f"run.out_dir={tmp_path}"])
    assert not any(p.name.startswith("mini-") for p in tmp_path.iterdir())


def test_cli_runs_one_part(tmp_path, capsys):
    assert main(["run", str(write(tmp_path)), "--part", "one", f"run.out_dir={tmp_path}", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "part one:" in out and "part sweep" not in out and "study directory:" in out
    assert main(["run", str(write(tmp_path)), "--part", "nope"]) == 2


def test_a_command_line_setting_for_some_runs_only_skips_the_others(tmp_path):
    text = STUDY.replace("  one:\n    method: [supsup]", "  one:\n    method: [naive, ewc]\n    scenario.name: domain")
    study = load_study(write(tmp_path, text), [f"run.out_dir={tmp_path}", "ewc.samples=16"])
    one, *sweep = study.runs
    assert one.config.settings("ewc").samples == 16 and all(r.config.method == ["supsup"] for r in sweep)
    with pytest.raises(ConfigError, match="ewc.samples on the command line does nothing in any run of this study "
                                          r"\(it applies only to runs of method 'ewc'\)"):
        load_study(write(tmp_path, text), [f"run.out_dir={tmp_path}", "ewc.samples=16"], only="sweep")
    with pytest.raises(ConfigError, match="model.density on the command line does nothing in any run"):
        load_study(write(tmp_path), [f"run.out_dir={tmp_path}", "model.density=0.5"])


def test_a_missing_data_source_falls_back_where_the_study_says_and_the_output_says_so(tmp_path, monkeypatch):
    import supermasks.data as data
    from supermasks.data import SourceInfo

    real = data.list_sources()
    # This machine may have any source; pretend fashion-mnist is missing.
    monkeypatch.setattr(data, "list_sources", lambda: [
        SourceInfo(i.name, i.description, i.available and i.name != "fashion-mnist", i.location, i.how_to_get)
        for i in real])
    path = tmp_path / "study.yaml"
    path.write_text("name: fb\nfallback_source: synthetic\ndata: {source: fashion-mnist, num_tasks: 2}\n"
                    "training: {steps_per_task: 2}\nparts:\n  a: {}\n")
    study = load_study(path, [f"run.out_dir={tmp_path}"])
    assert [r.config.data.source for r in study.runs] == ["synthetic"]
    assert "data: synthetic, since fashion-mnist is not available here" in study.note
    # A source given on the command line is used as given; an unknown fallback is an error.
    given = load_study(path, ["data.source=mnist-5k", f"run.out_dir={tmp_path}"])
    assert [r.config.data.source for r in given.runs] == ["mnist-5k"] and given.note is None
    path.write_text(path.read_text().replace("fallback_source: synthetic", "fallback_source: nope"))
    with pytest.raises(ConfigError, match="fallback_source: unknown source 'nope'"):
        load_study(path, [f"run.out_dir={tmp_path}"])


def test_an_available_source_does_not_fall_back(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text("name: fb\nfallback_source: synthetic\ndata: {source: mnist-5k, num_tasks: 2}\nparts:\n  a: {}\n")
    study = load_study(path, [f"run.out_dir={tmp_path}"])
    assert [r.config.data.source for r in study.runs] == ["mnist-5k"] and study.note is None
