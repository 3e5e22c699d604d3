"""New-task detection while training on a stream without task labels (SupSup's NNs scenario).

Wortsman, Ramanujan et al., "Supermasks in Superposition" (NeurIPS 2020), section 3.4 ("NNs"):
neither task identities nor task boundaries are given. Periodically, the current batch is run
through a superposition of `n = max(learned, 5)` candidate masks (learned masks padded with random
ones) at uniform mixing weights, and `v = softmax(-dH/dalpha)` is formed from the entropy gradient.
A learned mask that fits the data lowers the entropy much more than the others, so `v` peaks on it;
if no candidate stands out (`max v < (1 + margin) / n`, i.e. `v` is close to uniform) the data is
taken to come from a new task, and a fresh mask is allocated.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from supermasks.inference.bank import MaskBank
from supermasks.inference.oneshot import alpha_gradient
from supermasks.models import (add_task, compute_mask, grow_tasks, load_network, masked_layers, num_tasks,
                               set_keep_scores, set_task, task_scores)
from supermasks.models.layers import score_init
from supermasks.compute.devices import module_device, to_device
from supermasks.training import make_optimizer
from supermasks.seeds import streams

__all__ = ["NNsLearner", "boundary_report", "detect_new_task", "random_masks"]


def random_masks(model: nn.Module, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """One untrained mask per masked layer: the layer's own rule applied to freshly drawn scores.

    Drawing the scores exactly as a new task would start them gives random candidates with the
    density a not-yet-trained mask has, so they are the right "no knowledge" reference for NNs.
    As for a new task, the scores are drawn on the CPU (`generator`) and the rule runs on the
    layer's device.
    """
    out = {}
    for name, layer in masked_layers(model).items():
        scores = score_init(tuple(layer.weight.shape), layer.fan_in, generator).to(layer.weight.device)
        out[name] = compute_mask(scores, layer.rule, layer.density)
    return out


def _candidate_bank(model: nn.Module, bank: MaskBank, count: int, generator: torch.Generator) -> MaskBank:
    """A temporary bank: the learned masks of `bank` first (same indices), then random masks up to `count`."""
    candidates = MaskBank(bank.shapes, bank.device)
    # Copying keeps the caller's bank untouched; the masks are small and this runs once per check.
    for t in range(bank.num_tasks):
        candidates.add({name: bank.mask(name, t) for name in bank.shapes})
    for _ in range(count - bank.num_tasks):
        candidates.add(random_masks(model, generator))
    return candidates


def detect_new_task(model: nn.Module, bank: MaskBank, x: torch.Tensor, *, min_candidates: int = 5,
                    margin: float = 2 ** -3, generator: torch.Generator) -> tuple[bool, int]:
    """Whether the batch `x` comes from a task none of the `bank`'s learned masks fits.

    Candidates are the bank's learned masks plus random masks (drawn with `generator`) up to
    `n = max(learned, min_candidates)`. With uniform `alpha` over them, one superposed forward on
    `x` gives `v = softmax(-dH/dalpha)`; the data is new when `max v < (1 + margin) / n`.

    Returns `(is_new, task)`: `task` is the learned task with the largest `v` (the one to keep
    training when the data is not new), or -1 when the bank is empty.
    """
    if min_candidates < 1:
        raise ValueError(f"min_candidates must be positive, got {min_candidates}")
    if margin < 0:
        raise ValueError(f"margin must be non-negative, got {margin}")
    learned = bank.num_tasks
    n = max(learned, min_candidates)
    candidates = _candidate_bank(model, bank, n, generator)
    with torch.enable_grad():  # the gradient is with respect to the mixing weights only
        grad = alpha_gradient(model, candidates, x, "H")  # (n,)
    v = torch.softmax(-grad, dim=0)
    is_new = bool(v.max() < (1.0 + margin) / n)
    # The best learned task, even when a random candidate scores higher: random masks only set
    # the "nothing fits" reference and can never be chosen for training.
    task = int(v[:learned].argmax()) if learned else -1
    return is_new or learned == 0, task


class NNsLearner:
    """SupSup without task labels or boundaries (NNs): detect new tasks while training on a stream.

    Wortsman, Ramanujan et al. (NeurIPS 2020). Training updates only the current task's scores, as
    in the task-given setting. At the first batch and every `check_every` batches, the learned
    masks are re-read from the model into a `MaskBank` and `detect_new_task` decides between
    allocating a new mask and training the learned mask that fits the batch best.

    `warmup` (ours, not in the paper; 0 gives the paper's rule) skips the tests that fall within
    `warmup` batches of a new mask's allocation. A mask that has trained for only one check interval
    is often not yet confident enough for its `v` to clear the threshold on its own task's data, so
    the next test would allocate a second mask for the same task (a false alarm). While a test is
    skipped the new mask keeps training, so a task boundary inside the warm-up is found late.

    The model must have no per-task BatchNorm (superposing masks cannot mix BN statistics). Every
    mask keeps its float scores (`keep_scores`): any of them may train again.
    """

    name = "nns"  # what a resumable checkpoint of this learner is called
    HYPERPARAMETERS = ("optimizer", "lr", "check_every", "min_candidates", "margin", "warmup")

    def __init__(self, model: nn.Module, *, optimizer: str = "rmsprop", lr: float = 1e-4,
                 check_every: int = 100, min_candidates: int = 5, margin: float = 2 ** -3,
                 warmup: int = 0, seed: int = 0) -> None:
        if check_every < 1:
            raise ValueError(f"check_every must be positive, got {check_every}")
        if warmup < 0:
            raise ValueError(f"warmup must be non-negative, got {warmup}")
        if num_tasks(model) != 0:
            raise ValueError("NNsLearner starts from a model without tasks")
        self.model = model
        set_keep_scores(model, True)  # a learned mask trains again when its data comes back: no task ever finishes
        self.optimizer = optimizer
        self.lr = lr
        self.check_every = check_every
        self.warmup = warmup
        self.allocated_at_: int | None = None  # stream index of the last new mask
        self.min_candidates = min_candidates
        self.margin = margin
        # Separate streams for new tasks' scores and the random candidates of each check, so
        # the number of checks never shifts how the next task's scores start.
        self.score_generator_ = torch.Generator().manual_seed(streams(seed).scores)
        # The model's weights are usually drawn from a small seed too; a far-off seed keeps the
        # random candidates from repeating the weight draw (scores equal to the weights' uniform
        # draw would give the degenerate mask "keep every positive weight").
        self.candidate_generator_ = torch.Generator().manual_seed(streams(seed).candidates)
        self.current_task_: int | None = None
        # One optimiser per task: returning to a task resumes its own optimiser state.
        self.optimizers_: dict[int, torch.optim.Optimizer] = {}
        self.batches_seen_ = 0
        self.checks_: list[tuple[int, bool, int]] = []  # (batch index, is_new, best learned task)
        self.trained_: list[int] = []  # the mask each batch of the stream trained, in stream order

    @property
    def num_tasks(self) -> int:
        """How many masks (tasks) have been allocated so far."""
        return num_tasks(self.model)

    def bank(self) -> MaskBank:
        """The current masks of every allocated task, bit-packed (re-read: masks change as they train)."""
        return MaskBank.from_model(self.model, task_ids=range(self.num_tasks))

    def _start_task(self) -> int:
        task = add_task(self.model, self.score_generator_)
        self.optimizers_[task] = make_optimizer(self.optimizer, task_scores(self.model, task), self.lr)
        self.current_task_ = task
        return task

    @torch.no_grad()
    def check(self, x: torch.Tensor) -> tuple[bool, int]:
        """Run the NNs test on the batch `x` without changing anything: `detect_new_task` on the learned masks."""
        if self.num_tasks == 0:
            return True, -1
        self.model.eval()
        return detect_new_task(self.model, self.bank(), x, min_candidates=self.min_candidates,
                               margin=self.margin, generator=self.candidate_generator_)

    def state_dict(self) -> dict[str, Any]:
        """Every mask's scores, the generators, each task's optimiser state and the stream's bookkeeping."""
        return {"method": self.name, "hyperparameters": {k: getattr(self, k) for k in self.HYPERPARAMETERS},
                "num_tasks": self.num_tasks, "model": self.model.state_dict(),
                "score_generator": self.score_generator_.get_state(),
                "candidate_generator": self.candidate_generator_.get_state(),
                "optimizers": {task: opt.state_dict() for task, opt in self.optimizers_.items()},
                "current_task": self.current_task_, "allocated_at": self.allocated_at_,
                "batches_seen": self.batches_seen_, "checks": [list(c) for c in self.checks_],
                "trained": list(self.trained_)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load `state` (from `state_dict`) into a learner freshly built with the same settings."""
        if state.get("method") != self.name:
            raise ValueError(f"the state is of {state.get('method')!r}, not of {self.name!r}")
        saved = state.get("hyperparameters", {})
        differ = [f"{k}={getattr(self, k)!r} here, {saved.get(k)!r} in the state" for k in self.HYPERPARAMETERS
                  if saved.get(k) != getattr(self, k)]
        if differ:
            raise ValueError("the state does not fit this NNsLearner: " + "; ".join(differ))
        grow_tasks(self.model, state["num_tasks"])
        load_network(self.model, state["model"])
        self.score_generator_.set_state(state["score_generator"].clone())
        self.candidate_generator_.set_state(state["candidate_generator"].clone())
        self.optimizers_ = {}
        for task, saved_optimizer in state["optimizers"].items():
            optimizer = make_optimizer(self.optimizer, task_scores(self.model, task), self.lr)
            optimizer.load_state_dict(_cloned(saved_optimizer))  # it would keep the given tensors as its own
            self.optimizers_[task] = optimizer
        self.current_task_, self.allocated_at_ = state["current_task"], state["allocated_at"]
        self.batches_seen_ = state["batches_seen"]
        self.checks_ = [(int(i), bool(new), int(best)) for i, new, best in state["checks"]]
        self.trained_ = list(state["trained"])

    def learn_stream(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> list[tuple[int, int]]:
        """Train on a stream of (inputs, labels) batches with no task ids; return the new tasks found.

        Each entry is `(batch index, task id)`: the batch at which a new mask was allocated. Batch
        indices count across calls, so a stream may be fed in pieces.
        """
        loss_fn = nn.CrossEntropyLoss()
        found: list[tuple[int, int]] = []
        device = module_device(self.model)
        for xb, yb in batches:
            xb, yb = to_device(xb, device), to_device(yb, device)  # the stream's batches come from the CPU
            index = self.batches_seen_
            warming = self.allocated_at_ is not None and index - self.allocated_at_ < self.warmup
            if self.current_task_ is None or (index % self.check_every == 0 and not warming):
                is_new, best = self.check(xb)
                self.checks_.append((index, is_new, best))
                if is_new:
                    found.append((index, self._start_task()))
                    self.allocated_at_ = index
                else:
                    self.current_task_ = best
            task = self.current_task_
            assert task is not None
            set_task(self.model, task)
            self.model.train()
            optimizer = self.optimizers_[task]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(self.model(xb), yb)
            loss.backward()
            optimizer.step()
            self.trained_.append(task)
            self.batches_seen_ += 1
        return found


def _cloned(tree: Any) -> Any:
    """`tree` with every tensor copied (dicts and lists rebuilt, other values as they are)."""
    if isinstance(tree, torch.Tensor):
        return tree.detach().clone()
    if isinstance(tree, dict):
        return {k: _cloned(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_cloned(v) for v in tree]
    return tree


def boundary_report(detected: Sequence[tuple[int, int]] | Sequence[int], true_boundaries: Sequence[int],
                    check_every: int) -> dict[str, object]:
    """Compare detected task starts with the true ones (batch indices of a stream).

    `detected` is what `NNsLearner.learn_stream` returns (or bare batch indices). Batch 0 starts a
    task on both sides. A true boundary `b` counts as detected when a new task was allocated at a
    batch in `[b, b + check_every]`: within one check interval, the earliest NNs can see it. Each
    detection matches at most one true boundary; detections matching none are false alarms.
    """
    if check_every < 1:
        raise ValueError(f"check_every must be positive, got {check_every}")
    found = sorted(d[0] if isinstance(d, tuple) else int(d) for d in detected)
    true = sorted(set(true_boundaries) | {0})
    unmatched = list(found)
    delays: list[int] = []
    missed: list[int] = []
    for b in true:
        hit = next((d for d in unmatched if b <= d <= b + check_every), None)
        if hit is None:
            missed.append(b)
        else:
            unmatched.remove(hit)
            delays.append(hit - b)
    return {
        "detected": found,
        "true": true,
        "num_tasks_found": len(found),
        "num_true_tasks": len(true),
        "detected_within_interval": len(true) - len(missed),
        "missed": missed,
        "false_alarms": unmatched,
        "delays": delays,
    }
