"""Reports a reader can read: names by swept values, intervals inside the possible range with a note when
n < 3, a small page with the secondary figures folded away, titles that fit, progress while it works."""

from __future__ import annotations

import contextlib
import io
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from supermasks.aggregate.figures import interval_plot
from supermasks.aggregate.labels import combination_labels, fixed_by_name, run_labels, value_text
from supermasks.cli import main
from supermasks.report import build_report

from .conftest import ROOT, TINY
from .pageparse import parse

HASH = re.compile(r"\b[0-9a-f]{8,}\b")
SIZE_LIMIT = 400_000  # bytes of a 2-task run's report


@pytest.fixture(scope="module")
def two_task_run(tmp_path_factory):
    """naive and SupSup on two rotated synthetic tasks with mask overlap, no report written by the run."""
    out_dir = tmp_path_factory.mktemp("two-tasks")
    tiny = [a for a in TINY if not a.startswith("data.num_tasks")]
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["run", str(ROOT / "configs" / "compare.yaml"), *tiny, "data.num_tasks=2", "run.report=false",
                     f"run.out_dir={out_dir}", "-q"]) == 0
    return Path(buffer.getvalue().strip().splitlines()[-1].removeprefix("run directory: "))


def _report(paths, out, *flags):
    """`supermasks report` on `paths`; (the page, what it wrote on stderr)."""
    stderr = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(stderr):
        assert main(["report", *map(str, paths), "-o", str(out), *flags]) == 0
    return out, stderr.getvalue()


def test_a_two_task_runs_report_is_small_and_shows_its_first_figures(two_task_run, tmp_path):
    page_path, _ = _report([two_task_run], tmp_path / "report.html", "-q")
    size = page_path.stat().st_size
    assert size < SIZE_LIMIT, f"{size} bytes"
    page = parse(page_path.read_text(encoding="utf-8"))
    # open: 2 accuracy matrices, the curves, ACC against stored bytes; folded: supsup's 3 layers' overlap heat maps
    assert len(page.images) - len(page.folded) == 5 and len(page.folded) == 3  # the methods' ACC first
    assert all(legend.startswith("Overlap figures of rotated/supsup") for legend in page.legends
               if legend.startswith("Overlap"))
    # --full adds the mask images (one per layer), folded beside the overlap figures
    full = parse(_report([two_task_run], tmp_path / "full.html", "-q", "--full")[0].read_text(encoding="utf-8"))
    assert len(full.images) == len(page.images) + 3 and len(full.folded) == 6
    assert "--full" in page_path.read_text(encoding="utf-8")  # the default page says how to get them


def test_report_shows_progress_on_stderr_unless_quiet(two_task_run, tmp_path):
    _, said = _report([two_task_run], tmp_path / "report.html")
    lines = said.splitlines()
    assert lines[0] == "report: 1 run read" and lines[-1] == f"report: writing {tmp_path / 'report.html'}"
    assert {"report: accuracy matrices", "report: mask overlap figures", "report: provenance"} <= set(lines)
    assert _report([two_task_run], tmp_path / "quiet.html", "-q")[1] == ""


def test_runs_are_named_by_what_tells_them_apart_never_a_hash(tiny_runs, tmp_path):
    page = parse(_report(tiny_runs["runs"], tmp_path / "report.html", "-q")[0].read_text(encoding="utf-8"))
    (metrics,) = page.tables["metrics"]
    assert [row[0][1] for row in metrics["rows"]] == ["seed=0", "seed=0", "seed=1", "seed=1"]
    for tables in page.tables.values():
        for table in tables:
            assert not any("nan" in h.lower().split() or HASH.search(h) for h in table["header"]), table["header"]
            if table["header"][0] == "run":
                assert not any(HASH.search(row[0][1]) for row in table["rows"])
    assert not any(HASH.search(legend) for legend in page.legends)


def test_a_sweeps_report_is_titled_by_its_configs_name_not_its_hash(tiny_runs, tmp_path):
    sweep = tmp_path / "compare-sweep-0123abcd"
    for run in tiny_runs["runs"]:
        shutil.copytree(run, sweep / run.name)
    assert build_report([sweep], figures=False).title == "compare-sweep: 2 runs"
    plain = tmp_path / "runs"
    shutil.copytree(sweep, plain)
    assert build_report([plain], figures=False).title == "2 runs"


