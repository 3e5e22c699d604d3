"""run.figure_format: which files a run's figures are written as."""

import numpy as np
import pytest

from supermasks.config import load_config
from supermasks.errors import ConfigError
from supermasks.runner.overlap import overlap_report


def _masks(num_tasks=3):
    rng = np.random.default_rng(0)
    return {t: {"fc1": rng.random((6, 5)) < 0.5, "fc2": rng.random((4, 6)) < 0.5} for t in range(num_tasks)}


@pytest.mark.parametrize("setting, suffixes", [("png", {".png"}), ("svg", {".svg"}), ("png+svg", {".png", ".svg"})])
def test_overlap_figures_follow_the_setting(tmp_path, setting, suffixes):
    formats = load_config(None, [f"run.figure_format={setting}"]).run.figure_formats
    overlap_report(_masks(), tmp_path, figures=True, figure_formats=formats)
    written = list((tmp_path / "figures").iterdir())
    assert {p.suffix for p in written} == suffixes
    assert len(written) == 3 * 2 * len(suffixes)  # heat map, 3-D scatter, mask grid per layer


def test_png_is_the_default_and_other_formats_are_refused():
    assert load_config(None, []).run.figure_formats == ("png",)
    with pytest.raises(ConfigError, match="figure_format"):
        load_config(None, ["run.figure_format=pdf"])


def test_figure_format_does_not_change_the_run_directory():
    from supermasks.config.records import run_directory

    assert run_directory(load_config(None, [])) == run_directory(load_config(None, ["run.figure_format=svg"]))
