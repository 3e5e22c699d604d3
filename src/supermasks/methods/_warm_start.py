"""Initial scores of a new SupSup task: random, the mean of earlier tasks, or similarity-guided mixtures.

docs/algorithms.md sections 1.5 and 3. SupSup's transfer (Wortsman, Ramanujan et al., NeurIPS 2020)
starts a task from the element-wise mean of all earlier tasks' scores; the seed study's
similarity-guided transfer starts it from `sum_t alpha_t(l) * scores_t(l)` per layer l, with
alphas from BN-signature similarity. Either way the result is rescaled to the norm of a random
init of that layer, so transfer changes where the scores point, not how large they are (the
threshold rule and the optimiser's step size see scores of the usual scale).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from supermasks.inference.signature import probe_similarity
from supermasks.models.tasks import layer_norms, masked_layers, task_signature

TRANSFERS = ("random", "mean", "similar", "soft")
PROTOCOLS = ("causal", "two_pass")
GUIDED = ("similar", "soft")  # the transfers that need similarities (and so BatchNorm signatures)

# The similarity rules live in `supermasks.analysis.similarity`. They are imported inside the
# functions that use them: importing the analysis package loads matplotlib and scipy (seconds),
# which a method that never transfers by similarity should not pay for.


def rescale(scores: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """`scores` scaled to the Frobenius norm of `reference`; `reference` itself if `scores` is all zeros."""
    norm = scores.norm()
    if norm == 0:  # no direction to keep (e.g. earlier scores that cancel exactly): start random
        return reference.clone()
    return scores * (reference.norm() / norm)


def mixed_scores(earlier: Sequence[torch.Tensor], alphas: np.ndarray, reference: torch.Tensor) -> torch.Tensor:
    """`sum_t alphas[t] * earlier[t]`, rescaled to the norm of `reference` (the layer's random init)."""
    if len(earlier) != len(alphas):
        raise ValueError(f"{len(alphas)} alphas for {len(earlier)} earlier tasks")
    stack = torch.stack([s.detach() for s in earlier])  # (tasks, *shape)
    weights = torch.as_tensor(np.asarray(alphas), dtype=stack.dtype, device=stack.device).view(-1, *([1] * (stack.dim() - 1)))
    return rescale((weights * stack).sum(dim=0), reference)


def causal_similarities(model: nn.Module, probe: torch.Tensor, num_earlier: int) -> dict[str, np.ndarray]:
    """Per BN layer, the probe batch's similarity to each earlier task 0..num_earlier-1 (causal protocol).

    The probe (data of the new task only) runs through each earlier mask t, and its BN-input means
    are compared with task t's stored means: `|cos|`, as in the similarity study.
    """
    stored = [task_signature(model, t) for t in range(num_earlier)]
    return probe_similarity(model, probe, range(num_earlier), stored)


def _check_reference(reference_signatures: Sequence[object], task_id: int) -> None:
    if len(reference_signatures) <= task_id:
        raise ValueError(f"two_pass transfer for task {task_id} needs reference signatures of tasks "
                         f"0..{task_id}; got {len(reference_signatures)}")


def two_pass_similarities(reference_signatures: Sequence[Mapping[str, torch.Tensor] | None],
                          task_id: int) -> dict[str, np.ndarray]:
    """Per BN layer, row `task_id` of E2 over the reference model's signatures, earlier tasks only."""
    from supermasks.analysis.similarity import e2_matrices

    _check_reference(reference_signatures, task_id)
    return {layer: S[task_id, :task_id] for layer, S in e2_matrices(reference_signatures).items()}


def norm_alphas(similarities: Mapping[str, np.ndarray], transfer: str, temperature: float) -> dict[str, np.ndarray]:
    """Alphas per BN layer from similarity rows over the earlier tasks: one-hot ("similar") or softmax ("soft")."""
    from supermasks.analysis.similarity import one_hot_alphas, softmax_alphas

    if transfer == "similar":
        return {layer: one_hot_alphas(row) for layer, row in similarities.items()}
    if transfer == "soft":
        return {layer: softmax_alphas(row, temperature) for layer, row in similarities.items()}
    raise ValueError(f"similarity alphas are for {' or '.join(GUIDED)} transfer, not {transfer!r}")


def two_pass_alphas(reference_signatures: Sequence[Mapping[str, torch.Tensor] | None], task_id: int,
                    transfer: str, temperature: float) -> dict[str, np.ndarray]:
    """Alphas per BN layer from the reference model's E2 matrices (earlier tasks only, as `determine_alphas`)."""
    from supermasks.analysis.similarity import determine_alphas_per_layer, e2_matrices, soft_alphas_per_layer

    _check_reference(reference_signatures, task_id)
    matrices = e2_matrices(reference_signatures)
    if transfer == "similar":
        return determine_alphas_per_layer(matrices, task_id)
    return soft_alphas_per_layer(matrices, task_id, temperature)


def layer_alphas(model: nn.Module, alphas: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Alphas per masked layer from alphas per BN layer, paired by `layer_norms`.

    A masked layer followed by a BN layer uses that layer's alphas; one without (the output layer)
    uses the nearest BN layer before it.
    """
    pairs = layer_norms(model)
    missing = sorted({norm for norm in pairs.values() if norm is None or norm not in alphas}, key=str)
    if missing:
        raise ValueError(f"no alphas for BN layer(s) {missing}; similarity-guided transfer needs BatchNorm")
    return {layer: np.asarray(alphas[norm]) for layer, norm in pairs.items()}


def transfer_init(model: nn.Module, random_init: Mapping[str, torch.Tensor],
                  alphas: Mapping[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Initial scores per masked layer: earlier tasks' scores mixed by `alphas[layer]`, at the random init's norm.

    `alphas[layer]` has one weight per earlier task (as many as the tasks already in `model`). It
    reads every earlier task's float scores, so guided transfer keeps float scores of every task
    (`keep_scores`); a finished task holding only its packed mask is a ValueError.
    """
    return {name: mixed_scores([layer.task_scores(t) for t in range(len(alphas[name]))], alphas[name],
                               random_init[name])
            for name, layer in masked_layers(model).items()}


def add_to_sum(score_sum: dict[str, torch.Tensor], model: nn.Module, task_id: int) -> None:
    """`score_sum[layer] += scores of task_id`, per masked layer (in place; a new entry for the first task)."""
    for name, layer in masked_layers(model).items():
        scores = layer.task_scores(task_id).detach()
        if name in score_sum:
            score_sum[name].add_(scores)
        else:
            score_sum[name] = scores.clone()


def mean_init(score_sum: Mapping[str, torch.Tensor], count: int,
              random_init: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """SupSup's transfer from one running sum: `(sum_t scores_t) / count` per layer, at the random init's norm.

    The same mean as `mixed_scores` with alphas `1 / count` (up to float summation order), without
    keeping every earlier task's float scores: only the sum over finished tasks.
    """
    if count < 1:
        raise ValueError("the mean of earlier scores needs at least one earlier task")
    return {name: rescale(score_sum[name] / count, reference) for name, reference in random_init.items()}
