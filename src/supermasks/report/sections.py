"""The sections of a run's report: provenance, accuracy, metrics, curves, cost, overlap, task inference.

Each function returns a `Section`; one with nothing to show (a run without curves, a dense method
without masks) has no blocks and is left out of the page. Figures come from the plot functions
that the runs save (`analysis.curves`, `analysis.plots`), drawn from the run's tables.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from supermasks.analysis.metrics import DEFINITIONS
from supermasks.report.cells import bytes_cell, metric_cell, number_cell, text_cell
from supermasks.report.embed import figure_uri
from supermasks.report.model import Cell, Code, Definitions, Details, Figure, Heading, Paragraph, Section, Table
from supermasks.report.source import RunData
from supermasks.runner.tables import MEMORY_DEFINITIONS, MethodResult
from supermasks.store.json_files import read_json

PROVENANCE_KEYS = {"git_sha": "git commit", "supermasks_version": "supermasks", "torch_version": "torch",
                   "numpy_version": "numpy", "python": "Python", "platform": "machine", "cpu_count": "CPU cores",
                   "torch_threads": "torch threads", "task_workers": "task worker processes", "seed": "seed", "config_hash": "config hash",
                   "source_description": "data", "started": "started", "finished": "finished"}
ACCURACY_METRICS = ("ACC", "BWT", "FWT", "forgetting")
COST_METRICS = ("memory_per_task_bytes", "memory_peak_training_bytes", "memory_total_bytes", "seconds_per_task",
                "samples_per_second")
COST_HEADERS = {"memory_per_task_bytes": "memory/task", "memory_peak_training_bytes": "peak training",
                "memory_total_bytes": "memory total", "seconds_per_task": "time/task",
                "samples_per_second": "samples/s"}
COST_DEFINITIONS = {**{COST_HEADERS[k]: v for k, v in MEMORY_DEFINITIONS.items()},
                    "time/task": "wall time of learning one task (evaluation excluded)",
                    "samples/s": "training samples per second, averaged over the tasks"}


OPEN_MATRICES = 4  # accuracy matrices shown open; the others are folded away under one <details>
MASKS_LEFT_OUT = ("The mask images (one per task and layer: every weight kept or pruned) are drawn by "
                  "`supermasks report --full`.")


log = logging.getLogger(__name__)

FIGURES_LEFT_OUT = ("The runs' figures are left out of this page (run.figures=false, or too many runs to show); "
                    "`supermasks report RUN_DIRECTORY` draws them for a run.")


def duration(meta: dict) -> str:
    """`finished - started` of meta.json as `1 h 02 min 03 s`; empty when either is missing."""
    try:
        elapsed = datetime.fromisoformat(meta["finished"]) - datetime.fromisoformat(meta["started"])
        seconds = int(elapsed.total_seconds())
    except (KeyError, TypeError, ValueError):
        return ""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours} h {minutes:02d} min {secs:02d} s" if hours else f"{minutes} min {secs:02d} s"


def run_names(runs: list[RunData]) -> list[str]:
    """Each run named by the settings that tell it apart from the others (`lr=1e-3, seed=2`,
    `aggregate.labels`); its directory's name where none does."""
    import yaml

    from supermasks.aggregate.labels import run_labels

    labels = run_labels([yaml.safe_load(run.config_text) or {} for run in runs])
    return [label or run.directory.name for run, label in zip(runs, labels)]


