"""Masked linear and conv layers over fixed signed-constant weights, and per-task BatchNorm."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from supermasks.models.bfloat16 import (LOW, LowWorkspace, UnitWeight, check_precision, low_conv2d, low_linear,
                                        low_masked_linear)
from supermasks.models.fused import DeferredScores
from supermasks.models.masks import (MASK_RULES, MaskWorkspace, compute_mask, masked_linear, masked_weight, pack_mask,
                                     unpack_mask)


def signed_constant(shape: tuple[int, ...], fan_in: int, generator: torch.Generator) -> torch.Tensor:
    """`sign(W0) * sqrt(2 / fan_in)` with `W0` the default uniform init (docs/algorithms.md section 1)."""
    bound = 1.0 / math.sqrt(fan_in)
    w0 = torch.empty(shape).uniform_(-bound, bound, generator=generator)
    return torch.sign(w0) * math.sqrt(2.0 / fan_in)


def score_init(shape: tuple[int, ...], fan_in: int, generator: torch.Generator) -> torch.Tensor:
    """Kaiming-uniform scores `U(-1/sqrt(fan_in), 1/sqrt(fan_in))`, as SupSup initialises them."""
    bound = 1.0 / math.sqrt(fan_in)
    return torch.empty(shape).uniform_(-bound, bound, generator=generator)


class TaskScores(nn.ParameterDict):
    """Float scores by task id (an int); only the tasks that have them (see `_MaskedBase`).

    State-dict keys are `scores.<task_id>`, as a list of every task's scores would give.
    """

    def __getitem__(self, task_id: int | str) -> nn.Parameter:  # type: ignore[override]
        return super().__getitem__(str(task_id))

    def __setitem__(self, task_id: int | str, value: torch.Tensor) -> None:  # type: ignore[override]
        super().__setitem__(str(task_id), value)

    def __delitem__(self, task_id: int | str) -> None:  # type: ignore[override]
        super().__delitem__(str(task_id))

    def __contains__(self, task_id: object) -> bool:  # type: ignore[override]
        return super().__contains__(str(task_id))

    def task_ids(self) -> list[int]:
        return sorted(int(k) for k in self.keys())


class PackedMasks(nn.Module):
    """Bit-packed masks (uint8, `pack_mask`) by task id, as buffers named by the id (`packed.<task_id>`)."""

    def __getitem__(self, task_id: int) -> torch.Tensor:
        return self._buffers[str(task_id)]  # type: ignore[return-value]

    def __setitem__(self, task_id: int, packed: torch.Tensor) -> None:
        self.register_buffer(str(task_id), packed)

    def __delitem__(self, task_id: int) -> None:
        del self._buffers[str(task_id)]

    def __contains__(self, task_id: object) -> bool:
        return str(task_id) in self._buffers

    def task_ids(self) -> list[int]:
        return sorted(int(k) for k in self._buffers)

    def nbytes(self) -> int:
        return sum(b.numel() * b.element_size() for b in self._buffers.values() if b is not None)


class _MaskedBase(nn.Module):
    """Shared state of masked layers: fixed weight, per-task masks, the active task.

    A task in training holds float scores (`scores[task_id]`); a finished task (`finish`) holds
    only its binary mask, bit-packed (1 bit per weight, `packed[task_id]`), which is all that
    evaluating it needs. With `keep_scores` a finished task keeps its float scores instead (32
    bits per weight): for transfers that mix earlier tasks' scores and for learners that train a
    mask again. Forward for a packed task uses `W * M_t`, unpacked once and cached while the same
    task stays active, so an evaluation loop over batches unpacks nothing per batch.
    """

    def __init__(self, shape: tuple[int, ...], fan_in: int, rule: str, density: float,
                 generator: torch.Generator) -> None:
        super().__init__()
        if rule not in MASK_RULES:
            raise ValueError(f"unknown mask rule {rule!r}; choose one of {', '.join(MASK_RULES)}")
        if not 0.0 < density <= 1.0:
            raise ValueError(f"density must be in (0, 1], got {density}")
        self.rule = rule
        self.density = density
        self.fan_in = fan_in
        # The weight never trains; a Parameter with requires_grad=False keeps it in state_dict
        # and visible to `freeze_weights`, without an optimiser ever touching it.
        self.weight = nn.Parameter(signed_constant(shape, fan_in, generator), requires_grad=False)
        self.scores = TaskScores()
        self.packed = PackedMasks()
        self.keep_scores = False  # whether `finish` keeps a task's float scores (set by the method)
        # Where the products run: "float32", or "bfloat16" with float32 accumulation (`set_precision`).
        self.precision = "float32"
        self.units = UnitWeight()  # (S, S in bfloat16, c) with W = c * S, for bfloat16 products
        self._num_tasks = 0  # every task has scores, a packed mask, or both
        self.task_id = 0
        # Optional replacement for `W * M_t` (e.g. a superposition of several tasks' masks during
        # task inference); None means the active task's own mask.
        self.injected_weight: Callable[[], torch.Tensor] | None = None
        self._cached: tuple[tuple[int, ...], torch.Tensor] | None = None  # (key, W * M_t) of a packed task

    @property
    def num_tasks(self) -> int:
        """Tasks in this layer, finished or not (ids 0..num_tasks-1)."""
        return self._num_tasks

    def add_scores(self, generator: torch.Generator, init: torch.Tensor | None = None) -> int:
        """Append a score tensor for a new task (random init unless `init` is given)."""
        value = score_init(tuple(self.weight.shape), self.fan_in, generator) if init is None else init.clone()
        if value.shape != self.weight.shape:
            raise ValueError(f"scores of shape {tuple(value.shape)} for a weight of {tuple(self.weight.shape)}")
        task_id = self._num_tasks
        self.scores[task_id] = nn.Parameter(value.to(self.weight.device))
        self._num_tasks += 1
        return task_id

    def is_packed(self, task_id: int) -> bool:
        """Whether `task_id` is finished and held as a packed mask only (no float scores)."""
        return task_id in self.packed and task_id not in self.scores

    def task_scores(self, task_id: int) -> nn.Parameter:
        """The float scores of `task_id`; ValueError for a finished task whose scores were not kept."""
        if task_id in self.scores:
            return self.scores[task_id]
        if task_id in self.packed:
            raise ValueError(f"task {task_id} is finished and holds only its packed mask: its float scores "
                             "were not kept (keep_scores=False)")
        raise IndexError(f"task {task_id} has no scores in this layer ({self.num_tasks} tasks)")

    def finish(self, task_id: int) -> None:
        """Task `task_id` is learned: keep its mask bit-packed and drop its float scores, unless `keep_scores`."""
        if self.keep_scores or self.is_packed(task_id):
            return
        scores = self.task_scores(task_id)
        self.packed[task_id] = pack_mask(compute_mask(scores.detach(), self.rule, self.density))
        del self.scores[task_id]

    def finish_with(self, task_id: int, packed: torch.Tensor) -> None:
        """Task `task_id` was learned elsewhere (another copy of this layer): take its packed mask, drop its scores.

        `packed` is what `finish` packs there (`pack_mask`, uint8); a layer that keeps finished tasks'
        float scores cannot take a mask alone.
        """
        if not 0 <= task_id < self.num_tasks:
            raise IndexError(f"task {task_id} has no scores in this layer ({self.num_tasks} tasks)")
        if self.keep_scores:
            raise ValueError("this layer keeps finished tasks' float scores (keep_scores): a packed mask alone "
                             "cannot stand for them")
        nbytes = (self.weight.numel() + 7) // 8
        if packed.dtype != torch.uint8 or packed.shape != (nbytes,):
            raise ValueError(f"a packed mask of this layer is {nbytes} uint8 bytes, got {tuple(packed.shape)} "
                             f"{packed.dtype}")
        self.packed[task_id] = packed.to(self.weight.device)
        if task_id in self.scores:
            del self.scores[task_id]
        self._cached = None

    def _check_task(self) -> None:
        if not 0 <= self.task_id < self.num_tasks:
            raise IndexError(f"task {self.task_id} has no scores in this layer ({self.num_tasks} tasks)")

    def _packed_weight(self, task_id: int) -> torch.Tensor:
        """`W * M_t` of a packed task, built as the score path builds it (float 0/1 mask times W), cached;
        in bfloat16 precision `S * M_t` in bfloat16 instead (the scale is `self.units`')."""
        packed = self.packed[task_id]
        key = (task_id, packed.data_ptr(), packed._version, self.weight.data_ptr(), self.weight._version,
               torch.is_inference_mode_enabled(), self.precision)
        if self._cached is not None and self._cached[0] == key:
            return self._cached[1]
        mask = unpack_mask(packed, self.weight.shape)
        if self.precision == "bfloat16":
            unit, _, _ = self.units.get(self.weight)
            w_eff = mask.to(unit.dtype).mul_(unit).to(LOW)
        else:
            w_eff = mask.to(self.weight.dtype).mul_(self.weight.detach())
        self._cached = (key, w_eff)
        return w_eff

    def effective_weight(self) -> torch.Tensor:
        """`W * M_t` (float32) for the active task t, differentiable with respect to its scores (if it has any)."""
        if self.injected_weight is not None:
            return self.injected_weight()
        self._check_task()
        if self.is_packed(self.task_id):
            if self.precision == "bfloat16":
                return self._packed_weight(self.task_id).to(self.weight.dtype) * self.units.get(self.weight)[2]
            return self._packed_weight(self.task_id)
        return masked_weight(self.scores[self.task_id], self.weight, self.rule, self.density)

    def set_precision(self, precision: str) -> None:
        """Run this layer's products in `precision` ("float32" or "bfloat16", see `models.bfloat16`)."""
        check_precision(precision)
        self.precision = precision
        self._cached = None

    def mask(self, task_id: int) -> torch.Tensor:
        """The binary mask (bool) of `task_id`."""
        if task_id in self.scores:
            return compute_mask(self.scores[task_id].detach(), self.rule, self.density)
        if task_id in self.packed:
            return unpack_mask(self.packed[task_id], self.weight.shape)
        raise IndexError(f"task {task_id} has no mask in this layer ({self.num_tasks} tasks)")

    def task_nbytes(self) -> int:
        """Bytes held for all tasks: float scores and packed masks (not the fixed weight or caches)."""
        return sum(p.numel() * p.element_size() for p in self.scores.values()) + self.packed.nbytes()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):  # type: ignore[no-untyped-def]
        """Take the saved layout of tasks first (which hold scores, which packed masks), then the values.

        Slots the saved state fills are allocated uninitialised, so loading many finished tasks never
        holds float scores for them; a task the state lacks altogether stays and is reported missing.
        """
        saved_scores = _saved_ids(state_dict, prefix + "scores.")
        saved_packed = _saved_ids(state_dict, prefix + "packed.")
        nbytes = (self.weight.numel() + 7) // 8
        gaps = sorted(set(range(max(saved_scores | saved_packed, default=-1) + 1)) - saved_scores - saved_packed)
        if gaps:
            error_msgs.append(f"{prefix}: task(s) {gaps} have neither scores nor a packed mask in the saved state")
        for t in sorted(saved_scores | saved_packed):
            if t in saved_scores and t not in self.scores:
                self.scores[t] = nn.Parameter(torch.empty_like(self.weight), requires_grad=True)
            if t in saved_packed and t not in self.packed:
                self.packed[t] = torch.empty(nbytes, dtype=torch.uint8, device=self.weight.device)
            if t in saved_packed and t not in saved_scores and t in self.scores:
                del self.scores[t]
            if t in saved_scores and t not in saved_packed and t in self.packed:
                del self.packed[t]
            self._num_tasks = max(self._num_tasks, t + 1)
        self._cached = None
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def _apply(self, fn, recurse=True):  # type: ignore[no-untyped-def]
        self._cached = None  # moved or cast: the cached weight is of the old device or dtype
        return super()._apply(fn, recurse)

    def extra_repr(self) -> str:
        return (f"shape={tuple(self.weight.shape)}, rule={self.rule}, density={self.density}, tasks={self.num_tasks}, "
                f"packed={len(self.packed.task_ids())}")


