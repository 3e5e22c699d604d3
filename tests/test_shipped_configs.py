"""Every config shipped in configs/ loads and validates (typos there reach every user)."""

from pathlib import Path

import pytest

from supermasks.cli import main
from supermasks.config import load_config
from supermasks.data import list_sources
from supermasks.runner import validate
from supermasks.studies.grid import is_study_file, load_study
from supermasks.studies.transfer_file import is_transfer_study_file, load_transfer_study

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))
FASHION = next(s for s in list_sources() if s.name == "fashion-mnist").available


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_is_valid(path, tmp_path):
    if is_transfer_study_file(path):
        assert load_transfer_study(path, [f"run.out_dir={tmp_path}"]).benchmarks
    elif is_study_file(path):
        assert load_study(path, [f"run.out_dir={tmp_path}"]).runs
    else:
        validate(load_config(path))


@pytest.mark.skipif(not FASHION, reason="Fashion-MNIST is not installed (apt install dataset-fashion-mnist)")
def test_forgetting_study_runs_end_to_end_at_a_tiny_size(tmp_path, capsys):
    code = main(["run", str(CONFIGS[0].parent / "forgetting.yaml"), f"run.out_dir={tmp_path}", "training.steps_per_task=20",
                 "run.eval_every=10", "ewc.samples=16", "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0
    for method in ("pair/naive", "pair/ewc", "pair/replay", "pair/supsup"):
        assert method in out
    study_dir = Path(out.strip().splitlines()[-1].removeprefix("study directory: "))
    assert (study_dir / "figures" / "learning_curves.png").stat().st_size > 0


def test_bad_method_setting_fails_before_training(tmp_path, capsys):
    code = main(["compare", str(CONFIGS[0].parent / "compare.yaml"), "ewc.lambda=-1", f"run.out_dir={tmp_path}"])
    assert code == 2
    assert "ewc.lambda" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
    code = main(["compare", str(CONFIGS[0].parent / "compare.yaml"), "replay.fraction=1.5", f"run.out_dir={tmp_path}"])
    assert code == 2 and "replay.fraction must be in [0, 1], got 1.5" in capsys.readouterr().err
