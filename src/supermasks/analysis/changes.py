"""Overlap of what training changed in two tasks' supermasks, against its chance level (docs/algorithms.md section 2).

Two masks can overlap because the tasks learned alike, or because they started alike. With `m0`
a task's initial mask (its initial scores through the layer's mask rule) and `m` its final one,
the task switched on `on = m and not m0`, switched off `off = m0 and not m`, and changed
`any = m xor m0`. For two tasks i, j and each kind of change K in (on, off, any), per layer:

- Jaccard `J = |K_i and K_j| / |K_i or K_j|` (Jaccard 1912), 0 when neither task made such a
  change (as `overlap.jaccard`).
- Chance: the Jaccard expected if each task had placed its changes uniformly at random among the
  weights where they were possible given its own initial mask (on where `m0 = 0`, off where
  `m0 = 1`), independently of the other task. With `u_t = |on_t| / |m0_t = 0|` and
  `v_t = |off_t| / |m0_t = 1|` (0 where no weight allows the change) the weight w is in `on_t`
  with probability `u_t [m0_t(w) = 0]`, in `off_t` with `v_t [m0_t(w) = 1]`, so the expected
  intersection is the sum over weights of the product of the two tasks' probabilities:

      E_on  = u_i u_j |Z_i and Z_j|               (Z_t: weights with m0_t = 0, O_t: with m0_t = 1)
      E_off = v_i v_j |O_i and O_j|
      E_any = E_on + E_off + u_i v_j |Z_i and O_j| + v_i u_j |O_i and Z_j|

  and chance is `E / (k_i + k_j - E)` with `k_t = |K_t|`, the ratio of the expected intersection
  to the expected union, as `overlap.chance_jaccard` (0 when `k_i = k_j = 0`). Where each task
  could make the change at every weight of the layer at one rate, `E = k_i k_j / n` and this is
  `pq / (p + q - pq)` with p, q the fractions of changed weights (docs/algorithms.md section 2); in
  general p, q are rates among the weights where the change was possible. With a shared initial
  mask that matters: both tasks' switched-on weights lie among the same `|Z|` weights, and
  `pq / (p + q - pq)` with fractions of the whole layer puts chance too low by about `n / |Z|`.
  For changes placed at random (7% of the bits of a 300 x 784 layer flipped per task, 4 tasks)
  it reads 2.07x chance for switched-off weights under the threshold rule and 9.8x under top-k
  at density 0.1, where this chance reads 1.02x and 0.95x. With independent initial masks the
  two agree (1.03x both).
- Chance within strata of the initial score (`margins`, where every task starts from one shared
  initial score s0). A weight's chance of flipping is not the same everywhere: it flips where
  training moves its score across the mask's threshold, so mostly where s0 started near it. A
  chance that gives every weight of a side of the threshold one rate puts two tasks' flips
  apart that in fact pile up on the same few weights near the threshold, and reads as learned
  overlap what is only a shared start. So the layer is cut into cells: the two sides of the
  threshold (`m0 = 0`, `m0 = 1`), each in `num_strata` quantile bins of the *margin*, how far
  s0 lies from the point where the bit flips (`|s0|` under the threshold rule `m0 = 1[s0 >= 0]`;
  `||s0| - tau|` under top-k, with tau the layer's k-th largest |s0|, since there a bit flips
  when |s| crosses the kept set's edge, not 0). Within a cell b of `n_b` weights each task is taken
  to place its `k_t,b` changes of that cell uniformly at random, independently of the other, so
  a weight of b is in `K_t` with probability `k_t,b / n_b` and

      E = sum over cells b of k_i,b k_j,b / n_b

  for each kind (a cell lies on one side of the threshold, so on and off changes never share a
  cell and `any` needs no cross terms), and chance is again `E / (k_i + k_j - E)`. With one
  stratum per side this is the whole-layer chance above. It is right where each task's chance
  of changing a weight is about constant within a cell; where it still varies within a cell,
  and varies alike for both tasks (highest nearest the threshold), chance stays too low, the
  less so the finer the cells. Taking each task's own counts as its cells' rates adds no bias
  (`k_i,b` and `k_j,b` are independent when the tasks place their changes independently, so
  `E[k_i,b k_j,b] = E[k_i,b] E[k_j,b]`), but finer cells leave less to compare: at one weight
  per cell chance equals what was observed. `CHANCE_STRATA` = 20 bins per side: under shared
  init about half of fc1's flips and more than two thirds of fc2's fall in the tenth of the
  weights with the smallest |s0| (measured, FC 784-300-300), so the strata must cut that tenth
  into several cells (20 per side: 2.5% of the layer each under the threshold rule), while a
  cell of a 300 x 300 layer still holds about 2,000 weights and one of the 300 x 10 output
  layer about 75; on a short shared-init run, finer strata than 20 moved the hidden layers'
  ratio little, coarser ones raised it. The strata condition on s0 alone: an overlap beyond this chance is one that
  the distance to the threshold does not explain, not yet one caused by related data (two
  tasks may also share which weights have large gradients under any data); the study compares
  with pairs of unrelated tasks from the same init for that (`studies/_baseline.py`).
  Without a shared initial score (each task draws its own, SupSup's independent init) there is
  no one s0 to stratify on: a cell would have to be defined on the pair's two draws, which
  mostly disagree, and the whole-layer chance given each task's own `m0` is used (the two
  initial masks are nearly independent, so it is about right there); `chance_strata` is 1.
- `{kind}_chance_pct` is the chance the ratio `{kind}_relative_to_chance = J / chance` uses (NaN
  where chance is 0): within strata where `margins` are given, else the whole-layer chance;
  `{kind}_layer_chance_pct` and `{kind}_relative_to_layer_chance` keep the whole-layer chance
  (given each task's `m0` only) beside it for comparison.

Agreement, where the two tasks start from the same initial mask (`shared_init`): each weight was
then either flipped by a task or kept, and a weight both flipped moved the same way in both
(from the common `m0`), so the direction of shared changes says nothing. What can agree beyond
chance is *which* weights each task changes: `agreement` is the fraction of weights where both
tasks made the same choice (both flipped or both kept; equivalently, where the final masks
agree), `p_o = 1 - (k_i + k_j - 2 |any_i and any_j|) / n`. Its chance value under the placement
above, with `n_0 = |Z|`, `n_1 = |O|`, is

      p_e = (n_0 / n) [u_i u_j + (1 - u_i)(1 - u_j)] + (n_1 / n) [v_i v_j + (1 - v_i)(1 - v_j)]

(the probability that two independent choices agree, within each side of the initial mask);
summed over the cells of the stratified chance instead (rates `r_t,b = any_t,b / n_b`) it is
`sum_b (n_b / n) [r_i,b r_j,b + (1 - r_i,b)(1 - r_j,b)] = 1 - (k_i + k_j - 2 E_any) / n`, the
same expression with the stratified `E_any`, which is what is used where `margins` are given,
and `agreement_kappa = (p_o - p_e) / (1 - p_e)` is Cohen's kappa (Cohen 1960, "A coefficient of
agreement for nominal scales", Educational and Psychological Measurement 20) with that
stratified chance: 0 at chance, 1 for identical changes, NaN where `p_e = 1` (neither task
changed anything). All three are NaN where the initial masks differ.

Every count comes from matrix products of the stacked bits (`_counts.intersection_counts`),
not from a loop over weights. Example, with `supsup` a SupSup built with
`record_initial_masks=True` that has learned tasks 0..T-1:

    final = {t: supsup.masks(t) for t in range(T)}
    initial = {t: supsup.initial_masks(t) for t in range(T)}
    table = change_table(final, initial)   # one row per layer and ordered pair of tasks
    mean_changes(table)                    # per layer means

and with shared init (`score_init="shared"`), chance within strata of the shared s0:

    table = change_table(final, initial, margins=supsup.initial_score_margins())
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ._counts import Masks, check_masks, intersection_counts, ordered_pairs, stack_layer

KINDS = ("on", "off", "any")
# Quantile bins of the initial score's distance to the threshold, per side of it (module docstring).
CHANCE_STRATA = 20
CHANGE_COLUMNS = (
    "layer",
    "task_i",
    "task_j",
    "num_weights",
    "changed_i",
    "changed_j",
    "on_i",
    "on_j",
    "off_i",
    "off_j",
    *(f"{kind}_{column}" for kind in KINDS for column in ("both", "jaccard_pct", "chance_pct", "relative_to_chance")),
    *(f"{kind}_{column}" for kind in KINDS for column in ("layer_chance_pct", "relative_to_layer_chance")),
    "chance_strata",
    "shared_init",
    "agreement_pct",
    "agreement_chance_pct",
    "agreement_kappa",
)


def _ratio(numerator: np.ndarray, denominator: np.ndarray, empty: float) -> np.ndarray:
    """`numerator / denominator`, and `empty` where the denominator is 0."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    safe = np.where(denominator != 0, denominator, 1.0)
    return np.where(denominator != 0, numerator / safe, empty)