def _saved_ids(state_dict: dict[str, torch.Tensor], prefix: str) -> set[int]:
    """Task ids of the keys `<prefix><task_id>` in `state_dict`."""
    return {int(rest) for key in state_dict if key.startswith(prefix) and (rest := key[len(prefix):]).isdigit()}


class MaskedLinear(_MaskedBase):
    """`y = x @ (W * M_t).T` for the active task t; no bias."""

    def __init__(self, in_features: int, out_features: int, *, rule: str = "threshold",
                 density: float = 0.5, generator: torch.Generator) -> None:
        super().__init__((out_features, in_features), in_features, rule, density, generator)
        self.workspace = MaskWorkspace()  # W * M reused from step to step
        self.low_workspace = LowWorkspace()  # S * M in bfloat16, reused likewise
        # Set while a fused step trains this layer (`models.fused`): the backward leaves dL/dW_eff there.
        self.deferred: DeferredScores | None = None

    def next_mask_buffer(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(the bfloat16 buffer the next forward reads `S * M` from, `S` in bfloat16), for the fused step."""
        _, unit_low, _ = self.units.get(self.weight)
        return self.low_workspace.acquire(self.weight), unit_low

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, in) -> (batch, out)
        if self.injected_weight is not None:
            return x.matmul(self.injected_weight().t())
        self._check_task()
        low = self.precision == "bfloat16"
        if self.is_packed(self.task_id):  # a finished task: its cached W * M_t (or S * M_t), no scores
            if low:
                return low_linear(x, self._packed_weight(self.task_id), self.units.get(self.weight)[2])
            return x.matmul(self._packed_weight(self.task_id).t())
        if low:
            return low_masked_linear(x, self.scores[self.task_id], self.weight, self.rule, self.density, self.units,
                                     self.low_workspace, self.deferred)
        return masked_linear(x, self.scores[self.task_id], self.weight, self.rule, self.density, self.workspace)


class MaskedConv2d(_MaskedBase):
    """2-D convolution with weight `W * M_t` for the active task t; no bias."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1,
                 padding: int = 0, rule: str = "threshold", density: float = 0.5,
                 generator: torch.Generator) -> None:
        fan_in = in_channels * kernel_size * kernel_size
        super().__init__((out_channels, in_channels, kernel_size, kernel_size), fan_in, rule, density, generator)
        self.stride = stride
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (batch, c_in, h, w) -> (batch, c_out, h', w')
        if self.precision == "bfloat16" and self.injected_weight is None:
            self._check_task()
            unit, _, scale = self.units.get(self.weight)
            if self.is_packed(self.task_id):
                w_unit = self._packed_weight(self.task_id)
            else:  # S * M(s), differentiable: through the scale c, dL/ds = c (dL/d(S M)) * S = (dL/dW_eff) * W
                w_unit = masked_weight(self.scores[self.task_id], unit, self.rule, self.density)
            return low_conv2d(x, w_unit, scale, self.stride, self.padding)
        return F.conv2d(x, self.effective_weight(), stride=self.stride, padding=self.padding)


