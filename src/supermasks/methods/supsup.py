"""SupSup with the task given (GG): one binary mask per task over a fixed random network.

Wortsman, Ramanujan et al., "Supermasks in Superposition", NeurIPS 2020. Each task gets its own
scores; only the current task's scores are handed to the optimiser, so earlier masks, and their
per-task BatchNorm statistics, never change. A new task's scores start random, or from earlier
tasks' scores (`transfer`, ALGORITHMS.md sections 1.5 and 3; see `methods/_warm_start.py`).
Random starts are independent draws per task (SupSup), or one draw shared by every task
(`score_init="shared"`, ALGORITHMS.md section 2), so that all tasks start from the same mask and
whatever differs between their final masks was learned. With `record_initial_masks` each task's
initial mask is kept, bit-packed, for the learned-change analysis (`analysis/changes.py`).

When a task's training ends (`end_task`) it keeps only what evaluating it needs: its mask,
bit-packed (1 bit per weight), and its BN statistics; its float scores are dropped, in memory
and in `state_dict()`. Guided transfer ("similar", "soft") mixes every earlier task's float
scores, so there guided transfer keeps float scores of every task (`keep_scores`); "mean" needs
only one running sum of the finished tasks' scores.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import torch

from supermasks.conditional import complete, only_when
from supermasks.data.task import Task
from supermasks.errors import ConfigError, require_number
from supermasks.inference import (OBJECTIVES, MaskBank, infer_per_image, infer_per_image_binary,
                                  infer_per_image_signature, infer_task, infer_task_binary, infer_task_signature)
from supermasks.methods._warm_start import (GUIDED, PROTOCOLS, TRANSFERS, add_to_sum, causal_similarities,
                                          layer_alphas, mean_init, norm_alphas, transfer_init, two_pass_alphas,
                                          two_pass_similarities)
from supermasks.methods._folding import folding
from supermasks.methods._state import check_header, header, load_generator, owned, state_version
from supermasks.methods._training import task_optimizer, task_schedule
from supermasks.methods.base import LearnedTask, MethodReport, MethodSpec, TaskStart
from supermasks.models import (MaskedMLP, add_task, build_model, export_masks, finish_task, finish_task_with, fused_score_layers,
                               load_network, masked_layers, norm_layers, norm_statistics, num_tasks, packed_task,
                               model_precision, set_keep_scores, set_precision, set_task, task_nbytes, task_scores, task_signature,
                               threshold_distance)
from supermasks.models.fused import FusedScoreRMSprop, deferring, fusable
from supermasks.models.layers import PackedMasks
from supermasks.models.layers import score_init as random_scores
from supermasks.models.masks import pack_mask, unpack_mask
from supermasks.scenarios import INFERRED
from supermasks.seeds import streams
from supermasks.devices import module_device, resolve_device, to_device
from supermasks.training import FitResult, Probe, TrainingSettings, fit, iterate_batches, skip_batches

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from supermasks.config import ExperimentConfig

TASK_INFERENCE = ("oneshot", "binary", "signature")
SUPERPOSING = ("oneshot", "binary")  # task inference by superposed masks: no per-task BatchNorm
# Layout of `SupSup.state_dict()`: 1 held every task's float scores and the mask bank; 2 holds
# finished tasks as packed masks (1 bit per weight), the mean transfer's running sum, no bank.
STATE_VERSION = 2
SCORE_INITS = ("independent", "shared")
# Settings added to layout 2 after it was first written: a state without them was written with these.
_ADDED_SETTINGS = {"score_init": "independent"}


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
        if task_inference not in TASK_INFERENCE:
            raise ValueError(f"unknown task inference {task_inference!r}; choose one of {', '.join(TASK_INFERENCE)}")
        if inference_objective not in OBJECTIVES:
            raise ValueError(f"unknown inference objective {inference_objective!r}; choose one of {', '.join(OBJECTIVES)}")
        if transfer not in TRANSFERS:
            raise ValueError(f"unknown transfer {transfer!r}; choose one of {', '.join(TRANSFERS)}")
        if transfer_protocol not in PROTOCOLS:
            raise ValueError(f"unknown transfer protocol {transfer_protocol!r}; choose one of {', '.join(PROTOCOLS)}")
        if score_init not in SCORE_INITS:
            raise ValueError(f"unknown score init {score_init!r}; choose one of {', '.join(SCORE_INITS)}")
        if score_init == "shared" and transfer != "random":
            raise ValueError(f"score_init='shared' starts every task from the same random scores, but "
                             f"transfer={transfer!r} starts later tasks from earlier tasks' scores: use "
                             "transfer='random' with shared init, or score_init='independent'")
        if not transfer_temperature > 0:
            raise ValueError(f"transfer_temperature must be positive, got {transfer_temperature}")
        has_norms = bool(norm_layers(model))
        if transfer in GUIDED and not has_norms:
            raise ValueError(f"{transfer!r} transfer compares BatchNorm signatures: build the model with batch_norm=True")
        if task_inference == "signature" and not has_norms:
            raise ValueError("signature task inference compares BatchNorm signatures: build the model with "
                             "batch_norm=True")
        if transfer in GUIDED and transfer_protocol == "two_pass" and reference_signatures is None:
            raise ValueError("two_pass transfer needs reference_signatures: the signatures of a SupSup model "
                             "with random init trained on all tasks first")
        if keep_scores is None:
            keep_scores = transfer in GUIDED
        if transfer in GUIDED and not keep_scores:
            raise ValueError(f"{transfer!r} transfer mixes every earlier task's float scores: it needs keep_scores=True")
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
        self.bank_ = MaskBank({name: tuple(m.weight.shape) for name, m in masked_layers(model).items()},
                              module_device(model))
        self.num_classes_ = 0  # the most labels any task used: G's gradient skips these outputs
        # Per task: the alphas over earlier tasks that built its initial scores, per masked layer
        # ({} for tasks that started random), and the similarity rows behind them, per BN layer.
        self.alphas_: list[dict[str, np.ndarray]] = []
        self.similarities_: list[dict[str, np.ndarray]] = []
        # Per masked layer, each task's initial mask, bit-packed on the CPU (only with record_initial_masks).
        self.initial_masks_: dict[str, PackedMasks] = {name: PackedMasks() for name in masked_layers(model)}

    def _random_init(self, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """One random draw of scores for every masked layer, in layer order, from the CPU `generator`, on the CPU."""
        return {name: random_scores(tuple(m.weight.shape), m.fan_in, generator)
                for name, m in masked_layers(self.model).items()}

    def _shared_init(self) -> dict[str, torch.Tensor]:
        """The first draw of the run's score stream (task 0's initial scores), drawn again from a fresh generator.

        Recomputed for each task rather than kept, so no float scores are held for it, and a
        resumed run gets the same draw.
        """
        return self._random_init(torch.Generator().manual_seed(streams(self.seed).scores))

    def begin_task(self, task: Task) -> None:
        """Allocate the task's scores (random or transferred) and BatchNorm statistics."""
        task_id = num_tasks(self.model)
        if task_id != task.task_id:
            raise ValueError(f"tasks must arrive in order: got task {task.task_id}, expected {task_id}")
        # The random init is always drawn, in every mode, so the score stream, and with it every
        # later task's random init, is the same whichever transfer is chosen; it also gives the
        # norm that transferred scores are rescaled to.
        device = module_device(self.model)  # drawn on the CPU, moved: the same scores on every device
        random_init = {name: t.to(device) for name, t in self._random_init(self.score_generator_).items()}
        similarities, alphas = self._transfer_alphas(task)
        if not alphas:
            init = random_init if self.score_init == "independent" else self._shared_init()
        elif self.transfer == "mean":
            if self.finished_ != task_id:
                raise ValueError(f"mean transfer to task {task_id} needs tasks 0..{task_id - 1} learned first; "
                                 f"{self.finished_} are")
            init = mean_init(self.score_sum_, task_id, random_init)
        else:
            init = transfer_init(self.model, random_init, alphas)
        add_task(self.model, self.score_generator_, init=init)
        if self.record_initial_masks:
            for name, layer in masked_layers(self.model).items():
                self.initial_masks_[name][task_id] = pack_mask(layer.mask(task_id)).cpu()
        self.alphas_.append(alphas)
        self.similarities_.append(similarities)

    def _transfer_alphas(self, task: Task) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(similarity rows per BN layer, alphas per masked layer) for the new task; empty when it starts random."""
        earlier = task.task_id
        if earlier == 0 or self.transfer == "random":
            return {}, {}
        if self.transfer == "mean":
            return {}, {name: np.full(earlier, 1.0 / earlier) for name in masked_layers(self.model)}
        if self.transfer_protocol == "causal":
            # A fixed slice of the new task's own training data: only tasks seen so far are read.
            probe = to_device(task.x_train[:self.training.batch_size], module_device(self.model))
            similarities = causal_similarities(self.model, probe, earlier)
            alphas = norm_alphas(similarities, self.transfer, self.transfer_temperature)
        else:
            assert self.reference_signatures is not None  # checked in __init__
            similarities = two_pass_similarities(self.reference_signatures, earlier)
            alphas = two_pass_alphas(self.reference_signatures, earlier, self.transfer, self.transfer_temperature)
        return similarities, layer_alphas(self.model, alphas)

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
        """The generators' states at the start of each of `tasks`, and after the last (len(tasks) + 1 states).

        With random transfer a task's training reads nothing of earlier tasks but the two random
        streams, and from them it takes fixed amounts: `begin_task` one random draw of scores per
        masked layer, `learn` one permutation of the training set per epoch. Those draws are
        replayed here on copies of the generators, without training, so that each task can be
        trained apart from the others (`learn_alone`) with exactly the numbers it gets in sequence.
        `tasks` must be the next tasks to begin, in order; this method's own generators do not move.
        """
        if self.transfer != "random":
            raise ValueError(f"transfer={self.transfer!r} starts a task from earlier tasks' trained scores: its tasks "
                             "cannot be trained apart")
        first = num_tasks(self.model)
        if [t.task_id for t in tasks] != list(range(first, first + len(tasks))):
            raise ValueError(f"task_starts needs the next tasks in order, from task {first}; got "
                             f"{[t.task_id for t in tasks]}")
        scores, batches = torch.Generator(), torch.Generator()
        scores.set_state(self.score_generator_.get_state())
        batches.set_state(self.batch_generator_.get_state())
        starts = []
        for task in tasks:
            starts.append(TaskStart(scores.get_state(), batches.get_state()))
            self._random_init(scores)  # begin_task's draw
            skip_batches(len(task.x_train), self.training.batch_size, task_schedule(self.training, task)[0],
                         batches)  # learn's batches
        starts.append(TaskStart(scores.get_state(), batches.get_state()))
        return starts

    def learn_alone(self, task: Task, start: TaskStart, *, progress: bool = False) -> LearnedTask:
        """Learn `task` alone in this fresh SupSup (no task begun yet), its streams set to `start` (`task_starts`).

        The task is learned as this network's task 0: its initial scores, batches, masks and BN
        statistics are those the task gets at its own place in the sequence (a task's forward does
        not depend on its index). Returns them for `learned_apart` in the SupSup running the sequence.
        """
        if num_tasks(self.model) != 0:
            raise ValueError(f"learn_alone needs a fresh SupSup; this one holds {num_tasks(self.model)} task(s)")
        self.score_generator_.set_state(start.scores)
        self.batch_generator_.set_state(start.batches)
        fitted = self.learn(dataclasses.replace(task, task_id=0), progress=progress)
        masks = {name: packed.cpu() for name, packed in packed_task(self.model, 0).items()}  # CPU copies travel
        norms = {name: {k: v.cpu() for k, v in stats.items()} for name, stats in norm_statistics(self.model, 0).items()}
        return LearnedTask(task.task_id, masks, norms, fitted)

    def learned_apart(self, task: Task, learned: LearnedTask, after: TaskStart) -> None:
        """End the begun `task` with what `learn_alone` learned for it; move the streams to `after`, its end.

        After this the method is as `learn(task)` leaves it: the same masks, BN statistics and
        generator states (the score stream has moved in `begin_task` already, and is checked).
        """
        if learned.task_id != task.task_id:
            raise ValueError(f"the learned task is task {learned.task_id}, not task {task.task_id}")
        if task.task_id != self.finished_ or task.task_id >= num_tasks(self.model):
            raise ValueError(f"task {task.task_id} must be the begun task next to finish (task {self.finished_})")
        if not torch.equal(self.score_generator_.get_state(), after.scores):
            raise RuntimeError(f"task {task.task_id}: the score stream is not where the replay put the end of the "
                               "task; the task was learned from other initial scores")
        finish_task_with(self.model, task.task_id, learned.masks, learned.norms)
        self.end_task(task.task_id)
        self.batch_generator_.set_state(after.batches)
        self.num_classes_ = max(self.num_classes_, task.num_classes)

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
        layers = masked_layers(self.model)
        if self.bank_.device != module_device(self.model):  # the model moved: the bank follows it
            self.bank_ = MaskBank(self.bank_.shapes, module_device(self.model))
        while self.bank_.num_tasks < self.finished_:
            t = self.bank_.num_tasks
            self.bank_.add({name: m.mask(t) for name, m in layers.items()})
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
        layers = masked_layers(self.model)
        missing = [name for name, packed in self.initial_masks_.items() if task_id not in packed]
        if missing:
            recorded = sorted(set.intersection(*(set(p.task_ids()) for p in self.initial_masks_.values())))
            raise ValueError(f"no initial mask of task {task_id} was recorded (layers {missing}); "
                             f"recorded tasks: {recorded}")
        return {name: unpack_mask(packed[task_id], layers[name].weight.shape).numpy()
                for name, packed in self.initial_masks_.items()}

    def initial_score_margins(self) -> dict[str, np.ndarray] | None:
        """With `score_init="shared"`, per layer name, how far the shared initial scores lie from where their mask bits
        flip (`threshold_distance` under the layer's rule and density); None with independent init.

        The scores are drawn again from the run's seed (`_shared_init`), so nothing is stored for
        them; the learned-change chance is computed within strata of these (`analysis.changes`).
        """
        if self.score_init != "shared":
            return None
        layers = masked_layers(self.model)
        return {name: threshold_distance(scores, layers[name].rule, layers[name].density).numpy()
                for name, scores in self._shared_init().items()}

    def bytes_per_task(self) -> int:
        """At rest: one bit per weight (bit-packed masks) plus float32 BN running mean and variance."""
        mask_bytes = sum(math.ceil(m.weight.numel() / 8) for m in masked_layers(self.model).values())
        bn_bytes = sum(2 * 4 * bn.num_features for bn in norm_layers(self.model).values())
        return mask_bytes + bn_bytes

    def memory_bytes(self) -> int:
        """The fixed float32 weights (rebuildable from the seed, but held in memory), every task's packed
        mask or float scores (the task in training, and every task where they are kept), BN statistics,
        and mean transfer's running sum of scores."""
        weights = sum(m.weight.numel() * 4 for m in masked_layers(self.model).values())
        bn_bytes = sum(2 * 4 * bn.num_features for bn in norm_layers(self.model).values())
        running_sum = sum(t.nbytes for t in self.score_sum_.values())
        return weights + task_nbytes(self.model) + num_tasks(self.model) * bn_bytes + running_sum

    def report(self) -> MethodReport:
        """Transfer's tables: `alphas` (the mix each task started from) and `transfer_similarity` (behind it).

        Per task, masked layer (BN layer for similarities) and earlier task; no tables when no
        task transferred.
        """
        tables: dict[str, pd.DataFrame] = {}
        if any(self.alphas_):
            tables["alphas"] = pd.DataFrame(
                [{"task": t, "layer": layer, "source_task": s, "alpha": float(a)}
                 for t, per_layer in enumerate(self.alphas_) for layer, values in per_layer.items()
                 for s, a in enumerate(values)])
            similarities = [{"task": t, "layer": layer, "source_task": s, "similarity": float(v)}
                            for t, per_layer in enumerate(self.similarities_) for layer, values in per_layer.items()
                            for s, v in enumerate(values)]
            if similarities:
                tables["transfer_similarity"] = pd.DataFrame(similarities)
        return MethodReport(tables=tables)

    def state_dict(self) -> dict[str, Any]:
        """The network (finished tasks as packed masks, the current and kept tasks' scores, BN statistics, fixed
        weights), the mean transfer's running sum, generators, transfer's records and the recorded initial
        masks (bit-packed, by layer and task id; empty without `record_initial_masks`); layout `STATE_VERSION`.

        About 1 bit per weight per finished task plus the task in training (32 bits per weight per
        task where scores are kept). The mask bank is not saved: the model holds the same bits.
        """
        def arrays(rows: list[dict[str, np.ndarray]]) -> list[dict[str, torch.Tensor]]:
            return [{name: torch.from_numpy(values) for name, values in row.items()} for row in rows]

        return {**header(self, self.HYPERPARAMETERS, STATE_VERSION), "num_tasks": num_tasks(self.model),
                "finished": self.finished_, "model": self.model.state_dict(), "score_sum": dict(self.score_sum_),
                "score_generator": self.score_generator_.get_state(),
                "batch_generator": self.batch_generator_.get_state(),
                "num_classes": self.num_classes_, "alphas": arrays(self.alphas_),
                "similarities": arrays(self.similarities_), "reference_signatures": self.reference_signatures,
                "initial_masks": {name: {str(t): packed[t] for t in packed.task_ids()}
                                  for name, packed in self.initial_masks_.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load a state of this layout, or of layout 1 (every task's float scores, from before packed masks).

        A layout-1 state is converted: the tasks its mask bank holds are finished here (their masks
        packed from the saved scores, which are the same bits), and the mean transfer's sum is
        rebuilt from those scores in task order, so the resumed run goes on as the old one would.
        """
        version = state_version(self, state, STATE_VERSION)
        saved = state.get("hyperparameters", {})
        # Settings added since: a state without them ran with their value then (recording masks
        # changes no result, so a state without it takes this method's setting).
        state = {**state, "hyperparameters": {**_ADDED_SETTINGS, "record_initial_masks": self.record_initial_masks,
                                              **saved}}
        if version == 1:  # no keep_scores then: every task kept its scores, and this method's setting applies
            state = {**state, "hyperparameters": {**state.get("hyperparameters", {}), "keep_scores": self.keep_scores}}
        check_header(self, self.HYPERPARAMETERS, state)
        load_network(self.model, state["model"])
        if num_tasks(self.model) != state["num_tasks"]:
            raise ValueError(f"the saved network holds {num_tasks(self.model)} tasks, the state says {state['num_tasks']}")
        if version == 1:
            self.finished_, self.score_sum_ = 0, {}
            for _ in range(state["bank"]["num_tasks"]):
                self.end_task(self.finished_)
        else:
            self.finished_ = state["finished"]
            device = module_device(self.model)
            self.score_sum_ = {name: owned(t).to(device) for name, t in state["score_sum"].items()}
        self.bank_ = MaskBank(self.bank_.shapes, module_device(self.model))  # refilled when task inference needs it
        load_generator(self.score_generator_, state["score_generator"])
        load_generator(self.batch_generator_, state["batch_generator"])
        self.num_classes_ = state["num_classes"]
        self.alphas_ = [{name: owned(t).numpy() for name, t in row.items()} for row in state["alphas"]]
        self.similarities_ = [{name: owned(t).numpy() for name, t in row.items()} for row in state["similarities"]]
        reference = state["reference_signatures"]
        self.reference_signatures = None if reference is None else [
            None if row is None else {name: owned(t) for name, t in row.items()} for row in reference]
        self.initial_masks_ = {name: PackedMasks() for name in masked_layers(self.model)}
        for name, per_task in state.get("initial_masks", {}).items():  # absent from states written before them
            if name not in self.initial_masks_:
                raise ValueError(f"the state has initial masks of layer {name!r}, which this network lacks")
            for t, packed in per_task.items():
                self.initial_masks_[name][int(t)] = owned(packed)


@dataclass(frozen=True)
class SupSupSettings:
    """The `supsup` section: task inference (scenarios gns/gnu) and transfer (ALGORITHMS.md 1.5 and 3)."""

    # How a test batch's task is found: "oneshot", "binary", or "signature" (nearest BN signature,
    # needs batch_norm), and the objective: "H" (output entropy) or "G" (logsumexp through the extra
    # s-neurons). The config fills them in for the scenarios that infer tasks (gns, gnu).
    task_inference: Literal["oneshot", "binary", "signature"] | None = field(default=None, metadata=only_when(
        "scenario.name", INFERRED, "scenarios gns and gnu", default="oneshot", fix="set scenario.name to gns or gnu"))
    inference_objective: Literal["H", "G"] | None = field(default=None, metadata=only_when(
        "scenario.name", INFERRED, "scenarios gns and gnu", default="H", fix="set scenario.name to gns or gnu"))
    transfer: Literal["random", "mean", "similar", "soft"] = "random"  # "similar"/"soft" need batch_norm
    # Guided transfer's similarities: "causal" (a probe batch) or "two_pass" (a reference run's signatures).
    transfer_protocol: Literal["causal", "two_pass"] | None = field(default=None, metadata=only_when(
        "transfer", GUIDED, "supsup.transfer similar or soft", default="causal",
        fix="set supsup.transfer to similar or soft"))
    # "soft": softmax(|cos| / temperature); |cos| differences are small.
    transfer_temperature: float | None = field(default=None, metadata=only_when(
        "transfer", "soft", "supsup.transfer soft", default=0.1, fix="set supsup.transfer=soft"))
    # How tasks that start random start: "independent" draws (SupSup) or one "shared" draw for every
    # task (ALGORITHMS.md section 2: what differs between masks is then learned); shared needs transfer random.
    score_init: Literal["independent", "shared"] = "independent"

    def __post_init__(self) -> None:
        complete(self, "supsup")
        if self.transfer_temperature is not None:
            require_number("transfer_temperature", self.transfer_temperature)


def from_config(config: "ExperimentConfig",
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
                  **_given(settings, "task_inference", "inference_objective", "transfer_protocol",
                           "transfer_temperature"))


def _given(settings: SupSupSettings, *names: str) -> dict[str, Any]:
    """The conditional settings that apply (not None); SupSup's own defaults stand for the others, unused."""
    return {name: getattr(settings, name) for name in names if getattr(settings, name) is not None}


def keeps_scores(config: "ExperimentConfig") -> bool:
    """Whether finished tasks keep float scores: guided transfer mixes them, and NNs trains a mask again
    when its data comes back (`NNsLearner`); otherwise a finished task keeps its packed mask only."""
    return config.settings("supsup").transfer in GUIDED or config.scenario.name == "nns"


def records_initial_masks(config: "ExperimentConfig") -> bool:
    """Whether each task's initial mask is kept (bit-packed) for the learned-change analysis: where the
    run analyses mask overlap (`run.overlap`), except under NNs, whose learner allocates masks itself."""
    return config.run.overlap and config.scenario.name != "nns"


def task_bits(config: "ExperimentConfig") -> int:
    """Bits per network weight each task adds in memory: 32 for kept float scores, else 1 for the packed
    mask; plus 1 for the bit-packed bank that task inference (gns, gnu) and NNs detection read, and 1
    for the recorded initial mask."""
    bank = 1 if config.scenario.name in (*INFERRED, "nns") else 0
    return (32 if keeps_scores(config) else 1) + bank + int(records_initial_masks(config))


def needs_reference(config: "ExperimentConfig") -> bool:
    """Whether the config's transfer reads a reference model's signatures (two_pass, similar or soft)."""
    settings: SupSupSettings = config.settings("supsup")
    return settings.transfer in GUIDED and settings.transfer_protocol == "two_pass"


def reference_config(config: "ExperimentConfig") -> "ExperimentConfig":
    """The config of the two_pass reference: the same SupSup ("classic") with random init.

    With the same seed its fixed weights, batch order and every task's random init equal the
    guided model's (the random init is drawn in every transfer mode), so the reference is
    exactly the `supsup.transfer=random` run of the same config.
    """
    from supermasks.config import updated  # config imports the methods: only at call time

    return updated(config, {"supsup.transfer": "random"})  # drops the guided transfer's protocol and temperature



def build_for_tasks(config: "ExperimentConfig", tasks: list[Task], progress: bool = True) -> SupSup:
    """SupSup for `tasks`; two-pass transfer first trains its reference run on all of them.

    Two-pass (the similarity study's protocol, ALGORITHMS.md section 3): a SupSup with random init
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

def check(config: "ExperimentConfig") -> None:
    """Task-inference and transfer settings that cannot work, refused before training."""
    settings: SupSupSettings = config.settings("supsup")
    batch_norm = config.model.batch_norm
    if config.scenario.name == "nns" and settings.transfer != "random":
        raise ConfigError("the nns scenario allocates masks as it detects tasks and starts them random: "
                          f"supsup.transfer={settings.transfer!r} is not supported there")
    if config.scenario.name == "nns" and settings.score_init != "independent":
        raise ConfigError("the nns scenario allocates masks as it detects tasks, each from its own random draw: "
                          f"supsup.score_init={settings.score_init!r} is not supported there")
    if settings.score_init == "shared" and settings.transfer != "random":
        raise ConfigError(f"supsup.score_init=shared starts every task from the same random scores, but "
                          f"supsup.transfer={settings.transfer} starts later tasks from earlier tasks' scores: "
                          "set supsup.transfer=random, or supsup.score_init=independent")
    if batch_norm and config.scenario.name in ("gns", "gnu") and settings.task_inference in SUPERPOSING:
        raise ConfigError(f"{settings.task_inference} task inference superposes masks, which per-task BatchNorm "
                          "statistics do not allow: set model.batch_norm=false for the gns/gnu scenarios, or use "
                          "supsup.task_inference=signature")
    if settings.task_inference == "signature" and not batch_norm:
        raise ConfigError("supsup.task_inference=signature compares per-task BatchNorm signatures: "
                          "set model.batch_norm=true")
    if settings.transfer in GUIDED and not batch_norm:
        raise ConfigError(f"supsup.transfer={settings.transfer} compares per-task BatchNorm signatures: "
                          "set model.batch_norm=true")


def check_tasks(config: "ExperimentConfig", tasks: list[Task]) -> None:
    """The G objective reads the extra output neurons (s-neurons): there must be some past every task's classes."""
    if config.settings("supsup").inference_objective != "G":
        return
    needed = max(task.num_classes for task in tasks)
    if config.model.output_size <= needed:
        raise ConfigError(f"inference_objective G needs extra output neurons: output_size ({config.model.output_size}) "
                          f"must exceed the {needed} classes of a task")


SPEC = MethodSpec(from_config, "SupSup: one learned binary mask per task over fixed random weights; "
                  "task given (GG), inferred (GNs, GNu) or detected on a stream (NNs)", frozenset({"task", "gns", "gnu", "nns"}),
                  settings=SupSupSettings, check=check, check_tasks=check_tasks,
                  build_for_tasks=build_for_tasks, task_bits=task_bits, masks=True)
