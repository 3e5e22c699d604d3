"""Binary-search support: a subset of a `MaskBank`'s tasks re-packed densely, with its own counts.

Binary-search inference (Wortsman, Ramanujan et al., NeurIPS 2020, section 3) superposes ever
smaller subsets of the tasks. `PackedSubset` holds such a subset re-packed 16 tasks to an int16
word, so that each round reads about as many words as it has tasks / 16, with the subset's own
per-weight counts for its uniform mixture. Re-packing keeps every task at its bit position within
a word: a new word is the OR of a few masked source words (`_plan_repack`), a handful of
elementwise operations per weight and part.

Device: a subset's words, counts and scratch live on its bank's device, and the products and the
re-packing run there; the plan of a re-packing (which source bits go where) is a few integers per
task, computed on the CPU and copied over once per subset.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping
import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from supermasks.inference._packing import (GROUP, _SLOT_BITS, _add_block_mixture, _unsigned, _word_bits, mixing_weights,
                                           word_products)
from supermasks.inference.bank import MaskBank

_REPACK_CHUNK = 8192    # fewest weights per re-packing step: few Python round trips (measured)
_REPACK_BYTES = 1 << 22  # bytes of parts per re-packing step beyond the fewest weights: they stay in L3
_PRODUCT_CHUNK = 4096   # fewest weights per look-up step over a subset (measured)
_PRODUCT_INDICES = 1 << 18  # indices per look-up step beyond the fewest: they and their weights stay in L2

# -- re-packing subsets ------------------------------------------------------------------------------
_BITWISE_COUNT = getattr(np, "bitwise_count", None)  # numpy >= 2: hardware popcount
_FULL = (1 << GROUP) - 1


class _Buffers:
    """Grow-only flat scratch tensors, reused across chunks, layers and rounds.

    Fresh memory costs a page fault per 4 KiB on first touch, about as much as the arithmetic
    done on it here, so the per-chunk temporaries of re-packing and inner products live here.
    """

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self._flat: dict[str, torch.Tensor] = {}

    def get(self, key: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        size = math.prod(shape)
        flat = self._flat.get(key)
        if flat is None or flat.numel() < size or flat.dtype != dtype:
            flat = self._flat[key] = torch.empty(size, dtype=dtype, device=self.device)
        return flat[:size].view(shape)


def _subset_products(words: torch.Tensor, g: torch.Tensor, buffers: _Buffers) -> torch.Tensor:
    """(rows * 16,) float32: `<g, bits>` for every bit of the (rows, n) int16 words, word-major.

    On the CPU, the byte histograms of `MaskBank.inner_products` (`_packing.word_products`).
    Elsewhere its look-ups (one per weight per word, 16 multiply-adds each), with each chunk's
    indices and weights written into reused buffers and chunks small enough to stay in cache.
    """
    if words.device.type == "cpu":
        return word_products(words, g)
    rows, n = words.shape
    acc = torch.zeros(rows, GROUP, device=words.device)
    chunk = max(_PRODUCT_CHUNK, _PRODUCT_INDICES // max(rows, 1))  # few words: longer chunks, fewer calls
    for c0 in range(0, n, chunk):
        c1 = min(n, c0 + chunk)
        idx = buffers.get("indices", (rows, c1 - c0), torch.int32)
        idx.copy_(words[:, c0:c1]).bitwise_and_(0xFFFF)
        weights = buffers.get("weights", (rows, c1 - c0), torch.float32)
        weights.copy_(g[c0:c1].expand(rows, -1))
        acc += F.embedding_bag(idx, _word_bits(words.device), per_sample_weights=weights, mode="sum")
    return acc.reshape(-1)


def _popcount_rows(words: torch.Tensor, scratch: np.ndarray | None = None) -> torch.Tensor:
    """(c,) int32: the set bits of the (rows, c) int16 words in each column, summed over rows.

    On the CPU with numpy >= 2, numpy's popcount (`scratch`: a reusable (rows, c) uint8 output);
    elsewhere (other devices, older numpy) a SWAR popcount in torch on the words' device.
    """
    if _BITWISE_COUNT is not None and words.device.type == "cpu":
        # Unsigned view: numpy counts the bits of a signed value's magnitude.
        bits = _BITWISE_COUNT(words.numpy().view(np.uint16), out=scratch)  # (rows, c) uint8
        # A 16-bit sum cannot overflow below 4096 rows and is twice as fast as a 32-bit one.
        total = bits.sum(0, dtype=np.uint16 if words.shape[0] < 1 << 12 else np.int32)
        return torch.from_numpy(total.astype(np.int32))
    x = words  # SWAR popcount per int16; wrap-around arithmetic keeps each field exact
    x = x - ((x >> 1) & 0x5555)
    x = (x & 0x3333) + ((x >> 2) & 0x3333)
    x = (x + (x >> 4)) & 0x0F0F
    return ((x + (x >> 8)) & 0x1F).sum(0, dtype=torch.int32)


def _shifted(bits: int, shift: int) -> int:
    """`bits` moved `shift` places towards the most significant bit (negative: the other way)."""
    return bits << shift if shift >= 0 else bits >> -shift


def _shifts(need: int) -> tuple[tuple[int, int], ...]:
    """(shift, the bits of `need` moved by it that stay within 16 bits), shortest shifts first."""
    out = [(0, need)]
    for shift in range(1, GROUP):
        out.append((shift, (need << shift) & _FULL))
        out.append((-shift, need >> shift))
    return tuple(out)


def _fit(free: int, need: int) -> int | None:
    """A shift that puts all of `need` on `free` bits (no shift first, then the shortest), or None."""
    if need & ~free == 0:
        return 0
    if need.bit_count() > free.bit_count():
        return None
    low, high = (need & -need).bit_length() - 1, need.bit_length() - 1
    for shift in range(1, GROUP):
        if high + shift < GROUP and (need << shift) & ~free == 0:
            return shift
        if low - shift >= 0 and (need >> shift) & ~free == 0:
            return -shift
    return None


class _Holes:
    """The words with free bits, bucketed by how many, roomiest first."""

    def __init__(self, free: list[int]) -> None:
        self.free = free
        self.by_room: list[set[int]] = [set() for _ in range(GROUP + 1)]
        for word, bits in enumerate(free):
            self.by_room[bits.bit_count()].add(word)

    def take(self, word: int, bits: int) -> None:
        """Mark `bits` of `word` as used."""
        self.by_room[self.free[word].bit_count()].discard(word)
        self.free[word] &= ~bits
        self.by_room[self.free[word].bit_count()].add(word)

    def place(self, need: int) -> tuple[int, int]:
        """(word, shift) for the next part of `need`: whole where it fits, else the most of it.

        A whole fit is looked for in the words with enough free bits; failing that, the part
        goes to the roomiest word at the shift that covers most free bits. Every shift is tried
        there, even those that push some bits out (they stay for a later part), so any free bit
        gives room and the packing always ends.
        """
        full = need.bit_count()
        for room in range(GROUP, full - 1, -1):
            for word in self.by_room[room]:
                shift = _fit(self.free[word], need)
                if shift is not None:
                    return word, shift
        room = next(r for r in range(GROUP, 0, -1) if self.by_room[r])
        word = min(self.by_room[room])
        shift = max(_shifts(need), key=lambda s: (s[1] & self.free[word]).bit_count())[0]
        return word, shift


@dataclass(frozen=True)
class _RepackPlan:
    """How the kept slots of some source words are moved into fewer words.

    Part p takes source row `rows[p]`, shifts it by `left[p]` then `right[p]` bits and keeps
    `masks[p]`; parts going to the same word have disjoint bits, so OR assembles the word. Parts
    are in level-major order: the `levels[j]` parts of level j go to words 0 .. levels[j] - 1
    (words are sorted by their number of parts, so each level is a prefix and needs no scatter).
    """

    rows: torch.Tensor   # (P,) long
    left: torch.Tensor   # (P, 1) int16
    right: torch.Tensor  # (P, 1) int16
    masks: torch.Tensor  # (P, 1) int16, at the destination bits
    levels: tuple[int, ...]
    slots: torch.Tensor  # (words * 16,) long, on the CPU: the new position held by each slot, -1 where empty
    shifted: bool        # whether any part shifts its bits (parts of level 0 never do)

    @property
    def num_words(self) -> int:
        return self.levels[0] if self.levels else 0

    def to(self, device: torch.device) -> _RepackPlan:
        """The plan with the tensors that re-packing reads (`rows`, `left`, `right`, `masks`) on `device`."""
        return dataclasses.replace(self, rows=self.rows.to(device), left=self.left.to(device),
                                   right=self.right.to(device), masks=self.masks.to(device))


def _pack_greedy(row_bits: list[int], cap: int) -> list[list[tuple[int, int, int]]]:
    """Per destination word, its parts (source row, source bits, shift), at most `cap` words.

    Next fit: a row goes whole, at a shift that fits, into the word being filled, else opens a
    new word; once `cap` words are open, what is left is split over the free bits of any word.
    Since `cap * 16` covers every kept slot and a single bit fits anywhere, this always ends.
    Rows with most bits go first: they are the hardest to fit whole.
    """
    free: list[int] = []
    parts: list[list[tuple[int, int, int]]] = []
    holes: _Holes | None = None  # once all `cap` words are open
    for row in sorted((r for r, b in enumerate(row_bits) if b), key=lambda r: -row_bits[r].bit_count()):
        need = row_bits[row]
        while need:
            shift = _fit(free[-1], need) if free and holes is None else None
            if shift is not None:
                word = len(free) - 1
            elif len(free) < cap:
                free.append(_FULL)
                parts.append([])
                word, shift = len(free) - 1, 0
            else:
                holes = holes or _Holes(free)
                word, shift = holes.place(need)
            moved = _shifted(need, shift) & free[word]
            if holes is None:
                free[word] &= ~moved
            else:
                holes.take(word, moved)
            need &= ~_shifted(moved, -shift)
            parts[word].append((row, _shifted(moved, -shift), shift))
    return parts


def _plan_repack(slot_new: torch.Tensor) -> _RepackPlan:
    """Pack the kept source slots (`slot_new >= 0`; slot s = row s // 16, bit 15 - s % 16) densely.

    Parts may shift their bits, so about ceil(kept / 16) words suffice (one spare word keeps the
    greedy from splitting rows into many small parts near the end). A word costs a table look-up
    per weight in every inner product, a part only a few elementwise operations, so the plan
    minimises words first.
    """
    kept = slot_new.view(-1, GROUP) >= 0
    row_bits = (kept.to(torch.int64) * _SLOT_BITS).sum(1).tolist()
    total = int(kept.sum())
    words = _pack_greedy(row_bits, -(-total // GROUP) + (total > GROUP))
    order = sorted(range(len(words)), key=lambda w: -len(words[w]))  # most parts first: levels are prefixes
    depth = len(words[order[0]]) if order else 0
    flat = [words[w][level] for level in range(depth) for w in order if len(words[w]) > level]
    levels = tuple(sum(len(words[w]) > level for w in order) for level in range(depth))
    slots = torch.full((len(words) * GROUP,), -1, dtype=torch.long)
    if flat:
        # Source bit b (slot 15 - b) of a part lands on bit b + shift of its word.
        table = torch.tensor([(new, row, bits, shift) for new, w in enumerate(order) for row, bits, shift in words[w]])
        new, row, bits, shift = table.unbind(1)
        b = torch.arange(GROUP)
        has = (bits.unsqueeze(1) >> b) & 1 == 1  # (parts, 16)
        source = (row * GROUP + GROUP - 1).unsqueeze(1) - b
        target = (new * GROUP + GROUP - 1 - shift).unsqueeze(1) - b
        slots[target[has]] = slot_new[source[has]]

    def column(values: list[int]) -> torch.Tensor:
        signed = [v - (1 << GROUP) if v >= 1 << (GROUP - 1) else v for v in values]  # two's complement
        return torch.tensor(signed, dtype=torch.int16).view(-1, 1)

    return _RepackPlan(torch.tensor([row for row, _, _ in flat], dtype=torch.long),
                       column([max(shift, 0) for _, _, shift in flat]),
                       column([max(-shift, 0) for _, _, shift in flat]),
                       column([_shifted(bits, shift) for _, bits, shift in flat]), levels, slots,
                       any(shift for _, _, shift in flat))


def _repack_layer(plan: _RepackPlan, rows: torch.Tensor, read: Callable[[int, int], torch.Tensor],
                  out: torch.Tensor, buffers: _Buffers) -> torch.Tensor:
    """Write the plan's words into `out` ((words, n) int16); return the (n,) int32 kept-bit counts.

    `read(c0, c1)` gives the source rows' weights [c0, c1); `rows` indexes the parts into them.
    Each chunk is read in full before its columns of `out` are written, so `out` may share the
    source's storage (in-place re-packing). `plan` and `rows` are on `out`'s device.
    """
    n = out.shape[1]
    counts = torch.zeros(n, dtype=torch.int32, device=out.device)
    if not plan.levels or n == 0:
        return counts
    num_parts, num_words = plan.rows.numel(), plan.num_words
    chunk = min(n, max(_REPACK_CHUNK, _REPACK_BYTES // (2 * num_parts)))
    shifted = plan.shifted
    for c0 in range(0, n, chunk):
        c1 = min(n, c0 + chunk)
        parts = buffers.get("parts", (num_parts, c1 - c0), torch.int16)
        torch.index_select(read(c0, c1), 0, rows, out=parts)
        if shifted:  # left then arithmetic right shift; the mask then drops whatever came along
            later = parts[num_words:]  # a word's first part opens it and is never shifted
            later <<= plan.left[num_words:]
            later >>= plan.right[num_words:]
        parts &= plan.masks
        words = parts[:num_words]  # level 0, a prefix of the parts: OR the later levels into it
        at = num_words
        for size in plan.levels[1:]:
            words[:size] |= parts[at:at + size]  # disjoint bits: the OR assembles the words
            at += size
        out[:, c0:c1] = words
        scratch = buffers.get("popcount", tuple(words.shape), torch.uint8).numpy() if words.device.type == "cpu" else None
        counts[c0:c1] = _popcount_rows(words, scratch)
    return counts


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


class _RowReader:
    """Weights [c0, c1) of some of a bank's word rows (sorted; row `num_words` is the tail word).

    The rows live in several storage blocks; each chunk is gathered into one reused buffer.
    """

    def __init__(self, blocks: list[torch.Tensor], rows: torch.Tensor, tail: torch.Tensor | None,
                 buffers: _Buffers) -> None:
        self.pieces = []  # (block, rows of it, on the block's device)
        first = 0  # the bank's first row in `block`: blocks hold consecutive rows (`rows`: on the CPU)
        for block in blocks:
            local = rows[(rows >= first) & (rows < first + block.shape[0])] - first
            if local.numel():
                self.pieces.append((block, local.to(block.device)))
            first += block.shape[0]
        self.tail = tail
        self.buffers = buffers
        self.num_rows = rows.numel()

    def __call__(self, c0: int, c1: int) -> torch.Tensor:
        out = self.buffers.get("rows", (self.num_rows, c1 - c0), torch.int16)
        at = 0
        for block, local in self.pieces:
            torch.index_select(block[:, c0:c1], 0, local, out=out[at:at + local.numel()])
            at += local.numel()
        if self.tail is not None:
            out[at] = self.tail[c0:c1]
        return out


def _columns(words: torch.Tensor, c0: int, c1: int) -> torch.Tensor:
    """Weights [c0, c1) of every row of `words`."""
    return words[:, c0:c1]


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
