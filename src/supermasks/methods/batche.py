"""BatchE: one shared weight per layer, modulated per task by rank-one fast weights r s^T.

BatchEnsemble (Wen, Tran & Ba, ICLR 2020) used as a continual-learning baseline, as in the SupSup
study (Wortsman, Ramanujan et al., NeurIPS 2020). Task t's effective weight is `W * (r_t s_t^T)`;
W is trained on task 0 only, later tasks train only their own r_t, s_t and bias_t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from supermasks.data.task import Task
from supermasks.errors import ConfigError
from supermasks.methods import _dense
from supermasks.methods._state import check_header, header, load_generator
from supermasks.methods.base import MethodSpec
from supermasks.models import load_network, parameter_bytes
from supermasks.models.networks import INPUT_SIZE, architecture, mlp_hidden
from supermasks.devices import module_device, resolve_device, to_device
from supermasks.training import FitResult, Probe, fit, iterate_batches, make_optimizer, task_training
from supermasks.seeds import streams

if TYPE_CHECKING:
    from supermasks.config import ExperimentConfig


class BatchELinear(nn.Module):
    """A linear layer with a shared `weight` and per-task vectors `r` (out), `s` (in) and `bias` (out).

    Built with task 0's vectors: r = s = 1 and a bias initialised as in `nn.Linear`, so task 0 is
    a plain dense layer (and, from the same seed, starts from the same weights as `nn.Linear`).
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Linear's init, same RNG draws
        bound = 1 / math.sqrt(in_features)
        self.r = nn.ParameterList([nn.Parameter(torch.ones(out_features))])
        self.s = nn.ParameterList([nn.Parameter(torch.ones(in_features))])
        self.bias = nn.ParameterList([nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))])

    @property
    def num_tasks(self) -> int:
        return len(self.r)

    def add_task(self, generator: torch.Generator) -> int:
        """Append a task's r, s (random signs) and bias (zeros); return its index.

        Random ±1 signs follow Wen et al.'s initialisation of the fast weights, which the SupSup
        study's BatchE also uses: each new task starts from a differently signed copy of W with
        the same scale, rather than from task 0's function.
        """
        def signs(n: int) -> torch.Tensor:
            return torch.randint(0, 2, (n,), generator=generator).float() * 2 - 1

        device = self.weight.device  # signs drawn on the CPU, moved: the same on every device
        self.r.append(nn.Parameter(signs(self.out_features).to(device)))
        self.s.append(nn.Parameter(signs(self.in_features).to(device)))
        self.bias.append(nn.Parameter(torch.zeros(self.out_features, device=device)))
        return self.num_tasks - 1

    def task_parameters(self, task_id: int) -> list[nn.Parameter]:
        return [self.r[task_id], self.s[task_id], self.bias[task_id]]

    def forward(self, x: torch.Tensor, task_id: int) -> torch.Tensor:  # (batch, in) -> (batch, out)
        # x @ (W * r s^T).T == ((x * s) @ W.T) * r: two vector products instead of a per-task matrix.
        return (x * self.s[task_id]) @ self.weight.T * self.r[task_id] + self.bias[task_id]


class BatchEMLP(nn.Module):
    """A ReLU MLP of `BatchELinear` layers: input 784, hidden sizes, then `output_size` logits."""

    def __init__(self, hidden: tuple[int, ...], output_size: int) -> None:
        super().__init__()
        sizes = (INPUT_SIZE, *hidden, output_size)
        self.layers = nn.ModuleList(BatchELinear(i, o) for i, o in zip(sizes[:-1], sizes[1:]))

    @property
    def num_tasks(self) -> int:
        return self.layers[0].num_tasks

    def add_task(self, generator: torch.Generator) -> int:
        return [layer.add_task(generator) for layer in self.layers][-1]

    def grow_tasks(self, count: int) -> None:
        """Add tasks until there are `count` (their vectors are meant to be overwritten by saved ones)."""
        if self.num_tasks > count:
            raise ValueError(f"the network has {self.num_tasks} tasks already, the state {count}")
        while self.num_tasks < count:
            self.add_task(torch.Generator())  # throwaway draws: the method's sign stream stays untouched

    def shared_parameters(self) -> list[nn.Parameter]:
        return [layer.weight for layer in self.layers]

    def task_parameters(self, task_id: int) -> list[nn.Parameter]:
        return [p for layer in self.layers for p in layer.task_parameters(task_id)]

    def forward(self, x: torch.Tensor, task_id: int) -> torch.Tensor:  # (batch, 1, 28, 28) -> (batch, out)
        if not 0 <= task_id < self.num_tasks:
            raise IndexError(f"task {task_id} has no fast weights; the network has {self.num_tasks}")
        h = x.flatten(1)
        for i, layer in enumerate(self.layers):
            h = layer(h, task_id)
            if i < len(self.layers) - 1:
                h = torch.relu(h)
        return h


def build_batche(name: str, *, output_size: int, seed: int = 0) -> BatchEMLP:
    """A BatchE MLP of architecture `name` (see `ARCHITECTURES`) with task 0's vectors, from `seed`."""
    hidden = mlp_hidden(name)  # ValueError for an unknown name or a conv net
    with torch.random.fork_rng():
        torch.manual_seed(seed)  # reproducible init that leaves the caller's RNG untouched
        return BatchEMLP(hidden, output_size)


