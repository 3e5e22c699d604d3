"""Binary-search support: a subset of a `MaskBank`'s tasks re-packed densely, with its own counts.

Binary-search inference (Wortsman, Ramanujan et al., NeurIPS 2020, section 3) superposes ever
smaller subsets of the tasks. `PackedSubset` holds such a subset re-packed 16 tasks to an int16
word, so that each round reads about as many words as it has tasks / 16, with the subset's own
per-weight counts for its uniform mixture. Re-packing keeps every task at its bit position within
a word: a new word is the OR of a few masked source words (planned by `_repack_plan`, carried
out by `_subset_ops`), a handful of elementwise operations per weight and part.

Device: a subset's words, counts and scratch live on its bank's device, and the products and the
re-packing run there; the plan of a re-packing (which source bits go where) is a few integers per
task, computed on the CPU and copied over once per subset.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping

import torch

from supermasks.inference._packing import GROUP, _add_block_mixture, _unsigned, mixing_weights
from supermasks.inference._repack_plan import _plan_repack
from supermasks.inference._subset_ops import _Buffers, _columns, _repack_layer, _RowReader, _subset_products
from supermasks.inference.bank import MaskBank


class PackedSubset:
    """Some of a bank's tasks, re-packed densely (16 per int16 word), with their per-weight counts.

    Built by `packed_subset(bank, tasks)` or `PackedSubset.subset`. Offers what superposition needs
    of a bank (`shapes`, `num_tasks`, `mixture`, `inner_products`, Wortsman, Ramanujan et al.,
    NeurIPS 2020, eq. 2 and its alpha gradient) over its own tasks, in the order `tasks` lists
    them: position i is bank task `tasks[i]`. Word slots left empty hold zero bits. Words and
    counts live on the bank's device (`device`); `tasks` and `slots_` are CPU bookkeeping.
    """

    def __init__(self, shapes: Mapping[str, tuple[int, ...]], tasks: torch.Tensor, slots: torch.Tensor,
                 words: dict[str, torch.Tensor], counts: dict[str, torch.Tensor],
                 buffers: _Buffers | None = None) -> None:
        self.shapes = dict(shapes)
        self.tasks = tasks          # (t,) long: bank task ids, in position order
        self.slots_ = slots         # (words * 16,) long: position held by each slot, -1 if empty
        self.words_ = words         # name -> (words, n) int16
        self.counts_ = counts       # name -> (n,) int32: tasks of the subset keeping each weight
        self.device = next(iter(words.values())).device if words else torch.device("cpu")
        self._buffers = buffers or _Buffers(self.device)  # scratch for products and re-packing
        held = (slots >= 0).nonzero()[:, 0]
        self._slot_of = torch.empty(tasks.numel(), dtype=torch.long)  # (t,): the slot holding each position
        self._slot_of[slots[held]] = held
        self._slot_on_device = self._slot_of.to(self.device)
        self._valid = True

    @property
    def num_tasks(self) -> int:
        return self.tasks.numel()

    @property
    def num_words(self) -> int:
        return self.slots_.numel() // GROUP

    def numel(self, name: str) -> int:
        return math.prod(self.shapes[name])

    def _check(self) -> None:
        if not self._valid:
            raise RuntimeError("this subset's storage was reused by a later subset(..., reuse_storage=True)")

    def nbytes(self) -> int:
        """Bytes of the re-packed words (counts not included; reused storage may be larger)."""
        self._check()
        return sum(w.numel() * w.element_size() for w in self.words_.values())

    def mask(self, name: str, position: int) -> torch.Tensor:
        """The mask (bool, the layer's shape) of the subset's task at `position`."""
        self._check()
        if not 0 <= position < self.num_tasks:
            raise IndexError(f"position {position} is not in the subset ({self.num_tasks} tasks)")
        slot = int(self._slot_of[position])
        word = self.words_[name][slot // GROUP]
        return ((_unsigned(word) >> (GROUP - 1 - slot % GROUP)) & 1).to(torch.bool).view(self.shapes[name])

    def subset(self, positions: torch.Tensor | Iterable[int], reuse_storage: bool = False) -> PackedSubset:
        """The tasks at `positions` (distinct, in that order), re-packed from this subset's words.

        `reuse_storage=True` writes the new words over this subset's, which is then unusable:
        a chain of ever smaller subsets then needs no memory beyond the first. (Should the new
        subset need more words, which only keeping nearly every task can cause, it gets its own.)
        """
        self._check()
        pos = torch.as_tensor(list(positions) if not isinstance(positions, torch.Tensor) else positions,
                              dtype=torch.long).reshape(-1).cpu()
        if pos.numel() and (pos.min() < 0 or pos.max() >= self.num_tasks):
            raise IndexError(f"positions {pos.tolist()} outside the subset's {self.num_tasks} tasks")
        new_position = torch.full((self.num_tasks,), -1, dtype=torch.long)
        new_position[pos] = torch.arange(pos.numel())
        if int((new_position >= 0).sum()) != pos.numel():
            raise ValueError(f"positions {pos.tolist()} repeat a task")
        slot_new = torch.where(self.slots_ >= 0, new_position[self.slots_.clamp(min=0)], -1)
        plan = _plan_repack(slot_new)
        reuse_storage = reuse_storage and plan.num_words <= self.num_words
        buffers = self._buffers if reuse_storage else _Buffers(self.device)
        on_device = plan.to(self.device)
        words, counts = {}, {}
        for name, source in self.words_.items():
            out = source[:plan.num_words] if reuse_storage else \
                torch.empty(plan.num_words, source.shape[1], dtype=torch.int16, device=self.device)
            reader = functools.partial(_columns, source)
            counts[name] = _repack_layer(on_device, on_device.rows, reader, out, buffers)
            words[name] = out
        if reuse_storage:
            self._valid = False
        return PackedSubset(self.shapes, self.tasks[pos], plan.slots, words, counts, buffers)

    def inner_products(self, name: str, g: torch.Tensor, tasks: torch.Tensor | None = None) -> torch.Tensor:
        """`[<g, M_i>]_i` (float32) for the subset's tasks in position order, or for the positions `tasks`."""
        self._check()
        g = g.detach().reshape(-1).to(self.device, torch.float32)
        if g.numel() != self.numel(name):
            raise ValueError(f"g has {g.numel()} elements, layer {name!r} has {self.numel(name)}")
        per_slot = _subset_products(self.words_[name], g, self._buffers)  # (words * 16,)
        out = per_slot[self._slot_on_device]
        return out if tasks is None else out[torch.as_tensor(tasks, dtype=torch.long, device=self.device)]

    def mixture(self, name: str, alphas: torch.Tensor | None = None, tasks: torch.Tensor | None = None) -> torch.Tensor:
        """`sum_i alpha_i M_i` (float32, the layer's shape) over the subset's tasks, or over the positions `tasks`.

        Uniform alphas over the whole subset use its counts, as `MaskBank.mixture` does.
        """
        self._check()
        count = self.num_tasks if tasks is None else len(tasks)
        alphas = mixing_weights(alphas, count, self.num_tasks, self.device)
        if tasks is None and count and bool((alphas == alphas[0]).all()):  # uniform over all: the counts
            return (self.counts_[name].to(torch.float32) * alphas[0]).view(self.shapes[name])
        positions = torch.arange(count) if tasks is None else torch.as_tensor(tasks, dtype=torch.long).cpu()
        coef = torch.zeros(self.num_words * GROUP, device=self.device)
        coef.index_put_((self._slot_of[positions].to(self.device),), alphas, accumulate=True)
        out = torch.zeros(self.numel(name), device=self.device)
        _add_block_mixture(self.words_[name], coef.view(-1, GROUP), out)
        return out.view(self.shapes[name])


def packed_subset(bank: MaskBank, tasks: torch.Tensor | Iterable[int]) -> PackedSubset:
    """The masks of `tasks` (distinct, in that order) re-packed densely, with their counts.

    Reads only the words that hold the tasks; the result's memory is about len(tasks) / 16
    int16 words per weight, never a float stack.
    """
    ids = torch.as_tensor(list(tasks) if not isinstance(tasks, torch.Tensor) else tasks, dtype=torch.long)
    ids = ids.reshape(-1).cpu()
    if ids.numel() and (ids.min() < 0 or ids.max() >= bank.num_tasks):
        raise IndexError(f"tasks {ids.tolist()} outside the bank's {bank.num_tasks} tasks")
    if torch.unique(ids).numel() != ids.numel():
        raise ValueError(f"tasks {ids.tolist()} repeat a task")
    # Source row w holds tasks 16 w .. 16 w + 15 (the tail word is row `num_words`), so a
    # source slot's index is its task id.
    rows = bank.num_words + int(bool((ids >= bank.num_words * GROUP).any()))
    slot_new = torch.full((rows * GROUP,), -1, dtype=torch.long)
    slot_new[ids] = torch.arange(ids.numel())
    plan = _plan_repack(slot_new)
    used, local = torch.unique(plan.rows, return_inverse=True)  # sorted: grouped by block, tail last
    buffers = _Buffers(bank.device)
    on_device, local = plan.to(bank.device), local.to(bank.device)
    words, counts = {}, {}
    for name in bank.shapes:
        tail = bank._tail_word(name) if used.numel() and int(used[-1]) == bank.num_words else None
        reader = _RowReader(bank.blocks_[name], used, tail, buffers)
        words[name] = torch.empty(plan.num_words, bank.numel(name), dtype=torch.int16, device=bank.device)
        counts[name] = _repack_layer(on_device, local, reader, words[name], buffers)
    return PackedSubset(bank.shapes, ids.clone(), plan.slots, words, counts, buffers)
