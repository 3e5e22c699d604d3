"""The named random streams of a run, each derived from the run's one seed.

Every component draws from its own stream, so changing how much one draws (more batches, a
different transfer mode, more detection checks) never shifts another's numbers. The offsets
below are the only place where a stream's seed is computed; they are historical values, kept
so that results stay the same for the same settings.

| stream              | seed                | used by                                              |
|---------------------|---------------------|------------------------------------------------------|
| `weights`           | seed                | the network's fixed or initial weights               |
| `scores`            | seed + 1            | per-task score init (SupSup, HopSupSup, NNs), BatchE signs |
| `batches`           | seed + 2            | training batch order; the NNs stream's batch order   |
| `fisher`/`buffer`/`probe` | seed + 3      | EWC's Fisher samples, replay's buffer, HopSupSup's probe |
| `head(task_id)`     | seed + 1000 + task_id | a dense method's new task head                     |
| `candidates`        | seed + 1_000_003    | NNs detection's random candidate masks (far from `weights`) |
| `permutation(task_id)` | (seed + task_id) mod 2**32 | the permuted benchmark's pixel permutation of a task |
| `pixel_order`       | (seed + 5_000_011) mod 2**32 | nested permuted tasks' one order of the pixel positions |
| `eval_sample(task_id)` | seed + 3_000_017 + task_id | the fixed sample of a task's test images that evaluation uses (`run.eval_sample`) |
| `augment(task_id, step)` | SeedSequence((seed, 4, task_id, step)) | the training augmentation of one batch (crop, flip) |
| `eval_order(task_id)` | SeedSequence((seed, 5, task_id)) | the fixed shuffled order in which evaluation reads a task's test images |

The augmentation seeds one generator per (task, step) rather than drawing from a stream: a
task's batches then look the same whether it is trained straight through, after a resume, or
apart from the others, whatever else drew random numbers before it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_SCORES, _BATCHES, _AUXILIARY, _HEADS, _CANDIDATES, _EVAL_SAMPLE = 1, 2, 3, 1000, 1_000_003, 3_000_017
_PIXEL_ORDER = 5_000_011  # far from `permutation(task_id)` = seed + task_id for any number of tasks one run holds
_AUGMENT, _EVAL_ORDER = 4, 5  # the tags that set the augmentation's and the test order's seed sequences apart


@dataclass(frozen=True)
class Streams:
    """The seeds of every named random stream of a run with seed `seed`."""

    seed: int

    @property
    def weights(self) -> int:
        return self.seed

    @property
    def scores(self) -> int:
        return self.seed + _SCORES

    @property
    def signs(self) -> int:
        """BatchE's random signs: the stream a masked method uses for scores."""
        return self.seed + _SCORES

    @property
    def batches(self) -> int:
        return self.seed + _BATCHES

    @property
    def stream_order(self) -> int:
        """The NNs training stream's batch order: the same stream as `batches`."""
        return self.seed + _BATCHES

    # One auxiliary stream, named for what each method draws from it (no method uses two).
    @property
    def fisher(self) -> int:
        return self.seed + _AUXILIARY

    @property
    def buffer(self) -> int:
        return self.seed + _AUXILIARY

    @property
    def probe(self) -> int:
        return self.seed + _AUXILIARY

    def head(self, task_id: int) -> int:
        return self.seed + _HEADS + task_id

    @property
    def candidates(self) -> int:
        return self.seed + _CANDIDATES

    def eval_sample(self, task_id: int) -> int:
        """The sample of task `task_id`'s test images that evaluation uses; far from `head` and `candidates`."""
        return self.seed + _EVAL_SAMPLE + task_id

    def permutation(self, task_id: int) -> int:
        # numpy's RandomState takes seeds below 2**32: wrap, which changes nothing for the seeds that fit
        return (self.seed + task_id) % 2**32

    @property
    def pixel_order(self) -> int:
        """The order of the pixel positions that nested permuted tasks share (`data.permute_subsets: nested`)."""
        return (self.seed + _PIXEL_ORDER) % 2**32

    def augment(self, task_id: int, step: int) -> int:
        """The seed of the generator that augments training batch `step` of task `task_id` (64 bits, mixed by
        numpy's SeedSequence, so nearby steps and tasks get unrelated draws)."""
        return _mixed(self.seed, _AUGMENT, task_id, step)

    def eval_order(self, task_id: int) -> int:
        """The seed of the shuffled order in which evaluation reads task `task_id`'s test images.

        A source may store its test images sorted by class (the embedded mnist-5k does): read in
        file order, every test batch of a batch-level task inference would hold one or two classes.
        """
        return _mixed(self.seed, _EVAL_ORDER, task_id)


def _mixed(*entropy: int) -> int:
    """A 63-bit generator seed mixed by numpy's SeedSequence from `entropy`."""
    low, high = np.random.SeedSequence(entropy).generate_state(2, np.uint32)
    return int(low) | (int(high & 0x7FFFFFFF) << 32)


def streams(seed: int) -> Streams:
    """The named random streams of a run with seed `seed`."""
    return Streams(int(seed))


__all__ = ["Streams", "streams"]
