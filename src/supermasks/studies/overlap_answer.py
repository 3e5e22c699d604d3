"""Experiment 1's answer in plain words: which benchmarks show a trend, how large, under which variant.

Computed from `overlap_study.csv` (`studies.overlap`): a test (variant, benchmark, layer, measure)
shows a trend where its Holm-adjusted Mantel p is below `ALPHA`. The answer speaks of the masks'
overlap (the "overlap" measure); the learned changes stay in the tables. How large a trend is: the
most related pairs' overlap against the least related pairs', as a percentage,
`100 (ratio_most_related / ratio_least_related - 1)` (both are ratios to the same chance, so this is
how much more the related pairs' masks overlap), its median over a variant's trends.

`answer_sentences` gives the report's two or three sentences; `answer_table` the rows of its sortable
table (one per test); `terminal_answer` what a study prints: the question, the answer wrapped to short
lines, and one compact table of Mantel r per layer.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from supermasks.studies.overlap import ALPHA, family_text

QUESTION = "Does mask overlap follow task relatedness?"
MEASURE = "overlap"  # the measure the answer speaks of
WIDTH = 100  # the terminal's lines are wrapped to this many characters
_LABEL_MAX = 60  # a longer variant name is cut to this many characters (ending in "...") in the terminal's table


def variant_labels(table: pd.DataFrame) -> pd.Series:
    """A readable name per row: the part, then its grid values by their last key ("topk, density=0.1")."""
    grid = [c for c in table.columns if c.startswith("grid.")]

    def label(row: pd.Series) -> str:
        values = [f"{c.rsplit('.', 1)[-1]}={row[c]:g}" if isinstance(row[c], float) else
                  f"{c.rsplit('.', 1)[-1]}={row[c]}" for c in grid if pd.notna(row[c])]
        return ", ".join([str(row["part"]), *values]) if "part" in table.columns else ", ".join(values)

    return table.apply(label, axis=1) if len(table) else pd.Series([], dtype=str)


def _with_trend(table: pd.DataFrame) -> pd.DataFrame:
    """The table with `variant`, `trend` (Holm p < ALPHA, r defined), `shares_more` and `relative_percent`."""
    frame = table.assign(variant=variant_labels(table))
    frame["trend"] = (frame["mantel_p_holm"] < ALPHA) & np.isfinite(frame["mantel_r"].to_numpy(float))
    frame["shares_more"] = (frame["mantel_r"] > 0) == (frame["related_when"] == "higher")
    if {"ratio_most_related", "ratio_least_related"} <= set(frame.columns):
        frame["relative_percent"] = 100 * (frame["ratio_most_related"] / frame["ratio_least_related"] - 1)
    else:
        frame["relative_percent"] = np.nan
    return frame


def _join(names: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _percent(value: float) -> str:
    return f"{value:+.1f}%" if abs(value) < 10 else f"{value:+.0f}%"


def _measured(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of the measure the answer speaks of (the first measure where there is no "overlap")."""
    measure = MEASURE if (table["measure"] == MEASURE).any() else table["measure"].iloc[0]
    return _with_trend(table[table["measure"] == measure])


def answer_sentences(table: pd.DataFrame) -> list[str]:
    """Two or three sentences from `overlap_study.csv`: the verdict per benchmark, the tests per variant, how much.

    "Yes on rotated and permuted, no on split: mask overlap follows task relatedness (Mantel test,
    Holm-adjusted p < 0.05) in 16 of the 27 tests of variant, benchmark and layer; in each, related tasks'
    masks overlap more." "By variant: threshold-shared 8 of 9 (rotated and permuted; 2.65x chance on
    average); ..." "How much: where there is a trend, the most related pairs' overlap is, by median, +3.8%
    under threshold-shared (|r| 0.93) and ... above the least related pairs'." A variant whose relatedness is
    the same for every pair (r undefined) is "untested".
    """
    rows = _measured(table)
    if rows.empty:
        return []
    tested = rows[np.isfinite(rows["mantel_r"].to_numpy(float))]
    benchmarks = list(pd.unique(rows["benchmark"]))
    found = [b for b in benchmarks if rows.loc[rows["benchmark"] == b, "trend"].any()]
    blank = [b for b in benchmarks if not (tested["benchmark"] == b).any()]  # relatedness the same for every pair
    others = [b for b in benchmarks if b not in found and b not in blank]
    benchmarks = [b for b in benchmarks if b not in blank]
    untested_on = f" (untested on {_join(blank)})" if blank else ""
    trends = rows[rows["trend"]]
    untested = len(rows) - len(tested)
    tests = (f"{len(tested)} tests of variant, benchmark and layer" +
             (f" ({untested} more untested: their relatedness is the same for every pair)" if untested else ""))
    if not benchmarks:
        return [f"Untested: on {_join(blank)}, relatedness is the same for every pair of tasks, so there is no trend "
                "to look for."]
    if not found:
        return [f"No: on {_join(benchmarks)}{untested_on}, mask overlap does not follow task relatedness: none of the "
                f"{tests} reaches a Holm-adjusted p < {ALPHA} (Mantel test)."]
    more = int(trends["shares_more"].sum())
    direction = ("in each, related tasks' masks overlap more" if more == len(trends) else
                 "in each, related tasks' masks overlap less" if more == 0 else
                 f"related tasks' masks overlap more in {more} of them, less in {len(trends) - more}")
    verdict = (f"Yes on {_join(found)}{', no on ' + _join(others) if others else ''}{untested_on}: mask overlap follows task "
               f"relatedness (Mantel test, Holm-adjusted p < {ALPHA}) in {len(trends)} of the {tests}; {direction}.")
    parts, sizes = [], []
    for variant, group in rows.groupby("variant", sort=False):
        hits = group[group["trend"]]
        where = list(pd.unique(hits["benchmark"]))
        mean = f"{group['mean_ratio'].mean():.2f}x chance on average"
        count = int(np.isfinite(group["mantel_r"].to_numpy(float)).sum())
        parts.append(f"{variant} untested ({mean})" if count == 0 else
                     f"{variant} {len(hits)} of {count} ({_join(where) + '; ' if where else ''}{mean})")
        percent = hits["relative_percent"].dropna()
        if len(percent):
            sizes.append(f"{_percent(float(percent.median()))} under {variant} "
                         f"(|r| {float(hits['mantel_r'].abs().median()):.2f})")
    sentences = [verdict, f"By variant: {'; '.join(parts)}."]
    if sizes:
        sentences.append("How much: where there is a trend, the most related pairs' overlap is, by median, "
                         f"{_join(sizes)} above the least related pairs'.")
    return sentences


