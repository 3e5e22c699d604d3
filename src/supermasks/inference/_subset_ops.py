"""The arithmetic over a subset's packed words: scratch buffers, inner products, popcounts, re-packing a layer.

What `PackedSubset` (`subset`) runs per weight, chunked so that each step's temporaries stay in
cache and live in reused buffers; a step of re-packing applies a `_repack_plan._RepackPlan`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from supermasks.inference._packing import GROUP, _word_bits, word_products
from supermasks.inference._repack_plan import _RepackPlan

_REPACK_CHUNK = 8192    # fewest weights per re-packing step: few Python round trips (measured)
_REPACK_BYTES = 1 << 22  # bytes of parts per re-packing step beyond the fewest weights: they stay in L3
_PRODUCT_CHUNK = 4096   # fewest weights per look-up step over a subset (measured)
_PRODUCT_INDICES = 1 << 18  # indices per look-up step beyond the fewest: they and their weights stay in L2
_BITWISE_COUNT = getattr(np, "bitwise_count", None)  # numpy >= 2: hardware popcount


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