def provenance_section(runs: list[RunData]) -> Section:
    """What every run recorded alike (code, libraries, machine) as one two-column table, and one row per run of
    what differs (seed, when, how long); each config below. Narrow tables: a page never scrolls sideways."""
    keys = [k for k in PROVENANCE_KEYS if any(k in run.meta for run in runs)]
    values = {k: [str(run.meta.get(k, "")) for run in runs] for k in keys}
    values["duration"] = [duration(run.meta) for run in runs]
    values["directory"] = [run.directory.name for run in runs]
    labels = {**PROVENANCE_KEYS, "duration": "duration", "directory": "run directory"}
    shared = [k for k in values if len(runs) == 1 or len(set(values[k])) == 1]
    section = Section("provenance", "Configuration and provenance", [
        Paragraph("What each run recorded in its meta.json when it started and finished, and its config.yaml "
                  "(every setting, defaults included)."),
        Table(("What the run recorded" if len(runs) == 1 else f"What all {len(runs)} runs recorded alike") +
              "; the git commit is that of the code that ran (empty outside a git checkout).",
              ["recorded", "value"], [[text_cell(labels[k]), text_cell(values[k][0])] for k in shared], wrap=True)])
    differ = [k for k in values if k not in shared]
    if differ:
        section.blocks.append(Table(
            "One row per run: what differs between the runs.", ["run", *(labels[k] for k in differ)],
            [[text_cell(name), *(text_cell(values[k][i]) for k in differ)]
             for i, name in enumerate(run_names(runs))], wrap=True))
    for run, name in list(zip(runs, run_names(runs)))[:20]:  # hundreds of runs: the configs are in their directories
        section.blocks.append(Code(f"config.yaml of {name}" if len(runs) > 1 else "config.yaml", run.config_text))
    return section


def _results(runs: list[RunData]) -> list[MethodResult]:
    return [result for run in runs for result in run.results]


def accuracy_section(runs: list[RunData]) -> Section:
    """Each (benchmark, method)'s accuracy matrix R as a heat map (`analysis.curves.accuracy_heatmap`)."""
    from supermasks.analysis.curves import accuracy_heatmap

    section = Section("accuracy", "Accuracy matrix")
    results = _results(runs)
    folded = Details(f"The accuracy matrices of the other {len(results) - OPEN_MATRICES} methods and benchmarks")
    for k, result in enumerate(results):
        (section.blocks if k < OPEN_MATRICES else folded.blocks).append(Figure(
            f"{result.benchmark}/{result.method}: accuracy matrix R",
            "Cell (i, j) is the test accuracy on task j after training task i (percent). Read a column "
            "downwards to follow one task as later tasks are learned: a column that darkens is forgetting. "
            "Blank cells are tasks not yet learned; the last row is what ACC averages.",
            figure_uri(accuracy_heatmap(result.accuracy, f"{result.benchmark}/{result.method}: accuracy matrix R"))))
    if folded.blocks:
        section.blocks.append(folded)
    return section


def metrics_section(runs: list[RunData]) -> Section:
    """ACC, BWT, FWT, forgetting (and task inference where measured) per benchmark and method, with definitions."""
    results = _results(runs)
    columns = [*ACCURACY_METRICS, *(["task_inference_accuracy"] if any("task_inference_accuracy" in r.metrics
                                                                          for r in results) else [])]
    headers = {"ACC": "ACC %", "BWT": "BWT", "FWT": "FWT", "forgetting": "forgetting",
               "task_inference_accuracy": "task inference %"}
    many = len(runs) > 1
    names = run_names(runs) if many else [""] * len(runs)
    rows = [[*([text_cell(name)] if many else []), text_cell(r.benchmark), text_cell(r.method),
             *(metric_cell(c, r.metrics.get(c)) for c in columns)] for run, name in zip(runs, names)
            for r in run.results]
    definitions = dict(DEFINITIONS)
    if "task_inference_accuracy" in columns:
        definitions["task inference"] = ("fraction of test batches whose task was inferred correctly after the "
                                         "last task (GNs/GNu)")
    return Section("metrics", "Continual-learning metrics", [
        Table("One row per benchmark and method. ACC in percent; BWT, FWT and forgetting in percentage points "
              "(n/a where undefined: FWT when every task has its own head).",
              [*(["run"] if many else []), "benchmark", "method", *(headers[c] for c in columns)], rows),
        Definitions(definitions)])


