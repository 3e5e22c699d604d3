"""Filling the accuracy matrix R the way the scenario asks: task id given, or inferred for each test batch.

The runner picks one `Evaluation` per (benchmark, method) from the scenario, once, and calls
`untrained` before each task is learned and `after_task` once it is; no other code asks which
scenario it is in. (The NNs scenario, with no task boundaries at all, is `runner.stream`.)

Every evaluation reads a task's test images in a fixed shuffled order, drawn from the task's own
`eval_order` stream (`test_order`): some sources store their test images sorted by class (the
embedded mnist-5k does), and a batch-level task inference over test batches read in file order
would see one or two classes per batch instead of a mix. The order changes no accuracy where each
image is classified on its own (task given, or inferred per image); it decides what each test
batch holds where a task is inferred per batch (GNs/GNu with `scenario.inference_batch_size` > 1,
NNs). With `run.eval_sample` every evaluation (b, R, the learning curves, task inference and its
confusion matrix) uses the same fixed sample of each task's test images (`sample_index`), drawn
from the task's own `eval_sample` stream and read in its shuffled order, so it is the same after
every task and after a resume.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from supermasks.data import Task, subset
from supermasks.errors import ConfigError
from supermasks.methods import InfersPerImage, InfersTasks, Method
from supermasks.scenarios import INFERRED, task_id_at_test
from supermasks.seeds import streams
from supermasks.training import accuracy


@dataclass
class Results:
    """What evaluation has filled in so far; saved with every checkpoint so a resumed run goes on with it."""

    r: np.ndarray  # (T, T): accuracy on task j after training task i; NaN where not evaluated
    b: np.ndarray  # (T,): accuracy of the untrained method on each task
    inference: np.ndarray  # (T, T): fraction of task j's test batches whose task was inferred right (GNs/GNu)
    confusion: np.ndarray  # (T, T) after the last task: true task x inferred task, in test batches
    seconds: float = 0.0  # after the last task: time spent inferring and classifying ...
    inferences: int = 0  # ... this many test batches (or images)

    @classmethod
    def empty(cls, n: int) -> Results:
        return cls(np.full((n, n), np.nan), np.full(n, np.nan), np.full((n, n), np.nan),
                   np.zeros((n, n), dtype=np.int64))

    def to_json(self) -> dict[str, Any]:
        """The results so far, with only the filled rows of R and of task inference and the nonzero confusion.

        Saved after every task: with `run.evaluate: last` the (T, T) matrices hold no number until
        the last task, and writing all T**2 entries each time would cost O(T**3) over a run
        (seconds per task at 2,500 tasks).
        """
        nonzero = np.argwhere(self.confusion)
        return {"r": _filled_rows(self.r), "b": self.b.tolist(), "inference": _filled_rows(self.inference),
                "confusion": {"size": len(self.confusion),
                              "nonzero": [[int(i), int(j), int(self.confusion[i, j])] for i, j in nonzero]},
                "seconds": self.seconds, "inferences": self.inferences}

    @classmethod
    def from_json(cls, saved: dict[str, Any]) -> Results:
        """What `to_json` wrote (or the full nested lists that earlier versions wrote)."""
        r, inference = _matrix(saved["r"]), _matrix(saved["inference"])
        confusion = saved["confusion"]
        if isinstance(confusion, dict):
            counts = np.zeros((confusion["size"], confusion["size"]), dtype=np.int64)
            for i, j, c in confusion["nonzero"]:
                counts[i, j] = c
        else:
            counts = np.array(confusion, dtype=np.int64)
        return cls(r, np.array(saved["b"], dtype=float), inference, counts, float(saved.get("seconds", 0.0)),
                   int(saved.get("inferences", 0)))


def _filled_rows(matrix: np.ndarray) -> dict[str, Any]:
    """A square matrix as its size and the rows holding any number (the others are all NaN)."""
    rows = np.flatnonzero(~np.isnan(matrix).all(axis=1))
    return {"size": len(matrix), "rows": rows.tolist(), "values": matrix[rows].tolist()}


def _matrix(saved: dict[str, Any] | list) -> np.ndarray:
    """The matrix `_filled_rows` describes (NaN elsewhere); a nested list as it is."""
    if not isinstance(saved, dict):
        return np.array(saved, dtype=float)
    matrix = np.full((saved["size"], saved["size"]), np.nan)
    if saved["rows"]:
        matrix[saved["rows"]] = np.array(saved["values"], dtype=float)
    return matrix


@dataclass
class Evaluation:
    """Task given at test time (GG, or none at all in the domain and class scenarios)."""

    batch_size: int
    given: bool  # whether `predict` is told the task id at test time
    results: Results = field(init=False)
    sample: int | None = None  # test images per task evaluated (a fixed sample); None: all of them
    seed: int = 0  # the run's seed, from which each task's sample is drawn

    def tested(self, task: Task) -> Task:
        """`task` with the test images this evaluation uses: its fixed sample, or all of them."""
        return evaluated_part(task, self.sample, self.seed)

    def accuracy(self, method: Method, task: Task) -> float:
        """`method`'s accuracy on `task`, with the task id where the scenario gives it at training time."""
        task_id = task.task_id if self.given else None
        task = self.tested(task)
        return accuracy(lambda x: method.predict(x, task_id), task.x_test, task.y_test, self.batch_size)

    def untrained(self, method: Method, tasks: list[Task]) -> None:
        """b for every task the untrained method can already predict (a dense net's shared head)."""
        for task in tasks:
            if method.can_predict(task.task_id if self.given else None):
                self.results.b[task.task_id] = self.accuracy(method, task)

    def begun(self, method: Method, task: Task) -> None:
        """b[task] right after `begin_task`, for a task the untrained method could not predict (a new mask or head)."""
        if np.isnan(self.results.b[task.task_id]):
            self.results.b[task.task_id] = self.accuracy(method, task)

    def after_task(self, method: Method, after: Task, tasks: list[Task]) -> None:
        """Row `after` of R for every task the method can predict."""
        for other in tasks:
            if method.can_predict(other.task_id if self.given else None):
                self.results.r[after.task_id, other.task_id] = self.accuracy(method, other)


