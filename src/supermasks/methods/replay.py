"""Experience replay: stored samples of finished tasks are mixed into the training of each new task."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import torch

from supermasks.conditional import complete, only_when
from supermasks.data.images import materialize
from supermasks.data.task import Task
from supermasks.compute.devices import module_device
from supermasks.methods import _dense
from supermasks.methods._state import check_header, header, load_generator, owned
from supermasks.methods._selection import NEEDS_LOGITS, SELECTIONS, reservoir, select
from supermasks.methods._training import task_schedule
from supermasks.methods.base import MethodSpec
from supermasks.models import DenseNetwork, parameter_bytes
from supermasks.training import FitResult, Probe, TrainingSettings
from supermasks.seeds import streams

if TYPE_CHECKING:
    from supermasks.methods.base import MethodConfig


class Replay:
    """One dense network that rehearses a buffer of earlier tasks' samples (Rolnick et al. 2019).

    `mix="batch"` (the default) adds to every batch of the new task as many samples drawn from
    the buffer; `mix="concat"` trains on the task's training set concatenated with the whole
    buffer, shuffled together (the replay seed's mixing). In the task scenario every replayed
    sample goes through its own task's head, so old heads keep being trained.

    After a task is learned, `store` picks candidates from its training set: `per_task` of them
    if given, else `round(fraction * n)`, chosen by `selection` (see `_selection.SELECTIONS`).
    Without a `budget` every candidate joins the buffer. With one, the candidates of all tasks
    form one stream in task order and reservoir sampling (Vitter 1985, algorithm R) decides
    which stay: each candidate ever offered is equally likely to be in the buffer, so tasks are
    represented in proportion to their candidate counts within a fixed, small memory (as in the
    tiny episodic memories of Chaudhry et al. 2019). Selection decides which samples may be
    kept; the reservoir decides which of those fit.

    Told the number of tasks (`expect_tasks`), the last task stores nothing: no task follows to
    rehearse it. The runner tells it, so a finished run's buffer holds only the samples that
    some task did rehearse.
    """

    name = "replay"
    # Besides the training settings (`_state.RECORDED_TRAINING`).
    HYPERPARAMETERS = ("scenario", "seed", "fraction", "per_task", "budget", "selection", "mix", "eval_batch_size")

    def __init__(self, model: DenseNetwork, *, training: TrainingSettings = TrainingSettings(), scenario: str = "task",
                 seed: int = 0, fraction: float = 0.5, per_task: int | None = None, budget: int | None = None,
                 selection: str = "random", mix: str = "batch", eval_batch_size: int = 1024) -> None:
        problem = hyperparameter_problem(fraction, per_task, budget, selection, mix)
        if problem:
            raise ValueError(problem)
        self.model = model
        self.training = training
        self.scenario = scenario
        self.seed = seed
        self.fraction = fraction
        self.per_task = per_task
        self.budget = budget
        self.selection = selection
        self.mix = mix
        self.eval_batch_size = eval_batch_size
        self.batch_generator_ = torch.Generator().manual_seed(streams(seed).batches)
        self.buffer_generator_ = torch.Generator().manual_seed(streams(seed).buffer)
        # The image shape is unknown until the first task is stored.
        self.buffer_x_ = torch.empty(0)
        self.buffer_y_ = torch.empty(0, dtype=torch.int64)
        self.buffer_task_ = torch.empty(0, dtype=torch.int64)
        self.seen_ = 0  # candidates offered to the reservoir so far (its stream position)
        self._num_tasks: int | None = None  # the sequence's length when known: told on every run, not state

    def expect_tasks(self, num_tasks: int | None) -> None:
        """The sequence has `num_tasks` tasks (None: unknown); the last one's samples are not stored."""
        self._num_tasks = num_tasks

    def begin_task(self, task: Task) -> None:
        _dense.begin_task(self.model, self.scenario, task, self.seed)

    def learn(self, task: Task, *, progress: bool = True, probe: Probe | None = None) -> FitResult:
        if self.mix == "batch" and self.buffer_size() > 0:
            x, y, batches = task.x_train, task.y_train, self.mixed_batches(task)
            head_ids = None
        else:
            (x, y, head_ids), batches = self.training_set(task), None
        result = _dense.train_task(self.model, self.scenario, task, x, y, params=list(self.model.parameters()),
                                   training=self.training,
                                   generator=self.batch_generator_, name=self.name, progress=progress, probe=probe,
                                   head_ids=head_ids, batches=batches)
        if self._num_tasks is None or task.task_id < self._num_tasks - 1:  # the last task has no one to rehearse it
            self.store(task)
        return result

    def mixed_batches(self, task: Task) -> _dense.Batches:
        """Each step: `batch_size` samples of the task plus as many drawn from the buffer.

        However large the new task, every update rehearses old tasks at the same rate, unlike
        concatenation, where a small buffer is diluted in a large task's data.
        """
        own = _dense.head_of(self.model, self.scenario, task.task_id)
        own_heads = torch.full((len(task.y_train),), own, dtype=torch.int64)
        buffer_heads = self.buffer_task_ if self.scenario == "task" else torch.zeros_like(self.buffer_task_)
        (steps, _), device = task_schedule(self.training, task), module_device(self.model)
        batch_size = self.training.batch_size
        current = _dense.tagged_batches(task.x_train, task.y_train, own_heads, batch_size,
                                        steps, self.batch_generator_, task.augment, device)
        replayed = _dense.tagged_batches(self.buffer_x_, self.buffer_y_, buffer_heads, batch_size,
                                         steps, self.batch_generator_, device=device)
        for ((xa, ha), ya), ((xb, hb), yb) in zip(current, replayed):
            yield (torch.cat([xa, xb]), torch.cat([ha, hb])), torch.cat([ya, yb])

    def training_set(self, task: Task) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(images, labels, head ids or None): the task's training data followed by the buffer."""
        if self.buffer_size() == 0:
            return task.x_train, task.y_train, None
        x = torch.cat([materialize(task.x_train), self.buffer_x_])
        y = torch.cat([task.y_train, self.buffer_y_])
        if self.scenario != "task":
            return x, y, None  # one shared head serves every sample
        own = torch.full((len(task.y_train),), _dense.head_of(self.model, self.scenario, task.task_id),
                         dtype=torch.int64)
        return x, y, torch.cat([own, self.buffer_task_])

    def store(self, task: Task) -> None:
        """Select candidates from `task`'s training set and add them to the buffer (within `budget`)."""
        n = len(task.y_train)
        count = self.per_task if self.per_task is not None else round(self.fraction * n)
        logits = self._logits(task) if self.selection in NEEDS_LOGITS else None
        chosen = select(self.selection, count, task.y_train, generator=self.buffer_generator_, logits=logits)
        new_x, new_y = task.x_train[chosen], task.y_train[chosen]
        new_task = torch.full((len(chosen),), task.task_id, dtype=torch.int64)
        old = self.buffer_size()
        if old == 0:
            pool_x, pool_y, pool_task = new_x, new_y, new_task
        else:
            pool_x = torch.cat([self.buffer_x_, new_x])
            pool_y = torch.cat([self.buffer_y_, new_y])
            pool_task = torch.cat([self.buffer_task_, new_task])
        if self.budget is not None:
            winner = reservoir(self.seen_, len(chosen), self.budget, self.buffer_generator_)
            # Slots the reservoir leaves alone keep their sample; the others take candidate `winner`.
            keep = torch.where(winner >= 0, old + winner, torch.arange(len(winner)))
            pool_x, pool_y, pool_task = pool_x[keep], pool_y[keep], pool_task[keep]
        self.buffer_x_, self.buffer_y_, self.buffer_task_ = pool_x, pool_y, pool_task
        self.seen_ += len(chosen)

    @torch.no_grad()
    def _logits(self, task: Task) -> torch.Tensor:
        """The trained network's outputs on `task`'s training set, in evaluation batches, on the CPU (beside the data)."""
        x = task.x_train
        return torch.cat([_dense.predict(self.model, self.scenario, x[i:i + self.eval_batch_size], task.task_id).cpu()
                          for i in range(0, len(x), self.eval_batch_size)])

    def can_predict(self, task_id: int | None) -> bool:
        return _dense.can_predict(self.model, self.scenario, task_id)

    def predict(self, x: torch.Tensor, task_id: int | None) -> torch.Tensor:
        return _dense.predict(self.model, self.scenario, x, task_id)

    def buffer_size(self) -> int:
        """Number of stored samples, over all tasks."""
        return len(self.buffer_y_)

    def buffer_bytes(self) -> int:
        """Bytes of the buffer as stored: images, labels and task ids."""
        return sum(t.numel() * t.element_size() for t in (self.buffer_x_, self.buffer_y_, self.buffer_task_))

    def memory_bytes(self) -> int:
        return parameter_bytes(self.model) + self.buffer_bytes()

    def state_dict(self) -> dict[str, Any]:
        return {**header(self, self.HYPERPARAMETERS), "network": _dense.network_state(self.model),
                "batch_generator": self.batch_generator_.get_state(),
                "buffer_generator": self.buffer_generator_.get_state(),
                "buffer": {"x": self.buffer_x_, "y": self.buffer_y_, "task": self.buffer_task_}, "seen": self.seen_}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        check_header(self, self.HYPERPARAMETERS, state)
        _dense.load_network_state(self.model, state["network"])
        load_generator(self.batch_generator_, state["batch_generator"])
        load_generator(self.buffer_generator_, state["buffer_generator"])
        buffer = state["buffer"]
        self.buffer_x_, self.buffer_y_, self.buffer_task_ = (owned(buffer[k]) for k in ("x", "y", "task"))
        self.seen_ = state["seen"]


MIXES = ("batch", "concat")


def hyperparameter_problem(fraction: float | None, per_task: int | None, budget: int | None, selection: str,
                           mix: str = "batch", prefix: str = "") -> str | None:
    """Why these replay settings are invalid (names carry `prefix`), or None when they are fine."""
    if fraction is not None and not 0.0 <= fraction <= 1.0:  # also rejects NaN
        return f"{prefix}fraction must be in [0, 1], got {fraction}"
    if per_task is not None and per_task < 0:
        return f"{prefix}per_task must be a non-negative count, got {per_task}"
    if budget is not None and budget < 1:
        return f"{prefix}budget must be at least 1 (or null for no limit), got {budget}"
    if selection not in SELECTIONS:
        return f"unknown {prefix}selection {selection!r}; choose one of {', '.join(SELECTIONS)}"
    if mix not in MIXES:
        return f"unknown {prefix}mix {mix!r}; choose one of {', '.join(MIXES)}"
    return None


@dataclass(frozen=True)
class ReplaySettings:
    """The `replay` section: how much of each finished task is kept, which samples, and how they are mixed."""

    # The fraction of each finished task's training set kept (with a budget: offered to the reservoir),
    # unless per_task gives a count per task instead.
    fraction: float | None = field(default=None, metadata=only_when(
        "per_task", None, "replay without per_task", default=0.5, fix="remove replay.per_task"))
    per_task: int | None = None
    budget: int | None = None  # total buffer size across tasks (reservoir), or no limit
    selection: Literal["random", "uncertain", "misclassified", "balanced"] = "random"  # see _selection.SELECTIONS
    mix: Literal["batch", "concat"] = "batch"  # "batch": each batch adds as many buffer samples; "concat": data + buffer

    def __post_init__(self) -> None:
        complete(self, "replay")
        problem = hyperparameter_problem(self.fraction, self.per_task, self.budget, self.selection, self.mix)
        if problem:
            raise ValueError(problem)


def from_config(config: "MethodConfig") -> Replay:
    settings: ReplaySettings = config.settings("replay")
    return Replay(_dense.build_network(config), training=config.training, scenario=config.scenario.name, seed=config.seed,
                  **({} if settings.fraction is None else {"fraction": settings.fraction}), per_task=settings.per_task, budget=settings.budget, selection=settings.selection,
                  mix=settings.mix, eval_batch_size=config.run.eval_batch_size)


SPEC = MethodSpec(from_config, "experience replay: stored samples of earlier tasks mixed into training",
                  frozenset({"task", "domain", "class"}), settings=ReplaySettings,
                  check=_dense.own_network_check("replay"), own_network=True)