def curves_section(runs: list[RunData]) -> Section:
    """Per benchmark, the accuracy on every task seen so far during training (`analysis.curves.learning_curves`)."""
    from supermasks.analysis.curves import learning_curves

    section = Section("curves", "Accuracy during training")
    for run in runs:
        by_benchmark: dict[str, dict[str, pd.DataFrame]] = {}
        for result in run.results:
            path = result.directory / "curves.csv"
            if path.is_file():
                by_benchmark.setdefault(result.benchmark, {})[result.method] = pd.read_csv(path)
        for benchmark, curves in by_benchmark.items():
            title = f"{benchmark} ({run.config.scenario.name}-incremental): accuracy during training"
            section.blocks.append(Figure(
                title, "One panel per method, one line per task: its test accuracy (percent) against training "
                "steps counted over the whole sequence; dotted lines mark where a new task begins. A line that "
                "drops after a boundary is a task being forgotten.", figure_uri(learning_curves(curves, title))))
    return section


def cost_section(runs: list[RunData]) -> Section:
    """Memory and time per method: the run's own figures (metrics.json), with their definitions."""
    results = _results(runs)
    columns = [c for c in COST_METRICS if any(c in r.metrics for r in results)]
    many = len(runs) > 1
    names = run_names(runs) if many else [""] * len(runs)
    rows = []
    for name, r in ((name, r) for run, name in zip(runs, names) for r in run.results):
        cells = [*([text_cell(name)] if many else []), text_cell(r.benchmark), text_cell(r.method)]
        for c in columns:
            value = r.metrics.get(c)
            cells.append(bytes_cell(value) if c.endswith("_bytes") else
                         number_cell(value, "{:.2f} s") if c == "seconds_per_task" else number_cell(value, "{:,.0f}"))
        rows.append(cells)
    if not rows or not columns:
        return Section("cost", "Memory and time")
    return Section("cost", "Memory and time", [
        Table("One row per benchmark and method: bytes of the method's state (weights, heads, masks, buffers; "
              "not the optimiser or activations) and wall time.",
              [*(["run"] if many else []), "benchmark", "method", *(COST_HEADERS[c] for c in columns)], rows),
        Definitions({k: v for k, v in COST_DEFINITIONS.items() if k in [COST_HEADERS[c] for c in columns]})])


def _task_masks(directory: Path) -> dict[int, dict[str, np.ndarray]]:
    from supermasks.models.mask_files import load_task_masks

    files = sorted((directory / "checkpoints").glob("task_*.safetensors"))
    return {int(f.stem.removeprefix("task_")): load_task_masks(f) for f in files}


def _mantel_table(result: MethodResult) -> Table | None:
    summary = result.overlap_summary
    if summary is None or "mantel_r" not in summary.columns:
        return None
    columns = [("mean_relative_to_chance", "overlap / chance"), ("mantel_r", "Mantel r"), ("mantel_p", "Mantel p"),
               ("changes_mean_any_relative_to_chance", "changes / chance"), ("changes_mantel_r", "changes Mantel r"),
               ("changes_mantel_p", "changes Mantel p")]
    columns = [(c, h) for c, h in columns if c in summary.columns]
    rows = [[text_cell(row["layer"]), *(number_cell(row[c]) for c, _ in columns)]
            for row in summary.to_dict("records")]
    relatedness = summary["relatedness"].iloc[0] if "relatedness" in summary.columns else "relatedness"
    return Table(f"{result.benchmark}/{result.method}: per layer, the mean overlap of the masks relative to chance "
                 f"(1 = independent masks) and the Mantel test of the pairs' overlap / chance against "
                 f"{relatedness} (r: correlation over pairs of tasks; p: permutation test relabelling the tasks, "
                 f"where the smallest value, 1 / (1 + relabellings), says none was as extreme and is an upper bound; "
                 f"n/a under 3 tasks); `changes`: the same for what training switched on or off.",
                 ["layer", *(h for _, h in columns)], rows)


