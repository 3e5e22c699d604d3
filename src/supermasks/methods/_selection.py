"""Which training samples a replay buffer keeps: per-task selection rules and a reservoir over tasks."""

from __future__ import annotations

import torch

SELECTIONS: dict[str, str] = {
    "random": "a seeded uniform random subset",
    "uncertain": "the samples whose predicted-class probability is lowest (least confident)",
    "misclassified": "misclassified samples first, then correct ones; least confident first within each",
    "balanced": "a seeded random subset with equal counts per class, as far as the classes allow",
}
# Rules that rank samples by the trained network's outputs on them.
NEEDS_LOGITS = frozenset({"uncertain", "misclassified"})


def select(rule: str, count: int, y: torch.Tensor, *, generator: torch.Generator,
           logits: torch.Tensor | None = None) -> torch.Tensor:
    """Indices (int64, ascending) of `min(count, len(y))` samples chosen by `rule`.

    `logits` (N, classes) are the trained network's outputs on the samples; the rules in
    `NEEDS_LOGITS` need them. Ties in confidence go to the lower index (stable sort).
    """
    if rule not in SELECTIONS:
        raise ValueError(f"unknown replay selection {rule!r}; choose one of {', '.join(SELECTIONS)}")
    if count < 0:
        raise ValueError(f"cannot select a negative number of samples ({count})")
    n = len(y)
    count = min(count, n)
    if rule in NEEDS_LOGITS:
        if logits is None or len(logits) != n:
            raise ValueError(f"selection {rule!r} needs the network's logits for all {n} samples")
        probs = logits.float().softmax(dim=1)  # (N, classes)
        confidence, predicted = probs.max(dim=1)  # (N,), (N,)
        key = confidence
        if rule == "misclassified":
            # Confidence is at most 1, so adding 2 to the correct ones sorts every mistake first.
            key = confidence + 2.0 * (predicted == y).float()
        order = torch.sort(key, stable=True).indices
    elif rule == "balanced":
        order = _round_robin(y, generator)
    else:
        order = torch.randperm(n, generator=generator)
    return order[:count].sort().values


def _round_robin(y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """All indices ordered so that any prefix has class counts as equal as the classes allow.

    Samples are shuffled, ranked within their class, then ordered by rank: one of each class,
    then a second of each, and so on; classes that run out simply drop out of later rounds.
    Within a round the classes come in a random order, so no class is favoured when the count
    does not divide evenly.
    """
    n = len(y)
    classes, label = torch.unique(y, return_inverse=True)  # label: (N,) in 0..C-1
    shuffled = torch.randperm(n, generator=generator)
    by_class = shuffled[torch.sort(label[shuffled], stable=True).indices]  # grouped by class, random within
    counts = torch.bincount(label, minlength=len(classes))
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty(n, dtype=torch.int64)
    rank[by_class] = torch.arange(n) - starts[label[by_class]]  # position of each sample within its class
    class_order = torch.randperm(len(classes), generator=generator)
    return torch.sort(rank * len(classes) + class_order[label], stable=True).indices


def reservoir(seen: int, num_candidates: int, budget: int, generator: torch.Generator) -> torch.Tensor:
    """Vitter's (1985) algorithm R over the next `num_candidates` of a stream, vectorised.

    `seen` candidates have already been offered, so the reservoir holds `min(seen, budget)`.
    Candidate k has stream position `i = seen + k`: it fills slot i while the reservoir is not
    full, and otherwise replaces slot j, drawn uniformly from 0..i, when j < budget. Every
    candidate offered so far therefore stays with the same probability, budget / (seen + k + 1).

    Returns, for each slot 0..min(budget, seen + num_candidates) - 1, the index of the candidate
    that ends there, or -1 where the slot keeps its current sample. The draws do not depend on
    the reservoir's content, so resolving collisions by "the last candidate to hit a slot wins"
    gives exactly what the sequential algorithm gives.
    """
    if budget < 1 or seen < 0 or num_candidates < 0:
        raise ValueError(f"need budget >= 1 and non-negative counts, got {budget=}, {seen=}, {num_candidates=}")
    position = torch.arange(seen, seen + num_candidates, dtype=torch.int64)
    # float64 keeps floor(u * (i + 1)) uniform over 0..i for any realistic stream length.
    draw = (torch.rand(num_candidates, generator=generator, dtype=torch.float64) * (position + 1)).floor().long()
    slot = torch.where(position < budget, position, draw)
    kept = slot < budget
    winner = torch.full((min(budget, seen + num_candidates),), -1, dtype=torch.int64)
    winner.scatter_reduce_(0, slot[kept], torch.arange(num_candidates)[kept], reduce="amax")
    return winner
