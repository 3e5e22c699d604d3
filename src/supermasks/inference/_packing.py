"""The word layout shared by `bank` and `subset`: 16 tasks per int16 word, and products with words.

Bit `15 - b` of a word is slot b (most significant bit first, as `pack_mask`); a (rows, n) block of
words times per-slot coefficients is evaluated by table look-up, never by unpacking the bits.
Inner products of a block with a dense vector (`word_products`) are weighted histograms of the
words' bytes on the CPU, and table look-ups elsewhere.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

from supermasks.compute.kernels import compiled_bank_products

GROUP = 16            # tasks per packed word
_INDICES = 1 << 20    # int32 indices per embedding-bag call: fewest Python round trips while in cache (measured)
_SLOT_BITS = torch.tensor([1 << (GROUP - 1 - b) for b in range(GROUP)], dtype=torch.int64)  # slot b -> its bit


def _word_bits(device: torch.device | str = "cpu") -> torch.Tensor:
    """(65536, 16) float32 on `device`: row v holds the bits of v, most significant first (4 MiB, built once per device)."""
    return _word_bits_on(torch.device(device))


@functools.cache
def _word_bits_on(device: torch.device) -> torch.Tensor:
    v = torch.arange(1 << GROUP, dtype=torch.int32, device=device).unsqueeze(1)
    return ((v >> torch.arange(GROUP - 1, -1, -1, dtype=torch.int32, device=device)) & 1).to(torch.float32)


@functools.cache
def _byte_bits_on(device: torch.device) -> torch.Tensor:
    """(256, 8) float32 on `device`: row v holds the bits of the byte v, most significant first."""
    return _word_bits_on(device)[:256, GROUP // 2:].contiguous()


def word_products(words: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """(rows * 16,) float32: `<g, bits>` for every slot of the (rows, n) int16 `words`, word-major.

    Where the compiled loop of `supermasks.compute.kernels` is built for AVX-512, it computes them: per 32 weights, one
    bit test and two masked adds of their `g` per slot (`compiled_bank_products`). Otherwise, as follows.

    On the CPU, each word's two bytes are counted apart: the histogram of a row's high bytes,
    weighted by `g` (256 bins, one add per weight), times the bits of every byte value gives the
    row's slots 0-7, and its low bytes give slots 8-15: one add per byte, into 1 KiB that stays in
    L1, in about half the time of a look-up per word in the 4 MiB (65536, 16) table
    (`benchmarks/inference.py`). On other devices, where a loop over rows is a loop over kernel
    launches, the look-ups of `word_lookup_products`.
    """
    if words.device.type != "cpu":
        return word_lookup_products(words, g)
    compiled = compiled_bank_products(words, g)  # the AVX-512 loop, where built: about half the time again
    if compiled is not None:
        return compiled
    g = g.to(torch.float32)
    rows, n = words.shape
    hist = torch.empty(rows, 2, 256)
    # One pair of byte rows reused for every word row: fresh ones would each cost their page faults.
    high, low = torch.empty(n, dtype=torch.int16), torch.empty(n, dtype=torch.uint8)
    for r in range(rows):
        torch.bitwise_right_shift(words[r], 8, out=high).bitwise_and_(0xFF)
        low.copy_(words[r])  # the cast keeps the low byte
        hist[r, 0] = torch.bincount(high, weights=g, minlength=256)  # slots 0-7
        hist[r, 1] = torch.bincount(low, weights=g, minlength=256)  # slots 8-15
    return (hist @ _byte_bits_on(words.device)).reshape(-1)


def word_lookup_products(words: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """`word_products` by look-ups: each weight adds the 16 bits of its word, scaled by its `g`, from
    the (65536, 16) table (an embedding bag per chunk of weights small enough to stay in cache)."""
    rows, n = words.shape
    g = g.to(torch.float32)
    table = _word_bits(words.device)
    acc = torch.zeros(rows, GROUP, device=words.device)
    chunk = max(4096, _INDICES // max(rows, 1))
    for c0 in range(0, n, chunk):
        idx = _unsigned(words[:, c0:c0 + chunk])  # (rows, chunk)
        acc += F.embedding_bag(idx, table, per_sample_weights=g[c0:c0 + chunk].expand(rows, -1), mode="sum")
    return acc.reshape(-1)


def _unsigned(words: torch.Tensor) -> torch.Tensor:
    """int16 words as non-negative int32 indices into `_word_bits()`."""
    return words.to(torch.int32).bitwise_and_(0xFFFF)


def _add_block_mixture(block: torch.Tensor, coef: torch.Tensor, out: torch.Tensor) -> None:
    """`out += sum_b coef[w, b] * bit_b(block[w])` over the words w of a (rows, n) int16 block.

    `coef @ bits(v)` is tabulated for every word value v (one small matmul) and then looked up
    per weight: the product with the stack, without unpacking it.
    """
    tables = coef @ _word_bits(coef.device).t()  # (rows, 65536)
    chunk = max(4096, _INDICES // 4 // max(block.shape[0], 1))  # int64 indices here
    for c0 in range(0, out.numel(), chunk):
        idx = _unsigned(block[:, c0:c0 + chunk]).long()
        out[c0:c0 + chunk] += torch.gather(tables, 1, idx).sum(0)


def mixing_weights(alphas: torch.Tensor | None, count: int, num_tasks: int,
                   device: torch.device | str = "cpu") -> torch.Tensor:
    """`alphas` as a flat float32 vector of `count` entries on `device` (default: `1 / num_tasks` each)."""
    if alphas is None:
        alphas = torch.full((count,), 1.0 / max(num_tasks, 1), device=device)
    alphas = alphas.detach().to(device, torch.float32).reshape(-1)
    if alphas.numel() != count:
        raise ValueError(f"{alphas.numel()} alphas for {count} tasks")
    return alphas