def test_readable_labels():
    assert [value_text(v) for v in (0.001, 1e-4, 2.5e-3, 0.1, 3.0, 0.5, 64, "adam", np.float64(1e-3))] == \
        ["1e-3", "1e-4", "2.5e-3", "0.1", "3", "0.5", "64", "adam", "1e-3"]
    # a study's part names lose the study's name; the part's name stands for the settings it fixes
    assert combination_labels(["name", "model.density", "training.lr"],
                              [("e1-quick-threshold-independent", math.nan, 1e-3),
                               ("e1-quick-topk-shared", 0.5, 1e-2)]) == \
        ["threshold-independent", "topk-shared"]
    # a setting that varies within a part (its grid) stays; one that does not apply (NaN) is left out
    assert combination_labels(["name", "model.mask_rule", "model.density", "training.lr"],
                              [("e1-threshold", "threshold", math.nan, 1e-3),
                               ("e1-threshold", "threshold", math.nan, 1e-2),
                               ("e1-topk", "topk", 0.5, 1e-3), ("e1-topk", "topk", 0.1, 1e-3)]) == \
        ["threshold, lr=1e-3", "threshold, lr=0.01", "topk, density=0.5, lr=1e-3", "topk, density=0.1, lr=1e-3"]
    assert fixed_by_name(["name", "model.mask_rule", "training.lr"],
                         [("a", "threshold", 1e-3), ("a", "threshold", 1e-2), ("b", "topk", 1e-3)]) == \
        {"model.mask_rule"}
    assert fixed_by_name(["model.mask_rule"], [("threshold",), ("topk",)]) == set()
    # two settings of one name keep their sections
    assert combination_labels(["ewc.lambda", "si.lambda"], [(1.0, None)]) == ["ewc.lambda=1"]
    configs = [{"method": ["naive"], "training": {"lr": lr, "batch_size": 32}, "seed": seed,
                "run": {"out_dir": f"runs{seed}"}} for lr in (1e-3, 1e-2) for seed in (0, 1)]
    assert run_labels(configs) == ["lr=1e-3, seed=0", "lr=1e-3, seed=1", "lr=0.01, seed=0", "lr=0.01, seed=1"]
    # settings of one method's own section (supsup's) do not name it beside another method
    configs = [{"method": ["naive"], "seed": 0}, {"method": ["supsup"], "supsup": {"score_init": "x"}, "seed": 0}]
    assert run_labels(configs) == ["method=naive", "method=supsup"]


def _summary(seeds: int, high: float, settings: dict) -> pd.DataFrame:
    """ACC of two methods on one benchmark: means 0.95 and 0.6, the first interval reaching `high`."""
    rows = [{"benchmark": "rotated", "method": m, "task": np.nan, "metric": "ACC", "mean": mean, "ci_low": low,
             "ci_high": top, "n_seeds": seeds, **settings} for m, mean, low, top in
            (("supsup", 0.95, 0.70, high), ("naive", 0.60, 0.55, 0.65))]
    return pd.DataFrame(rows)


def test_an_interval_past_100_percent_is_drawn_to_100_with_a_note_under_3_seeds():
    fig = interval_plot(_summary(2, 1.20, {}), "ACC")
    (ax,) = fig.axes
    (container,) = ax.containers
    bars = np.concatenate([segment[:, 1] for segment in container.lines[2][0].get_segments()])
    assert bars.max() == pytest.approx(100.0) and bars.min() == pytest.approx(55.0)  # 120% cut to 100%
    assert ax.get_ylim()[1] <= 100.0  # the axis never runs past 100%
    title = fig._suptitle.get_text().replace("\n", " ")
    assert "n = 2: a t interval with 1 degree of freedom" in title
    # three seeds: no note; an interval within the range is drawn as it is
    fig = interval_plot(_summary(3, 0.99, {}), "ACC")
    bars = np.concatenate([s[:, 1] for s in fig.axes[0].containers[0].lines[2][0].get_segments()])
    assert bars.max() == pytest.approx(99.0) and "degree of freedom" not in fig._suptitle.get_text()


def test_legends_name_the_swept_values_and_titles_fit_the_figure():
    summary = pd.concat([_summary(2, 0.99, {"name": f"experiment1-quick-{part}", "model.density": density,
                                            "training.lr": 1e-3})
                         for part, density in (("threshold-independent", math.nan), ("topk-shared", 0.5))])
    fig = interval_plot(summary, "ACC", ["name", "model.density", "training.lr"])
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts == ["threshold-independent", "topk-shared"]  # the parts stand for the settings they fix
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.canvas.draw()
    box, title = fig.bbox, fig._suptitle.get_window_extent(renderer)
    assert box.x0 <= title.x0 and title.x1 <= box.x1 and title.y1 <= box.y1  # not clipped


def test_acc_sentences_name_methods_and_parts_once_and_without_what_the_part_fixes():
    from types import SimpleNamespace

    from supermasks.report.multi import acc_sentences

    rows = [("naive", "forgetting-shared_head", "domain", 0.39), ("replay", "forgetting-shared_head", "domain", 0.34),
            ("supsup", "forgetting-supsup", "task", 0.84)]
    summary = pd.DataFrame([{"metric": "ACC", "task": math.nan, "benchmark": "pair", "method": method, "name": name,
                             "scenario.name": scenario, "mean": acc, "n_seeds": 1} for method, name, scenario, acc in rows])
    result = SimpleNamespace(summary=summary, settings=["name", "scenario.name"])
    assert acc_sentences(result) == [
        "On pair, mean ACC over 1 seed ranges from 34.0% (replay, shared_head) to 84.0% (supsup)."]