def _check_pairing(final: Masks, initial: Masks) -> tuple[list[int], list[str]]:
    """Task ids and layers, after checking that `initial` has the tasks, layers and shapes of `final`."""
    task_ids, layers = check_masks(final)
    initial_ids, initial_layers = check_masks(initial)
    if initial_ids != task_ids:
        raise ValueError(f"final masks are of tasks {task_ids}, initial masks of tasks {initial_ids}")
    if set(initial_layers) != set(layers):
        raise ValueError(f"final masks have layers {sorted(layers)}, initial masks {sorted(initial_layers)}")
    first = task_ids[0]
    for layer in layers:
        if np.shape(initial[first][layer]) != np.shape(final[first][layer]):
            raise ValueError(f"layer {layer!r}: initial masks have shape {np.shape(initial[first][layer])}, "
                             f"final masks {np.shape(final[first][layer])}")
    return task_ids, layers


def margin_cells(margins: np.ndarray, initial: np.ndarray, num_strata: int) -> np.ndarray:
    """Per weight (flattened), its cell of the stratified chance: `side * num_strata + bin`.

    `side` is the initial mask bit (0 or 1) and `bin` the quantile bin (0 = nearest the threshold)
    of the weight's margin among the weights on its side: the `r`-th smallest of `n_side` margins
    (ties in index order) is in bin `r * num_strata // n_side`, so the bins of a side differ in
    size by at most one weight (a side of fewer than `num_strata` weights has one per bin).
    """
    if num_strata < 1:
        raise ValueError(f"num_strata must be at least 1, got {num_strata}")
    margins, initial = np.asarray(margins, dtype=np.float64).reshape(-1), np.asarray(initial, dtype=bool).reshape(-1)
    cells = np.empty(margins.size, dtype=np.int64)
    for side in (0, 1):
        where = np.flatnonzero(initial == bool(side))
        ranks = np.empty(where.size, dtype=np.int64)
        ranks[np.argsort(margins[where], kind="stable")] = np.arange(where.size)
        cells[where] = side * num_strata + ranks * num_strata // max(where.size, 1)
    return cells


