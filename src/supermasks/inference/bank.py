"""Bit-packed storage of the learned tasks' masks, with fast mixtures and per-task inner products.

Task inference in SupSup (Wortsman, Ramanujan et al., "Supermasks in Superposition", NeurIPS 2020)
needs two things of the k stored masks per layer: the mixture `sum_i alpha_i M_i` and, for the
gradient with respect to alpha, the k inner products `<g, M_i>`. Both are products with the
(k, n) binary stack; this module computes them from one bit per weight per task.

Layout: every full group of 16 tasks is one int16 word per weight ("transposed" packing: bit
`15 - b` of word `w` is task `16 w + b`, most significant bit first). The 16 inner products of a
group then come from two weighted histograms of the words' bytes over the weights (one add of
`g_j` per byte, `_packing.word_products`), times the bits of each byte value, with no float
stack ever materialised. The up to 15 tasks of an unfinished group are kept row-packed
(`pack_mask`) and unpacked in chunks.

Device: the bits, the counts and every product live on the device the bank is given (the model's,
`devices.module_device`; default the CPU). Mixtures and inner products run there, so a
superposed forward on a GPU never copies a mixture between host and device. Which tasks a
product touches is bookkeeping of a few integers per task and stays on the CPU.

Binary-search inference re-packs subsets of the tasks densely: `supermasks.inference.subset` builds
on this module (never the other way round); the word layout both use is in `_packing`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping

import numpy as np
import torch
from torch import nn

from supermasks.inference._packing import GROUP, _add_block_mixture, _unsigned, mixing_weights, word_products
from supermasks.compute.devices import module_device
from supermasks.models.masks import pack_mask, unpack_mask
from supermasks.models.tasks import masked_layers

_BLOCK_ROWS = 64      # words per storage block: appending a group copies one block, not the whole bank
_TAIL_CHUNK = 65536   # weights per unpacked chunk of the unfinished group


@functools.cache
def _shifts(device: torch.device) -> torch.Tensor:
    """(8,) uint8 on `device`: the shifts that bring each bit of a byte down, most significant bit first (`pack_mask`)."""
    return torch.arange(7, -1, -1, dtype=torch.uint8, device=device)


def _pack_words(masks: torch.Tensor) -> torch.Tensor:
    """(16, n) bool -> (n,) int16 words, task 0 in the most significant bit."""
    weights = torch.tensor([1 << (GROUP - 1 - b) for b in range(GROUP)], dtype=torch.int32, device=masks.device)
    words = (masks.to(torch.int32) * weights.unsqueeze(1)).sum(0, dtype=torch.int32)  # (n,) in [0, 65536)
    return torch.where(words >= 1 << 15, words - (1 << GROUP), words).to(torch.int16)  # two's complement


def _split(position: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (CPU) of the selected tasks held in words (`position >= 0`) and of those in the tail."""
    held = position >= 0
    return held.nonzero()[:, 0], (~held).nonzero()[:, 0]