@dataclass
class InferredEvaluation(Evaluation):
    """GNs/GNu: the task id is given while training (so b and the curves use it) but inferred at test time."""

    unshared: bool = False  # GNu: a test batch sent to the wrong task counts as all wrong
    inference_batch_size: int = 128

    def after_task(self, method: Method, after: Task, tasks: list[Task]) -> None:
        if not isinstance(method, InfersTasks):
            raise TypeError(f"{method.name} cannot infer tasks, so it cannot be evaluated without task ids")
        last = after.task_id == len(tasks) - 1
        learned = [self.tested(other) for other in tasks[:after.task_id + 1]]
        start = time.perf_counter()
        outcomes = infer_and_classify_tasks(method, learned, self.inference_batch_size, unshared=self.unshared)
        seconds = time.perf_counter() - start
        for other, (acc, right, guesses) in zip(learned, outcomes):
            self.results.r[after.task_id, other.task_id], self.results.inference[after.task_id, other.task_id] = acc, right
            if last:
                np.add.at(self.results.confusion[other.task_id], guesses, 1)
                self.results.inferences += len(guesses)
        if last:
            self.results.seconds += seconds


def evaluation_for(scenario: str, *, batch_size: int, inference_batch_size: int | None, num_tasks: int,
                   sample: int | None = None, seed: int = 0) -> Evaluation:
    """The evaluation of `scenario` (task, domain, class, gns, gnu), with empty results for `num_tasks` tasks.

    `sample`: evaluate on a fixed sample of that many test images per task, drawn with `seed`'s
    `eval_sample` streams (None: every test image).
    """
    if scenario in INFERRED:
        if inference_batch_size is None:
            raise ValueError(f"scenario {scenario} infers a task per batch: give its inference_batch_size")
        evaluation: Evaluation = InferredEvaluation(batch_size, True, sample=sample, seed=seed,
                                                    unshared=scenario == "gnu",
                                                    inference_batch_size=inference_batch_size)
    else:
        evaluation = Evaluation(batch_size, task_id_at_test(scenario), sample=sample, seed=seed)
    evaluation.results = Results.empty(num_tasks)
    return evaluation