def _cell_expected(changes: np.ndarray, cells: np.ndarray, num_cells: int) -> np.ndarray:
    """(T, T) expected intersections `sum_b k_i,b k_j,b / n_b` of (T, n) change bits within `cells`."""
    sizes = np.bincount(cells, minlength=num_cells).astype(np.float64)
    counts = np.stack([np.bincount(cells[row], minlength=num_cells) for row in changes]).astype(np.float64)
    return (counts / np.where(sizes > 0, sizes, 1.0)) @ counts.T


def _layer_frame(layer: str, task_ids: list[int], m: np.ndarray, m0: np.ndarray,
                 cells: np.ndarray | None, num_strata: int) -> pd.DataFrame:
    """`CHANGE_COLUMNS` for every ordered pair of distinct tasks of one layer, from (T, n) final and initial bits.

    `cells`: each weight's cell of the stratified chance (`margin_cells`), or None for the
    whole-layer chance alone.
    """
    n = m.shape[1]
    changes = {"on": m & ~m0, "off": m0 & ~m, "any": m ^ m0}
    inter = {kind: intersection_counts(bits) for kind, bits in changes.items()}
    zz = intersection_counts(~m0)  # |Z_i and Z_j|
    oo = intersection_counts(m0)  # |O_i and O_j|
    n0, n1 = np.diag(zz), np.diag(oo)
    zo = n0[:, None] - zz  # |Z_i and O_j|
    oz = n1[:, None] - oo  # |O_i and Z_j|
    kept = {kind: np.diag(counts) for kind, counts in inter.items()}
    u, v = _ratio(kept["on"], n0, 0.0), _ratio(kept["off"], n1, 0.0)
    ii, jj = ordered_pairs(len(task_ids))
    whole = {"on": u[ii] * u[jj] * zz[ii, jj], "off": v[ii] * v[jj] * oo[ii, jj]}
    whole["any"] = whole["on"] + whole["off"] + u[ii] * v[jj] * zo[ii, jj] + v[ii] * u[jj] * oz[ii, jj]
    if cells is None:
        expected = whole
    else:
        num_cells = 2 * num_strata
        expected = {kind: _cell_expected(bits, cells, num_cells)[ii, jj] for kind, bits in changes.items()}
    ids = np.asarray(task_ids, dtype=np.int64)
    columns: dict[str, object] = {
        "layer": [layer] * len(ii), "task_i": ids[ii], "task_j": ids[jj], "num_weights": np.full(len(ii), n),
        "changed_i": kept["any"][ii] / n, "changed_j": kept["any"][jj] / n,
        "on_i": kept["on"][ii] / n, "on_j": kept["on"][jj] / n, "off_i": kept["off"][ii] / n,
        "off_j": kept["off"][jj] / n,
    }
    for kind in KINDS:
        k_i, k_j, both = kept[kind][ii], kept[kind][jj], inter[kind][ii, jj]
        jac = _ratio(both, k_i + k_j - both, 0.0)
        chance = _ratio(expected[kind], k_i + k_j - expected[kind], 0.0)
        layer_chance = _ratio(whole[kind], k_i + k_j - whole[kind], 0.0)
        columns |= {f"{kind}_both": both, f"{kind}_jaccard_pct": 100.0 * jac, f"{kind}_chance_pct": 100.0 * chance,
                    f"{kind}_relative_to_chance": _ratio(jac, chance, np.nan),
                    f"{kind}_layer_chance_pct": 100.0 * layer_chance,
                    f"{kind}_relative_to_layer_chance": _ratio(jac, layer_chance, np.nan)}
    columns["chance_strata"] = np.full(len(ii), 1 if cells is None else num_strata)
    # The initial masks are identical when neither has a weight the other lacks.
    shared = (n1[ii] + n1[jj] - 2 * oo[ii, jj]) == 0
    k_i, k_j = kept["any"][ii], kept["any"][jj]
    observed = 1.0 - (k_i + k_j - 2 * inter["any"][ii, jj]) / n
    # With one initial mask, p_e = 1 - (k_i + k_j - 2 E_any) / n (module docstring), whole-layer or stratified.
    by_chance = 1.0 - (k_i + k_j - 2.0 * expected["any"]) / n
    kappa = _ratio(observed - by_chance, 1.0 - by_chance, np.nan)
    columns |= {"shared_init": shared, "agreement_pct": np.where(shared, 100.0 * observed, np.nan),
                "agreement_chance_pct": np.where(shared, 100.0 * by_chance, np.nan),
                "agreement_kappa": np.where(shared, kappa, np.nan)}
    return pd.DataFrame(columns)


