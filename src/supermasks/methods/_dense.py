"""What the dense baselines share: their network, head selection, the training call, prediction, and checks.

The network is a `MultiHeadNet` of a registered architecture, or, where `model.arch` names a user's own network,
a `SharedHeadNet` over its dense twin (`models.user_dense`): the module's output is one head shared by every task,
a task's label c being its output c. The baselines treat both alike (`DenseNetwork`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import torch

from supermasks.data.augment import Augment
from supermasks.data.task import Task
from supermasks.errors import ConfigError
from supermasks.models import DenseNetwork, MultiHeadNet, build_multihead, load_network
from supermasks.models.user import is_own_arch
from supermasks.models.user_dense import build_own_dense
from supermasks.scenarios import SCENARIOS
from supermasks.compute.devices import module_device, resolve_device, to_device
from supermasks.methods._training import task_optimizer, task_schedule
from supermasks.training import FitResult, Probe, TrainingSettings, fit, iterate_batches
from supermasks.seeds import streams

if TYPE_CHECKING:
    from supermasks.methods.base import MethodConfig


def build_network(config: "MethodConfig") -> DenseNetwork:
    """A dense network with one head; the task scenario adds a head per task in `begin_task` (a user's network
    counts them, all one shared head)."""
    if not is_own_arch(config.model.arch):
        return build_multihead_network(config)
    model = build_own_dense(config.model.arch, output_size=config.model.output_size, seed=streams(config.seed).weights)
    return model.to(resolve_device(config.run.device))  # built on the CPU, moved: the same weights on every device


def build_multihead_network(config: "MethodConfig") -> MultiHeadNet:
    """A dense network of the registered `model.arch` with one head (`build_network` for a method that needs
    separable heads)."""
    model = build_multihead(config.model.arch, output_size=config.model.output_size, num_heads=1,
                            seed=streams(config.seed).weights)
    return model.to(resolve_device(config.run.device))  # drawn on the CPU, moved: the same weights on every device


def own_network_check(name: str) -> Callable[["MethodConfig"], None]:
    """The `MethodSpec.check` of dense baseline `name`: ConfigError where it is to train a user's own network
    outside the task-given scenario."""
    def check(config: "MethodConfig") -> None:
        if is_own_arch(config.model.arch) and config.scenario.name != "task":
            raise ConfigError(f"method {name} trains your own network (model.arch {config.model.arch}) in the "
                              f"task-given scenario only, its output one head shared by every task: set "
                              f"scenario.name=task, or use a registered model.arch")
    return check


def begin_task(model: DenseNetwork, scenario: str, task: Task, seed: int) -> None:
    """In the task scenario, give each new task its own head (task 0 uses the first)."""
    if scenario != "task":
        return
    if task.task_id == model.num_heads:
        model.add_head(streams(seed).head(task.task_id))
    elif task.task_id > model.num_heads:
        raise ValueError(f"tasks must arrive in order: got task {task.task_id}, expected {model.num_heads}")


def network_state(model: DenseNetwork) -> dict:
    """The network's number of heads and its tensors (`nn.Module.state_dict`, the module's own tensors)."""
    return {"heads": model.num_heads, "tensors": model.state_dict()}


def load_network_state(model: DenseNetwork, state: dict) -> None:
    """Grow a freshly built network to the saved number of heads, then copy the saved tensors in."""
    model.grow_heads(state["heads"])
    load_network(model, state["tensors"])


def head_of(model: DenseNetwork, scenario: str, task_id: int | None) -> int:
    """The head that serves `task_id`: its own in the task scenario, the shared one otherwise."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}")
    if scenario != "task":
        return 0
    if task_id is None:
        raise ValueError("the task-incremental scenario needs the task id")
    if not 0 <= task_id < model.num_heads:
        raise IndexError(f"task {task_id} has no head; the network has {model.num_heads}")
    return task_id


def can_predict(model: DenseNetwork, scenario: str, task_id: int | None) -> bool:
    if scenario != "task":
        return True
    return task_id is not None and 0 <= task_id < model.num_heads


@torch.no_grad()
def predict(model: DenseNetwork, scenario: str, x: torch.Tensor, task_id: int | None) -> torch.Tensor:
    model.eval()
    return model(to_device(x, module_device(model)), head_of(model, scenario, task_id))


Batches = Iterator[tuple[tuple[torch.Tensor, torch.Tensor], torch.Tensor]]


def tagged_batches(x: torch.Tensor, y: torch.Tensor, head_ids: torch.Tensor, batch_size: int, steps: int,
                   generator: torch.Generator, augment: Augment | None = None,
                   device: torch.device | None = None) -> Batches:
    """Shuffled batches of ((images, head ids), labels), on `device`: the training loop only needs len(labels).

    `augment` (a task's `Task.augment`) makes batch `step`'s images, as in `iterate_batches`.
    """
    index = torch.arange(len(x))
    for step, (ib, _) in enumerate(iterate_batches(index, index, batch_size, steps, generator)):
        images = x[ib] if augment is None else augment(x, ib, step)
        yield (to_device(images, device), to_device(head_ids[ib], device)), to_device(y[ib], device)


def train_task(model: DenseNetwork, scenario: str, task: Task, x: torch.Tensor, y: torch.Tensor, *,
               params: list[torch.nn.Parameter], training: TrainingSettings, generator: torch.Generator, name: str,
               progress: bool, probe: Probe | None, penalty: Callable[[], torch.Tensor] | None = None,
               head_ids: torch.Tensor | None = None, batches: Batches | None = None) -> FitResult:
    """Train `params` of `model` on (x, y) as `training` says for `task` (`_training.task_schedule`: its steps
    and rates, however many samples x holds).

    Every sample goes through `task`'s head unless `head_ids` (one head id per sample) says
    otherwise: replayed samples of earlier tasks keep their own heads in the task scenario.
    `batches` replaces the default shuffled batches of (x, y) when a method composes its own.
    """
    steps, rates = task_schedule(training, task)
    if batches is None:
        if head_ids is None:
            head_ids = torch.full((len(x),), head_of(model, scenario, task.task_id), dtype=torch.int64)
        batches = tagged_batches(x, y, head_ids, training.batch_size, steps, generator, task.augment,
                                 module_device(model))
    opt = task_optimizer(training, params)

    def forward(inputs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        xb, hb = inputs
        model.train()
        return model.forward_heads(xb, hb)

    return fit(forward, opt, batches, total=steps, penalty=penalty, description=f"{name} task {task.task_id}",
               progress=progress, probe=probe, rates=rates, amp=training.amp)
