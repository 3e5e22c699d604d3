"""The plan of a re-packing: which bits of which source words go, shifted how, into fewer words.

A `PackedSubset` (`subset`) keeps some of its tasks by moving their slots into as few int16 words as
it can. The plan is bookkeeping over a few integers per task, made on the CPU: a greedy next-fit
packing of each source row's kept bits (`_pack_greedy`), then the parts of that packing in the order
re-packing applies them (`_plan_repack`). `_subset_ops._repack_layer` carries a plan out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from supermasks.inference._packing import GROUP, _SLOT_BITS

_FULL = (1 << GROUP) - 1


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