def change_table(final: Masks, initial: Masks, *, margins: Mapping[str, np.ndarray] | None = None,
                 num_strata: int = CHANCE_STRATA) -> pd.DataFrame:
    """One row per layer and ordered pair (i, j) of distinct tasks: overlap of their learned changes and chance.

    `final` and `initial` map task id to `{layer: bool array}` (the tasks' final masks and the
    masks they started from), with the same tasks, layers and shapes. `margins` (only where all
    tasks start from one shared initial score s0): per layer, each weight's distance from s0 to
    the point where its mask bit flips (`SupSup.initial_score_margins`); the chance is then
    computed within `num_strata` quantile bins of it per side of the threshold, and every task's
    initial mask must be the same (ValueError otherwise). Columns (`CHANGE_COLUMNS`; definitions
    in the module docstring): `num_weights`; `changed_*`, `on_*`, `off_*`: the fraction of the
    layer's weights each task changed, switched on, switched off; per kind in (on, off, any):
    `{kind}_both` (weights both tasks changed so), `{kind}_jaccard_pct`, `{kind}_chance_pct`,
    `{kind}_relative_to_chance` (stratified where `margins` are given), then the whole-layer
    `{kind}_layer_chance_pct`, `{kind}_relative_to_layer_chance`; `chance_strata` (bins per
    side, 1 for the whole layer); `shared_init` (the two initial masks are identical) and, where
    it holds, `agreement_pct`, `agreement_chance_pct`, `agreement_kappa` (NaN elsewhere). Rows
    are ordered as `overlap.overlap_table`: by layer (the first task's order), then task_i, then
    task_j; a single task gives an empty table with these columns.
    """
    task_ids, layers = _check_pairing(final, initial)
    if margins is not None and set(margins) != set(layers):
        raise ValueError(f"margins are of layers {sorted(margins)}, masks of layers {sorted(layers)}")
    frames = []
    for layer in layers:
        m, m0 = stack_layer(final, task_ids, layer), stack_layer(initial, task_ids, layer)
        cells = None
        if margins is not None:
            if np.size(margins[layer]) != m.shape[1]:
                raise ValueError(f"layer {layer!r}: {np.size(margins[layer])} margins for {m.shape[1]} weights")
            if not (m0 == m0[0]).all():
                raise ValueError(f"layer {layer!r}: margins of one shared initial score were given, but the tasks' "
                                 "initial masks differ")
            cells = margin_cells(margins[layer], m0[0], num_strata)
        frames.append(_layer_frame(layer, task_ids, m, m0, cells, num_strata))
    return pd.concat(frames, ignore_index=True)[list(CHANGE_COLUMNS)]


