"""BatchE: one shared weight per layer, modulated per task by rank-one fast weights r s^T.

BatchEnsemble (Wen, Tran & Ba, ICLR 2020) used as a continual-learning baseline, as in the SupSup
study (Wortsman, Ramanujan et al., NeurIPS 2020). Task t's effective weight is `W * (r_t s_t^T)`
(broadcast over the kernel of a convolution); W is trained on task 0 only (or never: "BatchE -
Rand W"), and each task trains only its own r_t, s_t and biases. The layers and networks, MLPs and
conv nets, are in `models/batche.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import torch

from supermasks.data.task import Task
from supermasks.methods._state import check_header, header, load_generator
from supermasks.methods._training import task_optimizer, task_schedule
from supermasks.methods.base import MethodSpec
from supermasks.models import load_network, parameter_bytes
from supermasks.models.batche import BatchEMLP, BatchENet, BatchENetwork, task_bytes
from supermasks.models.kits import BatchEKit
from supermasks.models.networks import INPUT_SIZE, architecture
from supermasks.compute.devices import module_device, resolve_device, to_device
from supermasks.training import FitResult, Probe, TrainingSettings, fit, iterate_batches
from supermasks.seeds import streams

if TYPE_CHECKING:
    from supermasks.methods.base import MethodConfig


def build_batche(name: str, *, output_size: int, seed: int = 0, batch_norm: bool = False) -> BatchENetwork:
    """A BatchE network of architecture `name` (see `ARCHITECTURES`) with task 0's vectors, from `seed`.

    An MLP is a `BatchEMLP` (without BatchNorm, as the dense baselines' MLPs); a conv net is the
    architecture built from `BatchEKit`, with per-task BN where it has BN (`batch_norm` for lenet5,
    always for the ResNets). The weights take PyTorch's default init, as the dense baselines' do.
    """
    arch = architecture(name)  # ValueError for an unknown name, before any RNG is touched
    if output_size < 1:
        raise ValueError(f"output_size must be positive, got {output_size}")
    with torch.random.fork_rng():
        torch.manual_seed(seed)  # reproducible init that leaves the caller's RNG untouched
        if arch.hidden is not None:
            return BatchEMLP((INPUT_SIZE, *arch.hidden, output_size))
        assert arch.build is not None
        return BatchENet(arch.build(BatchEKit(), output_size, batch_norm or arch.always_norm))


WEIGHT_MODES: dict[str, str] = {
    "task0": "W is trained with task 0's vectors on task 0, then frozen",
    "random": "W keeps its random init; every task, task 0 included, trains only its own vectors (BatchE - Rand W)",
}


class BatchE:
    """BatchE with the task given: each task learns its own r, s (and biases); W learns on task 0 only, or never.

    `weights` (`WEIGHT_MODES`): "task0" trains W together with task 0's vectors, "random" keeps W at
    its random init (the SupSup study's "BatchE - Rand W"). `lr` drives the per-task vectors,
    `weight_lr` (default: `lr`) the shared W on task 0. The SupSup study used Adam with 1e-2 for
    the vectors and 1e-4 for W. `model` is an MLP or a conv net (`BatchENetwork`).
    """

    name = "batche"
    HYPERPARAMETERS = ("weights", "weight_lr", "seed")  # besides the training settings (`_state.RECORDED_TRAINING`)
    # Hyperparameters added after states were first written, with the value those states trained with.
    ADDED = {"weights": "task0"}

    def __init__(self, model: BatchENetwork, *, training: TrainingSettings = TrainingSettings(), weights: str = "task0",
                 weight_lr: float | None = None, seed: int = 0) -> None:
        if weights not in WEIGHT_MODES:
            raise ValueError(f"unknown weights mode {weights!r}; choose one of {', '.join(WEIGHT_MODES)}")
        self.model = model
        self.training = training
        self.weights = weights
        self.weight_lr = weight_lr
        self.seed = seed
        # Separate streams for sign init and batch order, so changing one never shifts the other.
        self.sign_generator_ = torch.Generator().manual_seed(streams(seed).signs)
        self.batch_generator_ = torch.Generator().manual_seed(streams(seed).batches)

    def trains_weights(self, task_id: int) -> bool:
        """Whether learning `task_id` updates the shared W (task 0 in "task0" mode, never in "random")."""
        return self.weights == "task0" and task_id == 0

    def begin_task(self, task: Task) -> None:
        """Task 0 uses the vectors the network is built with; each later task gets new ones."""
        if task.task_id == self.model.num_tasks:
            self.model.add_task(self.sign_generator_)
        elif task.task_id > self.model.num_tasks:
            raise ValueError(f"tasks must arrive in order: got task {task.task_id}, expected {self.model.num_tasks}")

    def learn(self, task: Task, *, progress: bool = True, probe: Probe | None = None) -> FitResult:
        task_id = task.task_id
        if task_id >= self.model.num_tasks:
            self.begin_task(task)
        trains_weights = self.trains_weights(task_id)
        # Freezing W outright (not just leaving it out of the optimiser) also spares its gradients.
        for weight in self.model.shared_parameters():
            weight.requires_grad_(trains_weights)
        optimizer = task_optimizer(self.training, self.model.task_parameters(task_id))
        if trains_weights:
            weight_lr = self.training.lr if self.weight_lr is None else self.weight_lr
            optimizer.add_param_group({"params": self.model.shared_parameters(), "lr": weight_lr})
        steps, rates = task_schedule(self.training, task)
        batches = iterate_batches(task.x_train, task.y_train, self.training.batch_size, steps, self.batch_generator_,
                                  task.augment, module_device(self.model))

        def forward(x: torch.Tensor) -> torch.Tensor:
            self.model.train()  # a probe may have switched to eval mode; BN updates this task's statistics only
            return self.model(x, task_id)

        return fit(forward, optimizer, batches, total=steps, description=f"{self.name} task {task_id}",
                   progress=progress, probe=probe, rates=rates, amp=self.training.amp)

    def can_predict(self, task_id: int | None) -> bool:
        return task_id is not None and 0 <= task_id < self.model.num_tasks

    @torch.no_grad()
    def predict(self, x: torch.Tensor, task_id: int | None) -> torch.Tensor:
        if task_id is None:
            raise ValueError("BatchE needs the task id at test time to choose its fast weights")
        self.model.eval()
        return self.model(to_device(x, module_device(self.model)), task_id)

    def bytes_per_task(self) -> int:
        """Float32 r, s and biases of every layer, plus each per-task BN layer's running mean and variance
        (`models.batche.task_bytes`); for an MLP the sum over layers of (in + out + out) floats."""
        return task_bytes(self.model)

    def memory_bytes(self) -> int:
        """The shared weights plus every task's vectors and BN statistics."""
        return parameter_bytes(self.model)

    def state_dict(self) -> dict[str, Any]:
        return {**header(self, self.HYPERPARAMETERS), "num_tasks": self.model.num_tasks,
                "model": self.model.state_dict(), "sign_generator": self.sign_generator_.get_state(),
                "batch_generator": self.batch_generator_.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        saved = state.get("hyperparameters", {})
        check_header(self, self.HYPERPARAMETERS, {**state, "hyperparameters": {**self.ADDED, **saved}})
        self.model.grow_tasks(state["num_tasks"])
        load_network(self.model, state["model"])
        load_generator(self.sign_generator_, state["sign_generator"])
        load_generator(self.batch_generator_, state["batch_generator"])


@dataclass(frozen=True)
class BatchESettings:
    """The `batche` section: whether the shared weights learn on task 0 or stay random (see WEIGHT_MODES)."""

    weights: Literal["task0", "random"] = "task0"


def from_config(config: "MethodConfig") -> BatchE:
    settings: BatchESettings = config.settings("batche")
    model = build_batche(config.model.arch, output_size=config.model.output_size, seed=streams(config.seed).weights,
                         batch_norm=config.model.batch_norm)
    model.to(resolve_device(config.run.device))  # drawn on the CPU, moved: the same weights on every device
    return BatchE(model, training=config.training, weights=settings.weights, seed=config.seed)


SPEC = MethodSpec(from_config, "BatchE: shared weights (trained on task 0, or random) times per-task rank-one r s^T",
                  frozenset({"task"}), settings=BatchESettings,
                  own_network_refusal="it builds its own BatchE layers (shared weights times per-task rank-one "
                  "factors) into a registered architecture")
