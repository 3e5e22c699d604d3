"""What the forgetting and replay studies' pages open with: their question, answer and one figure.

The forgetting study (`configs/forgetting.yaml`: MNIST then Fashion-MNIST, the `pair` benchmark) asks
how much of the first task each method forgets while it learns the next: per method, the first
task's accuracy right after learning it (`R[0, 0]`) and after the last task (`R[T-1, 0]`), read
from the runs' `accuracy.csv`. The replay study (`configs/replay.yaml`: runs of the `replay`
method) asks how much of the earlier tasks replay keeps and how much it must store: the first task
with and without replay, against the stored fraction (`replay.fraction` grid) and by the rule that
picks what to store (another `replay.*` grid), read from `study.csv`. Means over seeds; nothing is
re-estimated.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from supermasks.aggregate.labels import value_text
from supermasks.report.embed import figure_uri
from supermasks.report.model import Figure

FORGETTING_QUESTION = "How much of the first task does each method forget while it learns the next?"
REPLAY_QUESTION = "How much of the earlier tasks does replay keep, and how much must it store?"
FRACTION = "grid.replay.fraction"
CLOSE = 0.01  # "as good as the best": within one point


def is_forgetting_study(frame: pd.DataFrame) -> bool:
    """True for a study of one task pair (`pair`: MNIST then Fashion-MNIST) in every run."""
    return "benchmark" in frame.columns and bool(len(frame)) and bool((frame["benchmark"] == "pair").all())


def is_replay_study(frame: pd.DataFrame) -> bool:
    """True for a study with runs of the `replay` method."""
    return "method" in frame.columns and bool((frame["method"] == "replay").any())


def _grid(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("grid.")]


def _point(row: dict, grid: list[str]) -> str:
    """"optimizer=adam, fraction=0.5": a grid point by its values (the setting's last name)."""
    return ", ".join(f"{c.rsplit('.', 1)[-1]}={value_text(row[c])}" for c in grid if pd.notna(row.get(c)))


def _run_directory(study: Path, name: str) -> Path:
    path = Path(name)
    return path if path.is_dir() else Path(study).parent / path.name


def forgetting_rows(directory: Path, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per benchmark and method (with its part where a method is in several, and its grid point): the
    first task's accuracy right after learning it (`before`), after the last task (`after`), and the last task's
    (`last`), means over seeds of the runs' `accuracy.csv`; `tasks`, `seeds`."""
    grid = _grid(frame)
    several = frame.groupby("method")["part"].nunique()
    rows = []
    for row in frame.to_dict("records"):
        path = _run_directory(directory, str(row["run_directory"])) / row["benchmark"] / row["method"] / "accuracy.csv"
        r = pd.read_csv(path).drop(columns="after").to_numpy(dtype=float)
        label = str(row["method"]) + (f" ({row['part']})" if several[row["method"]] > 1 else "")
        point = _point(row, grid)
        rows.append({"benchmark": row["benchmark"], "label": f"{label}, {point}" if point else label,
                     "before": r[0, 0], "after": r[-1, 0], "last": r[-1, -1], "tasks": len(r)})
    table = pd.DataFrame(rows)
    grouped = table.groupby(["benchmark", "label"], sort=False)
    return grouped[["before", "after", "last", "tasks"]].mean().join(grouped.size().rename("seeds")).reset_index()


def forgetting_answer(rows: pd.DataFrame) -> list[str]:
    """Per benchmark: the method that lost most of the first task and the one that lost least (points, from right
    after learning it to after the last task); then what each kept, most first, and the last task's range."""
    sentences = []
    for benchmark, group in rows.groupby("benchmark", sort=False):
        group = group.reset_index(drop=True).assign(lost=lambda t: t["before"] - t["after"])
        where = f"On {benchmark}, after" if rows["benchmark"].nunique() > 1 else "After"
        worst = group.loc[group["lost"].idxmax()]
        best = group.loc[group["lost"].idxmin()]
        if worst["lost"] > 0:
            text = (f"{where} the last task, {worst['label']} lost most of the first task: from "
                    f"{100 * worst['before']:.1f}% right after learning it to {100 * worst['after']:.1f}% "
                    f"({-100 * worst['lost']:+.1f} points)")
        else:  # none lost anything: a short or easy run
            text = f"{where} the last task, no method lost accuracy on the first task"
        if len(group) > 1:
            verb = "lost least" if best["lost"] > 0 else "gained most" if best["lost"] < 0 else "kept it"
            text += (f"; {best['label']} {verb}: {100 * best['before']:.1f}% to {100 * best['after']:.1f}% "
                     f"({-100 * best['lost']:+.1f} points)")
        sentences.append(text + ".")
        if len(group) > 2:
            kept = group.sort_values("after", ascending=False, kind="stable")
            last = group.sort_values("last", kind="stable")
            sentences.append(
                "What they kept of the first task, most first: "
                + ", ".join(f"{r['label']} {100 * r['after']:.1f}%" for r in kept.to_dict("records"))
                + f"; the last task reached {100 * last['last'].iloc[0]:.1f}% ({last['label'].iloc[0]}) to "
                f"{100 * last['last'].iloc[-1]:.1f}% ({last['label'].iloc[-1]}).")
    return sentences


def forgetting_figure(rows: pd.DataFrame) -> Figure:
    """The first task right after learning it and after the last task, a row per method: the page's one figure."""
    from supermasks.analysis.answer_plots import before_after

    title = "The first task: right after learning it, and after the last task"
    shown = rows.assign(label=[f"{b}: {label}" if rows["benchmark"].nunique() > 1 else label
                               for b, label in zip(rows["benchmark"], rows["label"])])
    seeds = int(rows["seeds"].max())
    return Figure(
        title, "One row per method: the hollow dot is the first task's test accuracy right after it was learned "
        "(R[0, 0]), the filled dot the same after the last task (R[T-1, 0]); the arrow is what was forgotten. "
        f"Means over {seeds} seed{'s' if seeds != 1 else ''}.",
        figure_uri(before_after(shown, title, "accuracy on the first task (%)",
                                ("right after learning it", "after the last task"))))


def _means(frame: pd.DataFrame) -> pd.DataFrame:
    keys = ["part", *_grid(frame), "benchmark", "method"]
    columns = [c for c in ("ACC", "first_task_accuracy", "memory_total_bytes") if c in frame.columns]
    return frame.groupby(keys, sort=False, dropna=False)[columns].mean().reset_index()


def _comparisons(means: pd.DataFrame) -> list[tuple[str, float, float]]:
    """(where, first task without replay, with it) for every part and grid point that ran naive and replay."""
    keys = ["part", *(c for c in _grid(means) if c != FRACTION), "benchmark"]
    found = []
    for _, group in means.groupby(keys, sort=False, dropna=False):
        methods = group.set_index("method")["first_task_accuracy"]
        if {"naive", "replay"} <= set(methods.index):
            row = group.iloc[0].to_dict()
            point = _point(row, _grid(means))
            found.append((f"{row['part']}{', ' + point if point else ''}", float(methods["naive"]),
                          float(methods["replay"])))
    return found


def _fraction_rows(means: pd.DataFrame) -> pd.DataFrame:
    if FRACTION not in means.columns:
        return means.iloc[:0]
    return means[means[FRACTION].notna() & (means["method"] == "replay")]


def replay_answer(frame: pd.DataFrame) -> list[str]:
    """Up to three sentences (means over seeds): the first task with and without replay; the smallest stored
    fraction that keeps it within a point of the best; the range of ACC over the other `replay.*` grid."""
    means = _means(frame)
    sentences = []
    pairs = _comparisons(means)
    if pairs:
        sentences.append("With replay the first task ends at " + "; ".join(
            f"{100 * with_:.1f}% against {100 * without:.1f}% without it ({where})" for where, without, with_ in pairs)
            + ".")
    for part, group in _fraction_rows(means).groupby("part", sort=False):
        group = group.sort_values(FRACTION, kind="stable")
        best = group["first_task_accuracy"].max()
        enough = group[group["first_task_accuracy"] >= best - CLOSE - 1e-12].iloc[0]
        none = group[group[FRACTION] == 0]["first_task_accuracy"]
        sentences.append(f"Storing {100 * enough[FRACTION]:g}% of a task keeps the first at "
                         f"{100 * enough['first_task_accuracy']:.1f}%, within a point of the best ({100 * best:.1f}%)"
                         + (f"; storing nothing keeps {100 * none.iloc[0]:.1f}%" if len(none) else "")
                         + f" (part {part}).")
    for column in (c for c in _grid(means) if c.startswith("grid.replay.") and c != FRACTION):
        rows = means[means[column].notna() & (means["method"] == "replay")]
        if rows[column].nunique() < 2:
            continue
        low, high = rows.loc[rows["ACC"].idxmin()], rows.loc[rows["ACC"].idxmax()]
        name = column.rsplit(".", 1)[-1]
        sentences.append(f"By {name}, ACC ranges from {100 * low['ACC']:.1f}% ({value_text(low[column])}) to "
                         f"{100 * high['ACC']:.1f}% ({value_text(high[column])}).")
    return sentences


def replay_figure(frame: pd.DataFrame) -> Figure | None:
    """The first task against the stored fraction where the study has that grid, else with and without replay
    (a row per part and grid point); None where it has neither."""
    from supermasks.analysis.answer_plots import against_fraction, before_after

    means = _means(frame)
    seeds = int(frame.groupby(["part", *_grid(frame), "benchmark", "method"], dropna=False).size().max())
    over = f"Means over {seeds} seed{'s' if seeds != 1 else ''}."
    fractions = _fraction_rows(means)
    if len(fractions):
        title = "The first task against the stored fraction"
        table = pd.DataFrame({"label": [f"{r['part']}, {r['benchmark']}" for r in fractions.to_dict("records")],
                              "fraction": fractions[FRACTION].to_numpy(float),
                              "value": fractions["first_task_accuracy"].to_numpy(float)})
        return Figure(title, "The first task's test accuracy after the last task (R[T-1, 0], percent) against the "
                      "share of each task's training images replay stores (percent, a log axis that still shows "
                      f"0: storing nothing). {over}",
                      figure_uri(against_fraction(table, title, "stored fraction of each task (%)",
                                                  "first task after the last (%)")))
    pairs = _comparisons(means)
    if not pairs:
        return None
    title = "The first task without and with replay"
    table = pd.DataFrame([{"label": where, "before": without, "after": with_} for where, without, with_ in pairs])
    return Figure(title, "One row per part and grid point: the first task's test accuracy after the last task "
                  f"(R[T-1, 0]) without replay (hollow) and with it (filled). {over}",
                  figure_uri(before_after(table, title, "first task after the last (%)", ("without replay",
                                                                                         "with replay"))))


__all__ = ["FORGETTING_QUESTION", "REPLAY_QUESTION", "forgetting_answer", "forgetting_figure", "forgetting_rows",
           "is_forgetting_study", "is_replay_study", "replay_answer", "replay_figure"]
