"""The report as one self-contained HTML page: build it from run, sweep or study directories, render, write.

`build_report` decides what the page holds: one finished run gets every section of a run
(`report.sections`); several runs (seeds, a sweep, a study) get the aggregate's tables over seeds
and its paired tests (`report.multi`), a study also its Experiment 1 findings and its Experiment 3
task-inference table (`report.inference_study`), a study or a run of several methods its accuracy
against stored bytes (`report.storage`), an Experiment 2 directory its own page
(`report.transfer`), and up to
`FIGURES_UP_TO` runs their figures as well. `render` fills the jinja2 template
(`templates/report.html.j2`, with its CSS and sorting script inlined): figures are data URIs, so the
page needs no network and no other file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

from supermasks.aggregate.discover import Listing, Skipped, find_runs
from supermasks.errors import ConfigError
from supermasks.report.model import Paragraph, Report, Section
from supermasks.report.source import RunData, is_study_directory, read_run, study_name, study_runs

FIGURES_UP_TO = 4  # runs whose figures a report on several runs still shows
REPORT_FILE = "report.html"
_REASONS_SHOWN = 5  # runs named in the error when none can be reported on

log = logging.getLogger(__name__)


def _summary_of_runs(runs: list[RunData]) -> list[str]:
    from supermasks.report.summary import overlap_sentences, run_sentence

    sentences = []
    for run in runs:
        benchmarks = len({r.benchmark for r in run.results})
        sentences += [run_sentence(r, benchmarks) for r in run.results]
        for r in run.results:
            sentences += overlap_sentences(r)
    return sentences


def _readable(listing: Listing) -> list[RunData]:
    """The finished runs of `listing` that can be read; each run left out (unfinished, or a damaged file) is
    added to `listing.skipped` and warned about, one line each. ConfigError, one line with every reason, when
    no run is left."""
    runs = []
    for directory in listing.finished:
        try:
            runs.append(read_run(directory))
        except (ConfigError, OSError, ValueError) as error:  # StoredResultsError names the damaged file
            listing.skipped.append(Skipped(directory, f"cannot be read: {error}"))
    if not runs:
        shown = [f"{s.directory}: {s.reason}" for s in listing.skipped[:_REASONS_SHOWN]]
        more = len(listing.skipped) - len(shown)
        reasons = "; ".join(shown) + (f"; and {more} more" if more > 0 else "") or "none found"
        raise ConfigError(f"no finished run to report on ({reasons})")
    for item in listing.skipped:
        log.warning("warning: skipping %s: %s", item.directory, item.reason)
    return runs


def build_report(paths: Sequence[Path], *, figures: bool = True, full: bool = False) -> Report:
    """The report on the finished runs among `paths` (run, sweep, study or other directories of runs).

    An Experiment 2 directory (`studies.transfer`) gets its own page (`report.transfer`).
    Without `figures` the runs' own figures (the slow part: accuracy matrices, curves, overlap and
    masks) are left out; the tables over seeds, their interval plots and a study's answer figure stay.
    A study's page opens with its question, answer and one figure (`report.answer`).
    With `full` the mask images are drawn too (left out by default: a page of noise, and most of its bytes).

    A run that did not finish or cannot be read is left out, with a warning and a line in the page's
    "Runs left out" section. FileNotFoundError when a path is no directory of runs; ConfigError when no run
    is left to report on.
    """
    paths = [Path(p) for p in paths]
    from supermasks.report.transfer import is_transfer_directory, transfer_report

    if len(paths) == 1 and is_transfer_directory(paths[0]):  # Experiment 2: a study of its own kind
        return transfer_report(paths[0], figures=figures)
    study = paths[0] if len(paths) == 1 and is_study_directory(paths[0]) else None
    listing = find_runs(study_runs(study) if study is not None else paths)
    runs = _readable(listing)  # ConfigError, as one line, when none is left: no progress line before it
    log.info("report: %d run%s read", len(runs), "" if len(runs) == 1 else "s")
    title = (f"Study {study_name(study)}" if study is not None else
             f"Run {runs[0].config.name}, seed {runs[0].config.seed}" if len(runs) == 1 else
             f"{study_name(paths[0])}: {len(runs)} runs" if len(paths) == 1 and study_name(paths[0]) != paths[0].name
             else f"{len(runs)} runs")  # a sweep's directory (`compare-sweep-e8306e69`) by its config's name
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    skipped = Section("skipped", "Runs left out", [Paragraph(f"{s.directory}: {s.reason}") for s in listing.skipped])
    if len(runs) == 1:
        from supermasks.report.sections import run_sections
        from supermasks.report.storage import storage_section

        from supermasks.report.answer import run_acc_figure

        sections = run_sections(runs, figures=figures, full=full)
        cost = next((i + 1 for i, section in enumerate(sections) if section.id == "cost"), len(sections))
        sections.insert(cost, storage_section(runs[0].directory, figures=figures))  # several methods: ACC against their bytes
        return Report(title, _summary_of_runs(runs), [*sections, skipped], generated,
                      figure=run_acc_figure(runs[0].results) if figures else None)  # several methods: their ACC
    return _several(title, runs, study, skipped, generated, figures=figures, full=full)


def _several(title: str, runs: list[RunData], study: Path | None, skipped: Section, generated: str, *,
             figures: bool, full: bool = False) -> Report:
    from supermasks.aggregate import aggregate_runs
    from supermasks.report.answer import acc_figure, experiment1_figure
    from supermasks.report.multi import acc_sentences, comparisons_section, seeds_section, study_overlap_section
    from supermasks.report.sections import run_sections
    from supermasks.report.summary import comparison_sentences

    log.info("report: analysis over seeds")
    result = aggregate_runs([run.directory for run in runs])
    summary = [*acc_sentences(result), *comparison_sentences(result.comparisons)]
    question, answer, figure = "", [], None
    overlap = study is not None and (study / "overlap_study.csv").is_file()
    if overlap:  # Experiment 1: its question, answer and figure open the page
        import pandas as pd

        from supermasks.studies.overlap_answer import QUESTION, answer_sentences

        table = pd.read_csv(study / "overlap_study.csv")
        question, answer, figure = QUESTION, answer_sentences(table), experiment1_figure(study, table)
    elif study is not None:  # Experiment 3, the forgetting and the replay studies: theirs
        from supermasks.report.study_answer import study_answer

        question, answer, figure = study_answer(study)
    if not question and result.summary["metric"].eq("ACC").any():  # several methods or seeds: their ACC with intervals
        figure = acc_figure(result.summary, list(result.settings))
    sections = [seeds_section(result, acc_figure=figure is None), comparisons_section(result)]
    if overlap:
        sections.append(study_overlap_section(study))
    confusions = False
    if study is not None:
        import pandas as pd

        from supermasks.report.inference_study import (has_task_inference, inference_study_section,
                                                       inference_study_sentences)

        frame = pd.read_csv(study / "study.csv")
        if has_task_inference(frame):  # Experiment 3
            summary = [*inference_study_sentences(frame), *summary]  # what the study is about, first
            sections.append(inference_study_section(study, frame, figures=figures))
            confusions = figures
    if study is not None:
        from supermasks.report.storage import storage_section

        sections.append(storage_section(study, figures=figures))
    if not summary:
        summary = _summary_of_runs(runs)
    shown = run_sections(runs, figures=figures and len(runs) <= FIGURES_UP_TO, full=full)
    for section in shown if confusions else []:  # the confusion matrices are in Experiment 3's section
        if section.id == "inference":
            section.blocks = [b for b in section.blocks if b.kind != "figure"]
    sections += shown
    return Report(title, summary, [*sections, skipped], generated, question, answer, figure)


def render(report: Report) -> str:
    """The page's HTML (one string: CSS, script and images inline)."""
    from jinja2 import Environment, PackageLoader

    # Every value is escaped: definitions hold `<` (`mean_{j<T-1}`), run names and configs are the user's text.
    env = Environment(loader=PackageLoader("supermasks.report", "templates"), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2").render(report=report, sections=report.shown())


def write_report(paths: Sequence[Path], out: Path, *, figures: bool = True, full: bool = False) -> Path:
    """Build the report on `paths` (`build_report`) and write it to `out` (atomically); returns `out`.
    Progress goes to the `supermasks.report` log, one line per step (`supermasks report` shows it unless -q)."""
    from supermasks.store.files import atomic_write_bytes
    from supermasks.store.temporaries import remove_stale_of

    out = Path(out)
    remove_stale_of(out)  # a report killed mid-write here left its temporary beside `out`
    report = build_report(paths, figures=figures, full=full)
    log.info("report: writing %s", out)
    atomic_write_bytes(out, render(report).encode("utf-8"))
    return out
