"""Overlap of what training changed in two tasks' supermasks, against its chance level (ALGORITHMS.md section 2).

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
  `pq / (p + q - pq)` with p, q the fractions of changed weights (ALGORITHMS.md section 2); in
  general p, q are rates among the weights where the change was possible. With a shared initial
  mask that matters: both tasks' switched-on weights lie among the same `|Z|` weights, and
  `pq / (p + q - pq)` with fractions of the whole layer puts chance too low by about `n / |Z|`.
  For changes placed at random (7% of the bits of a 300 x 784 layer flipped per task, 4 tasks)
  it reads 2.07x chance for switched-off weights under the threshold rule and 9.8x under top-k
  at density 0.1, where this chance reads 1.02x and 0.95x. With independent initial masks the
  two agree (1.03x both).
- `relative_to_chance = J / chance`, NaN where chance is 0.

Agreement, where the two tasks start from the same initial mask (`shared_init`): each weight was
then either flipped by a task or kept, and a weight both flipped moved the same way in both
(from the common `m0`), so the direction of shared changes says nothing. What can agree beyond
chance is *which* weights each task changes: `agreement` is the fraction of weights where both
tasks made the same choice (both flipped or both kept; equivalently, where the final masks
agree), `p_o = 1 - (k_i + k_j - 2 |any_i and any_j|) / n`. Its chance value under the placement
above, with `n_0 = |Z|`, `n_1 = |O|`, is

      p_e = (n_0 / n) [u_i u_j + (1 - u_i)(1 - u_j)] + (n_1 / n) [v_i v_j + (1 - v_i)(1 - v_j)]

(the probability that two independent choices agree, within each stratum of the initial mask),
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
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._counts import Masks, check_masks, intersection_counts, ordered_pairs, stack_layer

KINDS = ("on", "off", "any")
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


def _layer_frame(layer: str, task_ids: list[int], m: np.ndarray, m0: np.ndarray) -> pd.DataFrame:
    """`CHANGE_COLUMNS` for every ordered pair of distinct tasks of one layer, from (T, n) final and initial bits."""
    n = m.shape[1]
    inter = {"on": intersection_counts(m & ~m0), "off": intersection_counts(m0 & ~m),
             "any": intersection_counts(m ^ m0)}
    zz = intersection_counts(~m0)  # |Z_i and Z_j|
    oo = intersection_counts(m0)  # |O_i and O_j|
    n0, n1 = np.diag(zz), np.diag(oo)
    zo = n0[:, None] - zz  # |Z_i and O_j|
    oz = n1[:, None] - oo  # |O_i and Z_j|
    kept = {kind: np.diag(counts) for kind, counts in inter.items()}
    u, v = _ratio(kept["on"], n0, 0.0), _ratio(kept["off"], n1, 0.0)
    ii, jj = ordered_pairs(len(task_ids))
    expected = {"on": u[ii] * u[jj] * zz[ii, jj], "off": v[ii] * v[jj] * oo[ii, jj]}
    expected["any"] = expected["on"] + expected["off"] + u[ii] * v[jj] * zo[ii, jj] + v[ii] * u[jj] * oz[ii, jj]
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
        columns |= {f"{kind}_both": both, f"{kind}_jaccard_pct": 100.0 * jac, f"{kind}_chance_pct": 100.0 * chance,
                    f"{kind}_relative_to_chance": _ratio(jac, chance, np.nan)}
    # The initial masks are identical when neither has a weight the other lacks.
    shared = (n1[ii] + n1[jj] - 2 * oo[ii, jj]) == 0
    observed = 1.0 - (kept["any"][ii] + kept["any"][jj] - 2 * inter["any"][ii, jj]) / n
    by_chance = (n0[ii] / n * (u[ii] * u[jj] + (1 - u[ii]) * (1 - u[jj]))
                 + n1[ii] / n * (v[ii] * v[jj] + (1 - v[ii]) * (1 - v[jj])))
    kappa = _ratio(observed - by_chance, 1.0 - by_chance, np.nan)
    columns |= {"shared_init": shared, "agreement_pct": np.where(shared, 100.0 * observed, np.nan),
                "agreement_chance_pct": np.where(shared, 100.0 * by_chance, np.nan),
                "agreement_kappa": np.where(shared, kappa, np.nan)}
    return pd.DataFrame(columns)


def change_table(final: Masks, initial: Masks) -> pd.DataFrame:
    """One row per layer and ordered pair (i, j) of distinct tasks: overlap of their learned changes and chance.

    `final` and `initial` map task id to `{layer: bool array}` (the tasks' final masks and the
    masks they started from), with the same tasks, layers and shapes. Columns (`CHANGE_COLUMNS`;
    definitions in the module docstring): `num_weights`; `changed_*`, `on_*`, `off_*`: the
    fraction of the layer's weights each task changed, switched on, switched off; per kind in
    (on, off, any): `{kind}_both` (weights both tasks changed so), `{kind}_jaccard_pct`,
    `{kind}_chance_pct`, `{kind}_relative_to_chance`; `shared_init` (the two initial masks are
    identical) and, where it holds, `agreement_pct`, `agreement_chance_pct`, `agreement_kappa`
    (NaN elsewhere). Rows are ordered as `overlap.overlap_table`: by layer (the first task's
    order), then task_i, then task_j; a single task gives an empty table with these columns.
    """
    task_ids, layers = _check_pairing(final, initial)
    frames = [_layer_frame(layer, task_ids, stack_layer(final, task_ids, layer), stack_layer(initial, task_ids, layer))
              for layer in layers]
    return pd.concat(frames, ignore_index=True)[list(CHANGE_COLUMNS)]


def mean_changes(table: pd.DataFrame) -> pd.DataFrame:
    """Per layer (in order of appearance): means over pairs of `change_table`'s rates, overlaps and agreement.

    Columns: `layer, num_pairs, shared_init_pairs, mean_changed` (the mean over pairs of
    `changed_i`, i.e. over tasks), per kind `mean_{kind}_jaccard_pct, mean_{kind}_chance_pct,
    mean_{kind}_relative_to_chance`, then `mean_agreement_kappa`; NaN values are skipped by the
    mean (NaN where a layer has none).
    """
    grouped = table.groupby("layer", sort=False)
    columns = {"num_pairs": grouped.size(), "shared_init_pairs": grouped["shared_init"].sum().astype(np.int64),
               "mean_changed": grouped["changed_i"].mean()}
    for kind in KINDS:
        for column in ("jaccard_pct", "chance_pct", "relative_to_chance"):
            columns[f"mean_{kind}_{column}"] = grouped[f"{kind}_{column}"].mean()
    columns["mean_agreement_kappa"] = grouped["agreement_kappa"].mean()
    return pd.DataFrame(columns).reset_index()
