"""SupSup with the task given (GG): one binary mask per task over a fixed random network.

Wortsman, Ramanujan et al., "Supermasks in Superposition", NeurIPS 2020. Each task gets its own
scores; only the current task's scores are handed to the optimiser, so earlier masks, and their
per-task BatchNorm statistics, never change. A new task's scores start random, or from earlier
tasks' scores (`transfer`, docs/algorithms.md sections 1.5 and 3; see `methods/_warm_start.py`).
Random starts are independent draws per task (SupSup), or one draw shared by every task
(`score_init="shared"`, docs/algorithms.md section 2), so that all tasks start from the same mask and
whatever differs between their final masks was learned. With `record_initial_masks` each task's
initial mask is kept, bit-packed, for the learned-change analysis (`analysis/changes.py`).

When a task's training ends (`end_task`) it keeps only what evaluating it needs: its mask,
bit-packed (1 bit per weight), and its BN statistics; its float scores are dropped, in memory
and in `state_dict()`. Guided transfer ("similar", "soft") mixes every earlier task's float
scores, so there guided transfer keeps float scores of every task (`keep_scores`); "mean" needs
only one running sum of the finished tasks' scores.

This module holds the `SupSup` class, its builders and its registry entry (`SPEC`); its parts
live beside it: `supsup_settings` (the config section and its checks), `_supsup_scores` (initial
scores), `_supsup_initial` (initial masks), `_supsup_storage` (packed masks and their bytes),
`_supsup_apart` (tasks learned apart) and `_supsup_state` (the state dict's layouts).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from supermasks.data.task import Task
from supermasks.compute.devices import module_device, resolve_device, to_device
from supermasks.inference import (MaskBank, infer_per_image, infer_per_image_binary, infer_per_image_signature,
                                  infer_task, infer_task_binary, infer_task_signature)
from supermasks.methods import _supsup_apart, _supsup_storage
from supermasks.methods._folding import folding
from supermasks.methods._supsup_initial import record_initial, recorded_initial, shared_margins
from supermasks.methods._supsup_scores import random_init, shared_init, transfer_alphas, transfer_tables
from supermasks.methods._supsup_state import load_supsup_state, supsup_state
from supermasks.methods._training import task_optimizer, task_schedule
from supermasks.methods._warm_start import GUIDED, add_to_sum, mean_init, transfer_init
from supermasks.methods.base import LearnedTask, MethodReport, MethodSpec, TaskStart
from supermasks.methods.supsup_settings import (SupSupSettings, check, check_arguments, check_tasks, given,
                                                keeps_scores, needs_reference, records_initial_masks,
                                                reference_config, task_bits, tasks_apart)
from supermasks.models import (MaskedMLP, add_task, build_model, export_masks, finish_task, fused_score_layers,
                               masked_layers, model_precision, norm_layers, num_tasks, set_keep_scores, set_precision,
                               set_task, task_scores, task_signature)
from supermasks.models.fused import FusedScoreRMSprop, deferring, fusable
from supermasks.models.layers import PackedMasks
from supermasks.seeds import streams
from supermasks.training import FitResult, Probe, TrainingSettings, fit, iterate_batches

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from supermasks.methods.base import MethodConfig


class SupSup:
    """SupSup in the GG scenario. Defaults: RMSprop lr 1e-4, batch 128, 1000 steps per task.

    `transfer` picks a new task's initial scores: "random" (SupSup's default), "mean" (the mean
    of all earlier tasks' scores), "similar" (per layer, the scores of the most similar earlier
    task) or "soft" (per layer, a softmax-weighted mix with `transfer_temperature`). Similarity
    comes from per-task BN signatures, so "similar" and "soft" need a model with BatchNorm.
    `transfer_protocol` says where the similarities come from: "causal" passes a probe batch of
    the new task (the first `batch_size` training images) through every earlier mask; "two_pass"
    reads them from `reference_signatures`, the signatures of a reference SupSup model with
    random init already trained on all tasks (the seed study's workflow, not causal).
    Task 0 always starts random; transferred scores are rescaled to the norm of the random init.

    `score_init` says how tasks that start random start: "independent" (SupSup's default) draws
    each task's scores afresh from the run's score stream; "shared" starts every task from one
    draw, the first of that stream (task 0's initial scores), so all tasks' initial masks are
    identical. Shared init only goes with `transfer="random"`: a transfer starts later tasks from
    earlier tasks' scores, which no longer share a start (ValueError otherwise). The score stream
    is consumed alike in both modes, one draw per task.

    `record_initial_masks` keeps each task's initial mask (its initial scores through the layer's
    mask rule), bit-packed at 1 bit per weight, from `begin_task` on; `initial_masks(task_id)`
    returns them. They serve the analysis only: `memory_bytes` and `bytes_per_task` count what
    the method needs, not them.

    `keep_scores` says whether finished tasks keep their float scores (32 bits per weight) besides
    their packed masks (1 bit): default only where the transfer needs them, i.e. guided transfer
    keeps float scores of every task ("similar", "soft"); elsewhere a finished task keeps its
    packed mask and BN statistics only, and "mean" keeps one running sum of their scores.
    """

    name = "supsup"
    # Besides the training settings (`_state.RECORDED_TRAINING`).
    HYPERPARAMETERS = ("seed", "task_inference", "inference_objective", "transfer", "transfer_protocol",
                       "transfer_temperature", "keep_scores", "score_init", "record_initial_masks")

    def __init__(self, model: MaskedMLP, *, training: TrainingSettings = TrainingSettings(), seed: int = 0,
                 task_inference: str = "oneshot", inference_objective: str = "H", transfer: str = "random",
                 transfer_protocol: str = "causal", transfer_temperature: float = 0.1,
                 reference_signatures: list[dict[str, torch.Tensor]] | None = None,
                 keep_scores: bool | None = None, score_init: str = "independent",
                 record_initial_masks: bool = False) -> None:
        if keep_scores is None:
            keep_scores = transfer in GUIDED
        check_arguments(has_norms=bool(norm_layers(model)), task_inference=task_inference,
                        inference_objective=inference_objective, transfer=transfer, transfer_protocol=transfer_protocol,
                        transfer_temperature=transfer_temperature, reference_signatures=reference_signatures,
                        keep_scores=keep_scores, score_init=score_init)
        self.model = model
        self.training = training
        self.task_inference = task_inference
        self.inference_objective = inference_objective
        self.seed = seed
        self.transfer = transfer
        self.transfer_protocol = transfer_protocol
        self.transfer_temperature = transfer_temperature
        self.reference_signatures = reference_signatures
        self.keep_scores = keep_scores
        self.score_init = score_init
        self.record_initial_masks = record_initial_masks
        set_keep_scores(model, keep_scores)
        # Separate streams for score init and batch order, so changing one never shifts the other.
        self.score_generator_ = torch.Generator().manual_seed(streams(seed).scores)
        self.batch_generator_ = torch.Generator().manual_seed(streams(seed).batches)
        self.finished_ = 0  # tasks 0..finished_-1 are learned: masks packed (scores dropped unless kept)
        # "mean" transfer: the sum of the finished tasks' final scores per masked layer, in task order.
        self.score_sum_: dict[str, torch.Tensor] = {}
        # Finished tasks' masks in the word layout of task inference; filled from the model when
        # task inference first needs them (`_bank`), never saved (the model holds the same bits).
        self.bank_ = _supsup_storage.empty_bank(model)
        self.num_classes_ = 0  # the most labels any task used: G's gradient skips these outputs
        # Per task: the alphas over earlier tasks that built its initial scores, per masked layer
        # ({} for tasks that started random), and the similarity rows behind them, per BN layer.
        self.alphas_: list[dict[str, np.ndarray]] = []
        self.similarities_: list[dict[str, np.ndarray]] = []
        # Per masked layer, each task's initial mask, bit-packed on the CPU (only with record_initial_masks).
        self.initial_masks_: dict[str, PackedMasks] = {name: PackedMasks() for name in masked_layers(model)}

    def begin_task(self, task: Task) -> None:
        """Allocate the task's scores (random or transferred) and BatchNorm statistics."""
        task_id = num_tasks(self.model)
        if task_id != task.task_id:
            raise ValueError(f"tasks must arrive in order: got task {task.task_id}, expected {task_id}")
        # The random init is always drawn, in every mode, so the score stream, and with it every
        # later task's random init, is the same whichever transfer is chosen; it also gives the
        # norm that transferred scores are rescaled to.
        device = module_device(self.model)  # drawn on the CPU, moved: the same scores on every device
        drawn = {name: t.to(device) for name, t in random_init(self.model, self.score_generator_).items()}
        similarities, alphas = transfer_alphas(self.model, task, transfer=self.transfer,
                                               protocol=self.transfer_protocol, temperature=self.transfer_temperature,
                                               reference_signatures=self.reference_signatures,
                                               probe_size=self.training.batch_size)
        if not alphas:
            init = drawn if self.score_init == "independent" else shared_init(self.model, self.seed)
        elif self.transfer == "mean":
            if self.finished_ != task_id:
                raise ValueError(f"mean transfer to task {task_id} needs tasks 0..{task_id - 1} learned first; "
                                 f"{self.finished_} are")
            init = mean_init(self.score_sum_, task_id, drawn)
        else:
            init = transfer_init(self.model, drawn, alphas)
        add_task(self.model, self.score_generator_, init=init)
        if self.record_initial_masks:
            record_initial(self.model, self.initial_masks_, task_id)
        self.alphas_.append(alphas)
        self.similarities_.append(similarities)

    @property
    def signatures_(self) -> list[dict[str, torch.Tensor]]:
        """Per task, its BN running means per BN layer (`task_signature`); empty dicts without BatchNorm."""
        return [task_signature(self.model, t) for t in range(num_tasks(self.model))]

    def learn(self, task: Task, *, progress: bool = True, probe: Probe | None = None) -> FitResult:
        """Train the task's scores, then end the task (`end_task`): each task is learned once."""
        if task.task_id >= num_tasks(self.model):
            self.begin_task(task)
        if task.task_id < self.finished_:
            raise ValueError(f"task {task.task_id} has been learned already: SupSup learns each task once "
                             "(its mask is final)")
        set_task(self.model, task.task_id)
        self.model.train()
        training = self.training
        steps, rates = task_schedule(training, task)
        # bfloat16 threshold layers take the fused step (score gradient, RMSprop and next mask in one pass).
        fused = (fused_score_layers(self.model, task.task_id) if fusable(training.optimizer, training.weight_decay)
                 else {})
        optimizer = (FusedScoreRMSprop(task_scores(self.model, task.task_id), fused, training.lr) if fused else
                     task_optimizer(training, task_scores(self.model, task.task_id)))
        # bfloat16: a permuted task's permutation is folded into the first layer while it trains.
        images, fold = folding(self.model, task, probed=probe is not None)
        batches = iterate_batches(images, task.y_train, training.batch_size, steps, self.batch_generator_,
                                  task.augment, module_device(self.model))

        def forward(x: torch.Tensor) -> torch.Tensor:
            # A probe may have switched the task or to eval mode: restore both on every step (without a
            # probe nothing switches them, and walking the module tree twice a step is not free).
            if probe is not None:
                set_task(self.model, task.task_id)
                self.model.train()
            return self.model(x)

        with fold, deferring(fused):
            result = fit(forward, optimizer, batches, total=steps, description=f"{self.name} task {task.task_id}",
                         progress=progress, probe=probe, rates=rates, amp=training.amp)
        self.end_task(task.task_id)
        self.num_classes_ = max(self.num_classes_, task.num_classes)
        return result

    def task_starts(self, tasks: Sequence[Task]) -> list[TaskStart]:
        """Where the random streams stand at each task's start, and after the last (`_supsup_apart.task_starts`)."""
        return _supsup_apart.task_starts(self, tasks)

    def learn_alone(self, task: Task, start: TaskStart, *, progress: bool = False) -> LearnedTask:
        """Learn `task` alone in this fresh SupSup from `start` (`_supsup_apart.learn_alone`)."""
        return _supsup_apart.learn_alone(self, task, start, progress=progress)

    def learned_apart(self, task: Task, learned: LearnedTask, after: TaskStart) -> None:
        """End the begun `task` with what `learn_alone` learned for it (`_supsup_apart.learned_apart`)."""
        _supsup_apart.learned_apart(self, task, learned, after)

    def end_task(self, task_id: int) -> None:
        """The task's training has ended: its scores join the mean transfer's sum, its mask is packed.

        Tasks end in order. What evaluates the task (its mask and BN statistics) does not change.
        """
        if task_id != self.finished_:
            raise ValueError(f"tasks end in order: task {self.finished_} is next, not task {task_id}")
        if self.transfer == "mean":
            add_to_sum(self.score_sum_, self.model, task_id)
        finish_task(self.model, task_id)
        self.finished_ += 1

    def _bank(self) -> MaskBank:
        """The finished tasks' masks in the bank's word layout, brought up to date from the model."""
        self.bank_ = _supsup_storage.updated_bank(self.bank_, self.model, self.finished_)
        return self.bank_

    @torch.no_grad()
    def infer_task(self, x: torch.Tensor) -> int:
        """The learned task that task inference picks for the batch `x` (GNs/GNu)."""
        if self.finished_ == 0:
            raise ValueError("no task has been learned yet, so there is nothing to infer")
        self.model.eval()
        x = to_device(x, module_device(self.model))
        if self.task_inference == "signature":  # k forward passes, no gradient
            return infer_task_signature(self.model, x, self.signatures_[:self.finished_])
        infer = infer_task if self.task_inference == "oneshot" else infer_task_binary
        with torch.enable_grad():  # the inference gradient is taken with respect to the mixing weights
            return infer(self.model, self._bank(), x, self.inference_objective,
                         self.num_classes_ if self.inference_objective == "G" else None,
                         precision=model_precision(self.model))

    @torch.no_grad()
    def infer_task_per_image(self, x: torch.Tensor) -> torch.Tensor:
        """One inferred task per image of `x` (single-image inference, batched): (batch,) long.

        One-shot (H or G) or binary search, image by image, for the superposing task inferences;
        nearest signature for "signature". Each equals `infer_task` on the image alone.
        """
        if self.finished_ == 0:
            raise ValueError("no task has been learned yet, so there is nothing to infer")
        self.model.eval()
        x = to_device(x, module_device(self.model))
        if self.task_inference == "signature":
            return infer_per_image_signature(self.model, x, self.signatures_[:self.finished_])
        infer = infer_per_image if self.task_inference == "oneshot" else infer_per_image_binary
        with torch.enable_grad():
            return infer(self.model, self._bank(), x, self.inference_objective,
                         self.num_classes_ if self.inference_objective == "G" else None,
                         precision=model_precision(self.model))

    def can_predict(self, task_id: int | None) -> bool:
        """Only tasks whose mask exists, and only with the task id (GG)."""
        return task_id is not None and 0 <= task_id < num_tasks(self.model)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, task_id: int | None) -> torch.Tensor:
        if task_id is None:
            raise ValueError("SupSup GG needs the task id at test time")
        set_task(self.model, task_id)
        self.model.eval()
        return self.model(to_device(x, module_device(self.model)))

    def masks(self, task_id: int) -> dict[str, np.ndarray]:
        """The task's binary masks per layer name."""
        return export_masks(self.model, task_id)

    def initial_masks(self, task_id: int) -> dict[str, np.ndarray]:
        """The mask the task started from, per layer name (bool arrays like `masks`): its initial scores
        through the layer's mask rule, as recorded by `begin_task`.

        ValueError when they were not recorded: without `record_initial_masks`, or for a task that
        began before recording did (a resumed state written without them).
        """
        if not self.record_initial_masks:
            raise ValueError("initial masks were not recorded: build SupSup with record_initial_masks=True "
                             "(the runner does so where run.overlap is true)")
        return recorded_initial(self.model, self.initial_masks_, task_id)

    def initial_score_margins(self) -> dict[str, np.ndarray] | None:
        """With `score_init="shared"`, per layer name, how far the shared initial scores lie from where their mask bits
        flip (`threshold_distance` under the layer's rule and density); None with independent init.

        The scores are drawn again from the run's seed (`_supsup_scores.shared_init`), so nothing is stored
        for them; the learned-change chance is computed within strata of these (`analysis.changes`).
        """
        return shared_margins(self.model, self.seed) if self.score_init == "shared" else None

    def bytes_per_task(self) -> int:
        """At rest: one bit per weight (bit-packed masks) plus float32 BN running mean and variance."""
        return _supsup_storage.bytes_per_task(self.model)

    def memory_bytes(self) -> int:
        """The fixed weights, every task's packed mask or float scores, BN statistics and mean transfer's running
        sum (`_supsup_storage.memory_bytes`)."""
        return _supsup_storage.memory_bytes(self.model, sum(t.nbytes for t in self.score_sum_.values()))

    def report(self) -> MethodReport:
        """Transfer's tables: `alphas` (the mix each task started from) and `transfer_similarity` (behind it).

        Per task, masked layer (BN layer for similarities) and earlier task; no tables when no
        task transferred.
        """
        return MethodReport(tables=transfer_tables(self.alphas_, self.similarities_))

    def state_dict(self) -> dict[str, Any]:
        """Layout `_supsup_state.STATE_VERSION`: finished tasks as packed masks, no mask bank (`supsup_state`)."""
        return supsup_state(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load a state of the current layout, or of layout 1, converted (`_supsup_state.load_supsup_state`)."""
        load_supsup_state(self, state)


def from_config(config: "MethodConfig",
                reference_signatures: list[dict[str, torch.Tensor]] | None = None) -> SupSup:
    """SupSup from a config; `reference_signatures` only for two_pass similarity-guided transfer."""
    settings: SupSupSettings = config.settings("supsup")
    arch = config.model
    # The threshold rule reads no density (the layer still takes one, unused).
    model = build_model(arch.arch, output_size=arch.output_size, rule=arch.mask_rule,
                        density=arch.density if arch.density is not None else 0.5, batch_norm=arch.batch_norm,
                        seed=streams(config.seed).weights, density_budget=arch.density_budget or "global")
    model.to(resolve_device(config.run.device))  # weights drawn on the CPU, then moved: the same on every device
    set_precision(model, config.training.precision)
    return SupSup(model, training=config.training, seed=config.seed, transfer=settings.transfer,
                  reference_signatures=reference_signatures, keep_scores=keeps_scores(config),
                  score_init=settings.score_init, record_initial_masks=records_initial_masks(config),
                  **given(settings, "task_inference", "inference_objective", "transfer_protocol",
                          "transfer_temperature"))


def build_for_tasks(config: "MethodConfig", tasks: list[Task], progress: bool = True) -> SupSup:
    """SupSup for `tasks`; two-pass transfer first trains its reference run on all of them.

    Two-pass (the similarity study's protocol, docs/algorithms.md section 3): a SupSup with random init
    learns every task first, and its per-task BN signatures guide the transfer of the real run.
    """
    if not needs_reference(config):
        return from_config(config)
    log.info("  two-pass transfer: training the reference run (random init) on all %d tasks first", len(tasks))
    reference = from_config(reference_config(config))
    for task in tasks:
        reference.begin_task(task)
        reference.learn(task, progress=progress)
    return from_config(config, reference_signatures=reference.signatures_)


SPEC = MethodSpec(from_config, "SupSup: one learned binary mask per task over fixed random weights; "
                  "task given (GG), inferred (GNs, GNu) or detected on a stream (NNs)", frozenset({"task", "gns", "gnu", "nns"}),
                  settings=SupSupSettings, check=check, check_tasks=check_tasks,
                  build_for_tasks=build_for_tasks, task_bits=task_bits, tasks_apart=tasks_apart, masks=True,
                  shared_initial_scores=lambda settings: settings.score_init == "shared", own_network=True)
