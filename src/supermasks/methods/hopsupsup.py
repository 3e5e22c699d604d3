"""HopSupSup: per-task gates on hidden units, kept only in Hopfield networks and recovered from test batches.

Wortsman, Ramanujan et al., "Supermasks in Superposition", NeurIPS 2020, section on Hopfield
storage (docs/algorithms.md section 1.4). Each task trains one binary gate per hidden unit over fixed
random weights; once trained, the gate is written into one Hopfield matrix per layer with the
Storkey rule and its scores are dropped. At test time the gates of an unlabelled batch are
recovered from those matrices (`recover_gates`), so the memory does not grow with the number of
tasks. Runs in GNs and GNu: the task id is given while training, not at test time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch
from torch import nn

from supermasks.data.task import Task
from supermasks.errors import ConfigError, require_number
from supermasks.inference.hopfield import (HopfieldStore, NeuronMaskMLP, gate_pattern, nearest_gates,
                                           recover_gates, recovery_report, storage_bytes, storkey_capacity,
                                           straight_through_gate)
from supermasks.methods._state import check_header, header, load_generator, owned
from supermasks.methods._training import task_optimizer, task_schedule
from supermasks.methods.base import MethodReport, MethodSpec
from supermasks.models import load_network
from supermasks.models.networks import ARCHITECTURES, INPUT_SIZE, architecture, mlp_hidden
from supermasks.compute.devices import module_device, resolve_device, to_device
from supermasks.training import FitResult, Probe, TrainingSettings, fit, iterate_batches
from supermasks.seeds import streams

if TYPE_CHECKING:
    from supermasks.methods.base import MethodConfig

# The config fields of the recovery, checked together (MethodConfig has their defaults).
REPORT_COLUMNS = ("task", "probe_size", "bits", "bit_accuracy", "hamming", "nearest_task", "correct")


class HopSupSup:
    """HopSupSup in GNs/GNu. Defaults: RMSprop lr 1e-4, batch 128, 1000 steps per task.

    Contract with the runner, which calls `guess = infer_task(xb)` then `predict(xb, guess)` for
    each test batch:
    - `infer_task(x)` recovers gates from `x` alone (the Hopfield matrices and the fixed network,
      no task id, no stored gate), remembers them for `x`, and returns the stored task whose true
      gates are Hamming-nearest to them. That id is bookkeeping for the task-inference metric and
      the only use of the true gates at test time.
    - `predict(x, task_id)` classifies with the gates recovered for this same `x` when
      `infer_task(x)` (or `recover(x)`) came just before, whatever `task_id` says: that is the
      HopSupSup prediction. Otherwise it uses the live scores if `task_id` is the task being
      learned (its gates are not stored yet), and else recovers the gates from `x` itself. A
      Hopfield matrix has no address to look a task id up by, so a given id cannot pick the gates
      of a stored task.

    `true_gates_` keeps every task's trained gates and `probes_` a batch of each task's training
    inputs, both for `report` only; `predict` never reads them, and `memory_bytes` leaves
    them out.
    """

    name = "hopsupsup"
    # Besides the training settings (`_state.RECORDED_TRAINING`).
    HYPERPARAMETERS = ("seed", "recovery_steps", "recovery_lr", "recall_steps", "probe_size")

    def __init__(self, model: NeuronMaskMLP, *, training: TrainingSettings = TrainingSettings(), seed: int = 0,
                 recovery_steps: int = 50, recovery_lr: float = 0.1, recall_steps: int = 20,
                 probe_size: int = 128) -> None:
        if model.num_tasks:
            raise ValueError("HopSupSup keeps no per-task scores in the model: give it one without tasks")
        for key, value in (("recovery_steps", recovery_steps), ("recovery_lr", recovery_lr),
                           ("recall_steps", recall_steps), ("probe_size", probe_size)):
            if value <= 0:
                raise ValueError(f"{key} must be positive, got {value}")
        self.model = model
        self.training = training
        self.seed = seed
        self.recovery_steps = recovery_steps
        self.recovery_lr = recovery_lr
        self.recall_steps = recall_steps
        self.probe_size = probe_size
        # Separate streams for score init, batch order and probes, so changing one never shifts another.
        self.score_generator_ = torch.Generator().manual_seed(streams(seed).scores)
        self.batch_generator_ = torch.Generator().manual_seed(streams(seed).batches)
        self.probe_generator_ = torch.Generator().manual_seed(streams(seed).probe)
        # The memory: one matrix per hidden layer (plus an always-on unit), allocated up front.
        self.stores_ = [HopfieldStore(d + 1, device=module_device(model)) for d in model.hidden_sizes]
        self.learning_: int | None = None  # the task whose scores live in `scores_`
        self.scores_: nn.ParameterList | None = None
        self.true_gates_: list[list[torch.Tensor]] = []  # reporting only
        self.probes_: list[torch.Tensor] = []  # reporting only: unlabelled training inputs per task
        self.recovered_: tuple[torch.Tensor, list[torch.Tensor]] | None = None  # (batch, its gates)
        self.test_batches_ = 0  # infer_task calls, for the report
        self.test_exact_ = 0  # ... whose recovered gates equal a stored task's gates
        self.test_hamming_ = 0  # ... summed distance to the nearest stored gates

    @property
    def num_stored(self) -> int:
        return self.stores_[0].num_patterns_

    def begin_task(self, task: Task) -> None:
        if task.task_id == self.learning_:
            return
        if task.task_id != self.num_stored:
            raise ValueError(f"tasks must arrive in order: got task {task.task_id}, expected {self.num_stored}")
        self.scores_ = self.model.new_scores(self.score_generator_)
        self.learning_ = task.task_id

    def _live_gates(self) -> list[torch.Tensor]:
        assert self.scores_ is not None
        return [straight_through_gate(s) for s in self.scores_]

    def learn(self, task: Task, *, progress: bool = True, probe: Probe | None = None) -> FitResult:
        """Train the task's gates, write them into the Hopfield stores, then drop its scores."""
        self.begin_task(task)
        optimizer = task_optimizer(self.training, self.scores_.parameters())
        steps, rates = task_schedule(self.training, task)
        batches = iterate_batches(task.x_train, task.y_train, self.training.batch_size, steps, self.batch_generator_,
                                  task.augment, module_device(self.model))
        result = fit(lambda x: self.model(x, gates=self._live_gates()), optimizer, batches, total=steps,
                     description=f"{self.name} task {task.task_id}", progress=progress, probe=probe, rates=rates,
                     amp=self.training.amp)
        gates = [s.detach() >= 0 for s in self.scores_]
        for store, mask in zip(self.stores_, gates):
            store.store(gate_pattern(mask))
        self.true_gates_.append(gates)
        order = torch.randperm(len(task.x_train), generator=self.probe_generator_)
        self.probes_.append(task.x_train[order[:self.probe_size]].clone())
        self.scores_, self.learning_ = None, None
        self.recovered_ = None  # recovered from a memory that has changed since
        return result

    def recover(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The gates recovered from the unlabelled batch `x` (bool, one (d_l,) per hidden layer), remembered for `x`."""
        if self.num_stored == 0:
            raise ValueError("no task has been learned yet, so there is nothing to recover")
        with torch.enable_grad():  # the recovery descends on a learnable gate, even inside no_grad
            gates = recover_gates(self.model, self.stores_, x, steps=self.recovery_steps, lr=self.recovery_lr,
                                  recall_steps=self.recall_steps)
        self.recovered_ = (x.detach().clone(), gates)
        return gates

    def infer_task(self, x: torch.Tensor) -> int:
        """Recover the gates of `x` (kept for `predict(x, ...)`); the stored task whose gates are nearest."""
        gates = self.recover(x)
        if not self.true_gates_:
            raise ValueError("the reference gates (true_gates_) were cleared, so the recovered gates cannot be "
                             "named by a task id; predict(x, None) still classifies with them")
        nearest, distances = nearest_gates(gates, self.true_gates_)
        self.test_batches_ += 1
        self.test_exact_ += distances[nearest] == 0
        self.test_hamming_ += distances[nearest]
        return nearest

    def _recovered_for(self, x: torch.Tensor) -> list[torch.Tensor] | None:
        if self.recovered_ is None:
            return None
        seen, gates = self.recovered_
        return gates if seen.shape == x.shape and torch.equal(seen, x) else None

    def can_predict(self, task_id: int | None) -> bool:
        """Any batch once a task is stored; a task id only for a stored task or the one being learned."""
        if task_id is None:
            return self.num_stored > 0
        return 0 <= task_id < self.num_stored or task_id == self.learning_

    @torch.no_grad()
    def predict(self, x: torch.Tensor, task_id: int | None) -> torch.Tensor:
        """Logits of `x`: under its recovered gates, or the live gates of the task being learned (see the class)."""
        gates = self._recovered_for(x)
        if gates is None:
            if task_id is not None and task_id == self.learning_:
                return self.model(to_device(x, module_device(self.model)), gates=self._live_gates())
            gates = self.recover(x)
        return self.model(to_device(x, module_device(self.model)), gates=[g.float() for g in gates])

    def memory_bytes(self) -> int:
        """The fixed float32 weights and the Hopfield matrices (constant), plus the scores of a task being learned.

        The true gates and probes kept for the report are not part of the method and are not counted.
        """
        live = 0 if self.scores_ is None else sum(4 * s.numel() for s in self.scores_)
        return self.model.weight_bytes() + sum(store.nbytes() for store in self.stores_) + live

    def report(self) -> MethodReport:
        """The table `hopfield` (one row per stored task) and summary numbers for metrics.json.

        Each row is recomputed now, against the final matrices: the gates recovered from that
        task's probe (a batch of its unlabelled training inputs kept at learning time) compared
        with its true gates: `bits` per task, `bit_accuracy` and `hamming` against the task's own
        gates, `nearest_task` (Hamming-nearest stored gates) and `correct`. The runner's
        task-inference accuracy covers the test batches; the `test_*` numbers summarise every
        `infer_task` call so far (how often the recovered gates were exactly a stored gate, and
        their mean distance to the nearest one), as the method does not know a test batch's task.
        """
        if len(self.true_gates_) != self.num_stored:
            raise ValueError("the reference gates (true_gates_) were cleared, so recovery cannot be scored")
        rows = []
        for task_id, probe in enumerate(self.probes_):
            with torch.enable_grad():
                gates = recover_gates(self.model, self.stores_, probe, steps=self.recovery_steps,
                                      lr=self.recovery_lr, recall_steps=self.recall_steps)
            rows.append({"task": task_id, "probe_size": len(probe), "bits": sum(g.numel() for g in gates),
                         **recovery_report(gates, self.true_gates_, task_id)})
        frame = pd.DataFrame(rows, columns=list(REPORT_COLUMNS))
        sizes = storage_bytes(self.stores_, self.num_stored)
        capacity = min(storkey_capacity(d) for d in self.model.hidden_sizes)
        batches = self.test_batches_
        metrics = {
            "recovery_accuracy": float(frame["correct"].mean()) if rows else math.nan,
            "mean_bit_accuracy": float(frame["bit_accuracy"].mean()) if rows else math.nan,
            "hopfield_bytes": float(sizes["hopfield"]),
            "direct_bytes": float(sizes["direct"]),
            # Storkey's capacity of the narrowest layer, and the stored tasks as a fraction of it.
            "hopfield_capacity_tasks": capacity,
            "hopfield_load": self.num_stored / capacity,
            "test_batches_recovered": float(batches),
            "test_exact_recall_fraction": self.test_exact_ / batches if batches else math.nan,
            "test_mean_hamming_to_nearest": self.test_hamming_ / batches if batches else math.nan,
        }
        return MethodReport(metrics=metrics, tables={"hopfield": frame})

    def state_dict(self) -> dict[str, Any]:
        """The fixed network, generators, Hopfield stores, the task being learned, and what the report reads."""
        recovered = None if self.recovered_ is None else {"x": self.recovered_[0], "gates": self.recovered_[1]}
        return {**header(self, self.HYPERPARAMETERS), "model_tasks": self.model.num_tasks,
                "model": self.model.state_dict(), "score_generator": self.score_generator_.get_state(),
                "batch_generator": self.batch_generator_.get_state(),
                "probe_generator": self.probe_generator_.get_state(),
                "stores": [store.state_dict() for store in self.stores_], "learning": self.learning_,
                "scores": None if self.scores_ is None else list(self.scores_), "true_gates": self.true_gates_,
                "probes": self.probes_, "recovered": recovered, "test_batches": self.test_batches_,
                "test_exact": self.test_exact_, "test_hamming": self.test_hamming_}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_header(self, self.HYPERPARAMETERS, state)
        self.model.grow_tasks(state["model_tasks"])
        load_network(self.model, state["model"])
        for name in ("score", "batch", "probe"):
            load_generator(getattr(self, f"{name}_generator_"), state[f"{name}_generator"])
        if len(state["stores"]) != len(self.stores_):
            raise ValueError(f"{len(state['stores'])} saved Hopfield stores for {len(self.stores_)} hidden layers")
        # The matrices go beside the network, wherever it was moved since this method was built.
        self.stores_ = [HopfieldStore(store.d, device=module_device(self.model)) for store in self.stores_]
        for store, saved in zip(self.stores_, state["stores"]):
            store.load_state_dict(saved)
        self.learning_ = state["learning"]
        self.scores_ = None if state["scores"] is None else nn.ParameterList(
            [nn.Parameter(owned(s).to(module_device(self.model))) for s in state["scores"]])
        self.true_gates_ = [[owned(g) for g in gates] for gates in state["true_gates"]]
        self.probes_ = [owned(p) for p in state["probes"]]
        recovered = state["recovered"]
        self.recovered_ = None if recovered is None else (owned(recovered["x"]),
                                                          [owned(g).to(module_device(self.model))
                                                           for g in recovered["gates"]])
        self.test_batches_, self.test_exact_, self.test_hamming_ = (
            state["test_batches"], state["test_exact"], state["test_hamming"])


@dataclass(frozen=True)
class HopSupSupSettings:
    """The `hopsupsup` section: how gates are stored and recovered (docs/algorithms.md section 1.4)."""

    recovery_steps: int = 50  # gradient steps of the annealed entropy-to-energy descent
    recovery_lr: float = 0.1
    recall_steps: int = 20  # sign-update sweeps that snap a recovered gate to a stored pattern
    score_scale: float = 1e-3  # initial gate scores uniform in +-this (small: training moves them little)

    def __post_init__(self) -> None:
        for f in fields(self):
            require_number(f.name, getattr(self, f.name))


def from_config(config: "MethodConfig") -> HopSupSup:
    settings: HopSupSupSettings = config.settings("hopsupsup")
    sizes = (INPUT_SIZE, *mlp_hidden(config.model.arch), config.model.output_size)
    model = NeuronMaskMLP(sizes, seed=streams(config.seed).weights, score_scale=settings.score_scale)
    model.to(resolve_device(config.run.device))  # weights drawn on the CPU, moved: the same on every device
    return HopSupSup(model, training=config.training, seed=config.seed, recovery_steps=settings.recovery_steps,
                     recovery_lr=settings.recovery_lr, recall_steps=settings.recall_steps,
                     probe_size=config.scenario.inference_batch_size)


def check(config: "MethodConfig") -> None:
    """Settings HopSupSup cannot work with, refused before training."""
    if not architecture(config.model.arch).is_mlp:
        raise ConfigError(f"HopSupSup gates the hidden units of an MLP (one Hopfield store per hidden layer); "
                          f"model.arch {config.model.arch} is a convolutional network: choose an MLP "
                          f"({', '.join(name for name, arch in ARCHITECTURES.items() if arch.is_mlp)})")
    if config.model.batch_norm:
        raise ConfigError("HopSupSup keeps no per-task BatchNorm statistics (only Hopfield matrices): "
                          "set model.batch_norm=false")
    if config.model.output_size < 2:
        raise ConfigError(f"HopSupSup recovers gates by output entropy, which needs model.output_size >= 2, "
                          f"got {config.model.output_size}")


SPEC = MethodSpec(from_config, "HopSupSup: binary gates on hidden units stored in Hopfield networks (Storkey rule) "
                  "and recovered from unlabelled test batches (GNs, GNu)", frozenset({"gns", "gnu"}), settings=HopSupSupSettings, check=check,
                  own_network_refusal="it gates the hidden units of a registered MLP (model.arch fc-...)")