def overlap_section(runs: list[RunData], *, figures: bool = True, full: bool = False) -> Section:
    """Supermask runs: the Mantel table, and with `figures` the overlap heat maps and overlap against relatedness
    folded away per benchmark and method (and with `full` the mask images beside them)."""
    from supermasks.analysis.overlap import pair_matrix
    from supermasks.analysis.plots import mask_grid, overlap_heatmap, overlap_vs_relatedness

    section = Section("overlap", "Mask overlap")
    names = run_names(runs) if len(runs) > 1 else [""] * len(runs)
    for run, name, result in ((run, name, result) for run, name in zip(runs, names) for result in run.results):
        path = result.directory / "overlap.csv"
        if not path.is_file():
            continue
        table = pd.read_csv(path)
        mantel = _mantel_table(result)
        if mantel is None and not figures:
            continue
        section.blocks.append(Heading(f"{result.benchmark}/{result.method}" +
                                      (f" ({name})" if len(runs) > 1 else "")))
        if mantel is not None:
            section.blocks.append(mantel)
        if not figures:
            continue
        related = (pd.read_csv(result.directory / "relatedness.csv")
                   if (result.directory / "relatedness.csv").is_file() else None)
        masks = _task_masks(result.directory) if full and (result.directory / "checkpoints").is_dir() else {}
        folded = Details(f"Overlap figures of {result.benchmark}/{result.method}: per layer, the overlap / chance "
                         "of every pair of tasks" + (", against relatedness" if related is not None else "") +
                         (", and the masks" if masks else ""))
        section.blocks.append(folded)
        for layer in pd.unique(table["layer"]):
            heading = f"{result.benchmark}/{result.method}, {layer}"
            relative, ids = pair_matrix(table, layer)
            folded.blocks.append(Figure(
                f"Mask overlap / chance: {heading}",
                "Cell (i, j): the Jaccard overlap of the masks of tasks i and j divided by the overlap two "
                "independent masks of the same densities would have. 1 (white) is chance; red cells share "
                "more weights than chance, blue fewer. The diagonal is blank.",
                figure_uri(overlap_heatmap(relative, [str(t) for t in ids], f"Mask overlap / chance: {heading}"))))
            if related is not None and len(ids) >= 3:
                matrix = related.pivot(index="task_i", columns="task_j", values="value").to_numpy(dtype=float)
                ii, jj = np.triu_indices(len(ids), k=1)
                points = pd.DataFrame({"seed": run.config.seed,
                                       "relatedness": matrix[np.ix_(ids, ids)][ii, jj],
                                       "relative_to_chance": (relative[ii, jj] + relative[jj, ii]) / 2})
                name = str(related["name"].iloc[0])
                folded.blocks.append(Figure(
                    f"Overlap against relatedness: {heading}",
                    f"One point per pair of tasks: x is their {name} (related tasks have "
                    f"{related['related_when'].iloc[0]} values), y their mask overlap / chance. The line is a "
                    "least-squares fit, the dashed line chance; a slope shows overlap following relatedness "
                    "(tested by the Mantel test in the table above).",
                    figure_uri(overlap_vs_relatedness(points, name, f"Overlap against relatedness: {heading}"))))
            if masks and all(layer in m for m in masks.values()):
                folded.blocks.append(Figure(
                    f"Masks: {heading}",
                    "One image per task: every weight of the layer as a cell (rows: units, columns: inputs), "
                    "dark where the mask keeps the weight, light where it prunes it.",
                    figure_uri(mask_grid(masks, layer, f"Masks: {heading}"))))
        if not full and (result.directory / "checkpoints").is_dir():
            folded.blocks.append(Paragraph(MASKS_LEFT_OUT))
    return section


def boundaries_table(result: MethodResult, found: dict) -> Table:
    """NNs: the task starts it found against the true ones (`boundaries.json`, batch indices of the stream)."""
    def batches(key: str) -> Cell:
        values = found.get(key) or []
        return Cell(", ".join(str(v) for v in values) or "none", float(len(values)))

    return Table(f"{result.benchmark}/{result.method} (NNs): where the learner decided that a new task began, against "
                 f"the true task starts, in batches of the stream (tests every {found.get('check_every', '?')} "
                 f"batches; a start counts as found when detected before the next test).",
                 ["boundaries", "batches"],
                 [[text_cell(label), batches(key)] for label, key in
                  (("true task starts", "true"), ("found", "detected"), ("missed", "missed"),
                   ("false alarms", "false_alarms"))])