class PerTaskBatchNorm(nn.Module):
    """Non-affine BatchNorm with one set of running statistics per task (they are task state)."""

    def __init__(self, num_features: int, *, dims: int = 1) -> None:
        super().__init__()
        if dims not in (1, 2):
            raise ValueError(f"dims must be 1 (features) or 2 (images), got {dims}")
        self.num_features = num_features
        self.dims = dims
        self.norms = nn.ModuleList()
        self.task_id = 0
        # An empty buffer outside the state dict that `Module.to` moves with the layer: where a new
        # task's statistics must live, even before the layer holds any task.
        self.register_buffer("_anchor", torch.empty(0), persistent=False)

    def add_task(self) -> int:
        """Append a task's running statistics, on the layer's device; return its id."""
        cls = nn.BatchNorm1d if self.dims == 1 else nn.BatchNorm2d
        self.norms.append(cls(self.num_features, affine=False, device=self._anchor.device))
        return len(self.norms) - 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norms[self.task_id](x)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs):  # type: ignore[no-untyped-def]
        """Grow to the saved number of tasks first, so a fresh layer takes a saved one's statistics."""
        saved = {int(rest.split(".", 1)[0]) for key in state_dict if key.startswith(prefix + "norms.")
                 and (rest := key[len(prefix + "norms."):]).split(".", 1)[0].isdigit()}
        while len(self.norms) < (max(saved) + 1 if saved else 0):
            self.add_task()
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def running_mean(self, task_id: int) -> torch.Tensor:
        """The task's signature for this layer: its BN running mean."""
        return self.norms[task_id].running_mean.detach().clone()