class SampleTooLarge(ConfigError):
    """`run.eval_sample` asks for more test images than a task has (a setting to change: one line, exit code 2)."""


def check_sample(tasks: list[Task], sample: int | None) -> None:
    """Raise SampleTooLarge, naming the smallest test set, if some task has fewer than `sample` test images.

    A sample never silently shrinks to the whole test set: then "ACC on a sample of N test
    images per task" would not hold for every task.
    """
    if sample is None or not tasks:
        return
    smallest = min(tasks, key=lambda t: len(t.y_test))
    if len(smallest.y_test) < sample:
        raise SampleTooLarge(f"run.eval_sample={sample} test images per task, but task {smallest.task_id} "
                             f"({smallest.name}) has only {len(smallest.y_test)}; use at most that many, or "
                             f"null to evaluate on every test image")


def sample_index(num_images: int, size: int, seed: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """`size` distinct positions out of `num_images`, drawn uniformly without replacement with `seed`, ascending.

    The first `size` entries of a seeded random permutation (torch.randperm on the CPU
    generator, so the sample is the same on every device): int64 (size,) on `device`.
    """
    if not 1 <= size <= num_images:
        raise SampleTooLarge(f"a sample of {size} out of {num_images} test images: need 1 <= size <= {num_images}")
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(num_images, generator=generator)[:size].sort().values.to(device)


def test_order(num_images: int, seed: int) -> torch.Tensor:
    """A seeded random permutation of `num_images` positions (torch.randperm on the CPU generator): int64 (num_images,).

    On the CPU whatever the device, so a task's order is the same on every device.
    """
    return torch.randperm(num_images, generator=torch.Generator().manual_seed(seed))


def evaluated_part(task: Task, sample: int | None, seed: int) -> Task:
    """`task` with the test images every evaluation reads, in the order it reads them.

    Its fixed sample of `sample` test images (stream `eval_sample(task_id)` of `seed`), or all of
    them when `sample` is None, in the fixed shuffled order of stream `eval_order(task_id)`: no
    test batch is sorted by class, whatever order the source stores. Lazy task images stay lazy
    (only the positions are kept), so nothing is computed until a batch is read.
    """
    n = len(task.y_test)
    if n == 0:
        return task
    positions = torch.arange(n) if sample is None else sample_index(n, sample, streams(seed).eval_sample(task.task_id))
    index = positions[test_order(len(positions), streams(seed).eval_order(task.task_id))]
    return dataclasses.replace(task, x_test=subset(task.x_test, index), y_test=task.y_test[index.to(task.y_test.device)])


def infer_and_classify_tasks(method: InfersTasks, tasks: list[Task], batch_size: int, *, unshared: bool,
                             chunk: int = 1024) -> list[tuple[float, float, list[int]]]:
    """`infer_and_classify` for each of `tasks`, in order, with single-image inference pooled across tasks.

    With `batch_size` 1 and a method that infers per image, the test images of all `tasks` are
    inferred together, `chunk` images per call, and each chunk is classified grouped by inferred
    task (`classify_by_task`): each
    image's inference depends on that image alone, so the outcomes are those of
    `infer_and_classify` task by task, but each call's fixed cost (unpacking every stored mask
    once) is paid once per `chunk` images instead of once per task. That matters with many tasks
    and a small sample of each (2,500 tasks of 10 sampled images: one call per task unpacks all
    2,500 masks 2,500 times).
    """
    if not (batch_size == 1 and isinstance(method, InfersPerImage)) or not tasks:
        return [infer_and_classify(method, task, batch_size, unshared=unshared) for task in tasks]
    sizes = [len(task.y_test) for task in tasks]
    hits, inferred = [], []
    for x, y in _pooled_chunks(tasks, chunk):
        guesses = method.infer_task_per_image(x).to(y.device)
        inferred.append(guesses)
        hits.append(classify_by_task(method, x, guesses) == y)
    all_hits, all_inferred = torch.cat(hits), torch.cat(inferred)
    truth = torch.repeat_interleave(torch.tensor([task.task_id for task in tasks], device=all_inferred.device),
                                    torch.tensor(sizes, device=all_inferred.device))
    right = all_inferred == truth
    if unshared:
        all_hits &= right
    return [(int(h.sum()) / len(h), int(r.sum()) / len(r), g.tolist())
            for h, r, g in zip(all_hits.split(sizes), right.split(sizes), all_inferred.split(sizes))]


def _pooled_chunks(tasks: list[Task], chunk: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The test images and labels of `tasks`, in order, as (x, y) chunks of up to `chunk` images across tasks.

    Only one chunk is materialised at a time (lazy task images stay lazy).
    """
    xs: list[torch.Tensor] = []
    ys: list[torch.Tensor] = []
    held = 0
    for task in tasks:
        start = 0
        while start < len(task.y_test):
            stop = min(len(task.y_test), start + chunk - held)
            xs.append(task.x_test[start:stop])
            ys.append(task.y_test[start:stop])
            held += stop - start
            start = stop
            if held == chunk:
                yield torch.cat(xs), torch.cat(ys)
                xs, ys, held = [], [], 0
    if held:
        yield torch.cat(xs), torch.cat(ys)


def infer_and_classify(method: InfersTasks, task: Task, batch_size: int, *,
                       unshared: bool) -> tuple[float, float, list[int]]:
    """GNs/GNu evaluation of `task`: infer the task of each test batch, classify it with that task.

    Returns (accuracy, task-inference accuracy over batches, each batch's inferred task). With
    `batch_size` 1 a method that infers per image does so for many images at once, then classifies
    the images grouped by inferred task (`classify_by_task`). With unshared labels (GNu) a batch
    whose task was inferred wrongly counts as all wrong, as in the SupSup paper.
    """
    if batch_size == 1 and isinstance(method, InfersPerImage):
        inferred = torch.cat([method.infer_task_per_image(task.x_test[i:i + 256]) for i in range(0, len(task.x_test), 256)])
        inferred = inferred.to(task.y_test.device)
        hits = classify_by_task(method, task.x_test, inferred) == task.y_test
        right = inferred == task.task_id
        if unshared:
            hits &= right
        return int(hits.sum()) / len(task.y_test), int(right.sum()) / len(inferred), inferred.tolist()
    correct, right_task, guesses = 0, 0, []
    for i in range(0, len(task.y_test), batch_size):
        xb, yb = task.x_test[i:i + batch_size], task.y_test[i:i + batch_size]
        guess = method.infer_task(xb)
        guesses.append(guess)
        hits = method.predict(xb, guess).argmax(dim=1).to(yb.device) == yb  # type: ignore[attr-defined]
        if guess == task.task_id:
            right_task += 1
        elif unshared:
            hits = torch.zeros_like(hits)
        correct += int(hits.sum())
    return correct / len(task.y_test), right_task / len(guesses), guesses


def classify_by_task(method: Method, x: torch.Tensor, tasks: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Predicted class of each image of `x` by the task `tasks[i]` given for it: (len(x),) long.

    The images of one task go through `method.predict` together, in batches of `batch_size`,
    instead of one call per image; each image's logits depend on that image alone (evaluation
    mode), so the predictions are those of classifying each image on its own.
    """
    predictions = torch.empty(len(x), dtype=torch.long, device=x.device)
    for task_id in torch.unique(tasks).tolist():
        index = (tasks == task_id).nonzero().squeeze(1).to(x.device)
        for chunk in index.split(batch_size):
            predictions[chunk] = method.predict(x[chunk], task_id).argmax(dim=1).to(predictions.device)
    return predictions