class MaskBank:
    """The binary masks of the learned tasks, per masked layer, at one bit per weight per task.

    Also keeps, per layer, the running count of tasks whose mask keeps each weight (int32), so the
    uniform mixture `sum_i M_i / k` needs no pass over the bits. Everything is held on `device`
    (default the CPU); masks added from elsewhere are moved there, and products return there.
    """

    def __init__(self, shapes: Mapping[str, tuple[int, ...]], device: torch.device | str = "cpu") -> None:
        self.shapes = {name: tuple(shape) for name, shape in shapes.items()}
        self.device = torch.device(device)
        self.num_tasks = 0
        self.blocks_: dict[str, list[torch.Tensor]] = {name: [] for name in self.shapes}  # (<=64, n) int16 each
        self.tail_ = {name: torch.zeros(0, (math.prod(s) + 7) // 8, dtype=torch.uint8, device=self.device)
                      for name, s in self.shapes.items()}  # (t < 16, ceil(n/8))
        self.counts_ = {name: torch.zeros(math.prod(s), dtype=torch.int32, device=self.device)
                        for name, s in self.shapes.items()}

    @classmethod
    def from_model(cls, model: nn.Module, task_ids: Iterable[int] | None = None,
                   device: torch.device | str | None = None) -> "MaskBank":
        """A bank holding the masks of `task_ids` (default: every task with scores) of `model`.

        The bank is kept on `device`, by default the model's own (`devices.module_device`).
        """
        layers = masked_layers(model)
        bank = cls({name: tuple(m.weight.shape) for name, m in layers.items()},
                   module_device(model) if device is None else device)
        first = next(iter(layers.values()))
        for t in range(first.num_tasks) if task_ids is None else task_ids:
            bank.add({name: m.mask(t) for name, m in layers.items()})
        return bank

    # -- storage ---------------------------------------------------------------------------------
    def add(self, masks: Mapping[str, torch.Tensor | np.ndarray]) -> int:
        """Store one task's masks (bool, one per layer, of the layer's shape); return its index."""
        if set(masks) != set(self.shapes):
            raise ValueError(f"masks for layers {sorted(masks)}, the bank holds {sorted(self.shapes)}")
        flat = {}
        for name, shape in self.shapes.items():
            mask = torch.as_tensor(masks[name]).to(self.device)
            if tuple(mask.shape) != shape:
                raise ValueError(f"mask of shape {tuple(mask.shape)} for layer {name!r} of shape {shape}")
            flat[name] = mask.reshape(-1).to(torch.bool)
        for name, mask in flat.items():
            self.counts_[name] += mask
            self.tail_[name] = torch.cat([self.tail_[name], pack_mask(mask).unsqueeze(0)])
            if len(self.tail_[name]) == GROUP:  # the group is full: move it to the word layout
                self._append_word(name, _pack_words(self._tail_bits(name, 0, self.numel(name))))
                self.tail_[name] = self.tail_[name][:0].clone()
        self.num_tasks += 1
        return self.num_tasks - 1

    def state_dict(self) -> dict[str, object]:
        """The stored bits and counts as they are: full blocks never change again, so they save the same bytes."""
        return {"shapes": {name: list(shape) for name, shape in self.shapes.items()}, "num_tasks": self.num_tasks,
                "blocks": {name: list(blocks) for name, blocks in self.blocks_.items()},
                "tail": dict(self.tail_), "counts": dict(self.counts_)}

    def load_state_dict(self, state: dict) -> None:
        """Take the masks of `state` (from `state_dict`) as this bank's own, on its device; ValueError for
        other layers or shapes."""
        shapes = {name: tuple(shape) for name, shape in state["shapes"].items()}
        if shapes != self.shapes:
            raise ValueError(f"the saved mask bank holds layers {shapes}, this one {self.shapes}")
        self.num_tasks = state["num_tasks"]
        # Copies: a loaded state may share its buffers, and the bank changes its tensors in place.
        self.blocks_ = {name: [b.to(self.device, copy=True) for b in blocks] for name, blocks in state["blocks"].items()}
        self.tail_ = {name: t.to(self.device, copy=True) for name, t in state["tail"].items()}
        self.counts_ = {name: t.to(self.device, copy=True) for name, t in state["counts"].items()}

    def _append_word(self, name: str, word: torch.Tensor) -> None:
        blocks = self.blocks_[name]
        if blocks and blocks[-1].shape[0] < _BLOCK_ROWS:
            blocks[-1] = torch.cat([blocks[-1], word.unsqueeze(0)])
        else:
            blocks.append(word.unsqueeze(0).clone())

    def _tail_bits(self, name: str, start: int, stop: int) -> torch.Tensor:
        """(t, stop - start) bool: the unfinished group's masks over weights [start, stop), start % 8 == 0."""
        packed = self.tail_[name][:, start // 8:(stop + 7) // 8]  # (t, bytes)
        bits = (packed.unsqueeze(-1) >> _shifts(packed.device)) & 1  # (t, bytes, 8)
        return bits.reshape(len(packed), -1)[:, : stop - start].to(torch.bool)

    def numel(self, name: str) -> int:
        return math.prod(self.shapes[name])

    @property
    def num_words(self) -> int:
        return self.num_tasks // GROUP

    def mask(self, name: str, task_id: int) -> torch.Tensor:
        """The stored mask of `task_id` in layer `name` (bool, the layer's shape)."""
        if not 0 <= task_id < self.num_tasks:
            raise IndexError(f"task {task_id} is not in the bank ({self.num_tasks} tasks)")
        w, b = divmod(task_id, GROUP)
        if w < self.num_words:
            word = self.blocks_[name][w // _BLOCK_ROWS][w % _BLOCK_ROWS]
            flat = (_unsigned(word) >> (GROUP - 1 - b)) & 1
        else:
            flat = unpack_mask(self.tail_[name][b], (self.tail_[name].shape[1] * 8,))[: self.numel(name)]
        return flat.to(torch.bool).view(self.shapes[name])

    def unpack(self, name: str, tasks: torch.Tensor | Iterable[int]) -> torch.Tensor:
        """(len(tasks), numel) bool: the stored masks of `tasks` in layer `name`, flattened, in that order.

        For dense products that need every bit anyway (per-image alpha gradients), where unpacking
        costs one pass per task and the product then runs as a matrix multiply.
        """
        ids = torch.as_tensor(list(tasks) if not isinstance(tasks, torch.Tensor) else tasks, dtype=torch.long)
        if ids.numel() == 0:
            return torch.zeros(0, self.numel(name), dtype=torch.bool, device=self.device)
        return torch.stack([self.mask(name, int(t)).reshape(-1) for t in ids])

    def nbytes(self) -> int:
        """Bytes of the stored bits (words and row-packed tail); the counts cache is not included."""
        return sum(b.numel() * b.element_size() for blocks in self.blocks_.values() for b in blocks) + \
            sum(tail.numel() for tail in self.tail_.values())

    def cache_nbytes(self) -> int:
        """Bytes of the per-weight counts (derived from the bits, kept for the uniform mixture)."""
        return sum(c.numel() * c.element_size() for c in self.counts_.values())

    def _tail_word(self, name: str) -> torch.Tensor:
        """(n,) int16: the unfinished group's masks as one word, tail slot b at bit 15 - b."""
        word = torch.zeros(self.tail_[name].shape[1], 8, dtype=torch.int16, device=self.device)  # (bytes, 8 weights)
        for b, packed in enumerate(self.tail_[name]):
            word |= ((packed.unsqueeze(1) >> _shifts(self.device)) & 1).to(torch.int16) << (GROUP - 1 - b)
        return word.view(-1)[:self.numel(name)]

    # -- products with the stack ----------------------------------------------------------------
    def _select(self, tasks: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Split `tasks` into the words they touch, their position among those words' bits, and tail slots.

        All three on the CPU: a few integers per task, which decide what the products read.
        """
        ids = torch.arange(self.num_tasks) if tasks is None else torch.as_tensor(tasks, dtype=torch.long).cpu()
        if ids.numel() and (ids.min() < 0 or ids.max() >= self.num_tasks):
            raise IndexError(f"tasks {ids.tolist()} outside the bank's {self.num_tasks} tasks")
        in_words = ids < self.num_words * GROUP
        words, inverse = torch.unique(ids[in_words] // GROUP, return_inverse=True)
        position = torch.full_like(ids, -1)
        position[in_words] = inverse * GROUP + ids[in_words] % GROUP  # index into the (rows * 16,) word results
        return words, position, ids - self.num_words * GROUP  # last: tail slot where >= 0

    def _word_rows(self, name: str, words: torch.Tensor) -> Iterable[torch.Tensor]:
        """The selected words as (<=64, n) int16 blocks, without copying when a whole block is selected."""
        for i, block in enumerate(self.blocks_[name]):
            local = words[(words >= i * _BLOCK_ROWS) & (words < i * _BLOCK_ROWS + block.shape[0])] - i * _BLOCK_ROWS
            if local.numel() == block.shape[0]:
                yield block
            elif local.numel():
                yield block.index_select(0, local.to(block.device))

    def inner_products(self, name: str, g: torch.Tensor, tasks: torch.Tensor | None = None) -> torch.Tensor:
        """`[<g, M_i>]_i` (float32) for every stored task, or for `tasks` in that order.

        `g` is a dense tensor with the layer's number of elements. Cost: on the CPU, two adds into
        byte histograms per weight per group of 16 tasks (`_packing.word_products`).
        """
        g = g.detach().reshape(-1).to(self.device, torch.float32)
        if g.numel() != self.numel(name):
            raise ValueError(f"g has {g.numel()} elements, layer {name!r} has {self.numel(name)}")
        words, position, slot = self._select(tasks)
        parts = [word_products(block, g) for block in self._word_rows(name, words)]  # (rows * 16,) each
        word_results = torch.cat(parts) if parts else torch.zeros(0, device=self.device)
        out = torch.zeros(position.numel(), device=self.device)
        in_words, in_tail = _split(position)
        if in_words.numel():
            out[in_words.to(self.device)] = word_results[position[in_words].to(self.device)]
        if in_tail.numel():
            out[in_tail.to(self.device)] = self._tail_product(name, g, slot[in_tail])
        return out

    def _tail_product(self, name: str, g: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
        """(len(slots),) inner products with the unfinished group, unpacking chunk by chunk."""
        out = torch.zeros(slots.numel(), device=self.device)
        slots = slots.to(self.device)
        for c0 in range(0, g.numel(), _TAIL_CHUNK):
            c1 = min(g.numel(), c0 + _TAIL_CHUNK)
            bits = self._tail_bits(name, c0, c1)[slots].to(torch.float32)  # (t, chunk)
            out += bits @ g[c0:c1]
        return out

    def mixture(self, name: str, alphas: torch.Tensor | None = None, tasks: torch.Tensor | None = None) -> torch.Tensor:
        """`sum_i alpha_i M_i` (float32, the layer's shape) over all tasks, or over `tasks`.

        `alphas=None`, or equal alphas over all tasks, uses the counts. Otherwise each group of 16
        tasks contributes `alpha_w @ stack_w`, evaluated as `(alpha_w @ bits(v))` for every word
        value v (a (65536,) table, one small matmul) then looked up per weight: the product with
        the stack, without unpacking it.
        """
        n = self.numel(name)
        count = self.num_tasks if tasks is None else len(tasks)
        alphas = mixing_weights(alphas, count, self.num_tasks, self.device)
        if tasks is None and count and bool((alphas == alphas[0]).all()):  # uniform over all: the counts
            return (self.counts_[name].to(torch.float32) * alphas[0]).view(self.shapes[name])
        words, position, slot = self._select(tasks)
        in_words, in_tail = _split(position)
        coef = torch.zeros(words.numel() * GROUP, device=self.device)
        coef.index_put_((position[in_words].to(self.device),), alphas[in_words.to(self.device)], accumulate=True)
        coef = coef.view(-1, GROUP)  # (rows, 16): the alphas of each selected word's tasks
        out = torch.zeros(n, device=self.device)
        row = 0
        for block in self._word_rows(name, words):
            _add_block_mixture(block, coef[row:row + block.shape[0]], out)
            row += block.shape[0]
        if in_tail.numel():
            tail_slots, tail_alphas = slot[in_tail].to(self.device), alphas[in_tail.to(self.device)]
            for c0 in range(0, n, _TAIL_CHUNK):
                c1 = min(n, c0 + _TAIL_CHUNK)
                bits = self._tail_bits(name, c0, c1)[tail_slots].to(torch.float32)  # (t, chunk)
                out[c0:c1] += tail_alphas @ bits
        return out.view(self.shapes[name])
