"""The demo's study report stays small: `make demo`'s study (configs/experiment1-quick.yaml) shrunk to 4 tasks and
a few steps shows at most 8 figures outside collapsed sections and weighs under 800 KB."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from supermasks.cli import main
from supermasks.studies.overlap_answer import QUESTION

from .conftest import ROOT
from .pageparse import parse

OPEN_FIGURES = 8
SIZE_LIMIT = 800_000  # bytes
# Every part (the three mask variants), benchmark, layer and seed of the demo, with its baseline runs: only the
# task count and the training length shrink.
SHRUNK = ["data.num_tasks=4", "training.steps_per_task=2"]


def test_the_demos_study_report_shows_few_figures_and_stays_small(tmp_path):
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(io.StringIO()):
        assert main(["run", str(ROOT / "configs" / "experiment1-quick.yaml"), *SHRUNK, f"run.out_dir={tmp_path}",
                     "--no-progress"]) == 0
    study = Path(buffer.getvalue().strip().splitlines()[-1].removeprefix("study directory: "))
    page_path = study / "report.html"
    html = page_path.read_text(encoding="utf-8")
    page = parse(html)
    shown = len(page.images) - len(page.folded)
    assert 1 <= shown <= OPEN_FIGURES, f"{shown} figures outside collapsed sections"
    assert page_path.stat().st_size < SIZE_LIMIT, f"{page_path.stat().st_size} bytes"
    # the page opens with the study's question and its one figure
    assert page.sections[0] == "summary" and QUESTION in html
    assert html.index(QUESTION) < html.index(page.images[0])
    assert page.captions[0].startswith("Mask overlap / chance against task relatedness.")
