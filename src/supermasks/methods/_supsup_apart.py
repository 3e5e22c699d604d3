"""SupSup's tasks learned apart (`LearnsTasksApart`, `run.parallel_tasks`): where its random streams stand at each
task's start, one task learned alone by a fresh SupSup, and its result installed in the SupSup running the sequence."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

import torch
from torch import nn

from supermasks.data.task import Task
from supermasks.methods._supsup_scores import random_init
from supermasks.methods._training import task_schedule
from supermasks.methods.base import LearnedTask, TaskStart
from supermasks.models import finish_task_with, norm_statistics, num_tasks, packed_task
from supermasks.training import FitResult, Probe, TrainingSettings, skip_batches


class Sequential(Protocol):
    """What learning tasks apart reads and sets of the SupSup running the sequence (`methods.supsup.SupSup`)."""

    model: nn.Module
    training: TrainingSettings
    transfer: str
    score_generator_: torch.Generator
    batch_generator_: torch.Generator
    finished_: int
    num_classes_: int

    def learn(self, task: Task, *, progress: bool = True, probe: Probe | None = None) -> FitResult: ...

    def end_task(self, task_id: int) -> None: ...


def task_starts(method: Sequential, tasks: Sequence[Task]) -> list[TaskStart]:
    """The generators' states at the start of each of `tasks`, and after the last (len(tasks) + 1 states).

    With random transfer a task's training reads nothing of earlier tasks but the two random
    streams, and from them it takes fixed amounts: `begin_task` one random draw of scores per
    masked layer, `learn` one permutation of the training set per epoch. Those draws are
    replayed here on copies of the generators, without training, so that each task can be
    trained apart from the others (`learn_alone`) with exactly the numbers it gets in sequence.
    `tasks` must be the next tasks to begin, in order; the method's own generators do not move.
    """
    if method.transfer != "random":
        raise ValueError(f"transfer={method.transfer!r} starts a task from earlier tasks' trained scores: its tasks "
                         "cannot be trained apart")
    first = num_tasks(method.model)
    if [t.task_id for t in tasks] != list(range(first, first + len(tasks))):
        raise ValueError(f"task_starts needs the next tasks in order, from task {first}; got "
                         f"{[t.task_id for t in tasks]}")
    scores, batches = torch.Generator(), torch.Generator()
    scores.set_state(method.score_generator_.get_state())
    batches.set_state(method.batch_generator_.get_state())
    starts = []
    for task in tasks:
        starts.append(TaskStart(scores.get_state(), batches.get_state()))
        random_init(method.model, scores)  # begin_task's draw
        steps, _ = task_schedule(method.training, task)
        skip_batches(len(task.x_train), method.training.batch_size, steps, batches)  # learn's batches
    starts.append(TaskStart(scores.get_state(), batches.get_state()))
    return starts


def learn_alone(method: Sequential, task: Task, start: TaskStart, *, progress: bool = False) -> LearnedTask:
    """Learn `task` alone in the fresh `method` (no task begun yet), its streams set to `start` (`task_starts`).

    The task is learned as the network's task 0: its initial scores, batches, masks and BN
    statistics are those the task gets at its own place in the sequence (a task's forward does
    not depend on its index). Returns them for `learned_apart` in the SupSup running the sequence.
    """
    if num_tasks(method.model) != 0:
        raise ValueError(f"learn_alone needs a fresh SupSup; this one holds {num_tasks(method.model)} task(s)")
    method.score_generator_.set_state(start.scores)
    method.batch_generator_.set_state(start.batches)
    fitted = method.learn(dataclasses.replace(task, task_id=0), progress=progress)
    masks = {name: packed.cpu() for name, packed in packed_task(method.model, 0).items()}  # CPU copies travel
    norms = {name: {k: v.cpu() for k, v in stats.items()} for name, stats in norm_statistics(method.model, 0).items()}
    return LearnedTask(task.task_id, masks, norms, fitted)


def learned_apart(method: Sequential, task: Task, learned: LearnedTask, after: TaskStart) -> None:
    """End the begun `task` with what `learn_alone` learned for it; move the streams to `after`, its end.

    After this the method is as `learn(task)` leaves it: the same masks, BN statistics and
    generator states (the score stream has moved in `begin_task` already, and is checked).
    """
    if learned.task_id != task.task_id:
        raise ValueError(f"the learned task is task {learned.task_id}, not task {task.task_id}")
    if task.task_id != method.finished_ or task.task_id >= num_tasks(method.model):
        raise ValueError(f"task {task.task_id} must be the begun task next to finish (task {method.finished_})")
    if not torch.equal(method.score_generator_.get_state(), after.scores):
        raise RuntimeError(f"task {task.task_id}: the score stream is not where the replay put the end of the "
                           "task; the task was learned from other initial scores")
    finish_task_with(method.model, task.task_id, learned.masks, learned.norms)
    method.end_task(task.task_id)
    method.batch_generator_.set_state(after.batches)
    method.num_classes_ = max(method.num_classes_, task.num_classes)
