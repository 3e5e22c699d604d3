"""The plain-words summary at the top of a report, computed from the numbers.

For one run, per benchmark and method, from the accuracy matrix R (`supermasks.analysis.metrics`): the
share of earlier tasks' accuracy kept, `sum_{j<T-1} R[T-1, j] / sum_{j<T-1} R[j, j]`, and the
task that lost most, `argmax_j (R[j, j] - R[T-1, j])` with its loss in percentage points. For
several runs, from the aggregate's paired comparisons (`supermasks.aggregate.paired`): each pair
of methods' mean ACC difference with its 95% interval and Holm-adjusted p-value.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from supermasks.analysis.mantel import format_p

if TYPE_CHECKING:
    from supermasks.runner.tables import MethodResult

LOSS_SHOWN = 0.005  # a loss under half a point is not called a loss
ALPHA = 0.05


def kept_share(r: np.ndarray) -> float:
    """Share of earlier tasks' accuracy kept at the end: sum_{j<T-1} R[T-1, j] / sum_{j<T-1} R[j, j] (NaN: T=1)."""
    r = np.asarray(r, dtype=float)
    t = r.shape[0]
    if t < 2:
        return math.nan
    learned = float(np.nansum(np.diag(r)[: t - 1]))
    return float(np.nansum(r[-1, : t - 1]) / learned) if learned > 0 else math.nan


def largest_loss(r: np.ndarray) -> tuple[int, float] | None:
    """(task j, R[j, j] - R[T-1, j]) of the earlier task that lost most accuracy; None for a single task."""
    r = np.asarray(r, dtype=float)
    t = r.shape[0]
    if t < 2:
        return None
    losses = np.diag(r)[: t - 1] - r[-1, : t - 1]
    if not np.isfinite(losses).any():
        return None
    j = int(np.nanargmax(losses))
    return j, float(losses[j])


def run_sentence(result: MethodResult, benchmarks: int) -> str:
    """"On permuted, supsup kept 100% of earlier tasks' accuracy (ACC 95.2%)." or "... lost 48 points on task 0"."""
    where = f"On {result.benchmark}, " if benchmarks > 1 else ""
    acc = result.metrics.get("ACC")
    tail = f" (ACC {100 * acc:.1f}% over all {len(result.accuracy)} tasks)" if acc is not None and acc == acc else ""
    kept = kept_share(result.accuracy)
    if math.isnan(kept):
        return f"{where}{result.method} learned one task{tail}."
    text = f"{where}{result.method} kept {100 * kept:.0f}% of earlier tasks' accuracy"
    loss = largest_loss(result.accuracy)
    if loss is not None and loss[1] >= LOSS_SHOWN:
        text += f"; it lost {100 * loss[1]:.0f} points on task {loss[0]}"
    return text + tail + "."


def overlap_sentences(result: MethodResult) -> list[str]:
    """Per layer of a supermask run: its mean overlap relative to chance, and the Mantel test where there is one."""
    table = result.overlap_summary
    if table is None:
        return []
    sentences = []
    for row in table.to_dict("records"):
        text = (f"{result.benchmark}/{result.method} {row['layer']}: masks overlap "
                f"{row['mean_relative_to_chance']:.3f}x chance")
        r, p = row.get("mantel_r"), row.get("mantel_p")
        if r is not None and pd.notna(r):
            trend = "a trend" if p < ALPHA else "no detectable trend"
            at_floor = bool(row.get("mantel_p_at_floor", False))  # "p <= ...": no relabelling as extreme
            text += (f"; against {row.get('relatedness', 'relatedness')}, Mantel r = {r:+.2f}, "
                     f"{format_p(p, at_floor)} ({trend} at p < {ALPHA})")
        sentences.append(text + ".")
    return sentences


SENTENCES_SHOWN = 3  # more paired comparisons than this are counted in one sentence, the largest named


def comparison_sentences(comparisons: pd.DataFrame, metric: str = "ACC") -> list[str]:
    """The paired comparisons of `metric` (mean difference a - b, 95% interval, Holm p): one sentence each when
    there are at most `SENTENCES_SHOWN`; else one sentence that counts them (and the differences Holm finds),
    then the largest differences that a test supports. With one seed per method no test is possible: said once."""
    rows = [row for row in comparisons[comparisons["metric"] == metric].to_dict("records")
            if row["mean_difference"] is not None and np.isfinite(row["mean_difference"])]
    if len(rows) <= SENTENCES_SHOWN:
        return _each_comparison(rows, metric)
    tested = [row for row in rows if np.isfinite(row["p_holm"])]
    if not tested:
        return [f"{len(rows)} paired comparisons of {metric}, none with the two seeds or more that a paired test "
                "needs: their differences are in the Paired comparisons table."]
    found = sorted((row for row in tested if row["p_holm"] < ALPHA), key=lambda r: -abs(r["mean_difference"]))
    head = (f"Of {len(rows)} paired comparisons of {metric}, {len(found)} of the {len(tested)} tested show a "
            f"difference (Holm p < {ALPHA}); all are in the Paired comparisons table.")
    if found:
        head = head[:-1] + (f"; the largest {min(len(found), SENTENCES_SHOWN)} follow." if len(found) > 1 else
                            "; it follows.")
    return [head, *_each_comparison(found[:SENTENCES_SHOWN], metric)]


def _each_comparison(rows: list[dict], metric: str) -> list[str]:
    sentences = []
    for row in rows:
        diff = row["mean_difference"]
        seeds = f"{row['n_pairs']} seed{'s' if row['n_pairs'] != 1 else ''}"
        interval = ("" if not np.isfinite(row["diff_ci_low"])
                    else f" [95% CI {100 * row['diff_ci_low']:+.1f}, {100 * row['diff_ci_high']:+.1f}]")
        p = row["p_holm"]
        verdict = ("" if not np.isfinite(p)
                   else f", Holm p = {p:.3g}: " + ("a difference" if p < ALPHA else "no detectable difference"))
        sentences.append(f"{row['benchmark']}: {metric} of {row['a']} minus {row['b']} is "
                         f"{100 * diff:+.1f} points{interval} over {seeds}{verdict}.")
    return sentences