def mean_changes(table: pd.DataFrame) -> pd.DataFrame:
    """Per layer (in order of appearance): means over pairs of `change_table`'s rates, overlaps and agreement.

    Columns: `layer, num_pairs, shared_init_pairs, chance_strata, mean_changed` (the mean over
    pairs of `changed_i`, i.e. over tasks), per kind `mean_{kind}_jaccard_pct,
    mean_{kind}_chance_pct, mean_{kind}_relative_to_chance, mean_{kind}_layer_chance_pct,
    mean_{kind}_relative_to_layer_chance`, then `mean_agreement_kappa`; NaN values are skipped
    by the mean (NaN where a layer has none).
    """
    grouped = table.groupby("layer", sort=False)
    columns = {"num_pairs": grouped.size(), "shared_init_pairs": grouped["shared_init"].sum().astype(np.int64),
               "chance_strata": grouped["chance_strata"].max(), "mean_changed": grouped["changed_i"].mean()}
    for kind in KINDS:
        for column in ("jaccard_pct", "chance_pct", "relative_to_chance", "layer_chance_pct",
                       "relative_to_layer_chance"):
            columns[f"mean_{kind}_{column}"] = grouped[f"{kind}_{column}"].mean()
    columns["mean_agreement_kappa"] = grouped["agreement_kappa"].mean()
    return pd.DataFrame(columns).reset_index()
