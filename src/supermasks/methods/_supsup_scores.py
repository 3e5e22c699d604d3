"""Where a SupSup task's scores start: a random draw, the run's first draw shared by every task, or earlier tasks'
scores mixed by alphas (transfer, `_warm_start`); and the tables of those alphas and the similarities behind them."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from supermasks.data.task import Task
from supermasks.compute.devices import module_device, to_device
from supermasks.methods._warm_start import (causal_similarities, layer_alphas, norm_alphas, two_pass_alphas,
                                          two_pass_similarities)
from supermasks.models import masked_layers
from supermasks.models.layers import score_init as random_scores
from supermasks.seeds import streams


def random_init(model: nn.Module, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """One random draw of scores for every masked layer, in layer order, from the CPU `generator`, on the CPU."""
    return {name: random_scores(tuple(m.weight.shape), m.fan_in, generator)
            for name, m in masked_layers(model).items()}


def shared_init(model: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """The first draw of the run's score stream (task 0's initial scores), drawn again from a fresh generator.

    Recomputed for each task rather than kept, so no float scores are held for it, and a
    resumed run gets the same draw.
    """
    return random_init(model, torch.Generator().manual_seed(streams(seed).scores))


def transfer_alphas(model: nn.Module, task: Task, *, transfer: str, protocol: str, temperature: float,
                    reference_signatures: Sequence[dict[str, torch.Tensor]] | None,
                    probe_size: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(similarity rows per BN layer, alphas per masked layer) for the new `task`; empty when it starts random.

    The causal protocol probes with the first `probe_size` training images of the task.
    """
    earlier = task.task_id
    if earlier == 0 or transfer == "random":
        return {}, {}
    if transfer == "mean":
        return {}, {name: np.full(earlier, 1.0 / earlier) for name in masked_layers(model)}
    if protocol == "causal":
        # A fixed slice of the new task's own training data: only tasks seen so far are read.
        probe = to_device(task.x_train[:probe_size], module_device(model))
        similarities = causal_similarities(model, probe, earlier)
        alphas = norm_alphas(similarities, transfer, temperature)
    else:
        assert reference_signatures is not None  # checked when the method was built
        similarities = two_pass_similarities(reference_signatures, earlier)
        alphas = two_pass_alphas(reference_signatures, earlier, transfer, temperature)
    return similarities, layer_alphas(model, alphas)


def transfer_tables(alphas: list[dict[str, np.ndarray]],
                    similarities: list[dict[str, np.ndarray]]) -> dict[str, pd.DataFrame]:
    """`alphas` (the mix each task started from) and `transfer_similarity` (behind it), per task, masked layer (BN
    layer for similarities) and earlier task; no tables when no task transferred."""
    tables: dict[str, pd.DataFrame] = {}
    if any(alphas):
        tables["alphas"] = pd.DataFrame(
            [{"task": t, "layer": layer, "source_task": s, "alpha": float(a)}
             for t, per_layer in enumerate(alphas) for layer, values in per_layer.items()
             for s, a in enumerate(values)])
        rows = [{"task": t, "layer": layer, "source_task": s, "similarity": float(v)}
                for t, per_layer in enumerate(similarities) for layer, values in per_layer.items()
                for s, v in enumerate(values)]
        if rows:
            tables["transfer_similarity"] = pd.DataFrame(rows)
    return tables
