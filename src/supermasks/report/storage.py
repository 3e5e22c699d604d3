"""The report's section on accuracy against total stored bytes: the table and figure a study or compare run saved.

Both are read from the directory (`accuracy_vs_bytes.csv`, `figures/accuracy_vs_bytes.png`, written by
`analysis.storage.write_accuracy_vs_bytes`); no number is recomputed here, and the figure is drawn
from the table only where none was saved.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from supermasks.analysis.storage import STORAGE_FILE
from supermasks.report.cells import bytes_cell, metric_cell, number_cell, text_cell
from supermasks.report.embed import figure_uri, file_uri
from supermasks.report.model import Figure, Section, Table


def storage_section(directory: Path, *, figures: bool = True) -> Section:
    """ACC against total stored bytes of the runs in a study or compare `directory`; empty when it saved fewer
    than two points (nothing to set against each other). The saved figure is shown; where the run saved none
    (`run.figures=false`) and `figures`, it is drawn here from the table, by the function that saves it."""
    section = Section("storage", "Accuracy against stored bytes")
    table_path = Path(directory) / f"{STORAGE_FILE}.csv"
    figure_path = Path(directory) / "figures" / f"{STORAGE_FILE}.png"
    if not table_path.is_file():
        return section
    points = pd.read_csv(table_path)
    if len(points) < 2:
        return section
    caption = ("One point per run (a study's part and grid point, or a method; with seeds the means over them): ACC "
               "(mean accuracy over all tasks after the last) against the bytes the method keeps after the last "
               "task, on a log axis, as in Figure 2 (right) of the SupSup paper; a line joins the points of a part "
               "that sweeps one setting.")
    if figure_path.is_file():
        section.blocks.append(Figure("ACC against total stored bytes", caption, file_uri(figure_path)))
    elif figures:
        from supermasks.analysis.storage import accuracy_vs_bytes
        from supermasks.studies.stored_bytes import swept_series

        series = "series" in points.columns
        fig = accuracy_vs_bytes(points, colour_by="series" if series else "method",
                                joined=swept_series(points) if series else ())
        section.blocks.append(Figure("ACC against total stored bytes", caption, figure_uri(fig)))
    header = ["label", "method", "runs", "ACC", "total stored bytes"]
    rows = [[text_cell(row["label"]), text_cell(row["method"]), number_cell(row["n_runs"], "{:.0f}"),
             metric_cell("ACC", row["ACC"]), bytes_cell(row["memory_total_bytes"])] for row in points.to_dict("records")]
    section.blocks.append(Table(f"{STORAGE_FILE}.csv: one row per point; runs: the seeds averaged.", header, rows))
    return section


__all__ = ["storage_section"]