def measured_rows(frame: pd.DataFrame, tasks: list[str]) -> pd.DataFrame:
    """The rows of a (T, T) table (`task_inference.csv`) holding a number in some column of `tasks`.

    A run evaluated only after its last task (`run.evaluate: last`) fills one row: the T - 1 empty
    rows would make the page, and the cells built for it, grow as T**2 (6.25 million cells and
    gigabytes at 2,500 tasks) instead of T.
    """
    return frame[frame[tasks].notna().any(axis=1).to_numpy()]


def inference_section(runs: list[RunData], *, figures: bool = True) -> Section:
    """GNs/GNu/NNs runs: task-inference accuracy after each task and the confusion after the last; NNs: the task
    boundaries it found."""
    from supermasks.analysis.plots import confusion_heatmap

    section = Section("inference", "Task inference")
    for result in _results(runs):
        table_path = result.directory / "task_inference.csv"
        if table_path.is_file():
            frame = pd.read_csv(table_path)
            tasks = [c for c in frame.columns if c != "after"]
            section.blocks.append(Table(
                f"{result.benchmark}/{result.method}: row `after` i, column j: the fraction of task j's test "
                "batches whose task was inferred correctly after training task i (percent); only the rows after "
                "which it was measured (with run.evaluate=last, the last one).",
                ["after", *tasks],
                [[text_cell(row["after"]), *(metric_cell("ACC", row[t]) for t in tasks)]
                 for row in measured_rows(frame, tasks).to_dict("records")]))
        boundaries_path = result.directory / "boundaries.json"
        if boundaries_path.is_file():
            section.blocks.append(boundaries_table(result, read_json(boundaries_path)))
        confusion_path = result.directory / "task_confusion.csv"
        if figures and confusion_path.is_file():
            frame = pd.read_csv(confusion_path).drop(columns="task")
            counts = frame.to_numpy()
            labels = [str(t) for t in range(len(counts))]
            title = f"{result.benchmark}/{result.method}: task inference after the last task"
            if all(c.startswith("mask_") for c in frame.columns):  # NNs: the masks it allocated, as many as it found
                section.blocks.append(Figure(
                    title, "Rows: the true task of a test batch; columns: the mask NNs chose for it, among the masks "
                    "it allocated (it may find fewer or more tasks than there are). One bright cell per row and "
                    "column means every task got a mask of its own.",
                    figure_uri(confusion_heatmap(counts, labels, title,
                                                 [c.removeprefix("mask_") for c in frame.columns], "chosen mask"))))
                continue
            section.blocks.append(Figure(
                title, "Rows: the true task of a test batch; columns: the task inferred. Counts on the diagonal "
                "are correct inferences; off-diagonal cells show which tasks are taken for which.",
                figure_uri(confusion_heatmap(counts, labels, title))))
    return section


def run_sections(runs: list[RunData], *, figures: bool = True, full: bool = False) -> list[Section]:
    """Every section of a report on `runs` (each left out of the page when it has nothing to show);
    without `figures`, the tables only (many runs: their figures are in their own reports); with `full`, the
    mask images too. Each section is logged as it is drawn (`supermasks report` shows it on stderr)."""
    if not figures:
        metrics = metrics_section(runs)
        metrics.blocks.append(Paragraph(FIGURES_LEFT_OUT))
        return [metrics, cost_section(runs), overlap_section(runs, figures=False),
                inference_section(runs, figures=False), provenance_section(runs)]
    builders = [(metrics_section, "metrics"), (accuracy_section, "accuracy matrices"),
                (curves_section, "learning curves"), (cost_section, "memory and time"),
                (lambda shown: overlap_section(shown, full=full), "mask overlap figures"),
                (inference_section, "task inference"), (provenance_section, "provenance")]
    sections = []
    for build, what in builders:
        log.info("report: %s", what)
        sections.append(build(runs))
    return sections


__all__ = ["accuracy_section", "cost_section", "curves_section", "duration", "inference_section", "measured_rows",
           "metrics_section", "overlap_section", "provenance_section", "run_sections"]