class BatchE:
    """BatchE with the task given. W learns on task 0 only; each later task learns r, s and bias.

    `lr` drives the per-task vectors, `weight_lr` (default: `lr`) the shared W on task 0. The
    SupSup study used Adam with 1e-2 for the vectors and 1e-4 for W; `weight_lr=0` keeps W random.
    """

    name = "batche"
    HYPERPARAMETERS = ("optimizer", "lr", "weight_lr", "batch_size", "steps_per_task", "epochs", "schedule",
                       "weight_decay", "amp", "seed")

    def __init__(self, model: BatchEMLP, *, optimizer: str = "adam", lr: float = 1e-3, weight_lr: float | None = None,
                 batch_size: int = 32, steps_per_task: int | None = 1000, seed: int = 0, epochs: int | None = None,
                 schedule: str = "constant", weight_decay: float = 0.0, amp: bool = False) -> None:
        self.model = model
        self.optimizer = optimizer
        self.lr = lr
        self.weight_lr = weight_lr
        self.batch_size = batch_size
        self.steps_per_task = steps_per_task
        self.epochs = epochs
        self.schedule = schedule
        self.weight_decay = weight_decay
        self.amp = amp
        self.seed = seed
        # Separate streams for sign init and batch order, so changing one never shifts the other.
        self.sign_generator_ = torch.Generator().manual_seed(streams(seed).signs)
        self.batch_generator_ = torch.Generator().manual_seed(streams(seed).batches)

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
        trains_weights = task_id == 0
        # Freezing W outright (not just leaving it out of the optimiser) also spares its gradients.
        for weight in self.model.shared_parameters():
            weight.requires_grad_(trains_weights)
        optimizer = make_optimizer(self.optimizer, self.model.task_parameters(task_id), self.lr,
                                   weight_decay=self.weight_decay)
        if trains_weights:
            weight_lr = self.lr if self.weight_lr is None else self.weight_lr
            optimizer.add_param_group({"params": self.model.shared_parameters(), "lr": weight_lr})
        steps, rates = task_training(self.steps_per_task, self.epochs, self.schedule, len(task.x_train),
                                     self.batch_size)
        batches = iterate_batches(task.x_train, task.y_train, self.batch_size, steps, self.batch_generator_,
                                  task.augment, module_device(self.model))

        def forward(x: torch.Tensor) -> torch.Tensor:
            self.model.train()  # a probe may have switched to eval mode
            return self.model(x, task_id)

        return fit(forward, optimizer, batches, total=steps, description=f"{self.name} task {task_id}",
                   progress=progress, probe=probe, rates=rates, amp=self.amp)

    def can_predict(self, task_id: int | None) -> bool:
        return task_id is not None and 0 <= task_id < self.model.num_tasks

    @torch.no_grad()
    def predict(self, x: torch.Tensor, task_id: int | None) -> torch.Tensor:
        if task_id is None:
            raise ValueError("BatchE needs the task id at test time to choose its fast weights")
        self.model.eval()
        return self.model(to_device(x, module_device(self.model)), task_id)

    def bytes_per_task(self) -> int:
        """Float32 r, s and bias of every layer: sum over layers of (in + out + out) floats."""
        return sum(4 * (layer.in_features + 2 * layer.out_features) for layer in self.model.layers)

    def memory_bytes(self) -> int:
        """The shared weights plus every task's vectors."""
        return parameter_bytes(self.model)

    def state_dict(self) -> dict[str, Any]:
        return {**header(self, self.HYPERPARAMETERS), "num_tasks": self.model.num_tasks,
                "model": self.model.state_dict(), "sign_generator": self.sign_generator_.get_state(),
                "batch_generator": self.batch_generator_.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_header(self, self.HYPERPARAMETERS, state)
        self.model.grow_tasks(state["num_tasks"])
        load_network(self.model, state["model"])
        load_generator(self.sign_generator_, state["sign_generator"])
        load_generator(self.batch_generator_, state["batch_generator"])


@dataclass(frozen=True)
class BatchESettings:
    """BatchE has no settings of its own (training and model sections only)."""


def from_config(config: "ExperimentConfig") -> BatchE:
    model = build_batche(config.model.arch, output_size=config.model.output_size, seed=streams(config.seed).weights)
    model.to(resolve_device(config.run.device))  # drawn on the CPU, moved: the same weights on every device
    return BatchE(model, **_dense.training_kwargs(config, scenario=False))


def check(config: "ExperimentConfig") -> None:
    """BatchE's layers here are linear: refuse a conv net before training."""
    if not architecture(config.model.arch).is_mlp:
        raise ConfigError(f"BatchE is built for the MLP architectures (rank-one factors of linear layers); "
                          f"model.arch {config.model.arch} is a convolutional network")


SPEC = MethodSpec(from_config, "BatchE: shared weights trained on task 0, per-task rank-one r s^T factors",
                  frozenset({"task"}), settings=BatchESettings, check=check)
