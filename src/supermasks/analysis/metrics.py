"""Continual-learning metrics as pure functions of the accuracy matrix R (docs/algorithms.md section 6).

`R[i, j]` is the accuracy on task j after training task i (T x T); entries for tasks not yet
learned may be NaN. `b[j]` is the accuracy on task j of the model before it trained on task j.
"""

from __future__ import annotations

import numpy as np

DEFINITIONS = {
    "ACC": "mean_j R[T-1, j]: average accuracy over all tasks after the last task",
    "BWT": "mean_{j<T-1} (R[T-1, j] - R[j, j]): backward transfer (negative = forgetting)",
    "FWT": "mean_{j>0} (R[j-1, j] - b[j]): forward transfer to tasks not yet trained",
    "forgetting": "mean_{j<T-1} max_{l in [j, T-2]} R[l, j] - R[T-1, j] (Chaudhry et al. 2018)",
}


def _square(r: np.ndarray) -> np.ndarray:
    r = np.asarray(r, dtype=float)
    if r.ndim != 2 or r.shape[0] != r.shape[1] or r.shape[0] == 0:
        raise ValueError(f"R must be a non-empty square matrix, got shape {r.shape}")
    return r


def average_accuracy(r: np.ndarray) -> float:
    """ACC: mean accuracy over all tasks after training the last one."""
    return float(np.mean(_square(r)[-1]))


def backward_transfer(r: np.ndarray) -> float:
    """BWT: mean change of each earlier task's accuracy from right after it was learned to the end."""
    r = _square(r)
    t = r.shape[0]
    if t < 2:
        return float("nan")
    return float(np.mean([r[-1, j] - r[j, j] for j in range(t - 1)]))


def forward_transfer(r: np.ndarray, b: np.ndarray) -> float:
    """FWT: mean accuracy on task j just before training it, minus the untrained model's `b[j]`."""
    r = _square(r)
    b = np.asarray(b, dtype=float)
    t = r.shape[0]
    if b.shape != (t,):
        raise ValueError(f"b must have one entry per task ({t}), got shape {b.shape}")
    if t < 2:
        return float("nan")
    return float(np.mean([r[j - 1, j] - b[j] for j in range(1, t)]))


def forgetting(r: np.ndarray) -> float:
    """Chaudhry et al. (2018): mean over j < T-1 of `max_{l in [j, T-2]} R[l, j] - R[T-1, j]`."""
    r = _square(r)
    t = r.shape[0]
    if t < 2:
        return float("nan")
    return float(np.mean([np.max(r[j:t - 1, j]) - r[-1, j] for j in range(t - 1)]))


def summarize(r: np.ndarray, b: np.ndarray | None = None) -> dict[str, float]:
    """All matrix metrics in one dict (FWT only when `b` is given)."""
    out = {"ACC": average_accuracy(r), "BWT": backward_transfer(r), "forgetting": forgetting(r)}
    if b is not None:
        out["FWT"] = forward_transfer(r, b)
    return out