ANSWER_COLUMNS = ("variant", "benchmark", "layer", "measure", "relatedness", "ratio_difference", "relative_percent",
                  "slope", "mantel_r", "mantel_p", "mantel_p_holm", "trend", "seeds")


def answer_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per test with the numbers a reader sorts by (`ANSWER_COLUMNS` and the intervals beside them)."""
    frame = _with_trend(table)
    extra = [c for c in ("ratio_difference_low", "ratio_difference_high", "slope_unit", "mantel_r_low",
                         "mantel_r_high", "mantel_p_at_floor", "mantel_p_holm_at_floor") if c in frame.columns]
    return frame[[c for c in ANSWER_COLUMNS if c in frame.columns] + extra].reset_index(drop=True)


def _cut(text: str) -> str:
    return text if len(text) <= _LABEL_MAX else text[:_LABEL_MAX - 3] + "..."


def compact_table(table: pd.DataFrame) -> list[str]:
    """Lines of Mantel r per layer (columns) for each variant, benchmark and measure (rows); * marks a trend."""
    frame = _with_trend(table)
    layers = list(pd.unique(frame["layer"]))
    keys = ["variant", "benchmark", "measure"]
    labels = [[_cut(str(v)) for v in key] for key, _ in frame.groupby(keys, sort=False)]
    widths = [max([len(k), *(len(label[i]) for label in labels)]) for i, k in enumerate(keys)]
    cell = max(7, *(len(str(layer)) for layer in layers))
    header = "  ".join(k.ljust(w) for k, w in zip(keys, widths)) + "".join(f"  {str(l):>{cell}}" for l in layers)
    lines = [header]
    for label, (_, group) in zip(labels, frame.groupby(keys, sort=False)):
        by_layer = {row["layer"]: row for row in group.to_dict("records")}
        cells = []
        for layer in layers:
            row = by_layer.get(layer)
            text = ("" if row is None else "n/a" if not np.isfinite(row["mantel_r"]) else
                    f"{row['mantel_r']:+.2f}{'*' if row['trend'] else ' '}")
            cells.append(f"  {text:>{cell}}")
        lines.append("  ".join(v.ljust(w) for v, w in zip(label, widths)) + "".join(cells))
    return lines


def terminal_answer(table: pd.DataFrame) -> str:
    """What a study prints: the question, its answer (lines of at most `WIDTH` characters), Mantel r per layer."""
    lines = [QUESTION]
    for sentence in answer_sentences(table):
        lines += textwrap.wrap(sentence, WIDTH, subsequent_indent="  ", break_on_hyphens=False)
    lines += ["", f"Mantel r of overlap / chance with relatedness (mean over seeds); * Holm-adjusted p < {ALPHA}:",
              *compact_table(table), *textwrap.wrap(family_text(table), WIDTH, break_on_hyphens=False),
              "Every test's effect size, interval and p: overlap_study.csv and the report."]
    return "\n".join(lines)


def study_answer(directory: Path) -> str | None:
    """`terminal_answer` of the `overlap_study.csv` in a study directory; None where there is none."""
    path = Path(directory) / "overlap_study.csv"
    return terminal_answer(pd.read_csv(path)) if path.is_file() else None


__all__ = ["ANSWER_COLUMNS", "QUESTION", "answer_sentences", "answer_table", "compact_table", "study_answer",
           "terminal_answer", "variant_labels"]
